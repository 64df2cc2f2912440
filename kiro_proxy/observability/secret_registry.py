"""The secret values the process knows, masked verbatim wherever they appear in a log line.

Matching costs one pass over the line whatever the number of values: each value is indexed by its
anchor, its last ANCHOR_LENGTH characters (the whole value if shorter), and one Aho–Corasick
automaton over the anchors (`ahocorasick_rs`, the Rust `aho-corasick` crate) finds them all in a
single scan; each anchor hit is then confirmed with `str.startswith` against the few values that
share it. Only the anchors go into the automaton, not the multi-KB tokens, so it stays small.
The last characters, not the first: secrets of one kind share long prefixes (`aoaAAAAAGh…`
tokens, the `eyJ…` header of JWT-like client secrets), their tails are random.

The automaton is rebuilt lazily, by the first lookup after a change, never by `add` itself
(4,096 values: ~7 ms). `ahocorasick_rs` rather than `pyahocorasick`: the latter looks a node's
children up one by one, so with a full alphabet of anchors its scan costs ~4x as much (callgrind,
250-char line: 26k instructions with 9 values, 85k with 4,096; here 12k and 21k). It releases the
GIL around each search, as a socket call does.

Bounded: at most MAX_KNOWN_SECRETS values, the least recently added dropped first, except the
pinned ones (the admin password and API key). Adding a value again makes it recent again, and
every token refresh registers the account's refresh token and client secret along with the new
tokens (observability/instrument.py), so what goes first are the tokens a refresh superseded.
A value dropped from here is still masked when it has a secret's shape (redaction.py).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable

from ahocorasick_rs import AhoCorasick

MASK = "[REDACTED]"
# Shorter values are too likely to collide with ordinary words ("on", "true", a port number).
MIN_KNOWN_SECRET_LENGTH = 6
# Unpinned values kept: with 1,000-character tokens, ~4 MB of strings and a ~3 MB automaton.
MAX_KNOWN_SECRETS = 4096
ANCHOR_LENGTH = 12

# The automaton takes UTF-8 text, which cannot hold a lone surrogate; replacing each by U+FFFD
# keeps every index where it was (one character for one), and hits are confirmed on the original.
_SURROGATES = re.compile("[\ud800-\udfff]")


def _anchor(value: str) -> str:
    anchor = value[-ANCHOR_LENGTH:]
    return anchor if anchor.isascii() else _SURROGATES.sub("\ufffd", anchor)


class _Index:
    """One immutable snapshot of the values: the automaton over their anchors, and per anchor
    (by its pattern number) the values that end with it. Replaced whole, never modified, so a
    lookup on another thread never sees a half-built one."""

    __slots__ = ("automaton", "groups")

    def __init__(self, values: Iterable[str]) -> None:
        by_anchor: dict[str, list[str]] = {}
        for value in values:
            by_anchor.setdefault(_anchor(value), []).append(value)
        self.groups: list[tuple[str, ...]] = [tuple(group) for group in by_anchor.values()]
        self.automaton: AhoCorasick | None = (
            AhoCorasick(list(by_anchor), store_patterns=False) if by_anchor else None
        )

    def anchor_hits(self, text: str) -> list[tuple[int, int, int]]:
        """(pattern number, start, end) of every anchor occurrence, overlapping ones included."""
        automaton = self.automaton
        if automaton is None:
            return []
        try:
            return automaton.find_matches_as_indexes(text, overlapping=True)
        except UnicodeEncodeError:
            return automaton.find_matches_as_indexes(
                _SURROGATES.sub("\ufffd", text), overlapping=True
            )

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of every occurrence of every value, in order of their ends."""
        found: list[tuple[int, int]] = []
        groups = self.groups
        for pattern, _, end in self.anchor_hits(text):
            for value in groups[pattern]:
                start = end - len(value)
                if start >= 0 and text.startswith(value, start):
                    found.append((start, end))
        return found


_EMPTY_INDEX = _Index(())


class SecretRegistry:
    """Exact values to mask. Thread-safe: lookups read an immutable snapshot."""

    def __init__(self, limit: int = MAX_KNOWN_SECRETS) -> None:
        self._limit = limit
        self._pinned: set[str] = set()
        # Insertion order = recency: the first entry is the next to drop.
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._index = _EMPTY_INDEX
        self._version = 0  # bumped by every change to the values
        self._built_version = 0  # the version `_index` was built from
        self._building = False
        # Re-entrant: building the index or adding values allocates, an allocation can run the
        # garbage collector, a finalizer can log (an unclosed aiohttp session does), and logging
        # asks this registry again on the same thread. With a plain lock that deadlocked.
        self._lock = threading.RLock()

    def add(self, *values: str | None) -> None:
        """Register values to mask; the oldest unpinned ones go beyond the limit."""
        fresh = [v for v in values if v and len(v) >= MIN_KNOWN_SECRET_LENGTH]
        if not fresh:
            return
        with self._lock:
            recent = self._recent
            changed = False
            for value in fresh:
                if value in self._pinned:
                    continue
                if value in recent:
                    recent.move_to_end(value)
                else:
                    recent[value] = None
                    changed = True
            while len(recent) > self._limit:
                recent.popitem(last=False)
            if changed:
                self._version += 1

    def pin(self, *values: str | None) -> None:
        """Register values that stay whatever is added later (the process's own secrets)."""
        fresh = [v for v in values if v and len(v) >= MIN_KNOWN_SECRET_LENGTH]
        with self._lock:
            for value in fresh:
                if value not in self._pinned:
                    self._recent.pop(value, None)
                    self._pinned.add(value)
                    self._version += 1

    def clear(self) -> None:
        with self._lock:
            self._pinned.clear()
            self._recent.clear()
            self._version += 1

    def __len__(self) -> int:
        return len(self._pinned) + len(self._recent)

    def _current(self) -> _Index:
        if self._built_version == self._version:
            return self._index
        with self._lock:  # other threads wait here while one builds
            if self._building:
                # Re-entered on the building thread (a finalizer logging mid-build): the index
                # before this change, rather than a build inside the build.
                return self._index
            while self._built_version != self._version:
                version = self._version
                self._building = True
                try:
                    index = _Index([*self._pinned, *self._recent])
                finally:
                    self._building = False
                self._index, self._built_version = index, version
            return self._index

    def found_in(self, text: str) -> bool:
        index = self._current()
        groups = index.groups
        for pattern, _, end in index.anchor_hits(text):
            for value in groups[pattern]:
                start = end - len(value)
                if start >= 0 and text.startswith(value, start):
                    return True
        return False

    def mask(self, text: str) -> str:
        """Replace every occurrence of every value with MASK. Overlapping occurrences are masked
        as one (a secret containing another is masked whole; two secrets that overlap leave no
        part of either visible)."""
        spans = self._current().spans(text)
        if not spans:
            return text
        spans.sort()
        parts: list[str] = []
        kept_from = 0
        start, end = spans[0]
        for next_start, next_end in spans[1:]:
            if next_start < end:
                end = max(end, next_end)
                continue
            parts += (text[kept_from:start], MASK)
            kept_from = end
            start, end = next_start, next_end
        parts += (text[kept_from:start], MASK, text[end:])
        return "".join(parts)
