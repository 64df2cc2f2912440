"""Streaming tool-call arguments: validate JSON fragments as they pass and repair a cut-off end.

Kiro sends tool arguments as string fragments of one JSON object and cuts very large inputs off
mid-way (protocol doc §3.3). Clients accumulate the fragments we forward and parse them at the
end (Claude Code; the anthropic SDK even parses every prefix), so we must never forward bytes
that cannot be part of a JSON object. `JsonObjectPrefix` accepts the longest valid prefix of
what it is fed and, at the end, knows the shortest suffix that completes it.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

_WHITESPACE = " \t\n\r"
# Inside a string, everything up to a quote, a backslash or a control character is plain content.
_STRING_STOP = re.compile(r'["\\\x00-\x1f]')
_ESCAPES = frozenset('"\\/bfnrtu')
_HEX = frozenset("0123456789abcdefABCDEF")
_LITERALS = {"t": "true", "f": "false", "n": "null"}

# Where the scanner is (kept small and flat: this runs over every byte of tool arguments).
_START = 0  # before the top-level "{"
_KEY_OR_CLOSE = 1  # after "{"
_KEY = 2  # after "," in an object
_COLON = 3  # after a key
_VALUE = 4  # after ":" or after "," in an array
_VALUE_OR_CLOSE = 5  # after "["
_AFTER_VALUE = 6  # expecting "," or a closing bracket
_STRING = 7
_ESCAPE = 8
_UNICODE = 9
_LITERAL = 10
_NUMBER = 11
_DONE = 12
_INVALID = -1  # returned by _start_value only; the scanner keeps its last valid state

# Number sub-states; those in _NUMBER_NEEDS_DIGIT cannot end a number yet.
_N_SIGN, _N_ZERO, _N_INT, _N_DOT, _N_FRAC, _N_EXP, _N_EXP_SIGN, _N_EXP_DIGITS = range(8)
_NUMBER_NEEDS_DIGIT = frozenset({_N_SIGN, _N_DOT, _N_EXP, _N_EXP_SIGN})


class JsonObjectPrefix:
    """Incremental check that a text is a prefix of one JSON object (whitespace allowed around)."""

    __slots__ = (
        "_literal",
        "_literal_pos",
        "_number",
        "_rejected",
        "_stack",
        "_state",
        "_string_is_key",
        "_unicode_digits",
        "accepted",
    )

    def __init__(self) -> None:
        self._state = _START
        self._rejected = False
        self._stack: list[str] = []  # "}" or "]" for every open container
        self._string_is_key = False
        self._unicode_digits = 0
        self._literal = ""
        self._literal_pos = 0
        self._number = _N_INT
        self.accepted: list[str] = []

    @property
    def complete(self) -> bool:
        return self._state == _DONE

    @property
    def rejected(self) -> bool:
        """Something invalid arrived and was dropped."""
        return self._rejected

    @property
    def empty(self) -> bool:
        """Nothing but whitespace accepted so far."""
        return self._state == _START

    def text(self) -> str:
        return "".join(self.accepted)

    def feed(self, fragment: str) -> str:
        """Return the part of `fragment` that keeps the text a valid prefix (usually all of it).

        Once something invalid arrives, it and everything after it are refused. Whitespace after
        the complete object is accepted; anything else after it is refused.
        """
        if self._rejected:
            return ""
        end = self._scan(fragment)
        good = fragment if end == len(fragment) else fragment[:end]
        if good:
            self.accepted.append(good)
        return good

    def completion(self) -> str | None:
        """The shortest text that, appended, makes the accepted prefix a complete object.

        None when nothing was accepted (the caller uses "{}").
        """
        if self._state == _START:
            return None
        state = self._state
        suffix: list[str] = []
        if state == _ESCAPE:
            suffix.append('\\"')  # "\" + "\" is an escaped backslash; then close the string
        elif state == _UNICODE:
            suffix.append("0" * (4 - self._unicode_digits) + '"')
        elif state == _STRING:
            suffix.append('"')
        if state in (_STRING, _ESCAPE, _UNICODE):
            state = _COLON if self._string_is_key else _AFTER_VALUE
        if state == _LITERAL:
            suffix.append(self._literal[self._literal_pos :])
        elif state == _NUMBER and self._number in _NUMBER_NEEDS_DIGIT:
            suffix.append("0")
        elif state == _COLON:
            suffix.append(":null")
        elif state == _VALUE:
            suffix.append("null")
        elif state == _KEY:
            # Cut right after a comma: a JSON object cannot end there, so add a placeholder key.
            suffix.append('"":null')
        suffix.extend(reversed(self._stack))
        return "".join(suffix)

    def _scan(self, text: str) -> int:
        i = 0
        n = len(text)
        stack = self._stack
        state = self._state
        invalid = False
        while i < n:
            if state == _STRING:
                match = _STRING_STOP.search(text, i)
                if match is None:
                    i = n
                    break
                i = match.start()
                ch = text[i]
                if ch == '"':
                    state = _COLON if self._string_is_key else _AFTER_VALUE
                elif ch == "\\":
                    state = _ESCAPE
                else:  # raw control character: not JSON
                    invalid = True
                    break
                i += 1
                continue
            ch = text[i]
            if state == _ESCAPE:
                if ch not in _ESCAPES:
                    invalid = True
                    break
                if ch == "u":
                    state = _UNICODE
                    self._unicode_digits = 0
                else:
                    state = _STRING
            elif state == _UNICODE:
                if ch not in _HEX:
                    invalid = True
                    break
                self._unicode_digits += 1
                if self._unicode_digits == 4:
                    state = _STRING
            elif state == _LITERAL:
                if ch != self._literal[self._literal_pos]:
                    invalid = True
                    break
                self._literal_pos += 1
                if self._literal_pos == len(self._literal):
                    state = _AFTER_VALUE
            elif state == _NUMBER:
                next_number = _number_step(self._number, ch)
                if next_number is None:
                    if self._number in _NUMBER_NEEDS_DIGIT:
                        invalid = True
                        break
                    state = _AFTER_VALUE
                    continue  # the character ends the number: read it as punctuation
                self._number = next_number
            elif ch in _WHITESPACE:
                pass
            elif state == _START:
                if ch != "{":
                    invalid = True
                    break
                stack.append("}")
                state = _KEY_OR_CLOSE
            elif state in (_KEY_OR_CLOSE, _KEY):
                if ch == '"':
                    state = _STRING
                    self._string_is_key = True
                elif ch == "}" and state == _KEY_OR_CLOSE:
                    stack.pop()
                    state = _AFTER_VALUE if stack else _DONE
                else:
                    invalid = True
                    break
            elif state == _COLON:
                if ch != ":":
                    invalid = True
                    break
                state = _VALUE
            elif state in (_VALUE, _VALUE_OR_CLOSE):
                if ch == "]" and state == _VALUE_OR_CLOSE:
                    stack.pop()
                    state = _AFTER_VALUE if stack else _DONE
                else:
                    started = self._start_value(ch)
                    if started == _INVALID:
                        invalid = True
                        break
                    state = started
            elif state == _AFTER_VALUE:
                if ch == ",":
                    state = _KEY if stack[-1] == "}" else _VALUE
                elif ch == stack[-1]:
                    stack.pop()
                    state = _AFTER_VALUE if stack else _DONE
                else:
                    invalid = True
                    break
            else:  # _DONE: only trailing whitespace may follow the object
                invalid = True
                break
            i += 1
        self._state = state  # the last valid state: completion() works from it
        if invalid:
            # The rest of this fragment and every later one is refused.
            self._rejected = True
            return i
        return n

    def _start_value(self, ch: str) -> int:
        if ch == '"':
            self._string_is_key = False
            return _STRING
        if ch == "{":
            self._stack.append("}")
            return _KEY_OR_CLOSE
        if ch == "[":
            self._stack.append("]")
            return _VALUE_OR_CLOSE
        if ch in _LITERALS:
            self._literal = _LITERALS[ch]
            self._literal_pos = 1
            return _LITERAL
        if ch == "-":
            self._number = _N_SIGN
            return _NUMBER
        if ch == "0":
            self._number = _N_ZERO
            return _NUMBER
        if "1" <= ch <= "9":
            self._number = _N_INT
            return _NUMBER
        return _INVALID


def _number_step(state: int, ch: str) -> int | None:
    """Next number sub-state after `ch`, or None if `ch` is not part of the number."""
    digit = "0" <= ch <= "9"
    if state == _N_SIGN:
        return _N_ZERO if ch == "0" else (_N_INT if digit else None)
    if state in (_N_ZERO, _N_INT):
        if digit:
            return None if state == _N_ZERO else _N_INT
        if ch == ".":
            return _N_DOT
        if ch in "eE":
            return _N_EXP
        return None
    if state in (_N_DOT, _N_FRAC):
        if digit:
            return _N_FRAC
        if state == _N_FRAC and ch in "eE":
            return _N_EXP
        return None
    if state == _N_EXP:
        if ch in "+-":
            return _N_EXP_SIGN
        return _N_EXP_DIGITS if digit else None
    return _N_EXP_DIGITS if digit else None  # _N_EXP_SIGN, _N_EXP_DIGITS


def finish_arguments(prefix: JsonObjectPrefix) -> tuple[dict[str, Any], str, bool]:
    """Close a tool call's arguments: (input, suffix to stream, truncated)."""
    if prefix.empty:
        # No arguments at all is a call without parameters, not a failure.
        return {}, "{}", prefix.rejected
    suffix = "" if prefix.complete else prefix.completion()
    if suffix is None:  # pragma: no cover - completion() is None only when empty
        return {}, "", True
    try:
        value = orjson.loads(prefix.text() + suffix)
    except orjson.JSONDecodeError:  # pragma: no cover - the scanner and orjson disagree
        return {}, suffix, True
    if not isinstance(value, dict):  # pragma: no cover - the scanner only accepts objects
        return {}, suffix, True
    # Junk after a complete object is dropped, not a truncation: the arguments are whole.
    return value, suffix, not prefix.complete
