"""The event-stream codec: round trips, botocore agreement, corruption recovery, limits."""

from __future__ import annotations

import binascii
import struct
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.eventstream import EventStreamBuffer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiro_proxy.kiro.eventstream import (
    BOOL_FALSE,
    BOOL_TRUE,
    BYTE,
    BYTES,
    INTEGER,
    LONG,
    SHORT,
    STRING,
    TIMESTAMP,
    UUID,
    EventStreamDecoder,
    EventStreamError,
    Frame,
    FrameTooLarge,
    HeadersTooLarge,
    HeaderValue,
    InvalidFrameLength,
    InvalidHeader,
    MessageChecksumMismatch,
    PreludeChecksumMismatch,
    TooManyErrors,
    TruncatedStream,
    encode_error,
    encode_event,
    encode_exception,
    encode_frame,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- strategies ------------------------------------------------------------------------------

header_names = st.text(min_size=1, max_size=16).filter(lambda s: len(s.encode()) <= 255)


def _value_for(kind: int) -> st.SearchStrategy[Any]:
    return {
        BOOL_TRUE: st.just(True),
        BOOL_FALSE: st.just(False),
        BYTE: st.integers(-(2**7), 2**7 - 1),
        SHORT: st.integers(-(2**15), 2**15 - 1),
        INTEGER: st.integers(-(2**31), 2**31 - 1),
        LONG: st.integers(-(2**63), 2**63 - 1),
        BYTES: st.binary(max_size=64),
        STRING: st.text(max_size=32),
        TIMESTAMP: st.integers(-(2**63), 2**63 - 1),
        UUID: st.uuids(),
    }[kind]


header_values = st.integers(0, 9).flatmap(
    lambda kind: _value_for(kind).map(lambda v: HeaderValue(kind, v))
)
headers_st = st.dictionaries(header_names, header_values, max_size=6)
frames_st = st.lists(st.tuples(headers_st, st.binary(max_size=300)), min_size=1, max_size=5)


def split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks, last = [], 0
    for p in [*points, len(data)]:
        chunks.append(data[last:p])
        last = p
    return chunks


def decode_all(decoder: EventStreamDecoder, chunks: Sequence[bytes]) -> list[Frame]:
    out: list[Frame] = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    decoder.close()
    return out


def expected(headers: dict[str, HeaderValue]) -> dict[str, Any]:
    return {name: hv.value for name, hv in headers.items()}


def frame_with_header_block(block: bytes, payload: bytes = b"{}") -> bytes:
    """A frame with correct CRCs around an arbitrary (possibly malformed) header block."""
    total = 16 + len(block) + len(payload)
    prelude = struct.pack(">II", total, len(block))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    body = prelude + block + payload
    return body + struct.pack(">I", binascii.crc32(body))


# --- round trips -----------------------------------------------------------------------------


@FAST
@given(frames=frames_st, cuts=st.lists(st.integers(0, 10_000), max_size=12))
def test_round_trip_any_split(
    frames: list[tuple[dict[str, HeaderValue], bytes]], cuts: list[int]
) -> None:
    data = b"".join(encode_frame(h, p) for h, p in frames)
    decoded = decode_all(EventStreamDecoder(strict=True), split(data, cuts))
    assert [(f.headers, f.header_types, f.payload) for f in decoded] == [
        (expected(h), {n: hv.type for n, hv in h.items()}, p) for h, p in frames
    ]


@settings(max_examples=100, deadline=None)
@given(frames=frames_st)
def test_round_trip_byte_by_byte(frames: list[tuple[dict[str, HeaderValue], bytes]]) -> None:
    data = b"".join(encode_frame(h, p) for h, p in frames)
    decoder = EventStreamDecoder(strict=True)
    decoded = decode_all(decoder, [data[i : i + 1] for i in range(len(data))])
    assert [f.payload for f in decoded] == [p for _, p in frames]
    assert decoder.frames_decoded == len(frames)
    assert decoder.buffered == 0


def test_plain_python_header_values_pick_their_wire_types() -> None:
    moment = datetime(2026, 11, 24, 12, 0, 0, 123000, tzinfo=UTC)
    uid = uuid.UUID(int=7)
    headers = {"t": True, "f": False, "i": 5, "l": 2**40, "b": b"\x00\xff", "s": "é", "d": moment}
    headers["u"] = uid  # type: ignore[assignment]
    (frame,) = EventStreamDecoder(strict=True).feed(encode_frame(headers, b""))
    assert frame.header_types == {
        "t": BOOL_TRUE,
        "f": BOOL_FALSE,
        "i": INTEGER,
        "l": LONG,
        "b": BYTES,
        "s": STRING,
        "d": TIMESTAMP,
        "u": UUID,
    }
    assert frame.headers["d"] == int(moment.timestamp() * 1000)
    assert frame.headers["u"] == uid and frame.headers["l"] == 2**40


def test_kiro_shaped_frames_expose_their_types() -> None:
    data = (
        encode_event("assistantResponseEvent", {"content": "hi"})
        + encode_exception("ThrottlingException", "slow down")
        + encode_error("InternalError", "boom")
    )
    event, exc, err = EventStreamDecoder(strict=True).feed(data)
    assert (event.message_type, event.event_type, event.payload) == (
        "event",
        "assistantResponseEvent",
        b'{"content":"hi"}',
    )
    assert (exc.message_type, exc.exception_type) == ("exception", "ThrottlingException")
    assert (err.message_type, err.error_code) == ("error", "InternalError")
    assert event.exception_type is None and event.error_code is None


def test_mutating_a_frame_does_not_leak_into_later_frames() -> None:
    data = encode_event("assistantResponseEvent", b"1") * 2
    first, second = EventStreamDecoder().feed(data)
    first.headers[":event-type"] = "changed"
    assert second.headers[":event-type"] == "assistantResponseEvent"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (HeaderValue(BYTE, 128), ValueError),
        (HeaderValue(SHORT, -(2**15) - 1), ValueError),
        (HeaderValue(UUID, b"short"), ValueError),
        (HeaderValue(STRING, "x" * 70_000), ValueError),
        (HeaderValue(42, 1), ValueError),
        (3.5, TypeError),
    ],
)
def test_encoder_rejects_unencodable_values(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        encode_frame({"h": value}, b"")


def test_encoder_rejects_bad_header_names() -> None:
    for name in ("", "n" * 256):
        with pytest.raises(ValueError):
            encode_frame({name: "v"}, b"")


# --- botocore agreement ----------------------------------------------------------------------


def botocore_decode(data: bytes) -> list[tuple[dict[str, Any], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(message.headers, message.payload) for message in buffer]


def as_botocore_sees(value: Any) -> Any:
    return value.bytes if isinstance(value, uuid.UUID) else value


@FAST
@given(frames=frames_st)
def test_botocore_decodes_our_frames(frames: list[tuple[dict[str, HeaderValue], bytes]]) -> None:
    data = b"".join(encode_frame(h, p) for h, p in frames)
    assert botocore_decode(data) == [
        ({n: as_botocore_sees(hv.value) for n, hv in h.items()}, p) for h, p in frames
    ]


def reference_encode(headers: dict[str, tuple[int, bytes]], payload: bytes) -> bytes:
    """Independent, deliberately naive encoder: header values are given already packed."""
    block = b""
    for name, (kind, packed) in headers.items():
        raw = name.encode()
        block += bytes([len(raw)]) + raw + bytes([kind]) + packed
    return frame_with_header_block(block, payload)


def pack_reference(kind: int, value: Any) -> bytes:
    if kind in (BOOL_TRUE, BOOL_FALSE):
        return b""
    fmt = {BYTE: ">b", SHORT: ">h", INTEGER: ">i", LONG: ">q", TIMESTAMP: ">q"}
    if kind in fmt:
        return struct.pack(fmt[kind], value)
    if kind == UUID:
        return value.bytes
    data = value.encode() if kind == STRING else value
    return struct.pack(">H", len(data)) + data


@FAST
@given(frames=frames_st, cuts=st.lists(st.integers(0, 10_000), max_size=6))
def test_we_decode_reference_frames_like_botocore(
    frames: list[tuple[dict[str, HeaderValue], bytes]], cuts: list[int]
) -> None:
    data = b"".join(
        reference_encode(
            {n: (hv.type, pack_reference(hv.type, hv.value)) for n, hv in h.items()}, p
        )
        for h, p in frames
    )
    ours = decode_all(EventStreamDecoder(strict=True), split(data, cuts))
    theirs = botocore_decode(data)
    assert [({n: as_botocore_sees(v) for n, v in f.headers.items()}, f.payload) for f in ours] == (
        theirs
    )
    assert [f.payload for f in ours] == [p for _, p in frames]


# --- corruption and recovery -----------------------------------------------------------------


def three_frames(payloads: Sequence[bytes]) -> tuple[bytes, int, int]:
    """Frames A, B, C; returns the bytes and B's [start, end)."""
    a, b, c = (encode_event("assistantResponseEvent", p) for p in payloads)
    return a + b + c, len(a), len(a) + len(b)


payload_triples = st.lists(st.binary(max_size=200), min_size=3, max_size=3)


@settings(max_examples=1000, deadline=None)
@given(
    payloads=payload_triples,
    where=st.integers(0, 10_000),
    bit=st.integers(0, 7),
    cuts=st.lists(st.integers(0, 10_000), max_size=8),
)
def test_any_flipped_bit_is_rejected_strict_and_skipped_lenient(
    payloads: list[bytes], where: int, bit: int, cuts: list[int]
) -> None:
    data, start, end = three_frames(payloads)
    corrupt = bytearray(data)
    corrupt[start + where % (end - start)] ^= 1 << bit
    chunks = split(bytes(corrupt), cuts)

    strict = EventStreamDecoder(strict=True)
    got: list[Frame] = []
    with pytest.raises((PreludeChecksumMismatch, MessageChecksumMismatch)):
        for chunk in chunks:
            got += strict.feed(chunk)
        strict.close()
    assert [f.payload for f in got] == payloads[:1]  # A survives, even in the same chunk

    lenient = EventStreamDecoder()
    frames = decode_all(lenient, chunks)
    assert [f.payload for f in frames] == [payloads[0], payloads[2]]
    assert len(lenient.skipped) == 1
    assert isinstance(lenient.skipped[0], PreludeChecksumMismatch | MessageChecksumMismatch)


def test_garbage_between_frames_is_one_error_and_resyncs() -> None:
    good = encode_event("assistantResponseEvent", {"content": "x"})
    decoder = EventStreamDecoder(max_consecutive_errors=2)
    frames = decode_all(decoder, [good, b"\x00\x01garbage" * 50, good])
    assert len(frames) == 2
    assert len(decoder.skipped) == 1


def test_too_many_errors_after_the_bound_and_good_frames_reset_the_count() -> None:
    good = encode_event("assistantResponseEvent", {"content": "x"})
    bad = bytearray(good)
    bad[-1] ^= 0xFF  # message CRC
    decoder = EventStreamDecoder(max_consecutive_errors=3)
    # Two bad, one good, two bad: never three in a row.
    frames = decoder.feed(bytes(bad) * 2 + good + bytes(bad) * 2 + good)
    assert len(frames) == 2 and len(decoder.skipped) == 4
    frames = decoder.feed(good + bytes(bad) * 3)
    assert len(frames) == 1  # returned before the error
    with pytest.raises(TooManyErrors):
        decoder.feed(good)
    with pytest.raises(TooManyErrors):  # sticky
        decoder.close()


def test_invalid_lengths_with_a_valid_prelude_crc() -> None:
    prelude = struct.pack(">II", 10, 0)
    short = prelude + struct.pack(">I", binascii.crc32(prelude))
    good = encode_event("assistantResponseEvent", {"content": "x"})
    with pytest.raises(InvalidFrameLength):
        EventStreamDecoder(strict=True).feed(short + good)
    lenient = EventStreamDecoder()
    assert len(decode_all(lenient, [short + good])) == 1
    assert isinstance(lenient.skipped[0], InvalidFrameLength)


@pytest.mark.parametrize(
    "block",
    [
        b"\x00",  # empty name
        b"\x01a\x0a",  # unknown type 10
        b"\x01a\x07\x00\x05ab",  # string shorter than its length
        b"\x01a\x04\x00",  # truncated int32
        b"\x05ab",  # name runs past the block
        b"\x01a\x07\x00\x01\xff",  # string not UTF-8
        b"\x01a\x00\x01a\x01",  # duplicate name
    ],
)
def test_malformed_header_blocks(block: bytes) -> None:
    bad = frame_with_header_block(block)
    good = encode_event("assistantResponseEvent", {"content": "x"})
    with pytest.raises(InvalidHeader):
        EventStreamDecoder(strict=True).feed(bad + good)
    lenient = EventStreamDecoder()
    assert len(decode_all(lenient, [bad, good])) == 1
    assert isinstance(lenient.skipped[0], InvalidHeader)


@pytest.mark.parametrize("strict", [True, False])
def test_size_limits_raise_their_named_errors(strict: bool) -> None:
    big = encode_frame({"h": "v"}, b"x" * 500)
    with pytest.raises(FrameTooLarge):
        EventStreamDecoder(max_frame_length=400, strict=strict).feed(big[:12])
    many = encode_frame({f"h{i}": "v" * 100 for i in range(10)}, b"")
    with pytest.raises(HeadersTooLarge):
        EventStreamDecoder(max_headers_length=1000, strict=strict).feed(many)


@FAST
@given(
    frames=frames_st,
    cut=st.integers(1, 10_000),
    cuts=st.lists(st.integers(0, 10_000), max_size=5),
)
def test_truncated_stream(
    frames: list[tuple[dict[str, HeaderValue], bytes]], cut: int, cuts: list[int]
) -> None:
    encoded = [encode_frame(h, p) for h, p in frames]
    data = b"".join(encoded)
    keep = len(data) - 1 - (cut % len(data))
    boundaries = {sum(len(e) for e in encoded[:i]) for i in range(len(encoded) + 1)}
    for strict in (True, False):
        decoder = EventStreamDecoder(strict=strict)
        got: list[Frame] = []
        for chunk in split(data[:keep], cuts):
            got += decoder.feed(chunk)
        complete = sum(1 for b in boundaries if 0 < b <= keep)
        assert len(got) == complete
        if keep in boundaries:
            decoder.close()
        else:
            with pytest.raises(TruncatedStream):
                decoder.close()


@settings(max_examples=1500, deadline=None)
@given(
    data=st.binary(max_size=600),
    cuts=st.lists(st.integers(0, 1000), max_size=6),
    strict=st.booleans(),
)
def test_random_input_only_raises_event_stream_errors(
    data: bytes, cuts: list[int], strict: bool
) -> None:
    decoder = EventStreamDecoder(strict=strict, max_frame_length=4096)
    try:
        decode_all(decoder, split(data, cuts))
    except EventStreamError:
        pass


@settings(max_examples=300, deadline=None)
@given(
    frames=frames_st,
    noise=st.binary(min_size=1, max_size=64),
    at=st.integers(0, 10_000),
)
def test_random_noise_inserted_into_valid_stream_never_crashes(
    frames: list[tuple[dict[str, HeaderValue], bytes]], noise: bytes, at: int
) -> None:
    data = b"".join(encode_frame(h, p) for h, p in frames)
    at %= len(data) + 1
    decoder = EventStreamDecoder(max_consecutive_errors=100)
    try:
        decoded = decode_all(decoder, [data[:at] + noise + data[at:]])
    except EventStreamError:
        return
    assert len(decoded) <= len(frames) + 1
