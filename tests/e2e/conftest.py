from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def installed_cli(command: str, name: str, package: str) -> str:
    """The path of a client CLI that CI installs with `npm install -g <package>`: missing, the
    test fails on CI and skips on a developer machine."""
    path = shutil.which(command)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the {name} is not installed: .ci/run must install it")
        pytest.skip(f"{name} not installed (npm install -g {package})")
    return path


def current_user_input(body: dict[str, Any]) -> dict[str, Any]:
    """The current user turn of a generate request the gateway sent upstream."""
    return body["conversationState"]["currentMessage"]["userInputMessage"]  # type: ignore[no-any-return]
