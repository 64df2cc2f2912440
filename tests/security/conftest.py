"""A live stack for the security and bad-input tests: a known admin password, a small body limit
(so 413 is cheap to provoke) and short upstream timeouts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import LiveStack, clean_between_tests

ADMIN_PASSWORD = "Sec-Admin-Pw-4471x"
MAX_BODY_BYTES = 1024 * 1024


@pytest.fixture(scope="module")
def sstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    with LiveStack(
        Path(tmp_path_factory.mktemp("security")),
        accounts=2,
        settings={
            "admin_password": ADMIN_PASSWORD,
            "max_body_bytes": MAX_BODY_BYTES,
            "first_byte_timeout": 2.0,
            "idle_timeout": 2.0,
        },
    ) as live:
        yield live


_clean_between_tests = clean_between_tests("sstack")
