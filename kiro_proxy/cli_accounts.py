"""`kiro-proxy accounts …`: manage accounts from the shell, directly on the database.

Works with the server stopped (a running server picks the changes up on its next reload or
restart). Exit codes for scripts: 0 ok, 1 failure, 2 usage error, 3 a batch partly failed.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
import typer
from rich.console import Console
from rich.table import Table

from kiro_proxy.auth.builder_id import PollResult
from kiro_proxy.auth.credential_json import parse_document
from kiro_proxy.auth.errors import LoginError
from kiro_proxy.auth.export import SECRETS_WARNING, build_export
from kiro_proxy.auth.local_cache import KIRO_CLI_DB, SSO_CACHE_DIR, LocalSources, scan_local
from kiro_proxy.auth.results import BatchReport, OnboardResult
from kiro_proxy.auth.service import LoginService
from kiro_proxy.kiro.client import KiroClient
from kiro_proxy.pool.account import LIMITS_FIELDS, TOKEN_FIELDS, Account
from kiro_proxy.settings import ConfigError, Settings, load_settings

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3

accounts_app = typer.Typer(
    help="Add, import, list and manage Kiro accounts (works with the server stopped).",
    no_args_is_help=True,
    add_completion=False,
)
login_app = typer.Typer(help="Sign in to a Kiro account and add it.", no_args_is_help=True)
accounts_app.add_typer(login_app, name="login")

out = Console()
err = Console(stderr=True)
T = TypeVar("T")


# --- plumbing ---------------------------------------------------------------------------------


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        err.print(f"[red]configuration error:[/red] {error}")
        raise typer.Exit(EXIT_USAGE) from error


@dataclass(slots=True)
class _Context:
    settings: Settings
    accounts: Any  # store.accounts.AccountRepository
    client: KiroClient

    def service(self, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> LoginService:
        return LoginService(self.settings, self.client, self.accounts, sleep=sleep)


@asynccontextmanager
async def _open(settings: Settings) -> AsyncIterator[_Context]:
    from kiro_proxy.app import build_client
    from kiro_proxy.store.accounts import AccountRepository
    from kiro_proxy.store.crypto import SecretBox
    from kiro_proxy.store.database import open_database

    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    database = await open_database(settings.resolved_database_url)
    try:
        box = await asyncio.to_thread(SecretBox.for_data_dir, settings.resolved_data_dir)
        async with build_client(settings) as client:
            yield _Context(settings, AccountRepository(database, box), client)
    finally:
        await database.close()


def _run(work: Callable[[_Context], Awaitable[T]]) -> T:
    settings = _settings()

    async def main() -> T:
        async with _open(settings) as ctx:
            return await work(ctx)

    try:
        return asyncio.run(main())
    except LoginError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(EXIT_FAILURE) from exc


def _fail(message: str, code: int = EXIT_FAILURE) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _show_result(result: OnboardResult) -> None:
    verb = "added" if result.created else "updated (it was already known)"
    who = result.email or result.account_id[:8]
    plan = f", {result.subscription}" if result.subscription else ""
    out.print(
        f"[green]✓[/green] account {who} {verb} [{result.auth_method}{plan}] id={result.account_id}"
    )
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}")


def _show_report(report: BatchReport) -> None:
    table = Table(title="Import report")
    for column in ("#", "item", "result", "account / what to do"):
        table.add_column(column, overflow="fold")
    for item in report.items:
        if item.result is not None:
            verb = "added" if item.result.created else "updated"
            detail = (
                f"{item.result.email or item.result.account_id[:8]} ({item.result.auth_method})"
            )
            table.add_row(str(item.index + 1), item.label, f"[green]{verb}[/green]", detail)
        else:
            table.add_row(str(item.index + 1), item.label, "[red]failed[/red]", item.error or "")
    out.print(table)
    out.print(f"{len(report.succeeded)} imported, {len(report.failed)} failed")


def _report_exit(report: BatchReport) -> None:
    _show_report(report)
    if not report.items:
        raise _fail("nothing to import")
    if report.failed:
        raise typer.Exit(EXIT_PARTIAL if report.succeeded else EXIT_FAILURE)


async def _resolve(ctx: _Context, ref: str) -> Account:
    """An account by full id, unique id prefix or email."""
    accounts = await ctx.accounts.list_all()
    wanted = ref.strip().lower()
    exact = [a for a in accounts if a.id == ref or (a.email or "").lower() == wanted]
    matches = exact or [a for a in accounts if a.id.startswith(ref)]
    if not matches:
        raise LoginError(f"no account matches {ref!r}: see `kiro-proxy accounts list`")
    if len(matches) > 1:
        raise LoginError(f"{ref!r} matches {len(matches)} accounts: give more of the id")
    return matches[0]


def _when(seconds: float | None) -> str:
    if not seconds:
        return "-"
    delta = seconds - time.time()
    if abs(delta) < 3600 * 48:
        return f"in {int(delta // 60)} min" if delta >= 0 else f"{int(-delta // 60)} min ago"
    return time.strftime("%Y-%m-%d", time.gmtime(seconds))


# --- list / add / import ----------------------------------------------------------------------


@accounts_app.command("list")
def list_accounts(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List accounts (never shows secrets)."""

    async def work(ctx: _Context) -> list[Account]:
        return await ctx.accounts.list_all()

    accounts = _run(work)
    if as_json:
        rows = [
            {
                "id": a.id,
                "email": a.email,
                "nickname": a.nickname,
                "authMethod": a.auth_method,
                "provider": a.provider,
                "region": a.region,
                "enabled": a.enabled,
                "disabledReason": a.disabled_reason,
                "subscriptionType": a.subscription_type,
                "usageCurrent": a.usage_current,
                "usageLimit": a.usage_limit,
                "expiresAt": a.expires_at,
            }
            for a in accounts
        ]
        typer.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    if not accounts:
        out.print(
            "no accounts yet: add one with `kiro-proxy accounts login builder-id` or `import`"
        )
        return
    table = Table(title=f"{len(accounts)} Kiro account(s)")
    for column in ("id", "email / nickname", "kind", "region", "state", "plan", "usage", "token"):
        table.add_column(column)
    for a in accounts:
        state = (
            "[green]enabled[/green]"
            if a.enabled
            else f"[red]disabled[/red] {a.disabled_reason or ''}"
        )
        usage = f"{a.usage_current or 0:g}/{a.usage_limit:g}" if a.usage_limit is not None else "-"
        kind = a.auth_method + (f" ({a.provider})" if a.provider else "")
        table.add_row(
            a.id[:8],
            a.email or a.nickname or "-",
            kind,
            a.region,
            state,
            a.subscription_title or a.subscription_type or "-",
            usage,
            _when(a.expires_at),
        )
    out.print(table)


