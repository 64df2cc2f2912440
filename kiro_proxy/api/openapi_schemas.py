"""JSON schemas (OpenAPI 3.1) of what the gateway answers, for the OpenAPI document (pure data).

They describe the shapes clients rely on (the fields the official SDKs read) and leave room for
more: `additionalProperties` stays open, so adding a field is never a breaking change here.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_NULLABLE_STRING: Schema = {"type": ["string", "null"]}

ANTHROPIC_ERROR: Schema = {
    "type": "object",
    "required": ["type", "error"],
    "properties": {
        "type": {"const": "error"},
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
        },
    },
}

OPENAI_ERROR: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": _NULLABLE_STRING,
                "code": _NULLABLE_STRING,
            },
        }
    },
}

ANTHROPIC_MESSAGE: Schema = {
    "type": "object",
    "required": ["id", "type", "role", "model", "content", "stop_reason", "usage"],
    "properties": {
        "id": {"type": "string"},
        "type": {"const": "message"},
        "role": {"const": "assistant"},
        "model": {"type": "string"},
        "content": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type"],
                "properties": {
                    "type": {"enum": ["text", "thinking", "redacted_thinking", "tool_use"]}
                },
            },
        },
        "stop_reason": {
            "type": ["string", "null"],
            "enum": ["end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal", None],
        },
        "stop_sequence": _NULLABLE_STRING,
        "usage": {
            "type": "object",
            "required": ["input_tokens", "output_tokens"],
            "properties": {
                "input_tokens": {"type": "integer", "minimum": 0},
                "output_tokens": {"type": "integer", "minimum": 0},
            },
        },
    },
}

TOKEN_COUNT: Schema = {
    "type": "object",
    "required": ["input_tokens"],
    "properties": {"input_tokens": {"type": "integer", "minimum": 0}},
}

OPENAI_COMPLETION: Schema = {
    "type": "object",
    "required": ["id", "object", "created", "model", "choices"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "chat.completion"},
        "created": {"type": "integer"},
        "model": {"type": "string"},
        "choices": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "message", "finish_reason"],
                "properties": {
                    "index": {"type": "integer"},
                    "message": {
                        "type": "object",
                        "required": ["role", "content"],
                        "properties": {
                            "role": {"const": "assistant"},
                            "content": _NULLABLE_STRING,
                            "reasoning_content": {"type": "string"},
                            "tool_calls": {"type": "array"},
                        },
                    },
                    "finish_reason": {
                        "type": ["string", "null"],
                        "enum": ["stop", "length", "tool_calls", "content_filter", None],
                    },
                },
            },
        },
        "usage": {
            "type": "object",
            "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
            "properties": {
                "prompt_tokens": {"type": "integer", "minimum": 0},
                "completion_tokens": {"type": "integer", "minimum": 0},
                "total_tokens": {"type": "integer", "minimum": 0},
            },
        },
    },
}


def _json_data(schema: Schema) -> Schema:
    """An SSE `data` field that holds JSON matching `schema` (OpenAPI 3.2's event schema style:
    the media type's schema describes one event, its data a JSON document)."""
    return {"type": "string", "contentMediaType": "application/json", "contentSchema": schema}


# With `stream: true` the Messages routes answer named Server-Sent Events, each with a JSON
# payload whose `type` repeats the event name (pings included).
ANTHROPIC_EVENT: Schema = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {
            "enum": [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
                "ping",
                "error",
            ]
        },
        "data": _json_data(
            {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}}
        ),
    },
}

OPENAI_CHUNK: Schema = {
    "type": "object",
    "required": ["id", "object", "created", "model", "choices"],
    "properties": {
        "object": {"const": "chat.completion.chunk"},
        "choices": {"type": "array"},
    },
}

# Chat Completions streams unnamed events: chunks, an `{"error": ...}` object when the upstream
# fails mid-stream, and the literal `[DONE]` last.
OPENAI_EVENT: Schema = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "string"}},
    "if": {"properties": {"data": {"const": "[DONE]"}}},
    "else": {"properties": {"data": _json_data({"anyOf": [OPENAI_CHUNK, OPENAI_ERROR]})}},
}

_TOKEN_COUNT: Schema = {"type": "integer", "minimum": 0}

RESPONSES_OBJECT: Schema = {
    "type": "object",
    "required": ["id", "object", "created_at", "status", "model", "output"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "response"},
        "created_at": {"type": "integer"},
        "status": {"enum": ["in_progress", "completed", "incomplete", "failed"]},
        "model": {"type": "string"},
        "incomplete_details": {
            "type": ["object", "null"],
            "properties": {"reason": {"enum": ["max_output_tokens", "content_filter"]}},
        },
        "error": {"type": ["object", "null"]},
        "output": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "type"],
                "properties": {
                    "id": {"type": "string"},
                    "type": {"enum": ["reasoning", "message", "function_call", "custom_tool_call"]},
                },
            },
        },
        "usage": {
            "type": ["object", "null"],
            "required": ["input_tokens", "output_tokens", "total_tokens"],
            "properties": {
                "input_tokens": _TOKEN_COUNT,
                "output_tokens": _TOKEN_COUNT,
                "total_tokens": _TOKEN_COUNT,
            },
        },
    },
}

# With `stream: true` /v1/responses answers named events whose JSON `type` repeats the name and
# whose `sequence_number` increases; the last is response.completed, .incomplete or .failed.
RESPONSES_EVENT: Schema = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "pattern": "^response\\."},
        "data": _json_data(
            {
                "type": "object",
                "required": ["type", "sequence_number"],
                "properties": {
                    "type": {"type": "string"},
                    "sequence_number": {"type": "integer", "minimum": 0},
                },
            }
        ),
    },
}

