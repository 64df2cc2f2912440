"""Neutral Conversation → KiroRequest (pure). Runs the hygiene rules, then lays out the turns.

Layout choices:
* The system prompt (with the thinking tags in front and long tool descriptions after it) is
  prepended once to the *first* user turn. Across a tool loop that turn never changes, so the
  prompt stays once at the start of history with identical bytes — unlike Kiro-Go, which re-sends
  it inside every current message. A synthetic user/assistant pair was rejected: it puts an
  assistant reply in the history the client never saw.
* Per-request instructions (tool_choice, parallel tool calls off, response_format) go on the
  current message only.
* Nothing else is injected: no timestamps, no behavioural prompts.
"""

from __future__ import annotations

import functools
import uuid

from kiro_proxy.kiro.request import (
    KiroAssistantTurn,
    KiroImage,
    KiroRequest,
    KiroToolResult,
    KiroToolUse,
    KiroTurn,
    KiroUserTurn,
)
from kiro_proxy.translate.conversation import (
    Conversation,
    ImageBlock,
    ImageUrlBlock,
    Message,
    TextBlock,
    ThinkingBlock,
    ThinkingConfig,
    ToolChoice,
    ToolResultBlock,
    ToolUseBlock,
)
from kiro_proxy.translate.hygiene import (
    EMPTY_TEXT,
    EMPTY_TOOL_RESULT,
    TOOL_RESULTS_ONLY_TEXT,
    TOOL_USE_ONLY_TEXT,
    HygieneLimits,
    drop_thinking_blocks,
    ensure_first_turn_is_user,
    limit_image_history,
    merge_same_role_turns,
    move_tool_result_images,
    repair_tool_pairing,
    replace_unfetched_image_urls,
    split_current_turn,
    strip_assistant_images,
    tool_history_to_text,
    tool_names_used,
)
from kiro_proxy.translate.image_format import kiro_image_format
from kiro_proxy.translate.tool_specs import check_forced_tool, declare_tools


class _ResultImages:
    """Marker for `_block_kinds`: some tool result carries images."""


# Fixed namespace so the same Anthropic session always maps to the same conversationId.
_SESSION_NAMESPACE = uuid.UUID("6f1c7d2e-4b8a-5c3d-9e0f-1a2b3c4d5e6f")


def conversation_id_for(session_hint: str | None, fallback: str) -> str:
    """A stable uuid5 for a client session, else the caller's random uuid."""
    if session_hint:
        return _session_conversation_id(session_hint)
    return fallback


@functools.lru_cache(maxsize=1024)
def _session_conversation_id(session_hint: str) -> str:
    # A session sends many requests in a row; its uuid5 (a SHA-1) is computed once.
    return str(uuid.uuid5(_SESSION_NAMESPACE, session_hint))


def build_kiro_request(
    conv: Conversation,
    *,
    model_id: str,
    thinking: bool,
    conversation_id: str,
    profile_arn: str | None = None,
    limits: HygieneLimits = HygieneLimits(),  # noqa: B008 - frozen, immutable default
) -> KiroRequest:
    check_forced_tool(
        conv.tools, conv.tool_choice.name if conv.tool_choice.type == "tool" else None
    )
    messages = normalise_messages(conv.messages, with_tools=bool(conv.tools), limits=limits)
    history_msgs, current_msg = split_current_turn(messages)

    declarations = declare_tools(
        conv.tools,
        tool_names_used(messages),
        only_history_tools=conv.tool_choice.type == "none",
        limits=limits,
    )
    names = declarations.short_names

    preamble = _join(
        thinking_prefix(conv.thinking, thinking, limits),
        conv.system,
        *declarations.system_sections,
    )
    # Asking for a tool call when nothing is declared would only confuse the model.
    choice = conv.tool_choice if declarations.specs else ToolChoice()
    single_call = bool(declarations.specs) and not conv.parallel_tool_calls
    instructions = _join(
        tool_choice_instruction(choice, names, single_call=single_call), conv.output_instruction
    )

    history: list[KiroTurn] = []
    for index, message in enumerate(history_msgs):
        if message.role == "assistant":
            history.append(_assistant_turn(message, names))
        else:
            history.append(_user_turn(message, preamble if index == 0 else "", ""))
    current = _user_turn(current_msg, "" if history_msgs else preamble, instructions)

    return KiroRequest(
        model_id=model_id,
        current=current,
        conversation_id=conversation_id,
        history=history,
        tools=declarations.specs,
        profile_arn=profile_arn,
        tool_name_map=declarations.name_map,
    )


