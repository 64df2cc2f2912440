"""The decoder's fast paths: shared header blocks, the in-place block comparison, lazy copies.

Kiro repeats a few header blocks (one per event type), so the decoder reuses the parsed block of
the previous frame when the bytes are equal, and frames copy their headers only when asked.
These tests mix a small set of blocks in every order so that reuse, cache hits and misses all
happen, and check the result against botocore's decoder.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from botocore.eventstream import EventStreamBuffer
from hypothesis import given, settings
from hypothesis import strategies as st

from kiro_proxy.kiro.eventstream import (
    _HEADER_CACHE_ENTRIES,
    EventStreamDecoder,
    Frame,
    HeaderBlock,
    InvalidHeader,
    encode_event,
    encode_exception,
    encode_frame,
)
from tests.kiro.test_eventstream import decode_all, frame_with_header_block, split

# A few header blocks, some differing only in a value of the same length (the in-place
# comparison must look at every byte, not only the length).
BLOCKS: list[dict[str, Any]] = [
    {":event-type": "assistantResponseEvent", ":content-type": "json", ":message-type": "event"},
    {":event-type": "assistantResponseEvenT", ":content-type": "json", ":message-type": "event"},
    {":event-type": "toolUseEvent", ":message-type": "event"},
    {":exception-type": "ThrottlingException", ":message-type": "exception"},
    {":error-code": "Boom", ":message-type": "error", "n": 7, "flag": True},
    {},
    {"big": "x" * 600},  # over the cache's block size bound: never cached
]

kiro_frames = st.lists(
    st.tuples(st.integers(0, len(BLOCKS) - 1), st.binary(max_size=40)), min_size=1, max_size=30
)


def botocore_frames(data: bytes) -> list[tuple[dict[str, Any], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(dict(message.headers), message.payload) for message in buffer]


@settings(max_examples=300, deadline=None)
@given(frames=kiro_frames, cuts=st.lists(st.integers(0, 10_000), max_size=10))
def test_repeated_and_alternating_blocks_decode_like_botocore(
    frames: list[tuple[int, bytes]], cuts: list[int]
) -> None:
    data = b"".join(encode_frame(BLOCKS[index], payload) for index, payload in frames)
    decoded = decode_all(EventStreamDecoder(strict=True), split(data, cuts))
    assert [(f.headers, f.payload) for f in decoded] == botocore_frames(data)
    for frame, (index, _) in zip(decoded, frames, strict=True):
        headers = BLOCKS[index]
        assert frame.event_type == headers.get(":event-type")
        assert frame.message_type == headers.get(":message-type")
        assert frame.exception_type == headers.get(":exception-type")
        assert frame.error_code == headers.get(":error-code")


def test_frames_with_equal_header_bytes_share_one_parsed_block() -> None:
    data = (
        encode_event("assistantResponseEvent", b"1")
        + encode_event("assistantResponseEvent", b"2")
        + encode_exception("ThrottlingException", "slow")
        + encode_event("assistantResponseEvent", b"3")
    )
    first, second, exc, third = EventStreamDecoder().feed(data)
    assert first.block is second.block is third.block
    assert exc.block is not first.block
    assert exc.exception_type == "ThrottlingException"


def test_a_frames_headers_are_its_own_copy_and_the_block_is_untouched() -> None:
    data = encode_event("assistantResponseEvent", b"1") * 2
    first, second = EventStreamDecoder().feed(data)
    first.headers[":event-type"] = "changed"
    first.header_types[":event-type"] = 99
    assert first.headers[":event-type"] == "changed"  # the change stays on that frame
    assert second.headers[":event-type"] == "assistantResponseEvent"
    assert second.header_types[":event-type"] == 7
    # The typed properties describe the frame as received.
    assert first.event_type == second.event_type == "assistantResponseEvent"
    assert first.block.headers[":event-type"] == "assistantResponseEvent"


def test_more_distinct_blocks_than_the_cache_holds() -> None:
    frames = [({"n": f"value-{i}", ":message-type": "event"}, b"%d" % i) for i in range(200)]
    data = b"".join(encode_frame(h, p) for h, p in frames) * 2
    decoder = EventStreamDecoder(strict=True)
    decoded = decoder.feed(data)
    assert [(f.headers, f.payload) for f in decoded] == frames * 2
    # The cache is shared by every reply of the process: hostile input must not grow it.
    assert 0 < len(decoder._header_cache) <= _HEADER_CACHE_ENTRIES


def test_a_bad_block_after_a_good_one_with_the_same_length_is_still_rejected() -> None:
    good = encode_frame({"a": "x"}, b"1")
    bad = frame_with_header_block(b"\x01a\x07\x00\x01\xff")  # same length, not UTF-8
    decoder = EventStreamDecoder()
    frames = decoder.feed(good + bad + good)
    assert [f.payload for f in frames] == [b"1", b"1"]
    assert len(decoder.skipped) == 1 and isinstance(decoder.skipped[0], InvalidHeader)


def test_frames_built_directly_keep_the_given_dicts() -> None:
    headers = {":message-type": "event", ":event-type": "x"}
    frame = Frame(headers, b"p", {":message-type": 7, ":event-type": 7})
    assert frame.headers is headers
    assert frame.header_types == {":message-type": 7, ":event-type": 7}
    assert (frame.message_type, frame.event_type) == ("event", "x")
    headers[":event-type"] = "changed"  # the shared block is a copy: the frame's kind holds
    assert frame.event_type == "x"
    assert Frame({"a": 1}, b"p") == Frame({"a": 1}, b"p", {"a": 4})  # types not compared
    assert Frame({"a": 1}, b"p") != Frame({"a": 2}, b"p")
    assert "payload=b'p'" in repr(frame)


def test_header_block_types_only_string_values() -> None:
    block = HeaderBlock({":message-type": 1, ":event-type": b"x", ":error-code": "E"}, {})
    assert (block.message_type, block.event_type, block.error_code) == (None, None, "E")


def test_decoders_of_different_replies_share_parsed_blocks() -> None:
    """Every reply repeats the same few header blocks: a new decoder reuses what an earlier one
    parsed instead of parsing them again."""
    data = encode_event("assistantResponseEvent", b"1") + encode_event("meteringEvent", b"2")
    first_reply = EventStreamDecoder().feed(data)
    with patch("kiro_proxy.kiro.eventstream.parse_headers", side_effect=AssertionError):
        second_reply = EventStreamDecoder().feed(data)
    assert [f.block for f in second_reply] == [f.block for f in first_reply]
    assert all(a.block is b.block for a, b in zip(first_reply, second_reply, strict=True))
