"""`kiro-proxy accounts login …`: interactive sign-ins that end with a stored account."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from kiro_proxy.auth.builder_id import PollResult
from kiro_proxy.auth.results import BatchReport, OnboardResult
from kiro_proxy.cli_accounts_support import (
    EXIT_USAGE,
    CliContext,
    err,
    fail,
    out,
    run,
    show_report_and_exit,
    show_result,
)

login_app = typer.Typer(help="Sign in to a Kiro account and add it.", no_args_is_help=True)


def read_input(file: str) -> bytes:
    """A file's bytes, or stdin for '-'; a missing file is a usage error (exit 2)."""
    if file == "-":
        return sys.stdin.buffer.read()
    path = Path(file).expanduser()
    try:
        return path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}", EXIT_USAGE) from exc


@login_app.command("builder-id")
def login_builder_id(
    region: Annotated[str, typer.Option(help="OIDC region.")] = "us-east-1",
) -> None:
    """Sign in with AWS Builder ID (device code): open the URL, confirm the code."""

    async def work(ctx: CliContext) -> OnboardResult:
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

    show_result(run(work))


@login_app.command("idc")
def login_idc(
    start_url: Annotated[str, typer.Option(help="https://<org>.awsapps.com/start")],
    region: Annotated[str, typer.Option(help="The IAM Identity Center region.")] = "us-east-1",
    callback_url: Annotated[
        str | None, typer.Option(help="The final URL after sign-in (prompted when omitted).")
    ] = None,
) -> None:
    """Sign in with IAM Identity Center (authorization code + PKCE)."""

    async def work(ctx: CliContext) -> OnboardResult:
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

    show_result(run(work))


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
        read_input(file).decode("utf-8", "replace")
        if file
        else typer.prompt("x-amz-sso_authn cookie value", hide_input=True)
    )

    async def work(ctx: CliContext) -> BatchReport:
        return await ctx.service().sso_tokens(text, region)

    show_report_and_exit(run(work))
