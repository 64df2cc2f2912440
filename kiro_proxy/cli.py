"""The `kiro-proxy` command line."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kiro_proxy import __version__
from kiro_proxy.bench.command import bench as bench_command
from kiro_proxy.cli_accounts import accounts_app
from kiro_proxy.settings import ConfigError, Settings, load_settings

app = typer.Typer(
    help="kiro-proxy: OpenAI- and Anthropic-compatible APIs on top of Kiro accounts.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)
app.add_typer(accounts_app, name="accounts")


def _settings_or_exit(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as error:
        console.print(f"[red]configuration error:[/red] {error}")
        raise typer.Exit(2) from error


def _run_server(settings: Settings) -> None:
    from kiro_proxy.app import create_app
    from kiro_proxy.graceful import build_server
    from kiro_proxy.observability import setup_logging

    setup_logging(
        settings.log_format,
        settings.log_level,
        secrets=(settings.admin_password, settings.api_key),
    )
    if settings.workers > 1:
        from kiro_proxy.workers import serve_workers

        status = serve_workers(settings, settings.workers)
        if status:
            raise typer.Exit(status)
        return
    build_server(create_app(settings), settings).run()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (PORT).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Worker processes sharing the port and the pool state (WORKERS)."),
    ] = None,
) -> None:
    """Start the gateway."""
    settings = _settings_or_exit(host=host, port=port, workers=workers)
    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    _run_server(settings)


@app.command()
def simulate(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8787,
) -> None:
    """Run the bundled Kiro simulator (a fake of every Kiro endpoint) for tests and demos."""
    from kiro_proxy.simulator.app import run

    console.print(f"Kiro simulator listening on http://{host}:{port}")
    run(host=host, port=port)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Gateway port.")] = 8080,
    simulator_port: Annotated[int, typer.Option(help="Simulator port.")] = 8787,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where the demo keeps its data (default: a temp folder).")
    ] = None,
) -> None:
    """Start the gateway wired to the bundled simulator with a demo account."""
    from kiro_proxy.demo import run_demo

    try:
        asyncio.run(run_demo(port=port, simulator_port=simulator_port, data_dir=data_dir))
    except KeyboardInterrupt:
        pass


app.command(name="bench")(bench_command)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
