"""Plumbing shared by the `kiro-proxy accounts` commands: settings, opening the database and a
Kiro client for one command, consoles, result rendering and the exit codes scripts rely on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from kiro_proxy.auth.errors import LoginError
from kiro_proxy.auth.results import BatchReport, OnboardResult
from kiro_proxy.auth.service import LoginService
from kiro_proxy.kiro.client import KiroClient
from kiro_proxy.pool.account import Account
from kiro_proxy.settings import ConfigError, Settings, load_settings

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3

out = Console()
err = Console(stderr=True)
T = TypeVar("T")


def load_cli_settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        err.print(f"[red]configuration error:[/red] {error}")
        raise typer.Exit(EXIT_USAGE) from error


@dataclass(slots=True)
class CliContext:
    settings: Settings
    accounts: Any  # store.accounts.AccountRepository
    client: KiroClient

    def service(self, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> LoginService:
        return LoginService(self.settings, self.client, self.accounts, sleep=sleep)


@asynccontextmanager
async def _open(settings: Settings) -> AsyncIterator[CliContext]:
    from kiro_proxy.app import build_client
    from kiro_proxy.store.accounts import AccountRepository
    from kiro_proxy.store.crypto import SecretBox
    from kiro_proxy.store.database import open_database

    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    database = await open_database(settings.resolved_database_url)
    try:
        box = await asyncio.to_thread(SecretBox.for_data_dir, settings.resolved_data_dir)
        async with build_client(settings) as client:
            yield CliContext(settings, AccountRepository(database, box), client)
    finally:
        await database.close()


def run(work: Callable[[CliContext], Awaitable[T]]) -> T:
    """Run one command's async work on the database; a LoginError exits 1 with its advice."""
    settings = load_cli_settings()

    async def main() -> T:
        async with _open(settings) as ctx:
            return await work(ctx)

    try:
        return asyncio.run(main())
    except LoginError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(EXIT_FAILURE) from exc


def fail(message: str, code: int = EXIT_FAILURE) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def show_result(result: OnboardResult) -> None:
    verb = "added" if result.created else "updated (it was already known)"
    who = result.email or result.account_id[:8]
    plan = f", {result.subscription}" if result.subscription else ""
    out.print(
        f"[green]✓[/green] account {who} {verb} [{result.auth_method}{plan}] id={result.account_id}"
    )
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}")


def show_report_and_exit(report: BatchReport) -> None:
    """Per-item table; exit 0 all imported, 3 some failed, 1 none imported."""
    table = Table(title="Import report")
    for column in ("#", "item", "result", "account / what to do"):
        table.add_column(column, overflow="fold")
    for item in report.items:
        if item.result is not None:
            verb = "added" if item.result.created else "updated"
            who = item.result.email or item.result.account_id[:8]
            detail = f"{who} ({item.result.auth_method})"
            table.add_row(str(item.index + 1), item.label, f"[green]{verb}[/green]", detail)
        else:
            table.add_row(str(item.index + 1), item.label, "[red]failed[/red]", item.error or "")
    out.print(table)
    out.print(f"{len(report.succeeded)} imported, {len(report.failed)} failed")
    if not report.items:
        raise fail("nothing to import")
    if report.failed:
        raise typer.Exit(EXIT_PARTIAL if report.succeeded else EXIT_FAILURE)


async def resolve_account(ctx: CliContext, ref: str) -> Account:
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


def when(seconds: float | None) -> str:
    if not seconds:
        return "-"
    delta = seconds - time.time()
    if abs(delta) < 3600 * 48:
        return f"in {int(delta // 60)} min" if delta >= 0 else f"{int(-delta // 60)} min ago"
    return time.strftime("%Y-%m-%d", time.gmtime(seconds))


def usage_text(account: Account) -> str:
    if account.usage_limit is None:
        return "-"
    return f"{account.usage_current or 0:g}/{account.usage_limit:g}"
