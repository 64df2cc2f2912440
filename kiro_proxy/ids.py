"""Cheap random ids for the request path.

`uuid.uuid4()` reads the kernel's random source and builds (and validates) a `UUID` object on
every call: ~2.5 µs, several times per request (conversation id, message id, the upstream
call's amz-sdk-invocation-id). These ids need to be unique, not secret, so they come from the
`random` module's generator instead (seeded from the OS at start-up, and reseeded by CPython in
every forked worker, so workers never share a stream): ~0.5 µs each.
"""

from __future__ import annotations

from random import getrandbits

_UUID_MASK = (1 << 128) - 1
# RFC 4122 random UUID: version 4 in bits 76-79, variant 0b10 in bits 62-63.
_CLEAR_VERSION_AND_VARIANT = _UUID_MASK & ~((0xF << 76) | (0x3 << 62))
_VERSION_4_VARIANT_RFC = (0x4 << 76) | (0x2 << 62)


def random_hex_id() -> str:
    """32 random hex digits (the shape of `uuid.uuid4().hex`, e.g. for request ids)."""
    return f"{(getrandbits(128) & _CLEAR_VERSION_AND_VARIANT) | _VERSION_4_VARIANT_RFC:032x}"


def random_uuid4() -> str:
    """A version-4 UUID in its canonical text form (`xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`)."""
    digits = random_hex_id()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
