"""Model-name resolution: a deterministic table, aliases, catalogue pass-through, properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiro_proxy.errors import NotFoundError
from kiro_proxy.translate.models import (
    DEFAULT_MODEL,
    ModelResolver,
    ResolvedModel,
    context_window_for,
    list_model_ids,
    normalise_claude_name,
    resolve_model,
)

# ListAvailableModels ids seen in the wild (protocol doc §7.2).
CATALOGUE = (
    "auto",
    "claude-sonnet-4",
    "claude-sonnet-4.5",
    "claude-sonnet-4.6",
    "claude-haiku-4.5",
    "claude-opus-4.5",
    "claude-opus-4.6",
    "claude-opus-4.7",
    "deepseek-3.2",
    "glm-5",
    "minimax-m2.1",
    "minimax-m2.5",
    "qwen3-coder-next",
)

TABLE = [
    ("claude-sonnet-4-20250514", "claude-sonnet-4"),
    ("claude-sonnet-4", "claude-sonnet-4"),
    ("claude-sonnet-4-0", "claude-sonnet-4"),
    ("claude-sonnet-4.5", "claude-sonnet-4.5"),
    ("claude-haiku-4.5", "claude-haiku-4.5"),
    ("claude-opus-4.5", "claude-opus-4.5"),
    ("claude-sonnet-4-5", "claude-sonnet-4.5"),
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4.5"),
    ("claude-haiku-4-5-20251001", "claude-haiku-4.5"),
    ("claude-opus-4-5-20251101", "claude-opus-4.5"),
    ("claude-opus-4-6", "claude-opus-4.6"),
    ("claude-sonnet-4-6", "claude-sonnet-4.6"),
    ("claude-opus-4-7", "claude-opus-4.7"),
    ("claude-3-5-sonnet-latest", "claude-sonnet-4.5"),
    ("claude-3-5-sonnet-20241022", "claude-sonnet-4.5"),
    ("claude-3-7-sonnet-20250219", "claude-sonnet-4.5"),
    ("claude-3-sonnet-20240229", "claude-sonnet-4"),
    ("claude-3-haiku-20240307", "claude-haiku-4.5"),
    ("claude-3-5-haiku-latest", "claude-haiku-4.5"),
    ("claude-3-opus-20240229", "claude-sonnet-4.5"),
    ("gpt-4o", "claude-sonnet-4"),
    ("gpt-4", "claude-sonnet-4"),
    ("gpt-4-turbo", "claude-sonnet-4"),
    ("gpt-3.5-turbo", "claude-sonnet-4"),
    # Cloud-provider and legacy upper-case spellings.
    ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4.5"),
    ("claude-sonnet-4@20250514", "claude-sonnet-4"),
    ("CLAUDE_SONNET_4_5_20250929_V1_0", "claude-sonnet-4.5"),
    ("CLAUDE_3_7_SONNET_20250219_V1_0", "claude-sonnet-4.5"),
    ("Claude-Opus-4-6", "claude-opus-4.6"),
    # Unknown names take the documented default.
    ("o3-mini", DEFAULT_MODEL),
    ("claude-instant-1", DEFAULT_MODEL),
    ("", DEFAULT_MODEL),
]


@pytest.mark.parametrize(("name", "kiro_id"), TABLE)
def test_mapping_table_without_catalogue(name: str, kiro_id: str) -> None:
    assert resolve_model(name).kiro_model_id == kiro_id


@pytest.mark.parametrize(("name", "kiro_id"), TABLE)
def test_mapping_table_with_catalogue(name: str, kiro_id: str) -> None:
    assert resolve_model(name, known_models=CATALOGUE).kiro_model_id == kiro_id


@pytest.mark.parametrize("model", CATALOGUE)
def test_catalogue_models_pass_through(model: str) -> None:
    # Kiro-Go rewrote these to Sonnet although it advertised them (protocol doc §10 item 7).
    resolved = resolve_model(model, known_models=CATALOGUE)
    assert resolved.kiro_model_id == model
    assert resolve_model(model.upper(), known_models=CATALOGUE).kiro_model_id == model


def test_version_missing_from_catalogue_takes_nearest_of_same_family() -> None:
    assert resolve_model("claude-opus-4-1", known_models=CATALOGUE).kiro_model_id == (
        "claude-opus-4.5"
    )
    assert resolve_model("claude-opus-5", known_models=CATALOGUE).kiro_model_id == (
        "claude-opus-4.7"
    )
    assert resolve_model("claude-opus-4-1").kiro_model_id == "claude-opus-4.1"  # no catalogue
    # Fallbacks follow the catalogue too.
    only_new = ("claude-sonnet-4.6",)
    assert resolve_model("gpt-4o", known_models=only_new).kiro_model_id == "claude-sonnet-4.6"
    assert resolve_model("whatever", known_models=only_new).kiro_model_id == "claude-sonnet-4.6"


def test_thinking_suffix_is_case_insensitive_and_configurable() -> None:
    assert resolve_model("claude-sonnet-4.5-thinking") == ResolvedModel(
        "claude-sonnet-4.5-thinking", "claude-sonnet-4.5", True, 200_000
    )
    assert resolve_model("claude-opus-4-6-THINKING").thinking
    assert resolve_model("glm-5-Thinking", known_models=CATALOGUE).kiro_model_id == "glm-5"
    custom = resolve_model("claude-haiku-4.5:think", thinking_suffix=":think")
    assert (custom.kiro_model_id, custom.thinking) == ("claude-haiku-4.5", True)
    assert not resolve_model("claude-haiku-4.5-thinking", thinking_suffix="").thinking
    # The suffix alone is not a model name with thinking.
    assert not resolve_model("-thinking").thinking


def test_aliases_take_precedence_and_targets_are_normalised() -> None:
    aliases = {
        "Fast": "claude-haiku-4-5",
        "claude-sonnet-4": "claude-opus-4.6",  # operators may redirect even real ids
        "deep": "claude-opus-4-7-thinking",
        "cheap": "glm-5",
    }
    resolve = lambda name: resolve_model(name, aliases=aliases, known_models=CATALOGUE)  # noqa: E731
    assert resolve("fast").kiro_model_id == "claude-haiku-4.5"
    assert resolve("FAST-thinking").thinking
    assert resolve("claude-sonnet-4").kiro_model_id == "claude-opus-4.6"
    deep = resolve("deep")
    assert (deep.kiro_model_id, deep.thinking, deep.requested) == ("claude-opus-4.7", True, "deep")
    assert resolve("cheap").kiro_model_id == "glm-5"


def test_unknown_policy_reject() -> None:
    with pytest.raises(NotFoundError) as info:
        resolve_model("no-such-model", unknown="reject", known_models=CATALOGUE)
    assert info.value.status == 404
    # Claude patterns, OpenAI names and catalogue models still resolve.
    assert resolve_model("claude-3-haiku", unknown="reject").kiro_model_id == "claude-haiku-4.5"
    assert resolve_model("gpt-4o", unknown="reject").kiro_model_id == "claude-sonnet-4"
    assert resolve_model("auto", unknown="reject", known_models=CATALOGUE).kiro_model_id == "auto"


def test_default_model_is_configurable() -> None:
    assert resolve_model("mystery", default_model="auto", known_models=CATALOGUE).kiro_model_id == (
        "auto"
    )


def test_requested_name_is_echoed_verbatim() -> None:
    assert resolve_model("Claude-3-5-Sonnet-Latest-thinking").requested == (
        "Claude-3-5-Sonnet-Latest-thinking"
    )


@pytest.mark.parametrize(
    ("model", "window"),
    [
        ("claude-sonnet-4.6", 1_000_000),
        ("claude-opus-4.6", 1_000_000),
        ("claude-opus-4.7", 1_000_000),
        ("claude-sonnet-5", 1_000_000),
        ("claude-sonnet-4.5", 200_000),
        ("claude-haiku-4.5", 200_000),
        ("claude-sonnet-4", 200_000),
        ("glm-5", 200_000),
    ],
)
def test_context_windows(model: str, window: int) -> None:
    assert context_window_for(model) == window


def test_context_window_override() -> None:
    resolved = resolve_model("glm-5", known_models=CATALOGUE, context_windows={"glm-5": 128_000})
    assert resolved.context_window == 128_000


def test_list_model_ids() -> None:
    ids = list_model_ids(
        ["auto", "glm-5", "auto"], {"fast": "claude-haiku-4.5", "deep-thinking": "x"}
    )
    assert ids == [
        "auto",
        "auto-thinking",
        "glm-5",
        "glm-5-thinking",
        "fast",
        "fast-thinking",
        "deep-thinking",
    ]
    assert list_model_ids(["glm-5"], thinking_suffix="") == ["glm-5"]
    # Every listed id resolves to something Kiro lists.
    for model_id in list_model_ids(CATALOGUE):
        assert resolve_model(model_id, known_models=CATALOGUE).kiro_model_id in CATALOGUE


def test_normalise_claude_name_rejects_non_claude() -> None:
    assert normalise_claude_name("gpt-4o") is None
    assert normalise_claude_name("claude") is None


names = st.one_of(
    st.sampled_from([name for name, _ in TABLE] + list(CATALOGUE)),
    st.text(max_size=30),
    st.from_regex(r"(?i)claude-(\d-)?(sonnet|opus|haiku)(-\d{1,2}){0,2}(-\d{8})?(-thinking)?"),
)


@settings(max_examples=500, deadline=None)
@given(name=names, use_catalogue=st.booleans())
def test_resolution_is_deterministic_and_idempotent(name: str, use_catalogue: bool) -> None:
    known = CATALOGUE if use_catalogue else ()
    first = resolve_model(name, known_models=known)
    assert resolve_model(name, known_models=known) == first
    again = resolve_model(first.kiro_model_id, known_models=known)
    assert again.kiro_model_id == first.kiro_model_id
    if use_catalogue:
        assert first.kiro_model_id in CATALOGUE


# --- ModelResolver: the request path's cache ------------------------------------------------


def test_resolver_gives_what_resolve_model_gives() -> None:
    resolver = ModelResolver()
    aliases = {"fast": "claude-haiku-4.5", "Deep": "claude-opus-4.5-thinking"}
    for name in ["claude-sonnet-4-20250514", "fast", "deep-thinking", "gpt-4o", "o3", "glm-5"]:
        for _ in range(2):  # first computed, then remembered
            got = resolver.resolve(name, aliases=aliases, known_models=CATALOGUE)
            assert got == resolve_model(name, aliases=aliases, known_models=CATALOGUE)


def test_resolver_sees_a_catalogue_refresh() -> None:
    resolver = ModelResolver()
    before = resolver.resolve("claude-opus-4-1", known_models=["claude-opus-4.5"])
    assert before.kiro_model_id == "claude-opus-4.5"
    after = resolver.resolve("claude-opus-4-1", known_models=["claude-opus-4.5", "claude-opus-4.1"])
    assert after.kiro_model_id == "claude-opus-4.1"
    # A catalogue that drops a model: a name it listed is normalised again.
    assert resolver.resolve("glm-5", known_models=["glm-5"]).kiro_model_id == "glm-5"
    assert resolver.resolve("glm-5", known_models=["claude-sonnet-4.5"]).kiro_model_id == (
        DEFAULT_MODEL
    )


def test_resolver_sees_changed_aliases_and_suffix_even_when_changed_in_place() -> None:
    resolver = ModelResolver()
    aliases: dict[str, str] = {"fast": "claude-haiku-4.5"}
    assert resolver.resolve("fast", aliases=aliases).kiro_model_id == "claude-haiku-4.5"
    aliases["fast"] = "claude-sonnet-4"  # settings are updated in place by the admin panel
    assert resolver.resolve("fast", aliases=aliases).kiro_model_id == "claude-sonnet-4"
    del aliases["fast"]
    assert resolver.resolve("fast", aliases=aliases).kiro_model_id == DEFAULT_MODEL

    assert resolver.resolve("claude-sonnet-4-think").thinking is False
    think = resolver.resolve("claude-sonnet-4-think", thinking_suffix="-think")
    assert think.thinking is True
    assert think.kiro_model_id == "claude-sonnet-4"


def test_resolver_cache_is_bounded() -> None:
    resolver = ModelResolver(max_entries=8)
    for index in range(50):
        assert resolver.resolve(f"client-model-{index}").requested == f"client-model-{index}"
        assert len(resolver._cache) <= 8
    assert resolver.resolve("claude-haiku-4-5").kiro_model_id == "claude-haiku-4.5"
