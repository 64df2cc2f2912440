"""Start-up loads the Claude tokenizer, so the first request does not pay ~200 ms for it."""

from __future__ import annotations

import pytest
from ops_harness import SimulatedUpstream

from kiro_proxy.api import relay
from kiro_proxy.app import create_app
from kiro_proxy.settings import load_settings
from kiro_proxy.translate.claude_tokenizer import claude_encoding


async def test_warm_up_builds_the_tokenizer_once() -> None:
    claude_encoding.cache_clear()
    await relay.warm_up()
    assert claude_encoding.cache_info().currsize == 1
    await relay.warm_up()
    assert claude_encoding.cache_info().misses == 1  # built once, then reused


async def test_app_start_up_loads_the_tokenizer(
    upstream: SimulatedUpstream, clean_env: pytest.MonkeyPatch
) -> None:
    app = create_app(load_settings(config_path=upstream.config_path, **upstream.url_settings()))
    claude_encoding.cache_clear()
    async with app.router.lifespan_context(app):
        assert claude_encoding.cache_info().currsize == 1
