"""Selection strategies, measured over many picks."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import pytest

from kiro_proxy.pool.strategies import make_strategy


def picks(kit: Any, n: int) -> Counter[str]:
    counts: Counter[str] = Counter()
    for _ in range(n):
        account = kit.pool.select()
        assert account is not None
        counts[account.id] += 1
    return counts


def test_round_robin_is_even(kit_factory: Any) -> None:
    kit = kit_factory("round-robin")
    for i in range(7):
        kit.add(f"a{i}")
    counts = picks(kit, 7000)
    assert set(counts.values()) == {1000}


async def test_round_robin_even_through_dispatcher(kit_factory: Any) -> None:
    kit = kit_factory("round-robin")
    for i in range(5):
        kit.add(f"a{i}")
    for _ in range(500):
        reply = await kit.dispatcher.open_reply(object(), context=_ctx())
        reply.finish(status="success", input_tokens=1, output_tokens=1, credits=0)
    counts = Counter(owner for owner, _, _ in kit.client.generate_calls)
    assert set(counts.values()) == {100}


def test_round_robin_skips_unusable(kit_factory: Any) -> None:
    kit = kit_factory("round-robin")
    for name in "abcd":
        kit.add(name)
    kit.pool.disable(kit.pool.get("b"), "manual")
    kit.pool.cool_down(kit.pool.get("c"), 60)
    kit.pool.mark_quota_exhausted(kit.pool.get("d"), kit.clock.now + 60)
    assert set(picks(kit, 10)) == {"a"}


def test_round_robin_turns_survive_accounts_leaving_and_joining(kit_factory: Any) -> None:
    """The all-usable shortcut and the skipping walk hand out the same turns: an account that
    cools down for a moment does not shift the others', and membership changes are seen."""
    kit = kit_factory("round-robin")
    for name in "abcd":
        kit.add(name)
    order = [kit.pool.select().id for _ in range(6)]
    assert order == ["a", "b", "c", "d", "a", "b"]
    kit.pool.cool_down(kit.pool.get("c"), 60)
    assert [kit.pool.select().id for _ in range(3)] == ["d", "a", "b"]
    kit.clock.now += 120  # c is back; its turn comes where it always did
    assert [kit.pool.select().id for _ in range(4)] == ["c", "d", "a", "b"]
    kit.pool.remove("a")
    kit.add("e")
    assert [a.id for a in kit.pool.all()] == ["b", "c", "d", "e"]
    fresh_c = dataclasses.replace(kit.pool.get("c"))  # an admin edit: same id, new object
    kit.pool.upsert(fresh_c)
    assert [a.id for a in kit.pool.all()] == ["b", "c", "d", "e"]  # keeps its place
    assert kit.pool.all()[1] is fresh_c and kit.pool.usable()[1] is fresh_c
    assert [kit.pool.select().id for _ in range(8)] == ["d", "e", "b", "c"] * 2
    assert [a.id for a in kit.pool.usable(exclude=["d"])] == ["b", "c", "e"]
    kit.pool.load([kit.pool.get("e"), kit.pool.get("b")])
    assert {kit.pool.select().id for _ in range(4)} == {"b", "e"}


def test_least_used_prefers_idle_and_fewest_requests(kit_factory: Any) -> None:
    kit = kit_factory("least-used")
    a, b, c = (kit.add(n) for n in "abc")
    a.request_count, b.request_count, c.request_count = 10, 3, 5
    assert kit.pool.select() is b
    b.in_flight = 1
    assert kit.pool.select() is c
    b.in_flight = 0
    counts = Counter()
    for _ in range(30):  # serving one request at a time, the counts level out
        chosen = kit.pool.select()
        chosen.request_count += 1
        counts[chosen.id] += 1
    assert (a.request_count, b.request_count, c.request_count) == (16, 16, 16)
    assert counts == {"a": 6, "b": 13, "c": 11}


def test_weighted_follows_weights(kit_factory: Any) -> None:
    kit = kit_factory("weighted")
    kit.add("a", weight=1)
    kit.add("b", weight=3)
    kit.add("c", weight=6)
    counts = picks(kit, 1000)
    assert counts == {"a": 100, "b": 300, "c": 600}


def test_unknown_strategy_names_choices() -> None:
    with pytest.raises(ValueError, match="round-robin"):
        make_strategy("random")


def _ctx() -> Any:
    from kiro_proxy.pool.dispatcher import RequestContext

    return RequestContext(route="/v1/messages", model="m", stream=False)
