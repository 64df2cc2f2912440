"""The known-secret registry: exact masking (overlaps included), its bound, lazy rebuilds, and a
per-line cost that does not depend on how many values it holds."""

from __future__ import annotations

import random
import string
import threading
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiro_proxy.observability import secret_registry, setup_logging
from kiro_proxy.observability.instrument import observe_refreshes
from kiro_proxy.observability.metrics import Metrics
from kiro_proxy.observability.redaction import known_secrets
from kiro_proxy.observability.secret_registry import (
    ANCHOR_LENGTH,
    MASK,
    MAX_KNOWN_SECRETS,
    MIN_KNOWN_SECRET_LENGTH,
    SecretRegistry,
)

ACCESS_LINE = (
    "POST /v1/chat/completions 200 12.5ms\n6f1c2a9e-3b7d-4c8e-9a1f-0d2e3c4b5a69\nPOST\n"
    "/v1/chat/completions\nclaude-sonnet-4.5\nacct-7f3e9b21c4d8a6e0f1b2c3d4e5f60718"
)


def reference_mask(text: str, values: list[str]) -> str:
    """Every occurrence of every value found by brute force; overlapping ones become one mask."""
    spans = sorted(
        (start, start + len(value))
        for value in set(values)
        if len(value) >= MIN_KNOWN_SECRET_LENGTH
        for start in range(len(text))
        if text.startswith(value, start)
    )
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, kept_from = [], 0
    for start, end in merged:
        out += [text[kept_from:start], MASK]
        kept_from = end
    return "".join([*out, text[kept_from:]])


