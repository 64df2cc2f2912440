"""The gateway with the simulator's lean generate server as its upstream, as in the benchmark:
generate calls go there, token refreshes and usage stay on the aiohttp simulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kiro_proxy.simulator import script as s
from kiro_proxy.simulator.generate import DEFAULT_TEXT
from tests.e2e.conftest import assert_all_valid
from tests.e2e.stack import LiveStack

MODEL = "claude-sonnet-4-6"
HEADERS = {"x-api-key": "unused", "anthropic-version": "2023-06-01"}


@pytest.fixture(scope="module")
def lean_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    with LiveStack(Path(tmp_path_factory.mktemp("lean")), lean_generate=True) as live:
        yield live


def _message(stack: LiveStack, *, stream: bool = False) -> httpx.Response:
    body = {
        "model": MODEL,
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": "Hello"}],
    }
    return httpx.post(f"{stack.url}/v1/messages", json=body, headers=HEADERS, timeout=15)


def _lean_calls(stack: LiveStack) -> int:
    assert stack.lean is not None
    return stack.call(lambda: stack.lean.generate_calls)  # type: ignore[union-attr]


def test_messages_are_answered_through_the_lean_server(lean_stack: LiveStack) -> None:
    before = _lean_calls(lean_stack)
    response = _message(lean_stack)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["content"] == [{"type": "text", "text": DEFAULT_TEXT}]
    assert data["stop_reason"] == "end_turn"
    assert _lean_calls(lean_stack) == before + 1
    assert_all_valid(lean_stack)


def test_a_stream_with_pauses_and_a_fault_through_the_lean_server(lean_stack: LiveStack) -> None:
    lean_stack.enqueue(
        s.Reply([s.Text("slow "), s.Sleep(0.05), s.Text("answer"), s.Metadata(3, 2)]),
        s.HttpFault(400, {"message": "Improperly formed request.", "reason": None}),
    )
    before = _lean_calls(lean_stack)
    streamed = _message(lean_stack, stream=True)
    assert streamed.status_code == 200
    deltas = [line for line in streamed.text.splitlines() if "text_delta" in line]
    assert len(deltas) == 2
    assert '"text":"slow "' in deltas[0] and '"text":"answer"' in deltas[1]
    refused = _message(lean_stack)
    assert refused.status_code == 400, refused.text
    assert _lean_calls(lean_stack) == before + 2