def normalise_messages(
    messages: list[Message], *, with_tools: bool, limits: HygieneLimits
) -> list[Message]:
    """All message-level hygiene rules, in the order they depend on each other.

    A rule whose subject is absent (no thinking, no images, no tool blocks) would only copy the
    messages, so one scan decides which rules run: a plain chat skips all but the two that
    shape the turns. The property tests compare it with the unabridged chain."""
    kinds = _block_kinds(messages)
    images = bool(kinds & _IMAGE_KINDS)
    if ThinkingBlock in kinds:
        messages = drop_thinking_blocks(messages)
    if images:
        messages = replace_unfetched_image_urls(messages)
        messages = move_tool_result_images(messages)
        messages = strip_assistant_images(messages)
    tools_present = bool(kinds & _TOOL_KINDS)
    if not with_tools and tools_present:
        messages = tool_history_to_text(messages)
    messages = merge_same_role_turns(messages)
    messages = ensure_first_turn_is_user(messages)
    if tools_present:
        messages = repair_tool_pairing(messages)
    if images:
        messages = limit_image_history(messages, limits.image_turns_kept)
    return messages


_TOOL_KINDS = frozenset({ToolUseBlock, ToolResultBlock})
_IMAGE_KINDS = frozenset({ImageBlock, ImageUrlBlock, _ResultImages})


def _block_kinds(messages: list[Message]) -> set[type]:
    """The block classes present; `_ResultImages` stands for a tool result carrying images."""
    kinds: set[type] = set()
    for message in messages:
        for block in message.blocks:
            kind = type(block)
            kinds.add(kind)
            if kind is ToolResultBlock and block.images:  # type: ignore[union-attr]
                kinds.add(_ResultImages)
    return kinds


def thinking_prefix(config: ThinkingConfig, forced: bool, limits: HygieneLimits) -> str:
    """Kiro has no thinking switch; the model honours these tags at the start of its prompt."""
    if not (config.enabled or forced):
        return ""
    if config.adaptive_effort:
        return (
            "<thinking_mode>adaptive</thinking_mode>"
            f"<thinking_effort>{config.adaptive_effort}</thinking_effort>"
        )
    budget = config.budget_tokens or limits.default_thinking_budget
    return (
        f"<thinking_mode>enabled</thinking_mode><max_thinking_length>{budget}</max_thinking_length>"
    )


def tool_choice_instruction(
    choice: ToolChoice, short_names: dict[str, str], *, single_call: bool = False
) -> str:
    """Kiro has no tool_choice; `any`/`tool`/`none` become a sentence on the current turn, and
    so does a client's "no parallel tool calls" (`single_call`; the assembler also drops any
    call after the first, this only spares the model calls that would be thrown away)."""
    if choice.type == "any":
        if single_call:
            return "Respond by calling exactly one of the available tools."
        return "Respond by calling one or more of the available tools."
    if choice.type == "tool" and choice.name:
        return f"Respond by calling the tool `{short_names.get(choice.name, choice.name)}`."
    if choice.type == "none":
        return "Do not call any tools in this response; answer in text."
    if single_call:
        return "Call at most one tool in this response."
    return ""


def kiro_request_size(req: KiroRequest) -> int:
    """Serialised size in bytes: what the upstream size limits are measured against."""
    return len(req.to_json())


def _user_turn(message: Message, preamble: str, instructions: str) -> KiroUserTurn:
    texts = [b.text for b in message.blocks if isinstance(b, TextBlock) and b.text.strip()]
    results = [
        KiroToolResult(
            b.tool_use_id, b.content if b.content.strip() else EMPTY_TOOL_RESULT, b.is_error
        )
        for b in message.blocks
        if isinstance(b, ToolResultBlock)
    ]
    images = [
        KiroImage(kiro_image_format(b.media_type), b.data)
        for b in message.blocks
        if isinstance(b, ImageBlock)
    ]
    body = "\n\n".join(texts)
    if not body:
        body = TOOL_RESULTS_ONLY_TEXT if results else EMPTY_TEXT
        if preamble and not results and not images:
            body = ""  # the preamble alone is content enough
    content = _join(preamble, body, instructions) or EMPTY_TEXT
    return KiroUserTurn(content=content, images=images, tool_results=results)


def _assistant_turn(message: Message, short_names: dict[str, str]) -> KiroAssistantTurn:
    texts = [b.text for b in message.blocks if isinstance(b, TextBlock) and b.text.strip()]
    uses = [
        KiroToolUse(b.id, short_names.get(b.name, b.name), b.input)
        for b in message.blocks
        if isinstance(b, ToolUseBlock)
    ]
    content = "\n\n".join(texts) or (TOOL_USE_ONLY_TEXT if uses else EMPTY_TEXT)
    return KiroAssistantTurn(content=content, tool_uses=uses)


def _join(*parts: str) -> str:
    return "\n\n".join(part for part in parts if part.strip())
