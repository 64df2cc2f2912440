"""`kiro-proxy accounts …` through Typer's CliRunner, on a temp database, against a simulator
running in its own thread (the CLI runs its own event loop with asyncio.run)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import sys
import threading
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.error import HTTPError

import orjson
import pytest
from typer.testing import CliRunner

from kiro_proxy import cli_accounts, cli_accounts_support
from kiro_proxy.cli import app
from kiro_proxy.simulator.app import RunningSimulator, start_simulator
from kiro_proxy.simulator.state import SimState

T = TypeVar("T")


class ThreadedSimulator:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.running: RunningSimulator = self.run(start_simulator())
        self.state: SimState = self.running.state
        self.state.device_interval = 0.05  # keep polling tests fast

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=20)

    def sync(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        async def call() -> Any:
            return fn(*args, **kwargs)

        return self.run(call())

    def close(self) -> None:
        self.run(self.running.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


async def until(condition: Callable[[], bool]) -> None:
    """Wait for a change made by the CLI's requests (the simulator has no event to await)."""
    while not condition():  # noqa: ASYNC110
        await asyncio.sleep(0.01)


@pytest.fixture
def tsim() -> Iterator[ThreadedSimulator]:
    sim = ThreadedSimulator()
    try:
        yield sim
    finally:
        sim.close()


@pytest.fixture
def cli(tsim: ThreadedSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    url = tsim.running.url
    monkeypatch.delenv("KIRO_PROXY_SECRET_KEY", raising=False)
    for name, value in {
        "CONFIG_PATH": str(tmp_path / "config.json"),
        "DATA_DIR": str(tmp_path / "data"),
        "KIRO_API_URL": url,
        "KIRO_CODEWHISPERER_URL": url,
        "KIRO_AUTH_URL": url,
        "KIRO_OIDC_URL": url,
        "KIRO_PORTAL_URL": url,
    }.items():
        monkeypatch.setenv(name, value)
    # Rich sizes tables to the terminal; a wide one keeps each cell on one line for asserts.
    monkeypatch.setattr(cli_accounts_support.out, "width", 200)
    monkeypatch.setattr(cli_accounts_support.err, "width", 200)
    return CliRunner()


def accounts(cli: CliRunner, *args: str, input: str | None = None) -> Any:
    return cli.invoke(app, ["accounts", *args], input=input)


def listed(cli: CliRunner) -> list[dict[str, Any]]:
    result = accounts(cli, "list", "--json")
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)  # type: ignore[no-any-return]


def test_add_list_disable_enable_remove(cli: CliRunner, tsim: ThreadedSimulator) -> None:
    sim_account = tsim.sync(tsim.state.add_account, "anna@example.com")
    result = accounts(cli, "add", "--refresh-token", sim_account.refresh_token, "--nickname", "A")
    assert result.exit_code == 0, result.output
    assert "anna@example.com added" in result.stdout
    assert sim_account.refresh_token not in result.output

    (row,) = listed(cli)
    assert row["email"] == "anna@example.com" and row["enabled"] is True
    table = accounts(cli, "list")
    assert "anna@example.com" in table.stdout and sim_account.refresh_token not in table.stdout

    assert accounts(cli, "disable", "anna@example.com").exit_code == 0
    assert listed(cli)[0]["enabled"] is False
    assert accounts(cli, "enable", row["id"][:6]).exit_code == 0
    assert listed(cli)[0]["enabled"] is True

    again = accounts(cli, "add", "--refresh-token", sim_account.refresh_token)
    assert again.exit_code == 0 and "updated" in again.stdout
    assert len(listed(cli)) == 1

    assert accounts(cli, "remove", "nobody@example.com", "--yes").exit_code == 1
    assert accounts(cli, "remove", row["id"], "--yes").exit_code == 0
    assert listed(cli) == []


def test_add_dead_refresh_token_fails_with_advice(cli: CliRunner, tsim: ThreadedSimulator) -> None:
    sim_account = tsim.sync(tsim.state.add_account, "bert@example.com")
    tsim.sync(tsim.state.revoke_refresh_token, sim_account)
    result = accounts(cli, "add", "--refresh-token", sim_account.refresh_token)
    assert result.exit_code == 1
    assert "log in again" in result.output
    assert listed(cli) == []