def _random_tokens(count: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "_-"
    return ["aoaAAAAAGh" + "".join(rng.choices(alphabet, k=300)) for _ in range(count)]


@st.composite
def _values_and_text(draw: st.DrawFn, letters: str = "ab") -> tuple[list[str], str]:
    """Values and a text made of them and of noise. Two letters make values overlap, nest and
    share anchors all the time; lengths on both sides of ANCHOR_LENGTH cover values that are
    their own anchor and values that are not."""
    values = draw(
        st.lists(st.text(letters, min_size=MIN_KNOWN_SECRET_LENGTH, max_size=20), max_size=8)
    )
    pieces = st.text(letters, max_size=8)
    if values:
        pieces = st.one_of(pieces, st.sampled_from(values))
    return values, "".join(draw(st.lists(pieces, max_size=8)))


@settings(max_examples=400)
@given(_values_and_text())
def test_mask_equals_the_brute_force_reference(case: tuple[list[str], str]) -> None:
    values, text = case
    registry = SecretRegistry()
    registry.add(*values)
    masked = registry.mask(text)
    assert masked == reference_mask(text, values)
    # "a"/"b" never occur in MASK, so no part of a value can survive or be made up.
    assert not any(value in masked for value in values)
    assert registry.found_in(text) == any(value in text for value in values)


@given(_values_and_text(letters="aé\ud800"))
def test_non_ascii_text_and_lone_surrogates(case: tuple[list[str], str]) -> None:
    # The automaton indexes UTF-8 bytes: character positions must still line up, and a lone
    # surrogate (which UTF-8 cannot hold) must neither raise nor hide a secret.
    values, text = case
    registry = SecretRegistry()
    registry.add(*values)
    assert registry.mask(text) == reference_mask(text, values)
    assert registry.found_in(text) == any(value in text for value in values)


def test_overlapping_secrets_leave_no_part_visible() -> None:
    registry = SecretRegistry()
    registry.add("abcdefgh12", "fgh12ijklm")
    assert registry.mask("xx abcdefgh12ijklm yy") == f"xx {MASK} yy"


def test_a_secret_containing_another_is_masked_whole() -> None:
    registry = SecretRegistry()
    registry.add("horse battery", "correct horse battery staple")
    assert registry.mask("pw: correct horse battery staple.") == f"pw: {MASK}."
    assert registry.mask("just horse battery") == f"just {MASK}"
    assert registry.mask("ab horse batteryhorse battery") == f"ab {MASK}{MASK}"


def test_the_oldest_values_go_first_and_pinned_ones_stay() -> None:
    registry = SecretRegistry(limit=4)
    registry.pin("admin-password")
    values = [f"secret-value-{i}" for i in range(6)]
    registry.add(*values[:4])
    registry.add(values[0])  # added again: the most recent now
    registry.add(values[4], values[5])
    assert len(registry) == 5
    for value in ("admin-password", values[0], values[3], values[4], values[5]):
        assert registry.mask(f"x {value} y") == f"x {MASK} y", value
    for value in (values[1], values[2]):
        assert not registry.found_in(f"x {value} y"), value


def test_pinning_an_added_value_moves_it_out_of_the_bound() -> None:
    registry = SecretRegistry(limit=2)
    registry.add("long-lived-secret")
    registry.pin("long-lived-secret")
    registry.add("token-number-1", "token-number-2", "token-number-3")
    assert len(registry) == 3
    assert registry.found_in("long-lived-secret")
    assert not registry.found_in("token-number-1")


def test_the_default_bound() -> None:
    registry = SecretRegistry()
    values = [f"value-{i:06d}" for i in range(MAX_KNOWN_SECRETS + 1)]
    registry.add(*values)
    assert len(registry) == MAX_KNOWN_SECRETS
    assert not registry.found_in(values[0])
    assert registry.found_in(values[1]) and registry.found_in(values[-1])


def test_setup_logging_pins_the_process_secrets() -> None:
    setup_logging("plain", "INFO", secrets=("admin-Password-123", None))
    known_secrets.add(*(f"rotated-token-{i:06d}" for i in range(MAX_KNOWN_SECRETS + 10)))
    assert known_secrets.found_in("login admin-Password-123")


def test_the_automaton_is_built_by_the_first_lookup_after_a_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    builds: list[int] = []
    real = secret_registry.AhoCorasick

    def counting(patterns: list[str], **options: Any) -> Any:
        builds.append(len(patterns))
        return real(patterns, **options)

    monkeypatch.setattr(secret_registry, "AhoCorasick", counting)
    registry = SecretRegistry()
    for i in range(50):
        registry.add(f"secret-value-{i:03d}")
    assert builds == []
    assert registry.found_in("has secret-value-007 in it")
    assert not registry.found_in(ACCESS_LINE)
    assert builds == [50]
    registry.add("secret-value-007")  # already known: nothing to rebuild
    registry.found_in(ACCESS_LINE)
    assert builds == [50]


def test_a_value_added_after_a_match_is_masked_in_the_next_line() -> None:
    registry = SecretRegistry()
    first, second = _random_tokens(2)
    registry.add(first)
    assert registry.mask(f"a {first} b") == f"a {MASK} b"
    registry.add(second)
    assert registry.mask(f"a {second} b {first}") == f"a {MASK} b {MASK}"


class _CountingStr(str):
    """Counts the confirmations (`startswith`) a lookup makes on the line."""

    confirmations = 0

    def startswith(self, *args: Any) -> bool:
        _CountingStr.confirmations += 1
        return super().startswith(*args)


@pytest.mark.parametrize("pool_size", [9, 2_000, MAX_KNOWN_SECRETS])
def test_a_line_costs_one_scan_whatever_the_number_of_values(pool_size: int) -> None:
    # Not timed: a lookup is one automaton scan plus one confirmation per anchor hit, so a line
    # with no secret confirms nothing and a line with one secret confirms it once, whether the
    # registry holds 9 values or 4,096 (a regex alternation tries each value at each position).
    tokens = _random_tokens(pool_size)
    registry = SecretRegistry()
    registry.add(*tokens)
    assert len(registry) == pool_size
    secret = tokens[pool_size // 2]
    _CountingStr.confirmations = 0
    assert not registry.found_in(_CountingStr(ACCESS_LINE))
    assert registry.mask(_CountingStr(ACCESS_LINE)) == ACCESS_LINE
    assert _CountingStr.confirmations == 0
    line = _CountingStr(f"{ACCESS_LINE} refreshed {secret} ok")
    assert registry.found_in(line)
    assert _CountingStr.confirmations == 1
    assert registry.mask(line) == f"{ACCESS_LINE} refreshed {MASK} ok"
    assert _CountingStr.confirmations == 2
    assert len(secret) > ANCHOR_LENGTH  # the automaton holds anchors, not whole tokens


@dataclass
class _Grant:
    access_token: str
    refresh_token: str | None


class _Client:
    async def refresh_social(
        self, refresh_token: str, *, machine_id: str, region: str = "us-east-1"
    ) -> _Grant:
        return _Grant("new-access-token-1", None)

    async def refresh_oidc(
        self, refresh_token: str, client_id: str, client_secret: str, *, region: str
    ) -> _Grant:
        return _Grant("new-access-token-2", "new-refresh-token-2")


async def test_each_refresh_registers_the_accounts_own_secrets_again() -> None:
    # They would otherwise be the oldest values, the first the bound drops.
    client = _Client()
    observe_refreshes(client, Metrics())
    await client.refresh_oidc("old-refresh-token", "client-id", "the-client-secret", region="r")
    await client.refresh_social(refresh_token="social-refresh-token", machine_id="m")
    for value in (
        "old-refresh-token",
        "the-client-secret",
        "new-access-token-2",
        "new-refresh-token-2",
        "social-refresh-token",
        "new-access-token-1",
    ):
        assert known_secrets.found_in(f"x {value} y"), value
    assert not known_secrets.found_in("client-id")
    # Enough newer values to push out everything above; the next refresh registers its refresh
    # token again, so it is masked while the first refresh's secrets are not any more.
    known_secrets.add(*(f"other-token-{i:06d}" for i in range(MAX_KNOWN_SECRETS - 1)))
    assert not known_secrets.found_in("x social-refresh-token y")
    await client.refresh_social(refresh_token="social-refresh-token", machine_id="m")
    assert known_secrets.found_in("x social-refresh-token y")
    assert not known_secrets.found_in("x old-refresh-token y")


def test_a_lookup_while_the_index_is_being_built_does_not_deadlock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Building the index allocates; a garbage collection it triggers can run a finalizer that
    logs (an unclosed aiohttp session does), and the log filter asks the registry again on the
    same thread. That nested lookup must return, not wait forever on the registry's lock."""
    registry = SecretRegistry()
    registry.add("secret-value-one")
    real_index = secret_registry._Index
    nested: list[bool] = []

    def index_that_logs(values: Any) -> Any:
        if not nested:  # the finalizer's log line, during the outer build
            nested.append(registry.found_in("secret-value-one"))
        return real_index(values)

    monkeypatch.setattr(secret_registry, "_Index", index_that_logs)
    outcome: list[bool] = []
    worker = threading.Thread(
        target=lambda: outcome.append(registry.found_in("secret-value-one")), daemon=True
    )
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "the nested lookup deadlocked on the registry's lock"
    # The nested lookup saw the index from before the change (empty), the outer one the new one.
    assert nested == [False] and outcome == [True]
    assert registry.found_in("secret-value-one")
