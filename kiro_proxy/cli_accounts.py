"""`kiro-proxy accounts …`: manage accounts from the shell, directly on the database.

Works with the server stopped (a running server picks the changes up on its next reload or
restart). Exit codes for scripts: 0 ok, 1 failure, 2 usage error, 3 a batch partly failed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from kiro_proxy.auth.credential_json import parse_document
from kiro_proxy.auth.export import SECRETS_WARNING, build_export
from kiro_proxy.auth.local_cache import (
    KIRO_CLI_DB,
    SSO_CACHE_DIR,
    LocalSources,
    join_registration_file,
    scan_local,
)
from kiro_proxy.auth.refresh import RefreshOutcome, refresh_accounts
from kiro_proxy.auth.results import BatchReport
from kiro_proxy.cli_accounts_login import login_app, read_input
from kiro_proxy.cli_accounts_support import (
    EXIT_FAILURE,
    EXIT_PARTIAL,
    EXIT_USAGE,
    CliContext,
    err,
    fail,
    out,
    resolve_account,
    run,
    show_report_and_exit,
    show_result,
    usage_text,
    when,
)
from kiro_proxy.pool.account import Account

accounts_app = typer.Typer(
    help="Add, import, list and manage Kiro accounts (works with the server stopped).",
    no_args_is_help=True,
    add_completion=False,
)
accounts_app.add_typer(login_app, name="login")


@accounts_app.command("list")
def list_accounts(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List accounts (never shows secrets)."""

    async def work(ctx: CliContext) -> list[Account]:
        return await ctx.accounts.list_all()

    accounts = run(work)
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
        kind = a.auth_method + (f" ({a.provider})" if a.provider else "")
        table.add_row(
            a.id[:8],
            a.email or a.nickname or "-",
            kind,
            a.region,
            state,
            a.subscription_title or a.subscription_type or "-",
            usage_text(a),
            when(a.expires_at),
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
        raise fail("--auth-method must be social, idc or api_key", EXIT_USAGE)
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

    async def work(ctx: CliContext) -> BatchReport:
        return await ctx.service().import_value(item)

    report = run(work)
    (outcome,) = report.items
    if outcome.result is None:
        raise fail(outcome.error or "the account could not be added")
    show_result(outcome.result)


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
    raw = read_input(file)
    if file != "-":
        raw = join_registration_file(Path(file).expanduser(), raw)

    async def work(ctx: CliContext) -> BatchReport:
        return await ctx.service().import_items(parse_document(raw))

    show_report_and_exit(run(work))


@accounts_app.command("import-local")
def import_local(
    sso_cache_dir: Annotated[Path, typer.Option(help="The IDE's token folder.")] = SSO_CACHE_DIR,
    kiro_cli_db: Annotated[Path, typer.Option(help="kiro-cli's SQLite store.")] = KIRO_CLI_DB,
) -> None:
    """Import the Kiro IDE's and kiro-cli's accounts from this machine (files only read)."""
    items = scan_local(LocalSources(sso_cache_dir, kiro_cli_db))
    if not items:
        raise fail(
            f"no Kiro login found in {sso_cache_dir} or {kiro_cli_db}: sign in to the Kiro IDE "
            "or kiro-cli first, or pass --sso-cache-dir / --kiro-cli-db"
        )

    async def work(ctx: CliContext) -> BatchReport:
        return await ctx.service().import_items(items)

    show_report_and_exit(run(work))


# --- logins -----------------------------------------------------------------------------------


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

    async def work(ctx: CliContext) -> dict[str, Any]:
        chosen = [(await resolve_account(ctx, ref)).id for ref in ids or ()]
        return build_export(await ctx.accounts.list_all(), ids=chosen)

    document = run(work)
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
    async def work(ctx: CliContext) -> Account:
        account = await resolve_account(ctx, ref)
        account.enabled = enabled
        account.disabled_reason = None if enabled else "disabled from the command line"
        if enabled:
            account.consecutive_failures = 0
        await ctx.accounts.save(account, ("enabled", "disabled_reason", "consecutive_failures"))
        return account

    account = run(work)
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

    async def find(ctx: CliContext) -> Account:
        return await resolve_account(ctx, ref)

    account = run(find)
    if not yes and not typer.confirm(f"Remove {account.label} ({account.id})?"):
        raise typer.Exit(EXIT_FAILURE)

    async def work(ctx: CliContext) -> bool:
        return bool(await ctx.accounts.delete(account.id))

    if not run(work):
        raise fail(f"{account.label} was already removed")
    out.print(f"removed {account.label}")


@accounts_app.command("refresh")
def refresh(
    refs: Annotated[
        list[str] | None, typer.Argument(help="Accounts (default: all enabled).")
    ] = None,
) -> None:
    """Refresh tokens and read usage/subscription now, for one or all accounts."""

    async def work(ctx: CliContext) -> list[RefreshOutcome]:
        chosen = (
            [await resolve_account(ctx, ref) for ref in refs]
            if refs
            else [a for a in await ctx.accounts.list_all() if a.enabled]
        )
        return await refresh_accounts(
            ctx.client, ctx.accounts, chosen, proxy_url=ctx.settings.proxy_url
        )

    outcomes = run(work)
    if not outcomes:
        raise fail("no enabled accounts to refresh")
    table = Table(title="Refresh")
    for column in ("account", "result", "plan", "usage"):
        table.add_column(column, overflow="fold")
    for outcome in outcomes:
        account = outcome.account
        result = "[green]ok[/green]" if outcome.ok else f"[red]{outcome.problem}[/red]"
        plan = account.subscription_title or account.subscription_type or "-"
        table.add_row(account.label, result, plan, usage_text(account))
    out.print(table)
    failed = sum(1 for o in outcomes if not o.ok)
    if failed:
        raise typer.Exit(EXIT_PARTIAL if failed < len(outcomes) else EXIT_FAILURE)
