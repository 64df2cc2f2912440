"""AWS event-stream codec, sans-IO: feed bytes in any split, get frames out.

Frame layout (big-endian, protocol doc §3.1):
    total_length u32 | headers_length u32 | prelude_crc u32 | headers | payload | message_crc u32

The decoder checks both CRC32s, bounds frame and header sizes, parses all ten header value types,
and resynchronises after corruption: a bad prelude skips one byte and rescans, a bad message skips
the whole frame. Each failure class has its own exception. In the default (lenient) mode corrupt
frames are skipped and recorded in `skipped`; after `max_consecutive_errors` corruptions in a row
`TooManyErrors` is raised. In strict mode the first corruption raises its own exception.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

PRELUDE_LENGTH = 12
MIN_FRAME_LENGTH = 16  # prelude + message CRC, no headers or payload
DEFAULT_MAX_FRAME_LENGTH = 16 * 1024 * 1024
DEFAULT_MAX_HEADERS_LENGTH = 128 * 1024
DEFAULT_MAX_CONSECUTIVE_ERRORS = 5

_PRELUDE = struct.Struct(">III")
_U32 = struct.Struct(">I")


class EventStreamError(Exception):
    """Base class for every decoding failure."""


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


class InvalidHeader(EventStreamError):
    """A header entry is truncated, has an unknown type, or is not valid UTF-8."""


class TooManyErrors(EventStreamError):
    """Too many consecutive corrupt frames: the stream is not an event stream any more."""


class TruncatedStream(EventStreamError):
    """The stream ended in the middle of a frame."""


# Header value types (protocol doc §3.1 table).
BOOL_TRUE, BOOL_FALSE, BYTE, SHORT, INTEGER, LONG, BYTES, STRING, TIMESTAMP, UUID = range(10)


@dataclass(slots=True, frozen=True)
class HeaderValue:
    """A header value with its explicit wire type, for exact round trips."""

    type: int
    value: Any


HeaderInput = HeaderValue | str | bool | bytes | int | datetime | uuid.UUID


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


def _crc(data: bytes | memoryview, start: int = 0) -> int:
    return zlib.crc32(data, start) & 0xFFFFFFFF


def parse_headers(block: bytes | memoryview) -> tuple[dict[str, Any], dict[str, int]]:
    """Parse a header block into name → value (and name → wire type)."""
    headers: dict[str, Any] = {}
    types: dict[str, int] = {}
    view = memoryview(block)
    pos, end = 0, len(view)

    def need(n: int) -> None:
        if pos + n > end:
            raise InvalidHeader(f"header block truncated at offset {pos}")

    while pos < end:
        need(1)
        name_len = view[pos]
        pos += 1
        if name_len == 0:
            raise InvalidHeader("empty header name")
        need(name_len + 1)
        try:
            name = bytes(view[pos : pos + name_len]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidHeader("header name is not UTF-8") from exc
        pos += name_len
        kind = view[pos]
        pos += 1
        value: Any
        if kind == BOOL_TRUE:
            value = True
        elif kind == BOOL_FALSE:
            value = False
        elif kind == BYTE:
            need(1)
            value = struct.unpack_from(">b", view, pos)[0]
            pos += 1
        elif kind == SHORT:
            need(2)
            value = struct.unpack_from(">h", view, pos)[0]
            pos += 2
        elif kind == INTEGER:
            need(4)
            value = struct.unpack_from(">i", view, pos)[0]
            pos += 4
        elif kind in (LONG, TIMESTAMP):
            need(8)
            # Timestamps stay raw milliseconds since the epoch (header_types says which):
            # arbitrary int64 values do not all fit a datetime.
            value = struct.unpack_from(">q", view, pos)[0]
            pos += 8
        elif kind in (BYTES, STRING):
            need(2)
            length = struct.unpack_from(">H", view, pos)[0]
            pos += 2
            need(length)
            data = bytes(view[pos : pos + length])
            pos += length
            if kind == STRING:
                try:
                    value = data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InvalidHeader(f"header {name!r} is not UTF-8") from exc
            else:
                value = data
        elif kind == UUID:
            need(16)
            value = uuid.UUID(bytes=bytes(view[pos : pos + 16]))
            pos += 16
        else:
            raise InvalidHeader(f"unknown header value type {kind} for {name!r}")
        headers[name] = value
        types[name] = kind
    return headers, types


def _encode_header_value(value: HeaderInput) -> bytes:
    if isinstance(value, HeaderValue):
        kind, raw = value.type, value.value
    elif isinstance(value, bool):
        kind, raw = (BOOL_TRUE if value else BOOL_FALSE), value
    elif isinstance(value, str):
        kind, raw = STRING, value
    elif isinstance(value, bytes):
        kind, raw = BYTES, value
    elif isinstance(value, int):
        kind, raw = INTEGER if -(2**31) <= value < 2**31 else LONG, value
    elif isinstance(value, datetime):
        kind, raw = TIMESTAMP, int(value.timestamp() * 1000)
    elif isinstance(value, uuid.UUID):
        kind, raw = UUID, value
    else:
        raise TypeError(f"unsupported header value {value!r}")

    if kind in (BOOL_TRUE, BOOL_FALSE):
        return bytes([kind])
    if kind == BYTE:
        return bytes([kind]) + struct.pack(">b", raw)
    if kind == SHORT:
        return bytes([kind]) + struct.pack(">h", raw)
    if kind == INTEGER:
        return bytes([kind]) + struct.pack(">i", raw)
    if kind in (LONG, TIMESTAMP):
        return bytes([kind]) + struct.pack(">q", raw)
    if kind in (BYTES, STRING):
        data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        if len(data) > 0xFFFF:
            raise ValueError("header value longer than 65535 bytes")
        return bytes([kind]) + struct.pack(">H", len(data)) + data
    if kind == UUID:
        return bytes([kind]) + (raw.bytes if isinstance(raw, uuid.UUID) else bytes(raw))
    raise ValueError(f"unknown header type {kind}")


def encode_headers(headers: dict[str, HeaderInput]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        encoded = name.encode("utf-8")
        if not 0 < len(encoded) < 256:
            raise ValueError(f"header name {name!r} must be 1..255 bytes")
        out.append(len(encoded))
        out += encoded
        out += _encode_header_value(value)
    return bytes(out)


def encode_frame(headers: dict[str, HeaderInput], payload: bytes) -> bytes:
    """Encode one frame with both CRCs."""
    header_block = encode_headers(headers)
    total = MIN_FRAME_LENGTH + len(header_block) + len(payload)
    prelude = struct.pack(">II", total, len(header_block))
    prelude += _U32.pack(_crc(prelude))
    body = prelude + header_block + payload
    return body + _U32.pack(_crc(body))


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
        self._max_frame = max_frame_length
        self._max_headers = max_headers_length
        self._max_errors = max_consecutive_errors
        self._strict = strict
        self._consecutive_errors = 0
        self.skipped: list[EventStreamError] = []
        self.frames_decoded = 0

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet form a complete frame."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        if data:
            self._buffer += data
        frames: list[Frame] = []
        while True:
            frame = self._next_frame()
            if frame is None:
                return frames
            frames.append(frame)

    def close(self) -> None:
        """Signal end of input: leftover bytes mean the stream was cut mid-frame."""
        if self._buffer:
            left = len(self._buffer)
            self._buffer.clear()
            raise TruncatedStream(f"stream ended with {left} bytes of an incomplete frame")

    def _fail(self, error: EventStreamError, skip: int) -> None:
        if self._strict:
            raise error
        del self._buffer[:skip]
        self.skipped.append(error)
        if len(self.skipped) > 64:
            del self.skipped[:-64]
        self._consecutive_errors += 1
        if self._consecutive_errors >= self._max_errors:
            raise TooManyErrors(
                f"{self._consecutive_errors} consecutive corrupt frames; last: {error}"
            ) from error

    def _next_frame(self) -> Frame | None:
        buf = self._buffer
        while len(buf) >= PRELUDE_LENGTH:
            total, headers_len, prelude_crc = _PRELUDE.unpack_from(buf, 0)
            if _crc(memoryview(buf)[:8]) != prelude_crc:
                self._fail(PreludeChecksumMismatch("prelude CRC mismatch"), 1)
                continue
            if total < MIN_FRAME_LENGTH or headers_len > total - MIN_FRAME_LENGTH:
                self._fail(
                    InvalidFrameLength(f"total_length {total}, headers_length {headers_len}"), 1
                )
                continue
            if total > self._max_frame:
                self._fail(FrameTooLarge(f"frame of {total} bytes exceeds {self._max_frame}"), 1)
                continue
            if headers_len > self._max_headers:
                self._fail(
                    HeadersTooLarge(f"headers of {headers_len} bytes exceed {self._max_headers}"),
                    1,
                )
                continue
            if len(buf) < total:
                return None
            view = memoryview(buf)
            try:
                (message_crc,) = _U32.unpack_from(view, total - 4)
                if _crc(view[: total - 4]) != message_crc:
                    raise MessageChecksumMismatch("message CRC mismatch")
                headers, types = parse_headers(view[PRELUDE_LENGTH : PRELUDE_LENGTH + headers_len])
                payload = bytes(view[PRELUDE_LENGTH + headers_len : total - 4])
            except EventStreamError as error:
                view.release()
                self._fail(error, total)
                continue
            view.release()
            del buf[:total]
            self._consecutive_errors = 0
            self.frames_decoded += 1
            return Frame(headers, payload, types)
        return None
