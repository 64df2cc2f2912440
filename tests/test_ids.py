"""The request path's random ids: canonical version-4 UUIDs, unique, fresh in forked workers."""

from __future__ import annotations

import os
import re
import uuid

from kiro_proxy.ids import random_hex_id, random_uuid4

_CANONICAL_V4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_random_uuid4_is_a_canonical_version_4_uuid() -> None:
    for _ in range(2000):
        text = random_uuid4()
        assert _CANONICAL_V4.match(text), text
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text  # the standard library spells it the same way


def test_random_hex_id_is_32_hex_digits_of_a_version_4_uuid() -> None:
    for _ in range(2000):
        text = random_hex_id()
        assert re.fullmatch(r"[0-9a-f]{32}", text), text
        assert uuid.UUID(hex=text).version == 4


def test_ids_do_not_repeat() -> None:
    ids = [random_uuid4() for _ in range(100_000)]
    assert len(set(ids)) == len(ids)
    hex_ids = [random_hex_id() for _ in range(100_000)]
    assert len(set(hex_ids)) == len(hex_ids)


def test_every_random_bit_varies() -> None:
    """Apart from the 6 fixed version/variant bits, each of the 122 bits takes both values."""
    seen_ones = 0
    seen_zeros = 0
    mask = (1 << 128) - 1
    for _ in range(500):
        value = uuid.UUID(random_uuid4()).int
        seen_ones |= value
        seen_zeros |= ~value & mask
    fixed = (0xF << 76) | (0x3 << 62)
    assert seen_ones & seen_zeros == mask & ~fixed


def test_a_forked_worker_does_not_repeat_the_parents_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids, then leave without running pytest's teardown
        try:
            os.write(write, " ".join(random_uuid4() for _ in range(50)).encode())
        finally:
            os._exit(0)
    os.close(write)
    parent = {random_uuid4() for _ in range(50)}
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    child = set(b"".join(chunks).decode().split())
    assert len(child) == 50
    assert not parent & child
