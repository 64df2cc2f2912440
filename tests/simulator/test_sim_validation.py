"""Simulator structural validation (protocol doc §2.2): one broken payload per rule, table-driven.

Each case is checked twice: by the pure validator, and over HTTP (400 "Improperly formed
request." with the reason recorded in the request log).
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson
import pytest

from kiro_proxy.simulator.app import RunningSimulator, start_simulator
from kiro_proxy.simulator.testing import payload, tool_spec
from kiro_proxy.simulator.validation import validate_generate_body

MODEL = "claude-sonnet-4.5"
KNOWN = {MODEL, "claude-haiku-4.5"}


def user(content: str = "question", **extra: Any) -> dict[str, Any]:
    return {
        "userInputMessage": {"content": content, "modelId": MODEL, "origin": "AI_EDITOR", **extra}
    }


def assistant(
    content: str = "answer", tool_uses: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    message: dict[str, Any] = {"content": content}
    if tool_uses:
        message["toolUses"] = tool_uses
    return {"assistantResponseMessage": message}


def use(tool_use_id: str = "t1", name: str = "get_weather") -> dict[str, Any]:
    return {"toolUseId": tool_use_id, "name": name, "input": {"city": "Paris"}}


def result(tool_use_id: str = "t1", text: str = "sunny") -> dict[str, Any]:
    return {"toolUseId": tool_use_id, "content": [{"text": text}], "status": "success"}


def current(
    content: str = "go on",
    results: list[dict[str, Any]] | None = None,
    tools: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    message: dict[str, Any] = {"content": content, "modelId": MODEL, "origin": "AI_EDITOR", **extra}
    context: dict[str, Any] = {}
    if results is not None:
        context["toolResults"] = results
    if tools is not None:
        context["tools"] = tools
    if context:
        message["userInputMessageContext"] = context
    return message


def valid_tool_conversation() -> dict[str, Any]:
    return payload(
        history=[user("weather?"), assistant("Let me check.", [use("t1")])],
        current=current("Tool results provided.", results=[result("t1")], tools=[tool_spec()]),
    )


PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

VALID: list[tuple[str, Callable[[], dict[str, Any]]]] = [
    ("plain", lambda: payload()),
    ("history", lambda: payload(history=[user(), assistant()], current=current())),
    ("tools round trip", valid_tool_conversation),
    (
        "image",
        lambda: payload(current=current(images=[{"format": "png", "source": {"bytes": PNG}}])),
    ),
    ("long tool name ok at 64", lambda: payload(tools=[tool_spec("a" * 64)])),
    ("single space content", lambda: payload(history=[user(), assistant(" ")], current=current())),
]


def mutate(
    fn: Callable[[dict[str, Any]], None], base: Callable[[], dict[str, Any]] = payload
) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        body = copy.deepcopy(base())
        fn(body)
        return body

    return build


def cs(body: dict[str, Any]) -> dict[str, Any]:
    return body["conversationState"]


def cur(body: dict[str, Any]) -> dict[str, Any]:
    return body["conversationState"]["currentMessage"]["userInputMessage"]


INVALID: list[tuple[str, Callable[[], dict[str, Any]], str]] = [
    ("no conversationState", lambda: {"profileArn": "x"}, "conversationState missing"),
    ("no currentMessage", mutate(lambda b: cs(b).pop("currentMessage")), "currentMessage"),
    (
        "current is assistant",
        mutate(lambda b: cs(b).update(currentMessage=assistant())),
        "currentMessage",
    ),
    (
        "history starts with assistant",
        lambda: payload(history=[assistant(), user()], current=current()),
        "alternate",
    ),
    (
        "two users in a row",
        lambda: payload(history=[user(), user()], current=current()),
        "alternate",
    ),
    (
        "history ends with user",
        lambda: payload(history=[user(), assistant(), user()], current=current()),
        "end with an assistant",
    ),
    ("empty current content", mutate(lambda b: cur(b).update(content="")), "content is empty"),
    (
        "empty history user content",
        lambda: payload(history=[user(""), assistant()], current=current()),
        "content is empty",
    ),
    (
        "empty assistant content",
        lambda: payload(history=[user(), assistant("")], current=current()),
        "content is empty",
    ),
    ("missing modelId", mutate(lambda b: cur(b).pop("modelId")), "modelId missing"),
    (
        "missing modelId in history",
        mutate(
            lambda b: cs(b)["history"][0]["userInputMessage"].pop("modelId"),
            lambda: payload(history=[user(), assistant()], current=current()),
        ),
        "modelId missing",
    ),
    ("unknown model", mutate(lambda b: cur(b).update(modelId="gpt-9")), "unknown modelId"),
    (
        "orphan tool result",
        lambda: payload(
            history=[user(), assistant()],
            current=current(results=[result("t9")], tools=[tool_spec()]),
        ),
        "no toolUse",
    ),
    (
        "tool use without result",
        lambda: payload(
            history=[user(), assistant("x", [use("t1")])], current=current(tools=[tool_spec()])
        ),
        "without a toolResult",
    ),
    (
        "duplicate tool result ids",
        lambda: payload(
            history=[user(), assistant("x", [use("t1")])],
            current=current(results=[result("t1"), result("t1")], tools=[tool_spec()]),
        ),
        "duplicate toolUseId",
    ),
    (
        "duplicate tool use ids across history",
        lambda: payload(
            history=[
                user(),
                assistant("x", [use("t1")]),
                user("r", userInputMessageContext={"toolResults": [result("t1")]}),
                assistant("y", [use("t1")]),
            ],
            current=current(results=[result("t1")], tools=[tool_spec()]),
        ),
        "duplicate toolUseId",
    ),
    (
        "history tool not declared",
        mutate(lambda b: cur(b)["userInputMessageContext"].pop("tools"), valid_tool_conversation),
        "not declared",
    ),
    (
        "tool declared under another name",
        mutate(
            lambda b: cur(b)["userInputMessageContext"].update(tools=[tool_spec("other")]),
            valid_tool_conversation,
        ),
        "not declared",
    ),
    ("tool name too long", lambda: payload(tools=[tool_spec("a" * 65)]), "longer than 64"),
    ("tool name empty", lambda: payload(tools=[tool_spec("")]), "name missing"),
    ("empty description", lambda: payload(tools=[tool_spec(description="")]), "empty description"),
    (
        "description too long",
        lambda: payload(tools=[tool_spec(description="d" * 10241)]),
        "description longer",
    ),
    (
        "schema not an object",
        mutate(
            lambda b: cur(b)["userInputMessageContext"]["tools"][0]["toolSpecification"].update(
                inputSchema={"json": "nope"}
            ),
            lambda: payload(tools=[tool_spec()]),
        ),
        "inputSchema.json",
    ),
    (
        "tool use input is a string",
        mutate(
            lambda b: cs(b)["history"][1]["assistantResponseMessage"]["toolUses"][0].update(
                input="{}"
            ),
            valid_tool_conversation,
        ),
        "input must be a JSON object",
    ),
    (
        "empty tool result text",
        mutate(
            lambda b: cur(b)["userInputMessageContext"]["toolResults"][0].update(
                content=[{"text": ""}]
            ),
            valid_tool_conversation,
        ),
        "tool result text is empty",
    ),
    (
        "bad image format",
        lambda: payload(current=current(images=[{"format": "bmp", "source": {"bytes": PNG}}])),
        "format",
    ),
    (
        "bad image base64",
        lambda: payload(current=current(images=[{"format": "png", "source": {"bytes": "***"}}])),
        "base64",
    ),
]


@pytest.mark.parametrize(("name", "build"), VALID, ids=[c[0] for c in VALID])
def test_valid_payloads_pass(name: str, build: Callable[[], dict[str, Any]]) -> None:
    assert validate_generate_body(build(), KNOWN) is None


@pytest.mark.parametrize(("name", "build", "expected"), INVALID, ids=[c[0] for c in INVALID])
def test_each_rule_rejects(name: str, build: Callable[[], dict[str, Any]], expected: str) -> None:
    reason = validate_generate_body(build(), KNOWN)
    assert reason is not None and expected in reason, reason


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator()
    yield running
    await running.close()


async def post(sim: RunningSimulator, body: dict[str, Any], token: str) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            sim.url + "/generateAssistantResponse",
            data=orjson.dumps(body),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        ) as response,
    ):
        return response.status, await response.read()


async def test_http_rejects_every_broken_payload_with_reason(sim: RunningSimulator) -> None:
    token = sim.state.add_account().access_token
    for name, build, expected in INVALID:
        status, body = await post(sim, build(), token)
        assert status == 400, name
        assert orjson.loads(body) == {"message": "Improperly formed request.", "reason": None}, name
        record = sim.state.requests[-1]
        assert record.status == 400 and expected in (record.validation_error or ""), name


async def test_http_accepts_valid_payloads(sim: RunningSimulator) -> None:
    token = sim.state.add_account().access_token
    for name, build in VALID:
        status, body = await post(sim, build(), token)
        assert status == 200, (name, body[:200])
        assert sim.state.requests[-1].validation_error is None


async def test_input_too_long(sim: RunningSimulator) -> None:
    token = sim.state.add_account().access_token
    sim.state.max_input_chars = 1000
    status, body = await post(sim, payload(current=current("x" * 1001)), token)
    assert status == 400
    assert orjson.loads(body) == {
        "message": "Input is too long.",
        "reason": "CONTENT_LENGTH_EXCEEDS_THRESHOLD",
    }
    status, _ = await post(sim, payload(current=current("x" * 900)), token)
    assert status == 200


async def test_invalid_bearer_is_403(sim: RunningSimulator) -> None:
    status, body = await post(sim, payload(), "nope")
    assert status == 403
    assert orjson.loads(body)["message"] == "The bearer token included in the request is invalid."


async def test_usage_limit_reached_is_402(sim: RunningSimulator) -> None:
    account = sim.state.add_account(usage_limit=0.15)
    assert (await post(sim, payload(), account.access_token))[0] == 200
    assert (await post(sim, payload(), account.access_token))[0] == 200
    status, body = await post(sim, payload(), account.access_token)
    assert status == 402 and orjson.loads(body)["reason"] == "MONTHLY_REQUEST_COUNT"
