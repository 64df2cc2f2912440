"""Header block codec of the AWS event stream (protocol doc §3.1), shared by decoder and encoder.

Header entry: `name_len:u8 | name:utf8 | type:u8 | value`, ten value types. Pure functions.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any


class EventStreamError(Exception):
    """Base class for every decoding failure."""


class InvalidHeader(EventStreamError):
    """A header entry is truncated, duplicated, has an unknown type, or is not valid UTF-8."""


# Header value types (protocol doc §3.1 table).
BOOL_TRUE, BOOL_FALSE, BYTE, SHORT, INTEGER, LONG, BYTES, STRING, TIMESTAMP, UUID = range(10)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_U16 = struct.Struct(">H")
# Fixed-size value types: wire type → (struct, size).
_FIXED: dict[int, tuple[struct.Struct, int]] = {
    BYTE: (_I8, 1),
    SHORT: (_I16, 2),
    INTEGER: (_I32, 4),
    LONG: (_I64, 8),
    TIMESTAMP: (_I64, 8),
}


@dataclass(slots=True, frozen=True)
class HeaderValue:
    """A header value with its explicit wire type, for exact round trips.

    Values: bool types carry `True`/`False` (ignored), BYTE/SHORT/INTEGER/LONG an int in range,
    TIMESTAMP milliseconds since the epoch (int) or a datetime, BYTES bytes, STRING str,
    UUID a `uuid.UUID` or 16 bytes.
    """

    type: int
    value: Any


HeaderInput = HeaderValue | str | bool | bytes | int | datetime | uuid.UUID


def parse_headers(block: bytes | bytearray | memoryview) -> tuple[dict[str, Any], dict[str, int]]:
    """Parse a header block into name → value and name → wire type.

    Timestamps stay raw milliseconds (int): arbitrary int64 values do not all fit a datetime,
    and botocore decodes them the same way. Duplicate names are rejected, as botocore does.
    """
    data = bytes(block)
    headers: dict[str, Any] = {}
    types: dict[str, int] = {}
    pos, end = 0, len(data)
    while pos < end:
        name_len = data[pos]
        pos += 1
        if name_len == 0:
            raise InvalidHeader("empty header name")
        if pos + name_len + 1 > end:
            raise InvalidHeader(f"header block truncated at offset {pos}")
        try:
            name = data[pos : pos + name_len].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidHeader("header name is not UTF-8") from exc
        pos += name_len
        kind = data[pos]
        pos += 1
        value: Any
        if kind == BOOL_TRUE:
            value = True
        elif kind == BOOL_FALSE:
            value = False
        elif kind in _FIXED:
            unpacker, size = _FIXED[kind]
            if pos + size > end:
                raise InvalidHeader(f"header {name!r} value truncated")
            value = unpacker.unpack_from(data, pos)[0]
            pos += size
        elif kind == BYTES or kind == STRING:
            if pos + 2 > end:
                raise InvalidHeader(f"header {name!r} length truncated")
            length = _U16.unpack_from(data, pos)[0]
            pos += 2
            if pos + length > end:
                raise InvalidHeader(f"header {name!r} value truncated")
            raw = data[pos : pos + length]
            pos += length
            if kind == STRING:
                try:
                    value = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InvalidHeader(f"header {name!r} is not UTF-8") from exc
            else:
                value = raw
        elif kind == UUID:
            if pos + 16 > end:
                raise InvalidHeader(f"header {name!r} value truncated")
            value = uuid.UUID(bytes=data[pos : pos + 16])
            pos += 16
        else:
            raise InvalidHeader(f"unknown header value type {kind} for {name!r}")
        if name in headers:
            raise InvalidHeader(f"duplicate header {name!r}")
        headers[name] = value
        types[name] = kind
    return headers, types


def _timestamp_ms(value: datetime | int) -> int:
    if isinstance(value, int):
        return value
    # Naive datetimes are taken as UTC so encoding never depends on the machine's time zone.
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return (aware - _EPOCH) // _MS


def _typed(value: HeaderInput) -> tuple[int, Any]:
    if isinstance(value, HeaderValue):
        return value.type, value.value
    if isinstance(value, bool):
        return (BOOL_TRUE if value else BOOL_FALSE), value
    if isinstance(value, str):
        return STRING, value
    if isinstance(value, bytes | bytearray):
        return BYTES, bytes(value)
    if isinstance(value, int):
        return (INTEGER if -(2**31) <= value < 2**31 else LONG), value
    if isinstance(value, datetime):
        return TIMESTAMP, value
    if isinstance(value, uuid.UUID):
        return UUID, value
    raise TypeError(f"unsupported header value type {type(value).__name__}")


def encode_header_value(value: HeaderInput) -> bytes:
    kind, raw = _typed(value)
    if kind == BOOL_TRUE or kind == BOOL_FALSE:
        return bytes((kind,))
    if kind in _FIXED:
        packer, _ = _FIXED[kind]
        number = _timestamp_ms(raw) if kind == TIMESTAMP else raw
        try:
            return bytes((kind,)) + packer.pack(number)
        except struct.error as exc:
            raise ValueError(f"header value {number!r} out of range for type {kind}") from exc
    if kind == BYTES or kind == STRING:
        data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        if len(data) > 0xFFFF:
            raise ValueError("header value longer than 65535 bytes")
        return bytes((kind,)) + _U16.pack(len(data)) + data
    if kind == UUID:
        data = raw.bytes if isinstance(raw, uuid.UUID) else bytes(raw)
        if len(data) != 16:
            raise ValueError("uuid header value must be 16 bytes")
        return bytes((kind,)) + data
    raise ValueError(f"unknown header type {kind}")


def encode_headers(headers: dict[str, HeaderInput]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        encoded = name.encode("utf-8")
        if not 0 < len(encoded) < 256:
            raise ValueError("header names must be 1..255 bytes of UTF-8")
        out.append(len(encoded))
        out += encoded
        out += encode_header_value(value)
    return bytes(out)
