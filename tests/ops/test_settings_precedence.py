"""Where each setting comes from: CLI > env > config file > defaults; bad values stop start-up."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from kiro_proxy.cli import app as cli_app
from kiro_proxy.settings import ConfigError, load_settings


def _config(tmp_path: Path, **values: object) -> Path:
    path = tmp_path / "config.json"
    path.write_bytes(orjson.dumps(values))
    return path


def test_defaults_when_nothing_is_set(tmp_path: Path, clean_env) -> None:
    settings = load_settings(config_path=tmp_path / "missing.json")
    assert (settings.host, settings.port, settings.thinking_suffix) == (
        "127.0.0.1",
        8080,
        "-thinking",
    )


def test_file_overrides_defaults_with_kiro_go_keys(tmp_path: Path, clean_env) -> None:
    path = _config(tmp_path, port=9001, thinkingSuffix="-t", requireApiKey=True, logFormat="json")
    settings = load_settings(config_path=path)
    assert settings.port == 9001
    assert settings.thinking_suffix == "-t"
    assert settings.require_api_key is True
    assert settings.log_format == "json"


def test_env_overrides_file(tmp_path: Path, clean_env) -> None:
    path = _config(tmp_path, port=9001, thinkingSuffix="-t")
    clean_env.setenv("PORT", "9002")
    clean_env.setenv("CONFIG_PATH", str(path))
    settings = load_settings()
    assert settings.port == 9002
    assert settings.thinking_suffix == "-t"  # not in env: still from the file


def test_cli_flags_override_env_and_file(tmp_path: Path, clean_env) -> None:
    path = _config(tmp_path, port=9001, host="10.0.0.1")
    clean_env.setenv("PORT", "9002")
    clean_env.setenv("HOST", "10.0.0.2")
    settings = load_settings(config_path=path, host="0.0.0.0", port=9003)
    assert (settings.host, settings.port) == ("0.0.0.0", 9003)


def test_plaintext_admin_password_in_the_file_is_never_read_as_a_setting(
    tmp_path: Path, clean_env
) -> None:
    path = _config(tmp_path, password="changeme", adminPassword="also-plain")
    assert load_settings(config_path=path).admin_password is None


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ({"file": {"port": "eighty"}}, "port"),
        ({"file": {"openaiThinkingFormat": "xml"}}, "openai_thinking_format"),
        ({"env": {"SHUTDOWN_GRACE_SECONDS": "-1"}}, "shutdown_grace_seconds"),
        ({"env": {"KIRO_API_URL": "ftp://x"}}, "kiro_api_url"),
    ],
)
def test_bad_value_names_the_field(
    tmp_path: Path, clean_env, source: dict[str, dict[str, object]], field: str
) -> None:
    path = _config(tmp_path, **source.get("file", {}))
    for name, value in source.get("env", {}).items():
        clean_env.setenv(name, str(value))
    with pytest.raises(ConfigError, match=field):
        load_settings(config_path=path)


def test_serve_stops_with_a_message_naming_the_field(tmp_path: Path, clean_env) -> None:
    path = _config(tmp_path, port=70000)
    clean_env.setenv("CONFIG_PATH", str(path))
    result = CliRunner().invoke(cli_app, ["serve"])
    assert result.exit_code == 2
    assert "port" in result.output
    assert "configuration error" in result.output
