"""Client stop sequences, applied to streamed text (Kiro has no stop-sequence parameter).

The matcher holds back only the longest tail of the text that could still grow into a stop
sequence, so text without such a tail reaches the client at once.
"""

from __future__ import annotations

from collections.abc import Sequence


class StopSequenceMatcher:
    def __init__(self, stop_sequences: Sequence[str]) -> None:
        self._sequences = tuple(s for s in dict.fromkeys(stop_sequences) if s)
        self._held = ""
        self.matched: str | None = None

    @property
    def active(self) -> bool:
        return bool(self._sequences)

    def feed(self, text: str) -> str:
        """Return the text that is safe to emit now; after a match, the text before it."""
        if self.matched is not None:
            return ""
        if not self._sequences:
            return text
        buffer = self._held + text if self._held else text
        hit = self._earliest_match(buffer)
        if hit is not None:
            position, sequence = hit
            self.matched = sequence
            self._held = ""
            return buffer[:position]
        keep = self._partial_tail_length(buffer)
        self._held = buffer[len(buffer) - keep :] if keep else ""
        return buffer[: len(buffer) - keep]

    def flush(self) -> str:
        """Release held text: the stream ended, or a non-text block interrupts the text."""
        held, self._held = self._held, ""
        return held if self.matched is None else ""

    def _earliest_match(self, buffer: str) -> tuple[int, str] | None:
        best: tuple[int, str] | None = None
        for sequence in self._sequences:
            position = buffer.find(sequence)
            if position >= 0 and (
                best is None
                or position < best[0]
                or (position == best[0] and len(sequence) > len(best[1]))
            ):
                best = (position, sequence)
        return best

    def _partial_tail_length(self, buffer: str) -> int:
        """Length of the longest suffix of `buffer` that is a proper prefix of a sequence."""
        longest = 0
        for sequence in self._sequences:
            limit = min(len(sequence) - 1, len(buffer))
            for length in range(limit, longest, -1):
                if buffer[-length] == sequence[0] and sequence.startswith(buffer[-length:]):
                    longest = length
                    break
        return longest
