"""`EventStreamDecoder.feed_as` with `event_from_parts`: events straight out of the decoder.

The client decodes this way (no Frame per frame). Checked against the Frame path it replaced:
the same events, the same errors at the same point, for any split of any mix of Kiro frames,
corrupt bytes included.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiro_proxy.kiro.events import (
    KiroEvent,
    TextEvent,
    UnknownEvent,
    event_from_frame,
    event_from_parts,
)
from kiro_proxy.kiro.eventstream import (
    EventStreamDecoder,
    EventStreamError,
    MessageChecksumMismatch,
    TooManyErrors,
    encode_error,
    encode_event,
    encode_exception,
    encode_frame,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)
text_payloads = st.one_of(
    st.text(max_size=20).map(lambda t: orjson.dumps({"content": t})),
    st.just(b'{"content": "x", "followupPrompt": {}}'),
    st.just(b"not json"),
    st.just(b""),
    json_values.map(orjson.dumps),
)
event_types = st.sampled_from(
    [
        "assistantResponseEvent",
        "toolUseEvent",
        "meteringEvent",
        "contextUsageEvent",
        "metadataEvent",
        "reasoningContentEvent",
        "invalidStateEvent",
        "followupPromptEvent",
        "somethingNewEvent",
    ]
)
kiro_frames = st.one_of(
    text_payloads.map(lambda p: encode_event("assistantResponseEvent", p)),
    st.tuples(event_types, json_values.map(orjson.dumps)).map(lambda t: encode_event(*t)),
    st.text(max_size=10).map(lambda m: encode_exception("ThrottlingException", m)),
    st.text(max_size=10).map(lambda m: encode_error("InternalError", m)),
    # An exception frame that also names the text event type is still an exception.
    st.just(
        encode_frame(
            {":message-type": "exception", ":event-type": "assistantResponseEvent"},
            b'{"content": "hidden"}',
        )
    ),
    st.binary(min_size=1, max_size=24),  # garbage: resynchronisation, error counting
)


def _run(
    chunks: Sequence[bytes], decode: Callable[[EventStreamDecoder, bytes], list[KiroEvent]]
) -> tuple[list[list[KiroEvent]], type[BaseException] | None]:
    """Events per chunk, and the error type that ended the stream (close included)."""
    decoder = EventStreamDecoder()
    out: list[list[KiroEvent]] = []
    try:
        for chunk in chunks:
            out.append(decode(decoder, chunk))
        decoder.close()
    except EventStreamError as error:
        return out, type(error)
    return out, None


def _via_frames(decoder: EventStreamDecoder, chunk: bytes) -> list[KiroEvent]:
    return [e for e in map(event_from_frame, decoder.feed(chunk)) if e is not None]


def _direct(decoder: EventStreamDecoder, chunk: bytes) -> list[KiroEvent]:
    return decoder.feed_as(chunk, event_from_parts)


def _split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@SETTINGS
@given(
    frames=st.lists(kiro_frames, min_size=1, max_size=12),
    cuts=st.lists(st.integers(0, 10_000), max_size=8),
)
def test_direct_events_equal_the_frame_path(frames: list[bytes], cuts: list[int]) -> None:
    chunks = _split(b"".join(frames), cuts)
    assert _run(chunks, _direct) == _run(chunks, _via_frames)


def test_text_frames_become_text_events() -> None:
    data = encode_event("assistantResponseEvent", {"content": "hi"}) + encode_event(
        "assistantResponseEvent", {"content": "there"}
    )
    decoder = EventStreamDecoder()
    assert decoder.feed_as(data, event_from_parts) == [TextEvent("hi"), TextEvent("there")]
    assert decoder.frames_decoded == 2
    decoder.close()


def test_non_object_text_payload_is_kept_as_unknown() -> None:
    decoder = EventStreamDecoder()
    events = decoder.feed_as(encode_event("assistantResponseEvent", b"[1]"), event_from_parts)
    assert events == [UnknownEvent("assistantResponseEvent", b"[1]")]
    assert type(events[0].payload) is bytes


def test_frames_that_give_no_event_still_defer_a_later_error() -> None:
    """An ignored frame decoded before a fatal error: the call returns (nothing) and the error
    comes from the next call, as with `feed` (which would return that frame)."""
    ignored = encode_event("followupPromptEvent", {"x": 1})
    good = encode_event("assistantResponseEvent", {"content": "a"})
    bad = bytearray(good)
    bad[-1] ^= 1  # message CRC
    decoder = EventStreamDecoder(strict=True)
    assert decoder.feed_as(ignored + bytes(bad), event_from_parts) == []
    assert decoder.frames_decoded == 1
    with pytest.raises(MessageChecksumMismatch):
        decoder.feed_as(good, event_from_parts)
    with pytest.raises(MessageChecksumMismatch):  # sticky
        decoder.close()


def test_an_error_with_nothing_decoded_raises_at_once() -> None:
    decoder = EventStreamDecoder(max_consecutive_errors=1)
    with pytest.raises(TooManyErrors):
        decoder.feed_as(b"\x00" * 40, event_from_parts)


def test_convert_results_pass_through_in_order() -> None:
    data = b"".join(encode_event(f"e{i}", b"{}") for i in range(5))
    decoder = EventStreamDecoder()
    seen: list[Any] = decoder.feed_as(
        data, lambda block, payload: None if block.event_type == "e2" else block.event_type
    )
    assert seen == ["e0", "e1", "e3", "e4"]
    assert decoder.frames_decoded == 5
