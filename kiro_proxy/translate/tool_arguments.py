"""Streaming tool-call arguments: validate JSON fragments as they pass and repair a cut-off end.

Kiro sends tool arguments as string fragments of one JSON object and cuts very large inputs off
mid-way (protocol doc §3.3). Clients accumulate the fragments we forward and parse them at the
end (Claude Code; the anthropic SDK even parses every prefix), so we must never forward bytes
that cannot be part of a JSON object. `JsonObjectPrefix` accepts the longest valid prefix of
what it is fed and, at the end, knows the shortest suffix that completes it.

`StringMemberDecoder` reads the same fragments for one string member and returns its decoded
characters as they arrive (the Responses renderer streams a custom tool's raw `input` this way).
It is separate from `JsonObjectPrefix`, which only tracks syntax: decoding every string of every
tool call there would cost the common case for the one that needs it.
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


# --- decoding one string value as it streams ----------------------------------------------------

_STRING_SPECIAL = re.compile(r'["\\]')
_SHORT_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_REPLACEMENT = "\ufffd"  # stands in for a lone UTF-16 surrogate, which no UTF-8 text can carry


class JsonStringDecoder:
    """Incremental decoder of one JSON string's contents (the text after its opening quote).

    `feed` returns the characters that are certain so far: an escape cut between fragments, or
    a `\\uD83D` high surrogate whose low half has not arrived yet, is held back until it is
    complete. Concatenated, the returned pieces are the decoded string, however it was split.
    A lone surrogate escape becomes U+FFFD. After the closing quote `closed` is set and the
    rest is ignored; an invalid escape sets `failed` and stops decoding.
    """

    __slots__ = ("_escape", "_high", "closed", "failed")

    def __init__(self) -> None:
        self._escape = ""  # an escape sequence begun but not complete, backslash included
        self._high: int | None = None  # a decoded high surrogate waiting for its low half
        self.closed = False
        self.failed = False

    def feed(self, fragment: str) -> str:
        if self.closed or self.failed:
            return ""
        out: list[str] = []
        i = 0
        n = len(fragment)
        while i < n:
            if self._escape:
                if len(self._escape) == 1:
                    self._escape += fragment[i]
                    i += 1
                if self._escape[1] == "u" and len(self._escape) < 6:
                    taken = fragment[i : i + 6 - len(self._escape)]
                    self._escape += taken
                    i += len(taken)
                    if len(self._escape) < 6:
                        break
                escape, self._escape = self._escape, ""
                if not self._unescape(escape, out):
                    self.failed = True
                    break
                continue
            match = _STRING_SPECIAL.search(fragment, i)
            end = n if match is None else match.start()
            if end > i:
                self._lone_high(out)
                out.append(fragment[i:end])
            if match is None:
                break
            i = end + 1
            if fragment[end] == '"':
                self._lone_high(out)
                self.closed = True
                break
            self._escape = "\\"
        return "".join(out)

    def _unescape(self, escape: str, out: list[str]) -> bool:
        kind = escape[1]
        if kind != "u":
            char = _SHORT_ESCAPES.get(kind)
            if char is None:
                return False
            self._lone_high(out)
            out.append(char)
            return True
        digits = escape[2:]
        if not all(c in _HEX for c in digits):
            return False
        code = int(digits, 16)
        if 0xD800 <= code <= 0xDBFF:
            self._lone_high(out)
            self._high = code
        elif 0xDC00 <= code <= 0xDFFF:
            high = self._high
            self._high = None
            if high is None:
                out.append(_REPLACEMENT)
            else:
                out.append(chr(0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00)))
        else:
            self._lone_high(out)
            out.append(chr(code))
        return True

    def _lone_high(self, out: list[str]) -> None:
        if self._high is not None:
            self._high = None
            out.append(_REPLACEMENT)


class StringMemberDecoder:
    """Streams the decoded string value of `key` from the fragments of a JSON object text, when
    that member comes first: `{"input": "…` gives the characters of `…` as they arrive.

    Anything else — another first key, a value that is not a string, a key written with escapes
    — makes it give up (`gave_up`; nothing more is returned), and the caller falls back to the
    whole parsed value at the end. What follows the string's closing quote is ignored.
    """

    __slots__ = ("_head", "_pos", "_token", "_value", "gave_up")

    def __init__(self, key: str) -> None:
        # The tokens before the value's first character; JSON whitespace may separate them.
        self._head = ("{", orjson.dumps(key).decode(), ":", '"')
        self._token = 0
        self._pos = 0
        self._value: JsonStringDecoder | None = None
        self.gave_up = False

    @property
    def value(self) -> JsonStringDecoder | None:
        """The value's decoder, once the value string has begun."""
        return self._value

    def feed(self, fragment: str) -> str:
        if self._value is not None:
            return self._value.feed(fragment)
        if self.gave_up:
            return ""
        head = self._head
        for i, ch in enumerate(fragment):
            if self._pos == 0 and ch in _WHITESPACE:
                continue
            token = head[self._token]
            if ch != token[self._pos]:
                self.gave_up = True
                return ""
            self._pos += 1
            if self._pos == len(token):
                self._token += 1
                self._pos = 0
                if self._token == len(head):
                    self._value = JsonStringDecoder()
                    return self._value.feed(fragment[i + 1 :])
        return ""