def test_usage_errors_exit_2(cli: CliRunner, tmp_path: Path) -> None:
    assert accounts(cli, "add", "--auth-method", "magic", "--refresh-token", "x").exit_code == 2
    assert accounts(cli, "import", str(tmp_path / "missing.json")).exit_code == 2
    assert accounts(cli, "login", "idc").exit_code == 2  # --start-url is required


def test_import_file_partial_batch_exits_3(
    cli: CliRunner, tsim: ThreadedSimulator, tmp_path: Path
) -> None:
    good = tsim.sync(tsim.state.add_account, "cleo@example.com")
    path = tmp_path / "batch.json"
    path.write_bytes(orjson.dumps([{"refreshToken": good.refresh_token}, {"email": "x@y"}]))
    result = accounts(cli, "import", str(path))
    assert result.exit_code == 3, result.output
    assert "1 imported, 1 failed" in result.stdout
    assert "refreshToken" in result.stdout  # the failed item says what is missing

    all_bad = tmp_path / "bad.json"
    all_bad.write_text("{oops")
    assert accounts(cli, "import", str(all_bad)).exit_code == 1

    ok = tmp_path / "ok.json"
    ok.write_bytes(orjson.dumps({"refreshToken": good.refresh_token}))
    assert accounts(cli, "import", str(ok)).exit_code == 0


def test_import_ide_token_file_joins_its_registration(
    cli: CliRunner, tsim: ThreadedSimulator, tmp_path: Path
) -> None:
    sim_account = tsim.sync(
        tsim.state.add_account, "dina@example.com", auth_method="idc", profile_arn=None
    )
    digest = hashlib.sha1(sim_account.client_id.encode()).hexdigest()
    (tmp_path / "kiro-auth-token.json").write_bytes(
        orjson.dumps(
            {"refreshToken": sim_account.refresh_token, "authMethod": "IdC", "clientIdHash": digest}
        )
    )
    (tmp_path / f"{digest}.json").write_bytes(
        orjson.dumps({"clientId": sim_account.client_id, "clientSecret": sim_account.client_secret})
    )
    result = accounts(cli, "import", str(tmp_path / "kiro-auth-token.json"))
    assert result.exit_code == 0, result.output
    assert listed(cli)[0]["authMethod"] == "idc"


def test_import_local(cli: CliRunner, tsim: ThreadedSimulator, tmp_path: Path) -> None:
    sim_account = tsim.sync(tsim.state.add_account, "emil@example.com")
    cache = tmp_path / "sso"
    cache.mkdir()
    (cache / "kiro-auth-token.json").write_bytes(
        orjson.dumps({"refreshToken": sim_account.refresh_token, "authMethod": "social"})
    )
    empty = accounts(
        cli,
        "import-local",
        "--sso-cache-dir",
        str(tmp_path / "none"),
        "--kiro-cli-db",
        str(tmp_path / "none.db"),
    )
    assert empty.exit_code == 1 and "sign in to the Kiro IDE" in empty.output
    result = accounts(
        cli,
        "import-local",
        "--sso-cache-dir",
        str(cache),
        "--kiro-cli-db",
        str(tmp_path / "none.db"),
    )
    assert result.exit_code == 0, result.output
    assert listed(cli)[0]["email"] == "emil@example.com"


def test_login_builder_id_polls_until_approved_from_another_task(
    cli: CliRunner, tsim: ThreadedSimulator
) -> None:
    approved: list[str] = []

    async def approve_when_asked() -> None:
        # The "user": waits for the code to appear, lets the CLI poll a few times, approves.
        await until(lambda: bool(tsim.state.devices))
        (device,) = tsim.state.devices.values()
        await until(lambda: device.last_poll is not None)
        await asyncio.sleep(0.2)
        tsim.state.approve_device(device.user_code)
        approved.append(device.user_code)

    task = asyncio.run_coroutine_threadsafe(approve_when_asked(), tsim.loop)
    result = accounts(cli, "login", "builder-id")
    task.result(timeout=5)
    assert result.exit_code == 0, result.output
    assert approved[0] in result.stdout  # the code was shown to the user
    assert "added" in result.stdout
    (row,) = listed(cli)
    assert row["provider"] == "BuilderId"


