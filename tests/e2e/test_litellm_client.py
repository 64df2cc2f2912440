"""A second, independent OpenAI client: LiteLLM pointed at the gateway as an OpenAI-compatible
provider completes a streamed tool call."""

from __future__ import annotations

import json
import os

from kiro_proxy.simulator.script import Metadata, Reply, Text, ToolUse
from tests.e2e.conftest import assert_all_valid
from tests.e2e.stack import LiveStack

# LiteLLM fetches a price list from the internet at import unless told to use its bundled copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import litellm  # imported after the environment switch above


def test_litellm_streamed_tool_call(stack: LiveStack) -> None:
    stack.enqueue(
        Reply(
            [
                Text("Looking it up."),
                ToolUse("call_ll", "get_weather", {"city": "Kyoto", "unit": "C"}, fragments=5),
                Metadata(uncached_input_tokens=50, output_tokens=12),
            ]
        )
    )
    response = litellm.completion(
        model="openai/claude-sonnet-4.5",
        api_base=stack.url + "/v1",
        api_key="unused",
        messages=[{"role": "user", "content": "Weather in Kyoto?"}],
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
                        "required": ["city"],
                    },
                },
            }
        ],
        stream=True,
    )
    chunks = list(response)
    rebuilt = litellm.stream_chunk_builder(chunks)
    message = rebuilt.choices[0].message
    assert message.tool_calls[0].function.name == "get_weather"
    assert json.loads(message.tool_calls[0].function.arguments) == {"city": "Kyoto", "unit": "C"}
    assert rebuilt.choices[0].finish_reason == "tool_calls"
    assert "Looking it up." in (message.content or "")
    assert_all_valid(stack)
