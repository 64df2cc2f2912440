"""Client model names → Kiro model ids, the thinking suffix, context windows, `/v1/models` ids.

Pure functions (protocol doc §8.1, §10 item 7). Kiro-Go matched map keys as substrings in Go's
random map order, so `claude-sonnet-4.5` could become `claude-sonnet-4`, and it rewrote catalogue
models such as `glm-5` to Sonnet. Here the rules are ordered and exact:

1. thinking suffix (case-insensitive, default `-thinking`) is removed and sets `thinking`;
2. configured aliases (case-insensitive) replace the name; the target goes through rules 1, 3-6
   (so an alias may point at `claude-opus-4-6` or at `…-thinking`);
3. a model Kiro lists (`known_models`, from ListAvailableModels) passes through unchanged;
4. Claude names are normalised by pattern: dashes or dots, dates, `-latest`, `@date`, Bedrock
   (`us.anthropic.…-v1:0`) and upper-case K2A ids (`CLAUDE_SONNET_4_5_20250929_V1_0`) all become
   Kiro's `claude-<family>-<major>[.<minor>]`; Claude 3.x names map to today's models of the same
   tier (3/3.5/3.7 Sonnet → Sonnet 4 / 4.5, Haiku → Haiku 4.5, Opus 3 → Sonnet 4.5 as in Kiro-Go,
   because silently upgrading to Opus would multiply the credit cost). When the catalogue is known
   and lacks that version, the nearest listed version of the same family is used
   (`claude-opus-4-1` → `claude-opus-4.5`);
5. OpenAI names (`gpt-*`) → `claude-sonnet-4`, so OpenAI-default clients work unchanged;
6. anything else follows `unknown`: `"default"` (the default) sends `default_model`, because
   gateway users point tools with hard-coded model names (`o3`, `text-davinci`, a typo'd alias) at
   the proxy and expect an answer, as every Kiro proxy does; `"reject"` raises `NotFoundError`
   (404 `model_not_found`) for operators who prefer typos to fail loudly. The response always
   echoes `requested`, so the client sees the name it sent either way.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from kiro_proxy.errors import NotFoundError

DEFAULT_MODEL = "claude-sonnet-4.5"
OPENAI_FALLBACK_MODEL = "claude-sonnet-4"
DEFAULT_CONTEXT_WINDOW = 200_000
LARGE_CONTEXT_WINDOW = 1_000_000  # Sonnet/Opus 4.6 and later (KRS)
UnknownModelPolicy = Literal["default", "reject"]

_EMPTY: Mapping[str, str] = MappingProxyType({})

# claude-<family>-<major>[-.<minor>] with an optional trailing date/tag; minor is 1-2 digits so a
# date (20250514) is never read as a version.
_NEW_STYLE = re.compile(
    r"claude-(sonnet|opus|haiku)-(\d{1,2})(?:[.-](\d{1,2}))?(?![0-9])", re.ASCII
)
# claude-<major>[-.<minor>]-<family> (Claude 3.x naming).
_OLD_STYLE = re.compile(r"claude-(\d)(?:[.-](\d))?-(sonnet|opus|haiku)", re.ASCII)
# Claude 3.x family + version → today's Kiro model (see rule 4 above).
_LEGACY: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        ("sonnet", "3"): "claude-sonnet-4",
        ("sonnet", "3.5"): "claude-sonnet-4.5",
        ("sonnet", "3.7"): "claude-sonnet-4.5",
        ("haiku", "3"): "claude-haiku-4.5",
        ("haiku", "3.5"): "claude-haiku-4.5",
        ("opus", "3"): "claude-sonnet-4.5",
    }
)


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    requested: str  # what the client sent (echoed back in responses)
    kiro_model_id: str  # what is sent upstream
    thinking: bool  # the thinking suffix was present
    context_window: int  # tokens


def split_thinking_suffix(name: str, suffix: str) -> tuple[str, bool]:
    """Remove the thinking suffix (case-insensitive). An empty suffix disables the feature."""
    if suffix and len(name) > len(suffix) and name.lower().endswith(suffix.lower()):
        return name[: -len(suffix)], True
    return name, False


def context_window_for(kiro_model_id: str, overrides: Mapping[str, int] = _EMPTY) -> int:
    """1 M tokens for Sonnet/Opus 4.6 and later (KRS), else 200 k; `overrides` wins."""
    if kiro_model_id in overrides:
        return overrides[kiro_model_id]
    match = re.fullmatch(r"claude-(sonnet|opus)-(\d+)(?:\.(\d+))?", kiro_model_id, re.ASCII)
    if match:
        version = (int(match[2]), int(match[3] or 0))
        if version >= (4, 6):
            return LARGE_CONTEXT_WINDOW
    return DEFAULT_CONTEXT_WINDOW


def _version_text(major: str, minor: str | None) -> str:
    """`4`, `4.5`: leading zeros dropped, `.0` omitted (Kiro says `claude-sonnet-4`)."""
    if minor is None or int(minor) == 0:
        return str(int(major))
    return f"{int(major)}.{int(minor)}"


def _claude_version(family: str, major: str, minor: str | None) -> str:
    return f"claude-{family}-{_version_text(major, minor)}"


def _version_key(model_id: str) -> tuple[int, int]:
    match = re.search(r"-(\d+)(?:\.(\d+))?$", model_id, re.ASCII)
    return (int(match[1]), int(match[2] or 0)) if match else (0, 0)


def _nearest_in_family(model_id: str, family: str, known: Collection[str]) -> str:
    """The catalogue's closest version of the same family: the next newer one, else the newest."""
    if not known or model_id in known:
        return model_id
    siblings = sorted(
        (k for k in known if re.fullmatch(rf"claude-{family}-\d+(?:\.\d+)?", k, re.ASCII)),
        key=_version_key,
    )
    if not siblings:
        return model_id
    wanted = _version_key(model_id)
    newer = [k for k in siblings if _version_key(k) >= wanted]
    return newer[0] if newer else siblings[-1]