def test_login_builder_id_denied_exits_1(cli: CliRunner, tsim: ThreadedSimulator) -> None:
    async def deny() -> None:
        await until(lambda: bool(tsim.state.devices))
        tsim.state.deny_device(next(iter(tsim.state.devices.values())).user_code)

    task = asyncio.run_coroutine_threadsafe(deny(), tsim.loop)
    result = accounts(cli, "login", "builder-id")
    task.result(timeout=5)
    assert result.exit_code == 1
    assert "denied" in result.output and "start the login again" in result.output


def _sign_in_without_following(url: str) -> str:
    """The browser: open the authorize URL, return where it is sent (the callback URL)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    try:
        urllib.request.build_opener(NoRedirect).open(url, timeout=5)
    except HTTPError as exc:
        return str(exc.headers["Location"])
    raise AssertionError("the authorize URL did not redirect")


def user_at_browser(*, tamper: bool = False) -> Any:
    """Stands in for the CLI's "Final URL" prompt: the "user" takes the authorize URL the CLI
    has printed so far, signs in, and types the address they land on."""

    def prompt(*_args: Any, **_kwargs: Any) -> str:
        printed = sys.stdout.buffer.getvalue().decode()  # CliRunner's captured stdout
        url = next(line for line in printed.splitlines() if "/authorize?" in line).strip()
        callback = _sign_in_without_following(url)
        return callback.replace("state=", "state=forged") if tamper else callback

    return prompt


IDC_ARGS = ["login", "idc", "--start-url", "https://org.awsapps.com/start"]


def test_login_idc_with_pasted_url(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_accounts.typer, "prompt", user_at_browser())
    result = accounts(cli, *IDC_ARGS)
    assert result.exit_code == 0, result.output
    assert "added" in result.stdout
    assert listed(cli)[0]["provider"] == "Enterprise"


def test_login_idc_state_mismatch(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_accounts.typer, "prompt", user_at_browser(tamper=True))
    result = accounts(cli, *IDC_ARGS)
    assert result.exit_code == 1
    assert "state mismatch" in result.output
    assert listed(cli) == []


def test_login_sso_token_lines(cli: CliRunner, tsim: ThreadedSimulator, tmp_path: Path) -> None:
    good = tsim.sync(tsim.state.create_sso_cookie)
    bad = tsim.sync(tsim.state.create_sso_cookie, expired=True)
    cookies = tmp_path / "cookies.txt"
    cookies.write_text(f"{good}\n{bad}\n")
    result = accounts(cli, "login", "sso-token", "--file", str(cookies))
    assert result.exit_code == 3, result.output
    assert good not in result.output and bad not in result.output
    assert len(listed(cli)) == 1


def test_export_writes_private_file_and_round_trips(
    cli: CliRunner, tsim: ThreadedSimulator, tmp_path: Path
) -> None:
    sim_account = tsim.sync(tsim.state.add_account, "finn@example.com")
    assert accounts(cli, "add", "--refresh-token", sim_account.refresh_token).exit_code == 0
    target = tmp_path / "export.json"
    result = accounts(cli, "export", "--output", str(target))
    assert result.exit_code == 0
    assert "plain text" in result.stderr  # the secrets warning
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    document = orjson.loads(target.read_bytes())
    assert document["accounts"][0]["credentials"]["refreshToken"]

    row_id = listed(cli)[0]["id"]
    assert accounts(cli, "remove", row_id, "--yes").exit_code == 0
    again = accounts(cli, "import", str(target))
    assert again.exit_code == 0, again.output
    assert listed(cli)[0]["email"] == "finn@example.com"


def test_refresh_reports_dead_tokens(cli: CliRunner, tsim: ThreadedSimulator) -> None:
    alive = tsim.sync(tsim.state.add_account, "gus@example.com", subscription="PRO")
    dying = tsim.sync(tsim.state.add_account, "hal@example.com")
    for account in (alive, dying):
        assert accounts(cli, "add", "--refresh-token", account.refresh_token).exit_code == 0
    assert accounts(cli, "refresh").exit_code == 0
    tsim.sync(tsim.state.revoke_refresh_token, dying)
    result = accounts(cli, "refresh")
    assert result.exit_code == 3, result.output
    rows = {r["email"]: r for r in listed(cli)}
    assert rows["hal@example.com"]["enabled"] is False  # dead refresh token: disabled with reason
    assert "re-login" in (rows["hal@example.com"]["disabledReason"] or "")
    assert rows["gus@example.com"]["enabled"] is True
