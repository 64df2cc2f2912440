"""data/config.json: first-run creation, password hashing, run-time updates."""

from __future__ import annotations

import stat
from pathlib import Path

import orjson
import pytest

from kiro_proxy.admin.passwords import is_password_hash, verify_password
from kiro_proxy.config_file import ConfigFile
from kiro_proxy.settings import ConfigError, load_settings


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_run_creates_kiro_go_fields_with_a_hashed_password(tmp_path: Path) -> None:
    path = tmp_path / "data" / "config.json"
    created = ConfigFile(path).ensure(admin_password="first-run-Secret-9")
    assert created is True
    raw = path.read_bytes()
    data = orjson.loads(raw)
    assert b"first-run-Secret-9" not in raw
    assert is_password_hash(data["password"])
    assert verify_password("first-run-Secret-9", data["password"])
    assert data["port"] == 8080
    assert data["requireApiKey"] is False
    assert data["apiKey"] == ""
    assert data["thinkingSuffix"] == "-thinking"
    assert data["openaiThinkingFormat"] == "reasoning_content"
    assert data["claudeThinkingFormat"] == "thinking"
    assert data["preferredEndpoint"] == "auto"
    assert data["accounts"] == []
    assert _mode(path) == 0o600
    assert ConfigFile(path).ensure() is False  # second run: left as is


def test_first_run_without_password_stores_none(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    ConfigFile(path).ensure()
    assert "password" not in orjson.loads(path.read_bytes())  # never a fixed default


def test_kiro_go_plaintext_password_is_replaced_by_a_hash(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(orjson.dumps({"password": "changeme", "port": 9000, "accounts": [{"id": 1}]}))
    path.chmod(0o644)
    ConfigFile(path).ensure()
    data = orjson.loads(path.read_bytes())
    assert verify_password("changeme", data["password"])
    assert data["port"] == 9000 and data["accounts"] == [{"id": 1}]  # the rest is kept
    assert _mode(path) == 0o600


def test_update_applies_live_persists_and_notifies(tmp_path: Path, clean_env) -> None:
    path = tmp_path / "config.json"
    config = ConfigFile(path)
    config.ensure()
    settings = load_settings(config_path=path)
    seen: list[frozenset[str]] = []
    unsubscribe = config.subscribe(lambda s, changed: seen.append(changed))

    result = config.update(
        settings, {"thinkingSuffix": "-think", "require_api_key": True, "port": 9100}
    )

    assert settings.thinking_suffix == "-think"  # the live object every component holds
    assert settings.require_api_key is True
    assert result.restart_required == ("port",)
    assert seen == [frozenset({"thinking_suffix", "require_api_key", "port"})]
    data = orjson.loads(path.read_bytes())
    assert data["thinkingSuffix"] == "-think" and data["requireApiKey"] is True
    assert _mode(path) == 0o600
    # A fresh start reads the persisted values.
    assert load_settings(config_path=path).thinking_suffix == "-think"

    unsubscribe()
    config.update(settings, {"thinking_suffix": "-again"})
    assert len(seen) == 1


def test_update_reports_settings_an_env_var_overrides(tmp_path: Path, clean_env) -> None:
    path = tmp_path / "config.json"
    settings = load_settings(config_path=path)
    clean_env.setenv("PREFERRED_ENDPOINT", "amazonq")
    result = ConfigFile(path).update(settings, {"preferred_endpoint": "codewhisperer"})
    assert result.overridden_by_env == ("preferred_endpoint",)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"openaiThinkingFormat": "xml"}, "openai_thinking_format"),
        ({"port": 0}, "port"),
        ({"noSuchSetting": 1}, "no_such_setting"),
        ({"admin_password": "x"}, "admin_password"),
    ],
)
def test_bad_update_names_the_field_and_changes_nothing(
    tmp_path: Path, clean_env, changes: dict[str, object], field: str
) -> None:
    path = tmp_path / "config.json"
    config = ConfigFile(path)
    config.ensure()
    before = path.read_bytes()
    settings = load_settings(config_path=path)
    with pytest.raises(ConfigError, match=field):
        config.update(settings, {"thinking_suffix": "-x", **changes})
    assert settings.thinking_suffix == "-thinking"
    assert path.read_bytes() == before


async def test_update_reaches_the_running_pool(upstream, clean_env) -> None:
    from kiro_proxy.app import create_app

    settings = load_settings(config_path=upstream.config_path, **upstream.url_settings())
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        runtime = app.state.services.runtime
        app.state.config_file.update(
            settings, {"poolStrategy": "least-used", "preferredEndpoint": "amazonq"}
        )
        assert runtime.pool.strategy_name == "least-used"
        assert runtime.dispatcher.preferred_endpoint == "amazonq"
    assert orjson.loads(upstream.config_path.read_bytes())["poolStrategy"] == "least-used"
