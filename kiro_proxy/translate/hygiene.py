"""Turn-level repairs that keep Kiro from answering 400 "Improperly formed request" (pure).

Each rule is one named function over a list of neutral `Message`s that returns a new list and
never mutates its input (protocol doc §2.2). `build_kiro_request` runs them in a fixed order.
Choices, and why:
* Orphan tool results (no matching tool use in the assistant turn just before) become text, so
  the model still sees the output. Tool uses that get no result get an *error* result saying
  none came back: dropping the call would hide from the model what it did.
* Requests without any tools but with tool history: the history becomes text. Declaring
  placeholder tools instead would let the model call tools the client never offered.
* A trailing assistant turn (prefill) moves into history and the current message becomes
  "Continue" (Kiro's current message must be a user turn); Kiro cannot continue a prefix
  verbatim, but the model sees its partial answer.
* Thinking blocks from earlier turns are dropped: Kiro has no slot for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from kiro_proxy.translate.conversation import (
    Block,
    ImageBlock,
    ImageUrlBlock,
    Message,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)

EMPTY_TEXT = "(empty)"
EMPTY_TOOL_RESULT = "(empty result)"
TOOL_USE_ONLY_TEXT = "(tool use)"
TOOL_RESULTS_ONLY_TEXT = "(tool results)"
CONTINUE_TEXT = "Continue"
IMAGE_OMITTED = "[image omitted]"
MISSING_TOOL_RESULT = "(no result: the client sent no result for this tool call)"


@dataclass(frozen=True, slots=True)
class HygieneLimits:
    max_tool_name_length: int = 64
    max_tool_description_length: int = 10_000
    short_tool_description_length: int = 1_000
    image_turns_kept: int = 5  # user turns (from the end) whose images are kept
    default_thinking_budget: int = 16_000


def drop_thinking_blocks(messages: list[Message]) -> list[Message]:
    return [
        Message(m.role, [b for b in m.blocks if not isinstance(b, ThinkingBlock)]) for m in messages
    ]


def replace_unfetched_image_urls(messages: list[Message]) -> list[Message]:
    """Kiro only takes inline bytes; a URL that was not fetched is named, never silently lost."""

    def note(url: str) -> str:
        return f"[image not available: {url}]"

    out: list[Message] = []
    for m in messages:
        blocks: list[Block] = []
        for b in m.blocks:
            if isinstance(b, ImageUrlBlock):
                blocks.append(TextBlock(note(b.url)))
            elif isinstance(b, ToolResultBlock) and any(
                isinstance(i, ImageUrlBlock) for i in b.images
            ):
                kept = [i for i in b.images if isinstance(i, ImageBlock)]
                lost = [i.url for i in b.images if isinstance(i, ImageUrlBlock)]
                extra = "\n".join(note(url) for url in lost)
                content = f"{b.content}\n{extra}" if b.content else extra
                blocks.append(ToolResultBlock(b.tool_use_id, content, b.is_error, kept))
            else:
                blocks.append(b)
        out.append(Message(m.role, blocks))
    return out


def move_tool_result_images(messages: list[Message]) -> list[Message]:
    """Kiro tool results carry text only; their images ride on the same user turn instead."""
    out: list[Message] = []
    for m in messages:
        blocks: list[Block] = []
        moved: list[Block] = []
        for b in m.blocks:
            if isinstance(b, ToolResultBlock) and b.images:
                count = len(b.images)
                note = f"[{count} image{'s' if count > 1 else ''} from this result attached below]"
                content = f"{b.content}\n{note}" if b.content else note
                blocks.append(ToolResultBlock(b.tool_use_id, content, b.is_error))
                moved.extend(b.images)
            else:
                blocks.append(b)
        out.append(Message(m.role, blocks + moved))
    return out


def strip_assistant_images(messages: list[Message]) -> list[Message]:
    """Only user turns may carry images on Kiro."""
    return [
        m
        if m.role == "user"
        else Message(
            m.role,
            [
                TextBlock(IMAGE_OMITTED) if isinstance(b, ImageBlock | ImageUrlBlock) else b
                for b in m.blocks
            ],
        )
        for m in messages
    ]


def tool_history_to_text(messages: list[Message]) -> list[Message]:
    """No tools declared but tool history present: Kiro rejects undeclared tool content."""
    out: list[Message] = []
    for m in messages:
        blocks: list[Block] = []
        for b in m.blocks:
            if isinstance(b, ToolUseBlock):
                args = orjson.dumps(b.input, option=orjson.OPT_SORT_KEYS).decode()
                blocks.append(TextBlock(f"[called tool {b.name} (id {b.id}) with input {args}]"))
            elif isinstance(b, ToolResultBlock):
                blocks.append(_result_as_text(b))
                blocks.extend(b.images)
            else:
                blocks.append(b)
        out.append(Message(m.role, blocks))
    return out


def merge_same_role_turns(messages: list[Message]) -> list[Message]:
    """Two consecutive user or assistant turns → 400 (kiro.rs#79); merge them."""
    out: list[Message] = []
    for m in messages:
        if out and out[-1].role == m.role:
            out[-1] = Message(m.role, out[-1].blocks + m.blocks)
        else:
            out.append(Message(m.role, list(m.blocks)))
    return out


def ensure_first_turn_is_user(messages: list[Message]) -> list[Message]:
    """History must start with a user entry; an empty one gets a placeholder later."""
    if messages and messages[0].role == "assistant":
        return [Message("user", []), *messages]
    return list(messages)


def repair_tool_pairing(messages: list[Message]) -> list[Message]:
    """Every result answers a use in the assistant turn just before; every use gets a result.

    Expects alternating roles. Orphan results → text; duplicate result ids → first kept;
    duplicate use ids inside one assistant turn → first kept; a use id already seen in an
    earlier turn (clients that number calls per turn) or empty → renamed, with its results;
    unanswered uses → error result.
    """
    out: list[Message] = []
    pending: list[ToolUseBlock] = []  # uses of the previous assistant turn
    renamed: dict[str, str] = {}  # that turn's original id → id sent to Kiro
    seen_ids: set[str] = set()
    for turn, m in enumerate(messages):
        if m.role == "assistant":
            if pending:  # assistant after assistant cannot happen after merging; be safe
                out.append(Message("user", _missing_results(pending, set())))
            blocks, pending, renamed = _unique_tool_uses(m.blocks, turn, seen_ids)
            out.append(Message("assistant", blocks))
            continue
        allowed = {u.id for u in pending}
        answered: set[str] = set()
        kept: list[Block] = []
        for b in m.blocks:
            if isinstance(b, ToolResultBlock):
                result_id = renamed.get(b.tool_use_id, b.tool_use_id)
                if result_id in answered:
                    continue
                if result_id in allowed:
                    answered.add(result_id)
                    kept.append(ToolResultBlock(result_id, b.content, b.is_error, b.images))
                    continue
                kept.append(_result_as_text(b))
                kept.extend(b.images)
            else:
                kept.append(b)
        out.append(Message("user", _missing_results(pending, answered) + kept))
        pending, renamed = [], {}
    if pending:
        out.append(Message("user", _missing_results(pending, set())))
    return out


def limit_image_history(messages: list[Message], turns_kept: int) -> list[Message]:
    """Keep images only in the last `turns_kept` user turns to bound the request size."""
    user_indexes = [i for i, m in enumerate(messages) if m.role == "user"]
    recent = set(user_indexes[-turns_kept:]) if turns_kept > 0 else set()
    out: list[Message] = []
    for i, m in enumerate(messages):
        if m.role != "user" or i in recent:
            out.append(m)
            continue
        out.append(
            Message(
                m.role,
                [TextBlock(IMAGE_OMITTED) if isinstance(b, ImageBlock) else b for b in m.blocks],
            )
        )
    return out


def split_current_turn(messages: list[Message]) -> tuple[list[Message], Message]:
    """(history, current user turn). Trailing assistant (prefill) → history + "Continue"."""
    if not messages:
        return [], Message("user", [])
    if messages[-1].role == "assistant":
        return list(messages), Message("user", [TextBlock(CONTINUE_TEXT)])
    return list(messages[:-1]), messages[-1]


def tool_names_used(messages: list[Message]) -> list[str]:
    seen: dict[str, None] = {}
    for m in messages:
        for b in m.blocks:
            if isinstance(b, ToolUseBlock):
                seen.setdefault(b.name, None)
    return list(seen)


def _unique_tool_uses(
    blocks: list[Block], turn: int, seen_ids: set[str]
) -> tuple[list[Block], list[ToolUseBlock], dict[str, str]]:
    """Kiro rejects a toolUseId used twice anywhere in history (or empty)."""
    kept: list[Block] = []
    uses: list[ToolUseBlock] = []
    renamed: dict[str, str] = {}
    for b in blocks:
        if isinstance(b, ToolUseBlock):
            if b.id in renamed or any(u.id == b.id for u in uses):
                continue  # same id twice in one turn: the first call stands
            new_id = b.id
            if not new_id or new_id in seen_ids:
                new_id = f"{b.id or 'tooluse'}_t{turn}_{len(uses)}"
                renamed[b.id] = new_id
                b = ToolUseBlock(new_id, b.name, b.input)
            seen_ids.add(new_id)
            uses.append(b)
        kept.append(b)
    return kept, uses, renamed


def _missing_results(uses: list[ToolUseBlock], answered: set[str]) -> list[Block]:
    return [
        ToolResultBlock(u.id, MISSING_TOOL_RESULT, is_error=True)
        for u in uses
        if u.id not in answered
    ]


def _result_as_text(b: ToolResultBlock) -> TextBlock:
    status = " (error)" if b.is_error else ""
    return TextBlock(f"[result of tool call {b.tool_use_id}{status}]\n{b.content}")
