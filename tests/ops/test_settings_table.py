"""README's settings table is generated from Settings; it must never fall out of date."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from kiro_proxy.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "settings_table", ROOT / "scripts" / "settings_table.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("settings_table", module)
    spec.loader.exec_module(module)
    return module


def test_readme_table_matches_the_settings() -> None:
    script = _script()
    block = script.readme_block((ROOT / "README.md").read_text())
    assert block is not None, "README.md lacks the settings-table markers"
    assert block == script.render_block(), (
        "README's settings table is out of date: run `python scripts/settings_table.py --write`"
    )


def test_every_setting_has_a_row_with_env_name_and_file_key() -> None:
    table = _script().render_table()
    for name in Settings.model_fields:
        assert f"| `{name.upper()}` |" in table


def test_an_undocumented_setting_fails(monkeypatch) -> None:
    script = _script()
    monkeypatch.delitem(script.MEANINGS, "port")
    try:
        script.render_table()
    except script.UndocumentedSetting as error:
        assert "port" in str(error)
    else:
        raise AssertionError("a setting without a meaning was accepted")
