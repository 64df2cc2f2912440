"""The collector settings of a serving process (kiro_proxy/gc_tuning.py)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ops_harness import SimulatedUpstream, free_port

from kiro_proxy.app import create_app
from kiro_proxy.gc_tuning import YOUNG_THRESHOLD, settle_heap
from kiro_proxy.graceful import build_server
from kiro_proxy.settings import Settings


class _Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def restore_collector() -> Iterator[None]:
    """settle_heap changes the whole test process: undo it."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settle_heap_freezes_what_exists_and_raises_the_young_threshold(
    restore_collector: None,
) -> None:
    before_settling = _Cycle()
    frozen = settle_heap()
    assert frozen == gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    # Frozen objects are out of every generation's reach ...
    assert not any(obj is before_settling for obj in gc.get_objects())


def test_garbage_made_after_settling_is_still_collected(restore_collector: None) -> None:
    settle_heap()
    cycle = _Cycle()
    alive = weakref.ref(cycle)
    del cycle
    assert alive() is not None  # a reference cycle: reference counting alone cannot free it
    gc.collect()
    assert alive() is None


async def test_the_server_settles_its_heap_once_started(
    restore_collector: None,
    clean_env: pytest.MonkeyPatch,
    upstream: SimulatedUpstream,
    tmp_path: Path,
) -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    settings = Settings(
        config_path=upstream.config_path,
        data_dir=tmp_path / "data",
        port=free_port(),
        **upstream.url_settings(),
    )
    server = build_server(create_app(settings), settings)
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.05)
        assert server.started
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        async with httpx.AsyncClient() as client:
            health = await client.get(f"http://127.0.0.1:{settings.port}/health")
        assert health.status_code == 200
    finally:
        server.should_exit = True
        await serving
