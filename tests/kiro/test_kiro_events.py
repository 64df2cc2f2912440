"""`event_from_frame`: every Kiro event type of protocol doc §3.2, decoded from real frames."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiro_proxy.kiro.events import (
    ContextUsageEvent,
    ErrorEvent,
    ExceptionEvent,
    KiroEvent,
    MetadataEvent,
    MeteringEvent,
    ReasoningSignatureEvent,
    ReasoningTextEvent,
    RedactedReasoningEvent,
    TextEvent,
    ToolUseEvent,
    UnknownEvent,
    event_from_frame,
)
from kiro_proxy.kiro.eventstream import (
    EventStreamDecoder,
    encode_error,
    encode_event,
    encode_exception,
    encode_frame,
)


def decode(data: bytes) -> KiroEvent | None:
    (frame,) = EventStreamDecoder(strict=True).feed(data)
    return event_from_frame(frame)


def event(event_type: str, payload: dict[str, Any] | bytes) -> KiroEvent | None:
    return decode(encode_event(event_type, payload))


@pytest.mark.parametrize(
    ("event_type", "payload", "expected"),
    [
        ("assistantResponseEvent", {"content": "Hello"}, TextEvent("Hello")),
        (
            "assistantResponseEvent",
            {"content": "Hi", "modelId": "claude-sonnet-4.5", "messageStatus": "COMPLETED"},
            TextEvent("Hi"),
        ),
        ("assistantResponseEvent", {"content": ""}, None),
        # Peers skip content events that carry a follow-up prompt: they repeat earlier text.
        (
            "assistantResponseEvent",
            {"content": "again", "followupPrompt": {"content": "x", "userIntent": "y"}},
            None,
        ),
        ("reasoningContentEvent", {"text": "let me think"}, ReasoningTextEvent("let me think")),
        ("reasoningContentEvent", {"signature": "sig=="}, ReasoningSignatureEvent("sig==")),
        (
            "reasoningContentEvent",
            {"redactedContent": "b64data"},
            RedactedReasoningEvent("b64data"),
        ),
        ("reasoningContentEvent", {}, None),
        (
            "toolUseEvent",
            {"toolUseId": "tooluse_1", "name": "Bash"},
            ToolUseEvent("tooluse_1", "Bash", "", False),
        ),
        (
            "toolUseEvent",
            {"toolUseId": "tooluse_1", "name": "Bash", "input": '{"comm', "stop": False},
            ToolUseEvent("tooluse_1", "Bash", '{"comm', False),
        ),
        (
            "toolUseEvent",
            {"input": 'and":"ls"}', "toolUseId": "tooluse_1"},
            ToolUseEvent("tooluse_1", None, 'and":"ls"}', False),
        ),
        (
            "toolUseEvent",
            {"toolUseId": "tooluse_2", "name": "Read", "input": {"path": "/a"}, "stop": True},
            ToolUseEvent("tooluse_2", "Read", '{"path":"/a"}', True),
        ),
        # `{}` as input means "fragments follow" (JW), not an empty argument object.
        (
            "toolUseEvent",
            {"toolUseId": "tooluse_3", "name": "Read", "input": {}},
            ToolUseEvent("tooluse_3", "Read", "", False),
        ),
        # AIC: a bare stop frame closes the current call.
        ("toolUseEvent", {"stop": True}, ToolUseEvent("", None, "", True)),
        # A string "false" is not a stop marker.
        ("toolUseEvent", {"toolUseId": "t", "stop": "false"}, ToolUseEvent("t", None, "", False)),
        (
            "meteringEvent",
            {"unit": "credit", "unitPlural": "credits", "usage": 0.0213},
            MeteringEvent(0.0213, "credit"),
        ),
        ("meteringEvent", {"usage": 1}, MeteringEvent(1.0, "credit")),
        ("meteringEvent", {"usage": True}, None),
        ("contextUsageEvent", {"contextUsagePercentage": 12.34}, ContextUsageEvent(12.34)),
        ("contextUsageEvent", {"contextUsagePercentage": "12"}, None),
        ("codeReferenceEvent", {"references": []}, None),
        ("supplementaryWebLinksEvent", {"supplementaryWebLinks": []}, None),
        ("followupPromptEvent", {"followupPrompt": {"content": "more?"}}, None),
        ("metricsEvent", {"latency": 3}, None),
        ("invalidStateEvent", {"message": "bad state"}, ErrorEvent("InvalidState", "bad state")),
        (
            "brandNewEvent",
            {"x": 1},
            UnknownEvent("brandNewEvent", b'{"x":1}'),
        ),
        (
            "assistantResponseEvent",
            b"not json",
            UnknownEvent("assistantResponseEvent", b"not json"),
        ),
    ],
)
def test_event_types(event_type: str, payload: Any, expected: KiroEvent | None) -> None:
    assert event(event_type, payload) == expected


USAGE = {
    "uncachedInputTokens": 100,
    "outputTokens": 50,
    "totalTokens": 1180,
    "cacheReadInputTokens": 1000,
    "cacheWriteInputTokens": 30,
    "contextUsagePercentage": 5.6,
}


@pytest.mark.parametrize("event_type", ["metadataEvent", "messageMetadataEvent"])
def test_metadata_token_usage_buckets_are_summed(event_type: str) -> None:
    got = event(event_type, {"tokenUsage": USAGE, "stopReason": "MAX_TOKENS"})
    # Buckets are disjoint: input = uncached + cache read + cache write.
    assert got == MetadataEvent(
        input_tokens=1130,
        output_tokens=50,
        cache_read_input_tokens=1000,
        cache_write_input_tokens=30,
        stop_reason="MAX_TOKENS",
        context_usage_percentage=5.6,
    )


def test_metadata_partial_and_malformed_usage() -> None:
    assert event("metadataEvent", {"tokenUsage": {"outputTokens": 7}}) == MetadataEvent(
        output_tokens=7
    )
    assert event("metadataEvent", {"stopReason": "END_TURN"}) == MetadataEvent(
        stop_reason="END_TURN"
    )
    assert (
        event("metadataEvent", {"tokenUsage": {"uncachedInputTokens": True, "outputTokens": "3"}})
        == MetadataEvent()
    )
    assert event("metadataEvent", {"tokenUsage": [1, 2]}) == MetadataEvent()


def test_exception_frames() -> None:
    got = decode(encode_exception("ThrottlingException", "60-minute credit limit exceeded"))
    assert got == ExceptionEvent("ThrottlingException", "60-minute credit limit exceeded")
    content_length = encode_exception("ContentLengthExceededException", "too long")
    assert decode(content_length) == ExceptionEvent("ContentLengthExceededException", "too long")
    # Plain-text payloads and missing type headers still become exceptions.
    raw = encode_frame({":message-type": "exception"}, b"plain text")
    assert decode(raw) == ExceptionEvent("UnknownException", "plain text")
    capital = encode_frame(
        {":message-type": "exception", ":exception-type": "ValidationException"},
        orjson.dumps({"Message": "Improperly formed request."}),
    )
    assert decode(capital) == ExceptionEvent("ValidationException", "Improperly formed request.")


def test_error_frames() -> None:
    assert decode(encode_error("InternalFailure", "boom")) == ErrorEvent("InternalFailure", "boom")
    header_only = encode_frame(
        {":message-type": "error", ":error-code": "E1", ":error-message": "in the header"}, b""
    )
    assert decode(header_only) == ErrorEvent("E1", "in the header")


def test_frames_without_event_type_or_json() -> None:
    assert decode(encode_frame({":message-type": "event"}, b"")) is None
    assert decode(encode_frame({}, b'{"content":"x"}')) == UnknownEvent("", b'{"content":"x"}')
    assert event("assistantResponseEvent", b"[1,2]") == UnknownEvent(
        "assistantResponseEvent", b"[1,2]"
    )


@settings(max_examples=500, deadline=None)
@given(
    event_type=st.sampled_from(
        [
            "assistantResponseEvent",
            "reasoningContentEvent",
            "toolUseEvent",
            "meteringEvent",
            "contextUsageEvent",
            "metadataEvent",
            "messageMetadataEvent",
            "invalidStateEvent",
            "other",
        ]
    ),
    message_type=st.sampled_from(["event", "exception", "error", "weird"]),
    payload=st.one_of(
        st.binary(max_size=50),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers(-(2**63), 2**63 - 1)
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(
                    st.sampled_from(
                        [
                            "content",
                            "text",
                            "input",
                            "stop",
                            "usage",
                            "tokenUsage",
                            "name",
                            "message",
                        ]
                    ),
                    inner,
                    max_size=4,
                )
            ),
            max_leaves=8,
        ).map(lambda v: orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS)),
    ),
)
def test_any_payload_interprets_without_crashing(
    event_type: str, message_type: str, payload: bytes
) -> None:
    frame_bytes = encode_frame({":message-type": message_type, ":event-type": event_type}, payload)
    result = decode(frame_bytes)
    assert result is None or isinstance(
        result,
        TextEvent
        | ReasoningTextEvent
        | ReasoningSignatureEvent
        | RedactedReasoningEvent
        | ToolUseEvent
        | MeteringEvent
        | ContextUsageEvent
        | MetadataEvent
        | ExceptionEvent
        | ErrorEvent
        | UnknownEvent,
    )
