"""AWS event-stream codec, sans-IO: feed bytes in any split, get frames out.

Frame layout (big-endian, protocol doc §3.1):
    total_length u32 | headers_length u32 | prelude_crc u32 | headers | payload | message_crc u32

The decoder checks both CRC32s, bounds frame and header sizes, parses all ten header value types
(`eventstream_headers`), and resynchronises after corruption. Each failure class has its own
exception, all subclasses of `EventStreamError`.

Recovery (lenient, the default):
* prelude CRC mismatch or impossible lengths → the length fields cannot be trusted, so the
  decoder scans forward byte by byte for the next valid prelude. One corrupt region counts as
  one error, however many bytes the scan skips (a per-byte count would give up after 5 bytes);
* message CRC mismatch or malformed headers → the prelude was valid, so the whole frame is skipped;
* `max_consecutive_errors` errors without a good frame in between → `TooManyErrors`.
Skipped errors are kept (the last 64) in `skipped` for logging.

Strict mode raises the first error. Size limits (`FrameTooLarge`, `HeadersTooLarge`) raise in
both modes: a prelude whose CRC holds announces a genuine frame, and skipping it would mean
reading the oversized frame anyway. A raised error is sticky: frames completed before it in the
same `feed` call are returned first and the error is raised by the next `feed` or `close`, so no
good frame is lost to a later bad one.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from kiro_proxy.kiro.eventstream_headers import (
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
    EventStreamError,
    HeaderInput,
    HeaderValue,
    InvalidHeader,
    encode_header_value,
    encode_headers,
    parse_headers,
)

__all__ = [
    "BOOL_FALSE",
    "BOOL_TRUE",
    "BYTE",
    "BYTES",
    "INTEGER",
    "LONG",
    "SHORT",
    "STRING",
    "TIMESTAMP",
    "UUID",
    "EventStreamDecoder",
    "EventStreamError",
    "Frame",
    "FrameTooLarge",
    "HeaderInput",
    "HeaderValue",
    "HeadersTooLarge",
    "InvalidFrameLength",
    "InvalidHeader",
    "MessageChecksumMismatch",
    "PreludeChecksumMismatch",
    "TooManyErrors",
    "TruncatedStream",
    "encode_error",
    "encode_event",
    "encode_exception",
    "encode_frame",
    "encode_header_value",
    "encode_headers",
    "parse_headers",
]

PRELUDE_LENGTH = 12
MIN_FRAME_LENGTH = 16  # prelude + message CRC, no headers or payload
DEFAULT_MAX_FRAME_LENGTH = 16 * 1024 * 1024  # KRS bound
DEFAULT_MAX_HEADERS_LENGTH = 128 * 1024  # botocore bound
DEFAULT_MAX_CONSECUTIVE_ERRORS = 5  # KRS bound
_KEEP_SKIPPED = 64
# Kiro repeats the same few header blocks (one per event type) on every frame: parsed blocks are
# cached per decoder, keyed by their bytes. Bounded so hostile input cannot grow it.
_HEADER_CACHE_ENTRIES = 64
_HEADER_CACHE_MAX_BLOCK = 512

_PRELUDE = struct.Struct(">III")
_U32 = struct.Struct(">I")


class PreludeChecksumMismatch(EventStreamError):
    """The CRC32 of the first 8 bytes does not match the prelude CRC."""


class MessageChecksumMismatch(EventStreamError):
    """The CRC32 of the whole frame does not match the trailing message CRC."""


class InvalidFrameLength(EventStreamError):
    """total_length is below the minimum or inconsistent with headers_length."""


class FrameTooLarge(EventStreamError):
    """total_length exceeds the configured maximum frame size."""


class HeadersTooLarge(EventStreamError):
    """headers_length exceeds the configured maximum header block size."""


class TooManyErrors(EventStreamError):
    """Too many consecutive corrupt frames: the stream is not an event stream any more."""


class TruncatedStream(EventStreamError):
    """The stream ended in the middle of a frame."""


@dataclass(slots=True, frozen=True)
class Frame:
    headers: dict[str, Any]
    payload: bytes
    header_types: dict[str, int] = field(default_factory=dict, compare=False)

    @property
    def message_type(self) -> str | None:
        value = self.headers.get(":message-type")
        return value if isinstance(value, str) else None

    @property
    def event_type(self) -> str | None:
        value = self.headers.get(":event-type")
        return value if isinstance(value, str) else None

    @property
    def exception_type(self) -> str | None:
        value = self.headers.get(":exception-type")
        return value if isinstance(value, str) else None

    @property
    def error_code(self) -> str | None:
        value = self.headers.get(":error-code")
        return value if isinstance(value, str) else None


def encode_frame(headers: dict[str, HeaderInput], payload: bytes) -> bytes:
    """Encode one frame with both CRCs."""
    header_block = encode_headers(headers)
    total = MIN_FRAME_LENGTH + len(header_block) + len(payload)
    if total > 0xFFFFFFFF:
        raise ValueError("frame longer than 4 GiB")
    prelude = struct.pack(">II", total, len(header_block))
    prelude += _U32.pack(zlib.crc32(prelude))
    body = b"".join((prelude, header_block, payload))
    return body + _U32.pack(zlib.crc32(body))


def encode_event(event_type: str, payload: dict[str, Any] | bytes) -> bytes:
    """Encode an `:message-type: event` frame the way Kiro sends it."""
    data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return encode_frame(
        {
            ":event-type": event_type,
            ":content-type": "application/json",
            ":message-type": "event",
        },
        data,
    )


def encode_exception(exception_type: str, message: str) -> bytes:
    return encode_frame(
        {
            ":exception-type": exception_type,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        orjson.dumps({"message": message}),
    )


def encode_error(code: str, message: str) -> bytes:
    return encode_frame(
        {":error-code": code, ":error-message": message, ":message-type": "error"},
        orjson.dumps({"message": message}),
    )


class EventStreamDecoder:
    """Incremental decoder. `feed(bytes)` returns the frames completed by those bytes."""

    def __init__(
        self,
        *,
        max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH,
        max_headers_length: int = DEFAULT_MAX_HEADERS_LENGTH,
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
        strict: bool = False,
    ) -> None:
        self._buffer = bytearray()
        self._pos = 0  # start of unconsumed bytes; compacted once per feed, not per frame
        self._max_frame = max_frame_length
        self._max_headers = max_headers_length
        self._max_errors = max(1, max_consecutive_errors)
        self._strict = strict
        self._consecutive_errors = 0
        self._resyncing = False  # scanning for a prelude after corruption
        self._resync_skipped = 0
        self._failure: EventStreamError | None = None
        self._header_cache: dict[bytes, tuple[dict[str, Any], dict[str, int]]] = {}
        self.skipped: list[EventStreamError] = []
        self.frames_decoded = 0

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet form a complete frame."""
        return len(self._buffer) - self._pos

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        if self._failure is not None:
            raise self._failure
        buf = self._buffer
        if self._pos:
            del buf[: self._pos]
            self._pos = 0
        if data:
            buf += data
        frames: list[Frame] = []
        try:
            self._decode_into(frames)
        except EventStreamError as error:
            self._failure = error
            if frames:
                return frames  # the error is raised by the next feed() or close()
            raise
        return frames

    def close(self) -> None:
        """Signal end of input: leftover bytes mean the stream was cut mid-frame."""
        if self._failure is not None:
            raise self._failure
        left = self.buffered
        self._buffer.clear()
        self._pos = 0
        if left:
            self._failure = TruncatedStream(
                f"stream ended with {left} bytes of an incomplete frame"
            )
            raise self._failure

    def _error(self, error: EventStreamError) -> None:
        """Count one corruption (lenient) or raise it (strict)."""
        if self._strict:
            raise error
        self.skipped.append(error)
        if len(self.skipped) > _KEEP_SKIPPED:
            del self.skipped[:-_KEEP_SKIPPED]
        self._consecutive_errors += 1
        if self._consecutive_errors >= self._max_errors:
            raise TooManyErrors(
                f"{self._consecutive_errors} consecutive corrupt frames; last: {error}"
            ) from error

    def _bad_prelude(self, error: EventStreamError) -> None:
        # Only the first bad offset of a corrupt region counts; the scan then moves on quietly.
        # A scan longer than any legal frame means a second corrupt region.
        if not self._resyncing or self._resync_skipped >= self._max_frame:
            self._error(error)
            self._resyncing = True
            self._resync_skipped = 0
        self._resync_skipped += 1
        self._pos += 1

    def _decode_into(self, frames: list[Frame]) -> None:
        buf = self._buffer
        end = len(buf)
        crc32 = zlib.crc32
        with memoryview(buf) as view:
            while end - self._pos >= PRELUDE_LENGTH:
                pos = self._pos
                total, headers_len, prelude_crc = _PRELUDE.unpack_from(buf, pos)
                if crc32(view[pos : pos + 8]) != prelude_crc:
                    self._bad_prelude(PreludeChecksumMismatch("prelude CRC mismatch"))
                    continue
                if total < MIN_FRAME_LENGTH or headers_len > total - MIN_FRAME_LENGTH:
                    self._bad_prelude(
                        InvalidFrameLength(f"total_length {total}, headers_length {headers_len}")
                    )
                    continue
                if total > self._max_frame:
                    raise FrameTooLarge(f"frame of {total} bytes exceeds {self._max_frame}")
                if headers_len > self._max_headers:
                    raise HeadersTooLarge(
                        f"headers of {headers_len} bytes exceed {self._max_headers}"
                    )
                if end - pos < total:
                    return
                self._resyncing = False
                frame_end = pos + total
                (message_crc,) = _U32.unpack_from(buf, frame_end - 4)
                # The running CRC over bytes 0..7 is the prelude CRC itself: continue from it.
                if crc32(view[pos + 8 : frame_end - 4], prelude_crc) != message_crc:
                    self._pos = frame_end
                    self._error(MessageChecksumMismatch("message CRC mismatch"))
                    continue
                headers_end = pos + PRELUDE_LENGTH + headers_len
                try:
                    # bytes, not a view: an exception's traceback must not pin the buffer.
                    headers, types = self._parse_header_block(
                        bytes(view[pos + PRELUDE_LENGTH : headers_end])
                    )
                except EventStreamError as error:
                    self._pos = frame_end
                    self._error(error)
                    continue
                self._pos = frame_end
                self._consecutive_errors = 0
                self.frames_decoded += 1
                frames.append(Frame(headers, bytes(view[headers_end : frame_end - 4]), types))

    def _parse_header_block(self, block: bytes) -> tuple[dict[str, Any], dict[str, int]]:
        if len(block) > _HEADER_CACHE_MAX_BLOCK:
            return parse_headers(block)
        cached = self._header_cache.get(block)
        if cached is None:
            cached = parse_headers(block)
            if len(self._header_cache) >= _HEADER_CACHE_ENTRIES:
                self._header_cache.clear()
            self._header_cache[block] = cached
        # Copies: frames must not share mutable dicts with the cache or each other.
        return dict(cached[0]), dict(cached[1])
