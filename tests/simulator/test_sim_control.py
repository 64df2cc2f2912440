"""The /_sim control API: what out-of-process tests (e.g. the Claude Code CLI) use to script."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from kiro_proxy.kiro.errors import KiroHTTPError
from kiro_proxy.kiro.events import TextEvent, ToolUseEvent
from kiro_proxy.simulator import script as s
from kiro_proxy.simulator.app import RunningSimulator, start_simulator
from kiro_proxy.simulator.testing import client_for, credentials_for, simple_request


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator()
    yield running
    await running.close()


async def call(sim: RunningSimulator, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method, sim.url + path, data=orjson.dumps(body) if body is not None else None
        ) as response,
    ):
        return response.status, orjson.loads(await response.read())


def test_scripts_round_trip_through_json() -> None:
    items: list[s.Scripted] = [
        s.Reply(
            [
                s.Text("a"),
                s.ToolUse("t", "n", {"x": 1}, 2),
                s.Raw(b"\x00\x01"),
                s.Sleep(0.1),
                s.CorruptNext(2),
                s.Drop(),
                s.Stall(),
                s.Metadata(1, 2, 3, 4, "TOOL_USE"),
                s.ExceptionFrame("E", "m"),
                s.ErrorFrame("C", "m"),
                s.Reasoning("r"),
                s.ReasoningSignature("sig"),
                s.Metering(0.5),
                s.ContextUsage(3.0),
            ],
            first_byte_delay=0.5,
        ),
        s.throttled(retry_after=2),
        s.Benchmark(chunks=3, size=4, delay=0.0),
    ]
    for item in items:
        assert s.scripted_from_json(orjson.loads(orjson.dumps(s.scripted_to_json(item)))) == item


async def test_control_api_scripts_an_account(sim: RunningSimulator) -> None:
    status, account = await call(sim, "POST", "/_sim/accounts", {"email": "cli@example.com"})
    assert status == 200 and account["accessToken"]
    reply = s.Reply([s.Text("scripted"), s.ToolUse("tooluse_9", "Bash", {"command": "ls"}, 2)])
    status, queued = await call(
        sim,
        "POST",
        "/_sim/enqueue",
        {
            "account": "cli@example.com",
            "scripts": [s.scripted_to_json(reply), s.scripted_to_json(s.quota_exhausted())],
        },
    )
    assert status == 200 and queued == {"queued": 2, "pending": 2}

    creds = credentials_for(sim.state.accounts["cli@example.com"])
    async with client_for(sim.url) as kiro:
        events = [e async for e in kiro.generate(simple_request(), creds)]
        assert events[0] == TextEvent("scripted")
        assert [e for e in events if isinstance(e, ToolUseEvent)][-1].stop
        with pytest.raises(KiroHTTPError) as caught:
            [e async for e in kiro.generate(simple_request(), creds)]
        assert caught.value.is_quota_exhausted

    status, log = await call(sim, "GET", "/_sim/requests")
    assert [entry["status"] for entry in log] == [200, 402]
    assert all("authorization" not in entry["headers"] for entry in log)
    status, counters = await call(sim, "GET", "/_sim/counters")
    assert counters["generate_calls"] == 2 and counters["pending_scripts"] == 0


async def test_control_api_always_config_and_actions(sim: RunningSimulator) -> None:
    await call(sim, "POST", "/_sim/accounts", {"email": "a@example.com"})
    status, _ = await call(
        sim, "POST", "/_sim/always", {"script": s.scripted_to_json(s.Benchmark(5, 3))}
    )
    assert status == 200 and isinstance(sim.state.always, s.Benchmark)
    status, config = await call(
        sim, "POST", "/_sim/config", {"max_input_chars": 50, "accept_any_token": True}
    )
    assert status == 200 and config["max_input_chars"] == 50 and sim.state.accept_any_token
    assert (await call(sim, "POST", "/_sim/config", {"nope": 1}))[0] == 400
    status, account = await call(sim, "POST", "/_sim/accounts/a@example.com/expire")
    assert status == 200 and account["accessExpiresAt"] < sim.state.clock()
    status, cookie = await call(sim, "POST", "/_sim/sso_cookies", {"email": "a@example.com"})
    assert (
        status == 200
        and sim.state.account_for_cookie(cookie["cookie"]) is sim.state.accounts["a@example.com"]
    )
    assert (await call(sim, "POST", "/_sim/enqueue", {"script": {"kind": "bogus"}}))[0] == 400
    status, _ = await call(sim, "POST", "/_sim/reset")
    assert status == 200 and sim.state.always is None and not sim.state.requests


async def test_accept_any_token_for_load(sim: RunningSimulator) -> None:
    sim.state.accept_any_token = True
    async with client_for(sim.url) as kiro:
        from kiro_proxy.kiro.client import UpstreamCredentials

        creds = UpstreamCredentials(
            access_token="whatever", machine_id="0" * 64, auth_method="social"
        )
        events = [e async for e in kiro.generate(simple_request(), creds)]
    assert TextEvent("Hello! ") in events
