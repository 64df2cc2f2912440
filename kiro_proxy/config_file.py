"""`data/config.json`: created on first run, Kiro-Go-compatible, updated when settings change.

The file uses Kiro-Go's camelCase keys so an existing Kiro-Go data folder keeps working (its
`accounts` and counters are imported by the store). Differences from Kiro-Go, on purpose:
- `password` never holds plaintext: it is a scrypt hash (a plaintext one from Kiro-Go is
  replaced at start-up), and there is no fixed default password;
- the file is written atomically (sibling file + rename) and is always mode 0600.

`ConfigFile.update` is the run-time settings API the admin panel calls: it validates, applies the
values to the live `Settings` object (every component holds that same object, so new values are
seen on the next request), persists them, and tells subscribers (the pool copies a few values).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from kiro_proxy.admin.passwords import hash_password, is_password_hash
from kiro_proxy.settings import ConfigError, Settings, read_config_file

FILE_MODE = 0o600

# Written on first run, in Kiro-Go's order, with the defaults of `Settings`.
FIRST_RUN_FIELDS = (
    "port",
    "host",
    "require_api_key",
    "api_key",
    "thinking_suffix",
    "openai_thinking_format",
    "claude_thinking_format",
    "preferred_endpoint",
)

# Never written by `update`: where the file is, and the password (hash-only, see above).
NOT_UPDATABLE = frozenset({"config_path", "admin_password"})

# Read once at start-up (server socket, database, upstream client, middleware); a change is
# persisted and takes effect at the next start.
RESTART_REQUIRED = frozenset(
    {
        "host",
        "port",
        "workers",
        "data_dir",
        "database_url",
        "kiro_api_url",
        "kiro_codewhisperer_url",
        "kiro_auth_url",
        "kiro_oidc_url",
        "kiro_portal_url",
        "kiro_version",
        "kiro_agent_mode",
        "connect_timeout",
        "first_byte_timeout",
        "idle_timeout",
        "cors_origins",
        "log_format",
        "log_level",
        "shutdown_grace_seconds",
    }
)

SettingsListener = Callable[[Settings, frozenset[str]], None]


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _field_name(key: str) -> str:
    """Accept `thinking_suffix` or Kiro-Go's `thinkingSuffix`."""
    if key in Settings.model_fields:
        return key
    snake = "".join("_" + c.lower() if c.isupper() else c for c in key)
    return snake


@dataclass(slots=True, frozen=True)
class SettingsUpdate:
    changed: dict[str, Any]
    restart_required: tuple[str, ...] = ()
    # An environment variable sets these: the new value applies now, but the variable wins again
    # at the next start.
    overridden_by_env: tuple[str, ...] = ()


