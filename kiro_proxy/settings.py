"""Settings: environment first, then the `CONFIG_PATH` JSON file (Kiro-Go's camelCase fields),
then defaults. One place; everything else receives values from here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ThinkingFormatOpenAI = Literal["reasoning_content", "thinking", "think"]
ThinkingFormatClaude = Literal["thinking", "think", "reasoning_content", "native"]
EndpointPreference = Literal["auto", "codewhisperer", "amazonq"]
PoolStrategy = Literal["round-robin", "least-used", "weighted"]
UpstreamHttpClient = Literal["builtin", "aiohttp"]

DEFAULT_CONFIG_PATH = "data/config.json"


class ConfigError(Exception):
    """Bad configuration: the message names the field and says what to change."""


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def config_path_from_env() -> Path:
    return Path(os.environ.get("CONFIG_PATH") or DEFAULT_CONFIG_PATH)


def read_config_file(path: Path) -> dict[str, Any]:
    """The raw JSON object in the config file ({} when the file does not exist)."""
    if not path.exists():
        return {}
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}); fix or remove the file") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must hold a JSON object")
    return data


class _ConfigFileSource(PydanticBaseSettingsSource):
    """Reads Kiro-Go-style camelCase keys from the config file."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls)
        raw = read_config_file(path)
        fields = settings_cls.model_fields
        self._values: dict[str, Any] = {}
        for key, value in raw.items():
            name = _snake(key)
            if name in fields and name not in _FILE_IGNORED:
                self._values[name] = value

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._values)


# Keys in the config file that are not settings (accounts and counters are imported into the
# database) or must not be read from it (the plaintext password is replaced by a hash).
_FILE_IGNORED = frozenset({"accounts", "password", "admin_password", "config_path"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    config_path: Path = Field(default=Path(DEFAULT_CONFIG_PATH))
    data_dir: Path | None = None  # defaults to the config file's folder

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    admin_password: str | None = None
    database_url: str | None = None  # default: sqlite in data_dir

    # Upstream URLs ({region} is filled per account).
    kiro_api_url: str = "https://q.us-east-1.amazonaws.com"
    kiro_codewhisperer_url: str = "https://codewhisperer.us-east-1.amazonaws.com"
    kiro_auth_url: str = "https://prod.us-east-1.auth.desktop.kiro.dev"
    kiro_oidc_url: str = "https://oidc.{region}.amazonaws.com"
    kiro_portal_url: str = "https://portal.sso.{region}.amazonaws.com"

    # Client-facing behaviour (Kiro-Go compatible names in the config file).
    require_api_key: bool = False
    api_key: str | None = None
    thinking_suffix: str = "-thinking"
    openai_thinking_format: ThinkingFormatOpenAI = "reasoning_content"
    claude_thinking_format: ThinkingFormatClaude = "thinking"
    preferred_endpoint: EndpointPreference = "auto"
    pool_strategy: PoolStrategy = "round-robin"
    model_aliases: dict[str, str] = Field(default_factory=dict)
    proxy_url: str | None = None  # global outbound HTTP/SOCKS5 proxy

    # Upstream fingerprint (configurable: the version strings are fingerprints only).
    kiro_version: str = "0.11.107"
    kiro_agent_mode: str = "vibe"

    # Timeouts (seconds): no total timeout, long generations must not be cut.
    connect_timeout: float = Field(default=10.0, gt=0)
    first_byte_timeout: float = Field(default=120.0, gt=0)
    idle_timeout: float = Field(default=300.0, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=20)
    upstream_http_client: UpstreamHttpClient = Field(
        default="builtin",
        description="HTTP client of the generate call on a direct connection: `builtin` (a lean "
        "HTTP/1.1 client, ~15 % fewer instructions per gateway request) or `aiohttp` (the "
        "escape hatch). Proxied generate calls and every other call use aiohttp.",
    )

    # Limits and safety.
    max_body_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    image_fetch_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    image_fetch_timeout: float = Field(default=10.0, gt=0)
    allow_private_image_urls: bool = False
    cors_origins: list[str] = Field(default_factory=lambda: ["*"])

    # Operations.
    log_format: Literal["plain", "json"] = "plain"
    log_level: str = "INFO"
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    workers: int = Field(default=1, ge=1, le=64)

    @field_validator(
        "kiro_api_url",
        "kiro_codewhisperer_url",
        "kiro_auth_url",
        "kiro_oidc_url",
        "kiro_portal_url",
    )
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = init_settings().get("config_path") or config_path_from_env()  # type: ignore[attr-defined]
        return (init_settings, env_settings, _ConfigFileSource(settings_cls, Path(path)))

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir or self.config_path.parent

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.resolved_data_dir / 'kiro-proxy.db'}"

    def oidc_url(self, region: str) -> str:
        return self.kiro_oidc_url.replace("{region}", region or "us-east-1")

    def portal_url(self, region: str) -> str:
        return self.kiro_portal_url.replace("{region}", region or "us-east-1")


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation errors into a ConfigError that names the field."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            problems.append(f"{where}: {error['msg']} (got {error.get('input')!r})")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from exc