@accounts_app.command("add")
def add_account(
    refresh_token: Annotated[
        str | None, typer.Option(help="Refresh token (prompted, hidden, when omitted).")
    ] = None,
    auth_method: Annotated[str, typer.Option(help="social | idc | api_key.")] = "social",
    client_id: Annotated[str | None, typer.Option(help="IdC / Builder ID client id.")] = None,
    client_secret: Annotated[
        str | None, typer.Option(help="IdC / Builder ID client secret.")
    ] = None,
    region: Annotated[str, typer.Option(help="Auth region.")] = "us-east-1",
    provider: Annotated[
        str | None, typer.Option(help="Google, Github, BuilderId, Enterprise.")
    ] = None,
    nickname: Annotated[str | None, typer.Option(help="A name to show in lists.")] = None,
    api_key: Annotated[
        str | None, typer.Option(help="A ksk_ API key (with --auth-method api_key).")
    ] = None,
) -> None:
    """Add one account from a refresh token (validated by refreshing it at once)."""
    if auth_method not in ("social", "idc", "api_key"):
        raise _fail("--auth-method must be social, idc or api_key", EXIT_USAGE)
    item: dict[str, Any] = {"authMethod": auth_method, "region": region}
    if auth_method == "api_key":
        item["kiroApiKey"] = api_key or typer.prompt("ksk_ API key", hide_input=True)
    else:
        item["refreshToken"] = refresh_token or typer.prompt("Refresh token", hide_input=True)
    item.update(
        {
            k: v
            for k, v in {
                "clientId": client_id,
                "clientSecret": client_secret,
                "provider": provider,
                "nickname": nickname,
            }.items()
            if v
        }
    )

    async def work(ctx: _Context) -> BatchReport:
        return await ctx.service().import_value(item)

    report = _run(work)
    (outcome,) = report.items
    if outcome.result is None:
        raise _fail(outcome.error or "the account could not be added")
    _show_result(outcome.result)


def _read_input(file: str) -> bytes:
    if file == "-":
        return sys.stdin.buffer.read()
    path = Path(file).expanduser()
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror}", EXIT_USAGE) from exc


