"""`kiro-proxy demo`: the gateway and the bundled Kiro simulator in one process.

A way to try every client (curl, the SDKs, Claude Code) before adding a real account: the demo
account lives only in the simulator, replies are canned, and the data folder is a temporary one
unless `--data-dir` says otherwise. Nothing here runs unless the user starts the demo.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TextIO

import orjson

from kiro_proxy.settings import Settings, load_settings

DEMO_EMAIL = "demo@kiro-proxy.local"
DEMO_MODEL = "claude-sonnet-4.5"
DEMO_API_KEY = "kiro-proxy-demo-key"


def write_demo_config(config_path: Path, *, refresh_token: str) -> None:
    """A Kiro-Go-style config.json holding the demo account; the gateway imports it at start."""
    config_path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "requireApiKey": False,
        "apiKey": DEMO_API_KEY,
        "accounts": [
            {
                "id": "kiro-proxy-demo",
                "email": DEMO_EMAIL,
                "nickname": "demo",
                "authMethod": "social",
                "provider": "Demo",
                "refreshToken": refresh_token,
                "enabled": True,
            }
        ],
    }
    config_path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    config_path.chmod(0o600)


def demo_settings(
    config_path: Path, *, port: int, simulator_url: str, admin_password: str
) -> Settings:
    return load_settings(
        config_path=config_path,
        shutdown_grace_seconds=5,
        host="127.0.0.1",
        port=port,
        admin_password=admin_password,
        kiro_api_url=simulator_url,
        kiro_codewhisperer_url=simulator_url,
        kiro_auth_url=simulator_url,
        kiro_oidc_url=simulator_url,
        kiro_portal_url=simulator_url,
    )


def snippets(base_url: str, *, simulator_url: str, admin_password: str) -> str:
    body = orjson.dumps(
        {"model": DEMO_MODEL, "max_tokens": 256, "messages": [{"role": "user", "content": "Hello"}]}
    ).decode()
    chat = orjson.dumps(
        {"model": DEMO_MODEL, "messages": [{"role": "user", "content": "Hello"}]}
    ).decode()
    responses = orjson.dumps({"model": DEMO_MODEL, "input": "Hello"}).decode()
    return f"""
kiro-proxy demo: gateway {base_url} -> Kiro simulator {simulator_url}
(demo account {DEMO_EMAIL}; replies are canned by the simulator, no real Kiro account is used)

curl (Anthropic Messages API):
  curl {base_url}/v1/messages -H 'content-type: application/json' -H 'x-api-key: {DEMO_API_KEY}' -H 'anthropic-version: 2023-06-01' -d '{body}'

curl (OpenAI Chat Completions, streamed):
  curl -N {base_url}/v1/chat/completions -H 'content-type: application/json' -H 'authorization: Bearer {DEMO_API_KEY}' -d '{chat[:-1]},"stream":true}}'

curl (OpenAI Responses API, what Codex speaks; README's Codex section has the config.toml):
  curl {base_url}/v1/responses -H 'content-type: application/json' -H 'authorization: Bearer {DEMO_API_KEY}' -d '{responses}'

Python (pip install openai):
  from openai import OpenAI
  client = OpenAI(base_url="{base_url}/v1", api_key="{DEMO_API_KEY}")
  reply = client.chat.completions.create(model="{DEMO_MODEL}", messages=[{{"role": "user", "content": "Hello"}}])
  print(reply.choices[0].message.content)

Python (pip install anthropic):
  import anthropic
  client = anthropic.Anthropic(base_url="{base_url}", api_key="{DEMO_API_KEY}")
  reply = client.messages.create(model="{DEMO_MODEL}", max_tokens=256, messages=[{{"role": "user", "content": "Hello"}}])
  print(reply.content[0].text)

Claude Code:
  ANTHROPIC_BASE_URL={base_url} ANTHROPIC_API_KEY={DEMO_API_KEY} claude

Admin panel: {base_url}/admin  (password for this demo: {admin_password})
Metrics: {base_url}/metrics    Press Ctrl+C to stop.
"""


async def run_demo(
    port: int = 8080,
    simulator_port: int = 8787,
    data_dir: Path | None = None,
    *,
    out: TextIO | None = None,
) -> None:
    from kiro_proxy.app import create_app
    from kiro_proxy.graceful import build_server
    from kiro_proxy.observability import setup_logging
    from kiro_proxy.simulator.app import start_simulator

    out = out or sys.stdout
    temporary = data_dir is None
    folder = Path(tempfile.mkdtemp(prefix="kiro-proxy-demo-")) if data_dir is None else data_dir
    simulator = await start_simulator("127.0.0.1", simulator_port)
    try:
        config_path = folder / "config.json"
        # A kept --data-dir already holds the demo account: the fresh simulator must know its
        # refresh token (the simulator does not rotate refresh tokens by default).
        kept_token = _kept_demo_refresh_token(config_path)
        account = simulator.state.add_account(DEMO_EMAIL, refresh_token=kept_token)
        if kept_token is None:
            write_demo_config(config_path, refresh_token=account.refresh_token)
        admin_password = secrets.token_urlsafe(12)
        settings = demo_settings(
            config_path, port=port, simulator_url=simulator.url, admin_password=admin_password
        )
        setup_logging(settings.log_format, settings.log_level, secrets=(admin_password,))
        server = build_server(create_app(settings), settings)
        announce = asyncio.ensure_future(
            _announce_when_started(server, settings, simulator.url, admin_password, out)
        )
        try:
            await server.serve()
        finally:
            announce.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await announce
    finally:
        await simulator.close()
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)


def _kept_demo_refresh_token(config_path: Path) -> str | None:
    if not config_path.exists():
        return None
    data = orjson.loads(config_path.read_bytes())
    for raw in data.get("accounts") or []:
        if isinstance(raw, dict) and raw.get("email") == DEMO_EMAIL and raw.get("refreshToken"):
            return str(raw["refreshToken"])
    return None


async def _announce_when_started(
    server: object, settings: Settings, simulator_url: str, admin_password: str, out: TextIO
) -> None:
    # uvicorn exposes start-up only as a flag, not an event.
    while not getattr(server, "started", False):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    base_url = f"http://{settings.host}:{settings.port}"
    out.write(snippets(base_url, simulator_url=simulator_url, admin_password=admin_password))
    out.flush()
