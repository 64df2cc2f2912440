from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import LiveStack, clean_between_tests


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    with LiveStack(Path(tmp_path_factory.mktemp("stack")), accounts=2) as live:
        yield live


_clean_scripts = clean_between_tests("stack")


def assert_all_valid(stack: LiveStack) -> None:
    """Every generate request the gateway sent passed the simulator's structural validation."""
    bad = [(r.status, r.validation_error) for r in stack.generate_requests() if r.validation_error]
    assert not bad, f"upstream would answer 400 Improperly formed request: {bad}"