def _with_registration(file: str, raw: bytes) -> bytes:
    """An IDE `kiro-auth-token.json` next to its `<clientIdHash>.json`: join them, as the IDE's
    own folder layout allows."""
    if file == "-":
        return raw
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw
    digest = data.get("clientIdHash") if isinstance(data, dict) else None
    if not isinstance(digest, str) or not digest or "/" in digest or data.get("clientSecret"):
        return raw
    sibling = Path(file).expanduser().with_name(f"{digest}.json")
    try:
        registration = orjson.loads(sibling.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return raw
    if isinstance(registration, dict):
        data = {**data, "authMethod": "idc"}
        for key in ("clientId", "clientSecret"):
            data.setdefault(key, registration.get(key))
    return orjson.dumps(data)


@accounts_app.command("import")
def import_file(
    file: Annotated[
        str,
        typer.Argument(
            help="JSON file ('-' for stdin): one credential, an array, a Kiro Account Manager export, a Kiro-Go config.json or kiro-auth-token.json."
        ),
    ],
) -> None:
    """Import accounts from a JSON file, with a per-item report."""
    raw = _with_registration(file, _read_input(file))

    async def work(ctx: _Context) -> BatchReport:
        return await ctx.service().import_items(parse_document(raw))

    _report_exit(_run(work))


@accounts_app.command("import-local")
def import_local(
    sso_cache_dir: Annotated[Path, typer.Option(help="The IDE's token folder.")] = SSO_CACHE_DIR,
    kiro_cli_db: Annotated[Path, typer.Option(help="kiro-cli's SQLite store.")] = KIRO_CLI_DB,
) -> None:
    """Import the Kiro IDE's and kiro-cli's accounts from this machine (files only read)."""
    items = scan_local(LocalSources(sso_cache_dir, kiro_cli_db))
    if not items:
        raise _fail(
            f"no Kiro login found in {sso_cache_dir} or {kiro_cli_db}: sign in to the Kiro IDE "
            "or kiro-cli first, or pass --sso-cache-dir / --kiro-cli-db"
        )

    async def work(ctx: _Context) -> BatchReport:
        return await ctx.service().import_items(items)

    _report_exit(_run(work))


# --- logins -----------------------------------------------------------------------------------


@login_app.command("builder-id")
def login_builder_id(
    region: Annotated[str, typer.Option(help="OIDC region.")] = "us-east-1",
) -> None:
    """Sign in with AWS Builder ID (device code): open the URL, confirm the code."""

    async def work(ctx: _Context) -> OnboardResult:
        service = ctx.service()
        login = await service.builder_id_start(region)
        out.print(f"Open [bold]{login.verification_url}[/bold]")
        out.print(f"and confirm the code [bold cyan]{login.device.user_code}[/bold cyan]")
        with err.status("waiting for approval…") as status:

            async def sleep(seconds: float) -> None:
                # Tick once a second so the countdown moves between polls.
                end = time.monotonic() + seconds
                while (left := end - time.monotonic()) > 0:
                    remaining = max(0, int(login.expires_at - time.time()))
                    status.update(
                        f"waiting for approval… code expires in {remaining // 60}:{remaining % 60:02d}"
                    )
                    await asyncio.sleep(min(1.0, left))

            def on_tick(result: PollResult, _left: float) -> None:
                if result.status == "slow_down":
                    status.update(f"AWS asked to poll slower: every {result.interval:g} s")

            service = ctx.service(sleep=sleep)
            return await service.builder_id_wait(login, on_tick=on_tick)

    _show_result(_run(work))


@login_app.command("idc")
def login_idc(
    start_url: Annotated[str, typer.Option(help="https://<org>.awsapps.com/start")],
    region: Annotated[str, typer.Option(help="The IAM Identity Center region.")] = "us-east-1",
    callback_url: Annotated[
        str | None, typer.Option(help="The final URL after sign-in (prompted when omitted).")
    ] = None,
) -> None:
    """Sign in with IAM Identity Center (authorization code + PKCE)."""

    async def work(ctx: _Context) -> OnboardResult:
        service = ctx.service()
        login = await service.idc_start(start_url, region)
        out.print("Open this URL in a browser and sign in:")
        out.print(login.authorize_url, soft_wrap=True)
        out.print(
            f"The browser then lands on [bold]{login.redirect_uri}?code=…[/bold] (a page that "
            "does not load): copy that whole address."
        )
        pasted = callback_url or await asyncio.to_thread(typer.prompt, "Final URL")
        return await service.idc_complete(login, pasted)

    _show_result(_run(work))


@login_app.command("sso-token")
def login_sso_token(
    file: Annotated[
        str | None,
        typer.Option(
            "--file", "-f", help="File with one x-amz-sso_authn value per line ('-': stdin)."
        ),
    ] = None,
    region: Annotated[str, typer.Option(help="OIDC region.")] = "us-east-1",
) -> None:
    """Add accounts from x-amz-sso_authn browser cookies (one per line)."""
    text = (
        _read_input(file).decode("utf-8", "replace")
        if file
        else typer.prompt("x-amz-sso_authn cookie value", hide_input=True)
    )

    async def work(ctx: _Context) -> BatchReport:
        return await ctx.service().sso_tokens(text, region)

    _report_exit(_run(work))


# --- export / enable / disable / remove / refresh ---------------------------------------------


@accounts_app.command("export")
def export_accounts(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write (mode 0600); stdout when omitted."),
    ] = None,
    ids: Annotated[
        list[str] | None, typer.Option("--id", help="Only these accounts (id, prefix or email).")
    ] = None,
) -> None:
    """Export accounts in the Kiro Account Manager format. CONTAINS SECRETS."""

    async def work(ctx: _Context) -> dict[str, Any]:
        chosen = [(await _resolve(ctx, ref)).id for ref in ids or ()]
        return build_export(await ctx.accounts.list_all(), ids=chosen)

    document = _run(work)
    err.print(f"[bold yellow]warning:[/bold yellow] {SECRETS_WARNING}")
    data = orjson.dumps(document, option=orjson.OPT_INDENT_2)
    if output is None:
        sys.stdout.buffer.write(data + b"\n")
        sys.stdout.flush()
        return
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(output, 0o600)  # also when the file existed with wider permissions
    err.print(f"wrote {len(document['accounts'])} account(s) to {output}")


