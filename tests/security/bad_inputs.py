"""The corpus of bad request bodies for the model routes (raw bytes: some are not even JSON)."""

from __future__ import annotations

import base64
from typing import Any

import orjson

MODEL = "claude-sonnet-4.5"


def _anthropic(**fields: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 32,
        "messages": [{"role": "user", "content": "hi"}],
    } | fields


def _openai(**fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]} | fields


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _deep_schema(depth: int) -> bytes:
    """A tool schema nested `depth` objects deep (two JSON levels each), as raw JSON: orjson
    refuses to serialise that deep, and the gateway must not recurse itself to death on it."""
    return b'{"type":"object","properties":{"x":' * depth + b'{"type":"string"}' + b"}}" * depth


PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


BMP_HEADER = b"BM" + bytes(52)


def _image_block(api: str, data: str, media_type: str = "image/png") -> dict[str, Any]:
    if api == "anthropic":
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    return {"type": "image_url", "image_url": {"url": f"data:{media_type};base64,{data}"}}


def _with_content(api: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    base = _anthropic if api == "anthropic" else _openai
    return base(messages=[{"role": "user", "content": content}])


def _tools(api: str, *specs: tuple[str, Any]) -> list[dict[str, Any]]:
    if api == "anthropic":
        return [
            {"name": name, "description": "d", "input_schema": schema} for name, schema in specs
        ]
    return [
        {"type": "function", "function": {"name": name, "description": "d", "parameters": schema}}
        for name, schema in specs
    ]


def corpus(api: str) -> dict[str, bytes]:
    """name → raw body. Every one must get a clear 4xx in the route's API shape."""
    base = _anthropic if api == "anthropic" else _openai
    dumps = orjson.dumps
    cyclic = {
        "type": "object",
        "properties": {"a": {"$ref": "#"}},
        "$defs": {"n": {"$ref": "#/$defs/n"}},
    }
    cases: dict[str, bytes] = {
        "malformed_json": b'{"model": "x", "messages": [',
        "trailing_garbage": dumps(base()) + b"}}}",
        "json_array": b"[1, 2, 3]",
        "json_string": b'"hello"',
        "json_null": b"null",
        "empty_object": b"{}",
        "whitespace_only": b"   \n ",
        "missing_model": dumps({k: v for k, v in base().items() if k != "model"}),
        "missing_messages": dumps({k: v for k, v in base().items() if k != "messages"}),
        "model_wrong_type": dumps(base(model=123)),
        "messages_wrong_type": dumps(base(messages="hi")),
        "message_not_object": dumps(base(messages=["hi"])),
        "content_wrong_type": dumps(base(messages=[{"role": "user", "content": 123}])),
        "role_unknown": dumps(base(messages=[{"role": "robot", "content": "hi"}])),
        "role_missing": dumps(base(messages=[{"content": "hi"}])),
        "block_type_unknown": dumps(_with_content(api, [{"type": "hologram", "data": "x"}])),
        "empty_messages": dumps(base(messages=[])),
        "stream_wrong_type": dumps(base(stream={"yes": True})),
        "unknown_model": dumps(base(model="no-such-model-anywhere-9000")),
        "invalid_utf8": b'{"model": "'
        + MODEL.encode()
        + b'", "messages": [{"role": "user", "content": "\xff\xfe\xfa"}]}',
        "lone_surrogate_escape": dumps(base()).replace(b'"hi"', b'"\\ud800"'),
        "deeply_nested_100k": _nested(100_000),
        "deeply_nested_in_field": dumps(base()).replace(b'"hi"', _nested(5000)),
        "nan_literal": dumps(base()).replace(b"32", b"NaN")
        if api == "anthropic"
        else b'{"model": NaN}',
        "huge_number": dumps(base()).replace(b'"hi"', b"1" + b"0" * 5000),
        "image_bad_base64": dumps(_with_content(api, [_image_block(api, "%%%not base64%%%")])),
        "image_not_an_image": dumps(
            _with_content(
                api, [_image_block(api, base64.b64encode(b"plain text, not pixels").decode())]
            )
        ),
        "image_unsupported_type": dumps(
            _with_content(
                api, [_image_block(api, base64.b64encode(BMP_HEADER).decode(), "image/bmp")]
            )
        ),
        "image_file_url": dumps(
            _with_content(
                api,
                [
                    {"type": "image", "source": {"type": "url", "url": "file:///etc/passwd"}}
                    if api == "anthropic"
                    else {"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}
                ],
            )
        ),
        "image_loopback_url": dumps(
            _with_content(
                api,
                [
                    {"type": "image", "source": {"type": "url", "url": "http://127.0.0.1:1/x.png"}}
                    if api == "anthropic"
                    else {"type": "image_url", "image_url": {"url": "http://127.0.0.1:1/x.png"}}
                ],
            )
        ),
        "tool_schema_not_object": dumps(base(tools=_tools(api, ("t", "a string schema")))),
        # Just under orjson's 1024-level parse limit, so the body does reach the translator.
        "tool_schema_deep": dumps(base(tools=_tools(api, ("t", "DEEP")))).replace(
            b'"DEEP"', _deep_schema(505)
        ),
        # 98 objects = 196 levels + 4 around it: the deepest schema the gateway accepts.
        "tool_schema_deep_within_limit": dumps(base(tools=_tools(api, ("t", "DEEP")))).replace(
            b'"DEEP"', _deep_schema(98)
        ),
        "tool_schema_too_deep_to_parse": dumps(base(tools=_tools(api, ("t", "DEEP")))).replace(
            b'"DEEP"', _deep_schema(5000)
        ),
        "tool_schema_cyclic_refs": dumps(base(tools=_tools(api, ("t", cyclic)))),
        "tool_name_empty": dumps(base(tools=_tools(api, ("", {"type": "object"})))),
        "tool_name_huge": dumps(base(tools=_tools(api, ("n" * 20_000, {"type": "object"})))),
        "tools_not_a_list": dumps(base(tools={"name": "t"})),
        "tool_choice_unknown_tool": dumps(
            base(
                tools=_tools(api, ("t", {"type": "object"})),
                tool_choice={"type": "tool", "name": "nope"}
                if api == "anthropic"
                else {"type": "function", "function": {"name": "nope"}},
            )
        ),
    }
    if api == "anthropic":
        cases |= {
            "max_tokens_negative": dumps(base(max_tokens=-5)),
            "max_tokens_string": dumps(base(max_tokens="lots")),
            "system_wrong_type": dumps(base(system=42)),
            "thinking_budget_wrong": dumps(
                base(thinking={"type": "enabled", "budget_tokens": "x"})
            ),
            "tool_result_without_tool_use": dumps(
                base(
                    messages=[
                        {
                            "role": "user",
                            "content": [
                                {"type": "tool_result", "tool_use_id": "nope", "content": "x"}
                            ],
                        }
                    ]
                )
            ),
        }
    else:
        cases |= {
            "max_tokens_negative": dumps(base(max_tokens=-5)),
            "temperature_string": dumps(base(temperature="hot")),
            "tool_message_without_call": dumps(
                base(messages=[{"role": "tool", "tool_call_id": "nope", "content": "x"}])
            ),
            "tool_call_arguments_object": dumps(
                base(
                    messages=[
                        {"role": "user", "content": "hi"},
                        {
                            "role": "assistant",
                            "tool_calls": [
                                {"id": "c", "type": "function", "function": {"name": 5}}
                            ],
                        },
                    ]
                )
            ),
        }
    return cases
