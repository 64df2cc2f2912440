"""Incremental splitter for inline `<thinking>…</thinking>` in Kiro's text stream.

With thinking enabled through the prompt, the model writes its reasoning between tags inside
ordinary text events, and the tags can be split across events at any byte. Rules (protocol doc
§3.4, following what KRS learned in production):
- the opening tag counts only as the very first non-blank content of the reply;
- a closing tag counts only if it is not wrapped in quote-like characters (`` `</thinking>` ``,
  "…", <…>) and is followed by a blank line, or by nothing but whitespace when the text ends
  (end of stream or a tool call); a tag mentioned in prose is thinking content;
- the newline after the opening tag and the blank line after the closing tag are dropped.
Everything else passes through; only a possible tag fragment is ever held back.
"""

from __future__ import annotations

from kiro_proxy.translate.output import TextDelta, ThinkingDelta, ThinkingEnd

OPEN_TAG = "<thinking>"
CLOSE_TAG = "</thinking>"

# A closing tag touching one of these is quoted or part of markup, not the real end of thinking.
_QUOTE_CHARS = frozenset("`\"'\\#!@$%^&*()-_=+[]{};:<>,.?/")

_START, _THINKING, _TEXT = 0, 1, 2

SplitEvent = TextDelta | ThinkingDelta | ThinkingEnd


def _partial_tag_tail(text: str, tag: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `tag`."""
    for length in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:length]):
            return length
    return 0


class ThinkingTagSplitter:
    def __init__(self) -> None:
        self._state = _START
        self._held = ""
        self._last_emitted = ""  # last thinking character sent, for the quote check
        self._strip_newline = False  # drop the "\n" right after the opening tag

    @property
    def in_thinking(self) -> bool:
        return self._state == _THINKING

    def feed(self, text: str) -> list[SplitEvent]:
        if self._state == _TEXT:
            return [TextDelta(text)] if text else []
        self._held += text
        if self._state == _START:
            return self._scan_start()
        return self._scan_thinking(final=False)

    def flush(self) -> list[SplitEvent]:
        """The text run ended (end of stream, or a tool call follows): settle held text."""
        if self._state == _START:
            held, self._held = self._held, ""
            if held.strip():
                self._state = _TEXT
            return [TextDelta(held)] if held else []
        if self._state == _THINKING:
            out = self._scan_thinking(final=True)
            if self._state == _THINKING:  # never closed: what we have is all the thinking
                held, self._held = self._held, ""
                if held:
                    out.append(ThinkingDelta(held))
                out.append(ThinkingEnd())
                self._state = _TEXT
            return out
        return []

    def _scan_start(self) -> list[SplitEvent]:
        stripped = self._held.lstrip()
        if not stripped or OPEN_TAG.startswith(stripped):
            return []  # blank so far, or a fragment of the opening tag
        if stripped.startswith(OPEN_TAG):
            self._state = _THINKING
            self._held = stripped[len(OPEN_TAG) :]
            self._strip_newline = True
            return self._scan_thinking(final=False)
        self._state = _TEXT
        held, self._held = self._held, ""
        return [TextDelta(held)]

    def _scan_thinking(self, *, final: bool) -> list[SplitEvent]:
        buffer = self._held
        if self._strip_newline and buffer:
            self._strip_newline = False
            if buffer[0] == "\n":
                buffer = buffer[1:]
        out: list[SplitEvent] = []
        search = 0
        while True:
            position = buffer.find(CLOSE_TAG, search)
            if position < 0:
                break
            before = buffer[position - 1] if position else self._last_emitted
            after = buffer[position + len(CLOSE_TAG) :]
            if before in _QUOTE_CHARS or (after and after[0] in _QUOTE_CHARS):
                search = position + 1
                continue
            if after.startswith("\n\n") or (final and not after.strip()):
                self._emit_thinking(buffer[:position], out)
                out.append(ThinkingEnd())
                self._state = _TEXT
                self._held = ""
                rest = after[2:] if after.startswith("\n\n") else ""
                if rest:
                    out.append(TextDelta(rest))
                return out
            if not final and (after == "" or after == "\n" or not after.strip()):
                # Cannot decide yet: the blank line may still come.
                self._emit_thinking(buffer[:position], out)
                self._held = buffer[position:]
                return out
            search = position + 1
        keep = 0 if final else _partial_tag_tail(buffer, CLOSE_TAG)
        self._emit_thinking(buffer[: len(buffer) - keep], out)
        self._held = buffer[len(buffer) - keep :]
        return out

    def _emit_thinking(self, text: str, out: list[SplitEvent]) -> None:
        if text:
            out.append(ThinkingDelta(text))
            self._last_emitted = text[-1]
