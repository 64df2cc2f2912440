"""KiroEvent stream → neutral OutputEvents: the one place that knows what a Kiro reply means.

Pure state machine (no I/O, no clock): the relay feeds it decoded events and hands what comes out
to a renderer. It splits inline thinking from text, streams tool-call arguments as they arrive,
applies client stop sequences, drops Kiro's duplicate chunks (and every tool call after the first
when the client turned parallel tool calls off) and works out usage and stop reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from kiro_proxy.kiro.events import (
    ContextUsageEvent,
    ErrorEvent,
    ExceptionEvent,
    KiroEvent,
    MetadataEvent,
    MeteringEvent,
    ReasoningSignatureEvent,
    ReasoningTextEvent,
    RedactedReasoningEvent,
    TextEvent,
    ToolUseEvent,
)
from kiro_proxy.translate.output import (
    Finish,
    OutputEvent,
    RedactedThinking,
    StopReason,
    TextDelta,
    ThinkingDelta,
    ThinkingEnd,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from kiro_proxy.translate.stop_sequences import StopSequenceMatcher
from kiro_proxy.translate.thinking_tags import ThinkingTagSplitter
from kiro_proxy.translate.tool_arguments import JsonObjectPrefix, finish_arguments

# Kiro sometimes sends the same content chunk twice in a row (protocol doc §3.4). Only chunks at
# least this long are treated as duplicates, so legitimately repeated short tokens ("\n", "  ",
# "**") survive.
MIN_DUPLICATE_CHUNK = 12

# Stream exceptions that mean "the reply hit a length limit", not "the request failed": KRS turns
# ContentLengthExceededException into stop_reason max_tokens and so do we.
_LENGTH_EXCEPTIONS = frozenset({"ContentLengthExceededException"})

_LENGTH_STOPS = frozenset({"MAX_TOKENS", "MODEL_CONTEXT_WINDOW_EXCEEDED"})


class UpstreamStreamFailure(Exception):
    """Kiro reported a failure inside the event stream (exception or error frame)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


def estimate_tokens(text: str) -> int:
    """Fallback token count when no tokenizer is supplied (~4 characters a token)."""
    return (len(text) + 3) // 4


class _ToolCall:
    __slots__ = ("arguments", "id", "index", "pending", "started")

    def __init__(self, index: int, tool_use_id: str) -> None:
        self.index = index
        self.id = tool_use_id
        self.started = False
        self.pending: list[str] = []  # fragments that arrived before the name
        self.arguments = JsonObjectPrefix()