@dataclass
class ConfigFile:
    path: Path
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _listeners: list[SettingsListener] = field(default_factory=list, repr=False)

    # --- reading and writing ----------------------------------------------------------------

    def read(self) -> dict[str, Any]:
        return read_config_file(self.path)

    def write(self, data: Mapping[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".config-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(orjson.dumps(dict(data), option=orjson.OPT_INDENT_2))
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, FILE_MODE)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # --- start-up ---------------------------------------------------------------------------

    def ensure(self, *, admin_password: str | None = None) -> bool:
        """Create the file on first run (True); otherwise repair it: plaintext password → hash,
        mode → 0600. `admin_password` (ADMIN_PASSWORD) is stored as a hash when the file is new."""
        with self._lock:
            if not self.path.exists():
                defaults = {camel(name): _default(name) for name in FIRST_RUN_FIELDS}
                data: dict[str, Any] = {}
                if admin_password:
                    data["password"] = hash_password(admin_password)
                data.update(defaults)
                data["accounts"] = []
                self.write(data)
                return True
            data = self.read()
            password = data.get("password")
            if isinstance(password, str) and password and not is_password_hash(password):
                data["password"] = hash_password(password)
                self.write(data)
            elif self.path.stat().st_mode & 0o777 != FILE_MODE:
                os.chmod(self.path, FILE_MODE)
            return False

    # --- run-time updates -------------------------------------------------------------------

    def subscribe(self, listener: SettingsListener) -> Callable[[], None]:
        """Call `listener(settings, changed_names)` after each update; returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def update(self, settings: Settings, changes: Mapping[str, Any]) -> SettingsUpdate:
        """Validate `changes` (snake_case or camelCase keys), apply them to the live `settings`,
        persist them, notify subscribers. Raises ConfigError naming the field; nothing changes
        on error."""
        names = {_field_name(key): value for key, value in changes.items()}
        changed = _changed_values(settings, names)
        if not changed:
            return SettingsUpdate(changed={})
        with self._lock:
            data = self.read()
            for name, value in changed.items():
                data[camel(name)] = _jsonable(value)
            self.write(data)
            for name, value in changed.items():
                setattr(settings, name, value)
        keys = frozenset(changed)
        self._notify(settings, keys)
        return SettingsUpdate(
            changed=changed,
            restart_required=tuple(sorted(keys & RESTART_REQUIRED)),
            overridden_by_env=tuple(sorted(n for n in keys if _set_in_env(n))),
        )

    def reload(self, settings: Settings, names: Iterable[str]) -> frozenset[str]:
        """Another worker process changed `names` through `update`: take their values from the
        file into the live `settings` and notify subscribers, as `update` did over there.
        Returns the names whose value changed here."""
        data = self.read()
        values = {n: data[camel(n)] for n in names if n not in NOT_UPDATABLE and camel(n) in data}
        changed = _changed_values(settings, values, where=f"{self.path}: ")
        with self._lock:
            for name, value in changed.items():
                setattr(settings, name, value)
        keys = frozenset(changed)
        if keys:
            self._notify(settings, keys)
        return keys

    def _notify(self, settings: Settings, changed: frozenset[str]) -> None:
        for listener in list(self._listeners):
            listener(settings, changed)


def _changed_values(
    settings: Settings, values: Mapping[str, Any], *, where: str = ""
) -> dict[str, Any]:
    """The validated values of `values` that differ from `settings` (nothing is applied).
    Raises ConfigError naming the field, never the rejected value."""
    unknown = sorted(n for n in values if n not in Settings.model_fields or n in NOT_UPDATABLE)
    if unknown:
        raise ConfigError(f"not a setting that can be changed here: {', '.join(unknown)}")
    try:
        candidate = Settings.model_validate({**settings.model_dump(), **values})
    except ValidationError as exc:
        raise ConfigError(f"{where}{_problems(exc)}") from exc
    return {
        n: getattr(candidate, n) for n in values if getattr(candidate, n) != getattr(settings, n)
    }


def _problems(exc: ValidationError) -> str:
    # Field and reason only: the rejected value may be a secret (a proxy URL with a password).
    problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    return "invalid setting: " + "; ".join(problems)


def _default(name: str) -> Any:
    value = Settings.model_fields[name].get_default(call_default_factory=True)
    # Kiro-Go writes "" for "no API key".
    return "" if value is None and name == "api_key" else _jsonable(value)


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def _set_in_env(name: str) -> bool:
    return any(key.lower() == name for key in os.environ)


def runtime_listener(runtime: Any) -> SettingsListener:
    """The pool copies a few settings at start-up; push their new values into it."""

    def apply(settings: Settings, changed: frozenset[str]) -> None:
        if "pool_strategy" in changed:
            runtime.set_strategy(settings.pool_strategy)
        if "preferred_endpoint" in changed:
            runtime.dispatcher.preferred_endpoint = settings.preferred_endpoint
        if "max_attempts" in changed:
            runtime.dispatcher.max_attempts = settings.max_attempts
        if "proxy_url" in changed:
            runtime.tokens.set_global_proxy(settings.proxy_url)

    return apply