def normalise_claude_name(name: str, known_models: Collection[str] = ()) -> str | None:
    """Kiro id for any spelling of a Claude model name, or None if it is not one."""
    lowered = name.strip().lower().replace("_", "-")
    new = _NEW_STYLE.search(lowered)
    if new:
        family = new[1]
        model_id = _claude_version(family, new[2], new[3])
        if int(new[2]) < 4:  # e.g. claude-sonnet-3-7 (rare spelling of 3.7 Sonnet)
            model_id = _LEGACY.get((family, _version_text(new[2], new[3])), model_id)
            family = model_id.split("-")[1]
        return _nearest_in_family(model_id, family, known_models)
    old = _OLD_STYLE.search(lowered)
    if old:
        family = old[3]
        model_id = _LEGACY.get((family, _version_text(old[1], old[2])))
        if model_id is None:  # a Claude 4+ name in 3.x word order
            model_id = _claude_version(family, old[1], old[2])
        return _nearest_in_family(model_id, model_id.split("-")[1], known_models)
    return None


def _map_base(
    base: str,
    known: Mapping[str, str],
    known_models: Collection[str],
    unknown: UnknownModelPolicy,
    default_model: str,
    requested: str,
) -> str:
    lowered = base.strip().lower()
    if lowered in known:
        return known[lowered]
    claude = normalise_claude_name(lowered, known_models)
    if claude is not None:
        return claude
    if lowered.startswith("gpt-"):
        fallback = OPENAI_FALLBACK_MODEL
    elif unknown == "reject":
        raise NotFoundError(
            f"model {requested!r} is not available", param="model", code="model_not_found"
        )
    else:
        fallback = default_model
    # Fallbacks follow the catalogue too, so resolving a result again gives the same id.
    if fallback.lower() in known:
        return known[fallback.lower()]
    return normalise_claude_name(fallback, known_models) or fallback


def resolve_model(
    name: str,
    *,
    thinking_suffix: str = "-thinking",
    aliases: Mapping[str, str] = _EMPTY,
    known_models: Collection[str] = (),
    unknown: UnknownModelPolicy = "default",
    default_model: str = DEFAULT_MODEL,
    context_windows: Mapping[str, int] = _EMPTY,
) -> ResolvedModel:
    """Resolve a client model name; see the module docstring for the ordered rules."""
    base, thinking = split_thinking_suffix(name.strip(), thinking_suffix)
    alias_map = {key.strip().lower(): value for key, value in aliases.items()}
    target = alias_map.get(base.strip().lower())
    if target is not None:
        base, alias_thinking = split_thinking_suffix(target.strip(), thinking_suffix)
        thinking = thinking or alias_thinking
    known = {model.lower(): model for model in known_models}
    kiro_id = _map_base(base, known, known_models, unknown, default_model, name)
    return ResolvedModel(
        requested=name,
        kiro_model_id=kiro_id,
        thinking=thinking,
        context_window=context_window_for(kiro_id, context_windows),
    )


def list_model_ids(
    known_models: Iterable[str],
    aliases: Mapping[str, str] = _EMPTY,
    thinking_suffix: str = "-thinking",
) -> list[str]:
    """Ids for `/v1/models`: every catalogue model and alias, each followed by its thinking variant."""
    ids: dict[str, None] = {}
    for model in [*known_models, *aliases]:
        ids[model] = None
        if thinking_suffix and not split_thinking_suffix(model, thinking_suffix)[1]:
            ids[model + thinking_suffix] = None
    return list(ids)


# Distinct names kept by `ModelResolver`: far more than any deployment uses, few enough that a
# client sending random names cannot grow the cache without bound (it is cleared when full).
RESOLVER_CACHE_SIZE = 1024


class ModelResolver:
    """`resolve_model` with its results remembered, for the request path.

    Resolution is pure, but its regexes, catalogue scans and alias lower-casing cost ~15 µs a
    request, for the same few names every time. Results are keyed by the name, the thinking
    suffix and the aliases, and dropped whenever the catalogue (`known_models`) differs from the
    one they were made with, so an admin's settings change or a model-list refresh is seen by the
    very next request. It always resolves with the "default" unknown-model policy (it has no
    `unknown` parameter), so every name, known or not, gives a cacheable result.
    """

    def __init__(self, max_entries: int = RESOLVER_CACHE_SIZE) -> None:
        self._max_entries = max_entries
        self._known: tuple[str, ...] = ()
        self._cache: dict[tuple[str, str, tuple[tuple[str, str], ...]], ResolvedModel] = {}

    def resolve(
        self,
        name: str,
        *,
        thinking_suffix: str = "-thinking",
        aliases: Mapping[str, str] = _EMPTY,
        known_models: Collection[str] = (),
    ) -> ResolvedModel:
        known = tuple(known_models)
        if known != self._known:
            self._cache.clear()
            self._known = known
        key = (name, thinking_suffix, tuple(aliases.items()) if aliases else ())
        resolved = self._cache.get(key)
        if resolved is None:
            resolved = resolve_model(
                name, thinking_suffix=thinking_suffix, aliases=aliases, known_models=known
            )
            if len(self._cache) >= self._max_entries:
                self._cache.clear()
            self._cache[key] = resolved
        return resolved
