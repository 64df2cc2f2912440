"""A live stack (simulator + real uvicorn gateway) with short upstream timeouts, so that stalls
and slow first bytes turn into failover or a clean error within about a second."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import LiveStack, clean_between_tests

FIRST_BYTE_TIMEOUT = 1.0
IDLE_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def rstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    with LiveStack(
        Path(tmp_path_factory.mktemp("reliability")),
        accounts=2,
        settings={
            "first_byte_timeout": FIRST_BYTE_TIMEOUT,
            "idle_timeout": IDLE_TIMEOUT,
            "max_attempts": 3,
        },
    ) as live:
        yield live


_clean_between_tests = clean_between_tests("rstack")