# /v1/responses request parts the parser checks by hand (api/openapi.py puts them into the
# ResponsesRequest schema): input items, tools and tool_choice.
_TEXT_PART: Schema = {
    "type": "object",
    "required": ["type", "text"],
    "properties": {"type": {"enum": ["input_text", "output_text"]}, "text": {"type": "string"}},
}
_IMAGE_PART: Schema = {
    "type": "object",
    "required": ["type", "image_url"],
    "properties": {
        "type": {"const": "input_image"},
        "image_url": {
            "type": "string",
            "pattern": "^(data:image/|https?://)",
            "description": "A data: URL or an http(s) URL (file_id images are not supported)",
        },
        "detail": {"enum": ["auto", "low", "high"]},
    },
}
_CONTENT: Schema = {
    "anyOf": [
        {"type": "string"},
        {"type": "array", "items": {"anyOf": [_TEXT_PART, _IMAGE_PART]}},
    ]
}
_CALL_ID: Schema = {"type": "string", "minLength": 1}
_NAME: Schema = {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_-]{0,63}$"}
RESPONSES_INPUT_ITEM: Schema = {
    "anyOf": [
        {
            "type": "object",
            "description": "A message (`type` may be left out)",
            "required": ["role", "content"],
            "properties": {
                "type": {"const": "message"},
                "role": {"enum": ["user", "assistant", "system", "developer"]},
                "content": _CONTENT,
            },
        },
        {
            "type": "object",
            "required": ["type", "call_id", "name", "arguments"],
            "properties": {
                "type": {"const": "function_call"},
                "call_id": _CALL_ID,
                "name": _NAME,
                "namespace": _NAME,
                "arguments": {"type": "string", "description": "JSON object text"},
            },
        },
        {
            "type": "object",
            "required": ["type", "call_id", "name", "input"],
            "properties": {
                "type": {"const": "custom_tool_call"},
                "call_id": _CALL_ID,
                "name": _NAME,
                "input": {"type": "string"},
            },
        },
        {
            "type": "object",
            "required": ["type", "call_id", "output"],
            "properties": {
                "type": {"enum": ["function_call_output", "custom_tool_call_output"]},
                "call_id": _CALL_ID,
                "output": _CONTENT,
            },
        },
        {
            "type": "object",
            "description": "Earlier reasoning: accepted and dropped (it cannot be replayed)",
            "required": ["type"],
            "properties": {"type": {"const": "reasoning"}},
        },
    ]
}
RESPONSES_INPUT: Schema = {
    "anyOf": [
        {"type": "string", "minLength": 1},
        {"type": "array", "minItems": 1, "items": RESPONSES_INPUT_ITEM},
    ]
}
_FUNCTION_TOOL: Schema = {
    "type": "object",
    "required": ["type", "name"],
    "properties": {
        "type": {"const": "function"},
        "name": _NAME,
        "description": {"type": "string"},
        "parameters": {"type": "object"},
        "strict": {"type": ["boolean", "null"]},
    },
}
_CUSTOM_TOOL: Schema = {
    "type": "object",
    "required": ["type", "name"],
    "properties": {
        "type": {"const": "custom"},
        "name": _NAME,
        "description": {"type": "string"},
        "format": {"type": "object"},
    },
}
RESPONSES_TOOLS: Schema = {
    "type": ["array", "null"],
    "description": "function, custom and namespace tools; hosted tools (web_search, …) are "
    "accepted and left out of the upstream request",
    "items": {
        "anyOf": [
            _FUNCTION_TOOL,
            _CUSTOM_TOOL,
            {
                "type": "object",
                "required": ["type", "name", "tools"],
                "properties": {
                    "type": {"const": "namespace"},
                    "name": _NAME,
                    "description": {"type": "string"},
                    "tools": {"type": "array", "items": {"anyOf": [_FUNCTION_TOOL, _CUSTOM_TOOL]}},
                },
            },
            {
                "type": "object",
                "required": ["type"],
                "properties": {
                    "type": {
                        "enum": [
                            "web_search",
                            "file_search",
                            "computer_use_preview",
                            "code_interpreter",
                            "image_generation",
                            "mcp",
                            "local_shell",
                        ]
                    }
                },
            },
        ]
    },
}
RESPONSES_TOOL_CHOICE: Schema = {
    "anyOf": [
        {"enum": ["auto", "none", "required", None]},
        {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"type": "string"}, "name": {"type": "string"}},
        },
    ]
}

HEALTH: Schema = {
    "type": "object",
    "required": ["status", "version", "uptime"],
    "properties": {
        "status": {"const": "ok"},
        "version": {"type": "string"},
        "uptime": {"type": "number", "minimum": 0},
    },
}

READY: Schema = {
    "type": "object",
    "required": ["status", "availableAccounts"],
    "properties": {
        "status": {"enum": ["ready", "not_ready"]},
        "availableAccounts": {"type": "integer", "minimum": 0},
        "problems": {"type": "array", "items": {"type": "string"}},
    },
}

# OpenAI's list by default; Anthropic's paged list when the request carries `anthropic-version`.
MODEL_LIST: Schema = {
    "anyOf": [
        {
            "type": "object",
            "required": ["object", "data"],
            "properties": {
                "object": {"const": "list"},
                "data": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["id", "object"],
                        "properties": {"id": {"type": "string"}, "object": {"const": "model"}},
                    },
                },
            },
        },
        {
            "type": "object",
            "required": ["data", "has_more"],
            "properties": {
                "data": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["type", "id"],
                        "properties": {"type": {"const": "model"}, "id": {"type": "string"}},
                    },
                },
                "has_more": {"type": "boolean"},
            },
        },
    ]
}

STATS: Schema = {
    "type": "object",
    "required": ["status", "version"],
    "properties": {"status": {"const": "ok"}, "version": {"type": "string"}},
}