def _set_enabled(ref: str, enabled: bool) -> None:
    async def work(ctx: _Context) -> Account:
        account = await _resolve(ctx, ref)
        account.enabled = enabled
        account.disabled_reason = None if enabled else "disabled from the command line"
        if enabled:
            account.consecutive_failures = 0
        await ctx.accounts.save(account, ("enabled", "disabled_reason", "consecutive_failures"))
        return account

    account = _run(work)
    out.print(f"{account.label}: {'enabled' if enabled else 'disabled'}")


@accounts_app.command("enable")
def enable(ref: Annotated[str, typer.Argument(help="Account id, id prefix or email.")]) -> None:
    """Enable an account."""
    _set_enabled(ref, True)


@accounts_app.command("disable")
def disable(ref: Annotated[str, typer.Argument(help="Account id, id prefix or email.")]) -> None:
    """Disable an account (kept, but never used)."""
    _set_enabled(ref, False)


@accounts_app.command("remove")
def remove(
    ref: Annotated[str, typer.Argument(help="Account id, id prefix or email.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete an account from the database."""

    async def find(ctx: _Context) -> Account:
        return await _resolve(ctx, ref)

    account = _run(find)
    if not yes and not typer.confirm(f"Remove {account.label} ({account.id})?"):
        raise typer.Exit(EXIT_FAILURE)

    async def work(ctx: _Context) -> bool:
        return bool(await ctx.accounts.delete(account.id))

    if not _run(work):
        raise _fail(f"{account.label} was already removed")
    out.print(f"removed {account.label}")


@accounts_app.command("refresh")
def refresh(
    refs: Annotated[
        list[str] | None, typer.Argument(help="Accounts (default: all enabled).")
    ] = None,
) -> None:
    """Refresh tokens and read usage/subscription now, for one or all accounts."""

    async def work(ctx: _Context) -> list[tuple[Account, str | None]]:
        from kiro_proxy.pool.limits import apply_usage_limits
        from kiro_proxy.pool.pool import AccountPool
        from kiro_proxy.pool.tokens import RefreshFailed, TokenManager

        chosen = (
            [await _resolve(ctx, ref) for ref in refs]
            if refs
            else [a for a in await ctx.accounts.list_all() if a.enabled]
        )
        pool = AccountPool()
        pool.load(chosen)
        tokens = TokenManager(ctx.client, pool, global_proxy_url=ctx.settings.proxy_url)
        outcomes: list[tuple[Account, str | None]] = []
        for account in chosen:
            problem: str | None = None
            try:
                await tokens.refresh(account)
                data = await ctx.client.get_usage_limits(tokens.credentials(account))
                apply_usage_limits(account, data, now=time.time())
            except RefreshFailed as exc:
                problem = str(exc)
            except Exception as exc:
                problem = f"usage check failed ({type(exc).__name__}); try again later"
            await ctx.accounts.save(
                account,
                {*TOKEN_FIELDS, *LIMITS_FIELDS, "machine_id", "enabled", "disabled_reason"},
            )
            outcomes.append((account, problem))
        return outcomes

    outcomes = _run(work)
    if not outcomes:
        raise _fail("no enabled accounts to refresh")
    table = Table(title="Refresh")
    for column in ("account", "result", "plan", "usage"):
        table.add_column(column, overflow="fold")
    for account, problem in outcomes:
        usage = (
            f"{account.usage_current or 0:g}/{account.usage_limit:g}"
            if account.usage_limit is not None
            else "-"
        )
        result = "[green]ok[/green]" if problem is None else f"[red]{problem}[/red]"
        table.add_row(
            account.label,
            result,
            account.subscription_title or account.subscription_type or "-",
            usage,
        )
    out.print(table)
    failed = sum(1 for _, problem in outcomes if problem)
    if failed:
        raise typer.Exit(EXIT_PARTIAL if failed < len(outcomes) else EXIT_FAILURE)