class ReplyAssembler:
    def __init__(
        self,
        *,
        tool_name_map: Mapping[str, str] = {},
        thinking: bool = False,
        stop_sequences: Sequence[str] = (),
        context_window: int = 200_000,
        estimated_input_tokens: int = 0,
        count_tokens: Callable[[str], int] | None = None,
        max_output_tokens: int | None = None,
        single_tool_call: bool = False,
    ) -> None:
        self._tool_names = tool_name_map
        self._splitter = ThinkingTagSplitter() if thinking else None
        self._stops = StopSequenceMatcher(stop_sequences)
        self._stopping = self._stops.active  # any stop sequences at all
        self._context_window = context_window
        self._estimated_input = estimated_input_tokens
        self._count = count_tokens or estimate_tokens
        self.done = False
        self._finished = False
        # text run state
        self._last_chunk = ""
        self._thinking_open = False  # a ThinkingDelta went out and its ThinkingEnd did not
        # tool calls
        self._tool: _ToolCall | None = None
        self._tool_ids: set[str] = set()
        self._tool_count = 0
        # The client turned parallel tool calls off: calls after the first are dropped whole.
        self._single_tool_call = single_tool_call
        self._last_tool_truncated = False
        # usage and stop
        self._produced: list[str] = []  # text, thinking and arguments, for the output estimate
        self._meta_input: int | None = None
        self._meta_output: int | None = None
        self._cache_read = 0
        self._cache_write = 0
        self._context_pct: float | None = None
        self._credits = 0.0
        self._upstream_stop: str | None = None
        self._length_exceeded = False
        # The client's max_tokens: Kiro ignores it, so the gateway enforces it on the output.
        self._max_output = max_output_tokens
        self._out_tokens = 0  # exact count of the output up to the last check
        self._uncounted: list[str] = []  # output since then
        self._uncounted_bytes = 0
        self._budget_spent = False

    # ---------------------------------------------------------------- public
    @property
    def usage(self) -> Usage:
        return Usage(
            input_tokens=self._input_tokens(),
            output_tokens=self._output_tokens(),
            cache_read_input_tokens=self._cache_read,
            cache_creation_input_tokens=self._cache_write,
            credits=self._credits,
        )

    def feed(self, event: KiroEvent) -> list[OutputEvent]:
        if self.done or self._finished:
            return []
        if isinstance(event, TextEvent):
            return self._on_text(event.text)
        if isinstance(event, ToolUseEvent):
            return self._on_tool(event)
        if isinstance(event, ReasoningTextEvent):
            out = self._end_text_run() + self._close_tool()
            if self.done:
                return out
            return out + self._route([ThinkingDelta(event.text)])
        if isinstance(event, ReasoningSignatureEvent):
            out = self._end_text_run() + self._close_tool()
            self._thinking_open = False
            out.append(ThinkingEnd(event.signature))
            return out
        if isinstance(event, RedactedReasoningEvent):
            out = self._end_text_run() + self._close_tool() + self._close_thinking()
            out.append(RedactedThinking(event.data))
            return out
        if isinstance(event, MeteringEvent):
            self._credits += event.usage
        elif isinstance(event, ContextUsageEvent):
            self._context_pct = event.percentage
        elif isinstance(event, MetadataEvent):
            self._on_metadata(event)
        elif isinstance(event, ExceptionEvent):
            if event.exception_type in _LENGTH_EXCEPTIONS:
                self._length_exceeded = True
                return []
            raise UpstreamStreamFailure(event.exception_type, event.message)
        elif isinstance(event, ErrorEvent):
            raise UpstreamStreamFailure(event.code, event.message)
        return []

    def finish(self) -> list[OutputEvent]:
        """Flush held text, close open blocks and end with the one Finish event."""
        if self._finished:
            return []
        out: list[OutputEvent] = []
        if not self.done:
            out = self._end_text_run() + self._close_tool() + self._close_thinking()
        self._finished = True
        stop_sequence = self._stops.matched
        out.append(Finish(self._stop_reason(), self.usage, stop_sequence))
        return out

    # ---------------------------------------------------------------- text
    def _on_text(self, text: str) -> list[OutputEvent]:
        if text == self._last_chunk and len(text) >= MIN_DUPLICATE_CHUNK:
            return []
        self._last_chunk = text
        out: list[OutputEvent]
        if self._splitter is None and self._tool is None and not self._thinking_open:
            # The common case, once per streamed chunk: plain text, no block to close first.
            out = []
            self._emit_text(text, out)
            return out
        out = self._close_tool()
        if self._thinking_open and (self._splitter is None or not self._splitter.in_thinking):
            out += self._close_thinking()  # native reasoning ended without a signature
        pieces = self._splitter.feed(text) if self._splitter is not None else [TextDelta(text)]
        return out + self._route(pieces)

    def _emit_text(self, text: str, out: list[OutputEvent]) -> bool:
        """Pass text through the stop-sequence matcher and the output budget into `out`;
        True when the reply is done (a stop sequence matched or max_tokens was reached)."""
        if self._stopping:
            text = self._stops.feed(text)
        if text and self._max_output is not None:
            text = self._clip(text)
        if text:
            self._produced.append(text)
            out.append(TextDelta(text))
        if self._budget_spent or self._stops.matched is not None:
            self.done = True
            out += self._close_thinking()
            return True
        return False

    def _route(self, pieces: Sequence[OutputEvent]) -> list[OutputEvent]:
        """Account for split pieces and pass text through the stop-sequence matcher."""
        out: list[OutputEvent] = []
        for piece in pieces:
            if isinstance(piece, TextDelta):
                if self._emit_text(piece.text, out):
                    return out
            elif isinstance(piece, ThinkingDelta):
                thought = self._clip(piece.text)
                if thought:
                    self._thinking_open = True
                    self._produced.append(thought)
                    out.append(ThinkingDelta(thought))
                if self._budget_spent:
                    self.done = True
                    out += self._close_thinking()
                    return out
            elif isinstance(piece, ThinkingEnd):
                # An empty <thinking></thinking> pair produces no block at all.
                if self._thinking_open:
                    self._thinking_open = False
                    out.append(piece)
        return out

    def _clip(self, text: str) -> str:
        """Cut the output at max_tokens. A token covers at least one UTF-8 byte, so the bytes
        produced since the last exact count bound the tokens they can hold: the tokenizer runs
        only when that bound could cross the limit, not on every chunk."""
        limit = self._max_output
        if limit is None:
            return text
        self._uncounted.append(text)
        self._uncounted_bytes += len(text) if text.isascii() else len(text.encode())
        if self._out_tokens + self._uncounted_bytes <= limit:
            return text
        pending = "".join(self._uncounted)
        self._uncounted.clear()
        self._uncounted_bytes = 0
        tokens = self._count(pending)
        if self._out_tokens + tokens <= limit:
            self._out_tokens += tokens
            return text
        # Over the limit: keep the share of this chunk that still fits.
        earlier = tokens - self._count(text)
        room = max(0, limit - self._out_tokens - earlier)
        text_tokens = tokens - earlier
        self._out_tokens = limit
        self._budget_spent = True
        self._length_exceeded = True
        return text[: len(text) * room // text_tokens] if text_tokens > 0 else ""

    def _end_text_run(self) -> list[OutputEvent]:
        """A non-text event follows: settle the splitter and the stop-sequence hold-back."""
        self._last_chunk = ""
        out: list[OutputEvent] = []
        if self._splitter is not None:
            out = self._route(self._splitter.flush())
            if self.done:
                return out
        held = self._stops.flush()
        if held:
            self._produced.append(held)
            out.append(TextDelta(held))
        return out

    def _close_thinking(self) -> list[OutputEvent]:
        if not self._thinking_open:
            return []
        self._thinking_open = False
        return [ThinkingEnd()]

    # ---------------------------------------------------------------- tools
    def _on_tool(self, event: ToolUseEvent) -> list[OutputEvent]:
        if event.tool_use_id in self._tool_ids and (
            self._tool is None or self._tool.id != event.tool_use_id
        ):
            return []  # Kiro repeated a finished call: drop the duplicate
        out: list[OutputEvent] = []
        tool = self._tool
        if tool is None or tool.id != event.tool_use_id:
            if self._single_tool_call and self._tool_count:
                # Its id is remembered, so the check above drops its later frames too.
                self._tool_ids.add(event.tool_use_id)
                return self._close_tool()
            out += self._end_text_run()
            if self.done:
                return out
            out += self._close_tool() + self._close_thinking()
            tool = self._tool = _ToolCall(self._tool_count, event.tool_use_id)
            self._tool_count += 1
            self._tool_ids.add(event.tool_use_id)
        if not tool.started and event.name:
            tool.started = True
            name = self._tool_names.get(event.name, event.name)
            out.append(ToolCallStart(tool.index, tool.id, name))
            for fragment in tool.pending:
                out += self._tool_fragment(tool, fragment)
            tool.pending.clear()
        if event.input:
            if tool.started:
                out += self._tool_fragment(tool, event.input)
            else:
                tool.pending.append(event.input)
        if event.stop:
            out += self._close_tool()
        return out

    def _tool_fragment(self, tool: _ToolCall, fragment: str) -> list[OutputEvent]:
        accepted = tool.arguments.feed(fragment)
        if not accepted:
            return []
        self._produced.append(accepted)
        return [ToolCallDelta(tool.index, accepted)]

    def _close_tool(self) -> list[OutputEvent]:
        tool = self._tool
        if tool is None:
            return []
        self._tool = None
        out: list[OutputEvent] = []
        if not tool.started:
            # The name never came; a call without a name is useless to a client, but the
            # arguments may still matter, so keep it visible under a placeholder.
            tool.started = True
            out.append(ToolCallStart(tool.index, tool.id, "unknown_tool"))
            for fragment in tool.pending:
                out += self._tool_fragment(tool, fragment)
        arguments, suffix, truncated = finish_arguments(tool.arguments)
        self._last_tool_truncated = truncated
        out.append(ToolCallEnd(tool.index, arguments, suffix, truncated))
        return out

    # ---------------------------------------------------------------- usage
    def _on_metadata(self, event: MetadataEvent) -> None:
        # A prompt is never empty: zero input tokens means the stream left the buckets unset,
        # and the context-usage figure (or our estimate) is the better answer.
        if event.input_tokens:
            self._meta_input = event.input_tokens
        if event.output_tokens is not None:
            self._meta_output = event.output_tokens
        if event.cache_read_input_tokens is not None:
            self._cache_read = event.cache_read_input_tokens
        if event.cache_write_input_tokens is not None:
            self._cache_write = event.cache_write_input_tokens
        if event.context_usage_percentage is not None:
            self._context_pct = event.context_usage_percentage
        if event.stop_reason:
            self._upstream_stop = event.stop_reason

    def _input_tokens(self) -> int:
        if self._meta_input is not None:
            return self._meta_input
        if self._context_pct is not None and self._context_pct > 0:
            return round(self._context_pct * self._context_window / 100)
        return self._estimated_input

    def _output_tokens(self) -> int:
        if self._budget_spent and self._max_output is not None:
            return self._max_output  # what the client received, whatever Kiro generated
        if self._meta_output is not None:
            return self._meta_output
        if not self._produced:
            return 0
        return self._count("".join(self._produced))

    def _stop_reason(self) -> StopReason:
        if self._stops.matched is not None:
            return "stop_sequence"
        hit_limit = self._length_exceeded or self._upstream_stop in _LENGTH_STOPS
        if self._tool_count and not (hit_limit and self._last_tool_truncated):
            return "tool_use"
        if hit_limit:
            return "max_tokens"
        if self._upstream_stop == "CONTENT_FILTERED":
            return "content_filter"
        if self._tool_count:
            return "tool_use"
        return "end_turn"
