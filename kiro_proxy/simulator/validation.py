"""Structural validation of a generateAssistantResponse body, as the real service is known to
enforce it (protocol doc §2.2). Pure: returns the reason a body would get
400 "Improperly formed request." (or None), so tests can see *why* a request was rejected.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection
from typing import Any

IMAGE_FORMATS = frozenset({"gif", "jpeg", "png", "webp"})
MAX_TOOL_NAME = 64
MAX_TOOL_DESCRIPTION = 10240


class Invalid(Exception):
    """Raised internally with the human-readable reason."""


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise Invalid(reason)


def _content(message: dict[str, Any], where: str) -> None:
    content = message.get("content")
    _require(isinstance(content, str), f"{where}: content must be a string")
    _require(len(content) > 0, f"{where}: content is empty")


def _images(message: dict[str, Any], where: str) -> None:
    images = message.get("images")
    if images is None:
        return
    _require(isinstance(images, list), f"{where}: images must be a list")
    for index, image in enumerate(images):
        at = f"{where}.images[{index}]"
        _require(isinstance(image, dict), f"{at}: must be an object")
        fmt = image.get("format")
        _require(fmt in IMAGE_FORMATS, f"{at}: format {fmt!r} not one of gif|jpeg|png|webp")
        source = image.get("source")
        data = source.get("bytes") if isinstance(source, dict) else None
        _require(isinstance(data, str) and data != "", f"{at}: source.bytes missing")
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise Invalid(f"{at}: source.bytes is not valid base64") from exc


def _tool_specs(context: dict[str, Any], where: str) -> set[str]:
    tools = context.get("tools")
    if tools is None:
        return set()
    _require(isinstance(tools, list), f"{where}.tools must be a list")
    names: set[str] = set()
    for index, tool in enumerate(tools):
        at = f"{where}.tools[{index}]"
        spec = tool.get("toolSpecification") if isinstance(tool, dict) else None
        _require(isinstance(spec, dict), f"{at}: toolSpecification missing")
        name = spec.get("name")
        _require(isinstance(name, str) and name != "", f"{at}: tool name missing")
        _require(len(name) <= MAX_TOOL_NAME, f"{at}: tool name longer than {MAX_TOOL_NAME} chars")
        description = spec.get("description")
        _require(
            isinstance(description, str) and description != "",
            f"{at}: tool {name!r} has an empty description",
        )
        _require(
            len(description) <= MAX_TOOL_DESCRIPTION,
            f"{at}: tool {name!r} description longer than {MAX_TOOL_DESCRIPTION} chars",
        )
        schema = spec.get("inputSchema")
        _require(
            isinstance(schema, dict) and isinstance(schema.get("json"), dict),
            f"{at}: tool {name!r} inputSchema.json must be an object",
        )
        names.add(name)
    return names


def _tool_results(context: dict[str, Any], where: str) -> list[str]:
    results = context.get("toolResults")
    if results is None:
        return []
    _require(isinstance(results, list), f"{where}.toolResults must be a list")
    ids: list[str] = []
    for index, result in enumerate(results):
        at = f"{where}.toolResults[{index}]"
        _require(isinstance(result, dict), f"{at}: must be an object")
        tool_use_id = result.get("toolUseId")
        _require(isinstance(tool_use_id, str) and tool_use_id != "", f"{at}: toolUseId missing")
        _require(tool_use_id not in ids, f"{at}: duplicate toolUseId {tool_use_id!r}")
        content = result.get("content")
        _require(
            isinstance(content, list) and content != [], f"{at}: content must be a non-empty list"
        )
        for part in content:
            _require(isinstance(part, dict), f"{at}: content entries must be objects")
            if "text" in part:
                _require(
                    isinstance(part["text"], str) and part["text"] != "",
                    f"{at}: tool result text is empty",
                )
        ids.append(tool_use_id)
    return ids


def _user_message(
    entry: Any, where: str, known_models: Collection[str] | None
) -> tuple[dict[str, Any], list[str]]:
    message = entry.get("userInputMessage") if isinstance(entry, dict) else None
    _require(isinstance(message, dict), f"{where}: expected a userInputMessage")
    _content(message, where)
    model_id = message.get("modelId")
    _require(isinstance(model_id, str) and model_id != "", f"{where}: modelId missing")
    if known_models is not None:
        _require(model_id in known_models, f"{where}: unknown modelId {model_id!r}")
    _images(message, where)
    context = message.get("userInputMessageContext") or {}
    _require(isinstance(context, dict), f"{where}: userInputMessageContext must be an object")
    return context, _tool_results(context, where + ".userInputMessageContext")


def _assistant_message(entry: Any, where: str) -> list[tuple[str, str]]:
    message = entry.get("assistantResponseMessage") if isinstance(entry, dict) else None
    _require(isinstance(message, dict), f"{where}: expected an assistantResponseMessage")
    _content(message, where)
    uses = message.get("toolUses") or []
    _require(isinstance(uses, list), f"{where}: toolUses must be a list")
    out: list[tuple[str, str]] = []
    for index, use in enumerate(uses):
        at = f"{where}.toolUses[{index}]"
        _require(isinstance(use, dict), f"{at}: must be an object")
        tool_use_id, name = use.get("toolUseId"), use.get("name")
        _require(isinstance(tool_use_id, str) and tool_use_id != "", f"{at}: toolUseId missing")
        _require(isinstance(name, str) and name != "", f"{at}: name missing")
        _require(isinstance(use.get("input"), dict), f"{at}: input must be a JSON object")
        out.append((tool_use_id, name))
    return out


def _check(body: Any, known_models: Collection[str] | None) -> None:
    _require(isinstance(body, dict), "body must be a JSON object")
    state = body.get("conversationState")
    _require(isinstance(state, dict), "conversationState missing")
    history = state.get("history") or []
    _require(isinstance(history, list), "conversationState.history must be a list")
    current = state.get("currentMessage")

    seen_use_ids: set[str] = set()
    history_tool_names: set[str] = set()
    pending_uses: dict[str, str] = {}  # tool uses of the previous assistant turn awaiting results
    for index, entry in enumerate(history):
        where = f"history[{index}]"
        if index % 2 == 0:
            _require(
                isinstance(entry, dict) and "userInputMessage" in entry,
                f"{where}: history must alternate user/assistant starting with user",
            )
            _, result_ids = _user_message(entry, where, known_models)
            _pair_results(result_ids, pending_uses, where)
            pending_uses = {}
        else:
            _require(
                isinstance(entry, dict) and "assistantResponseMessage" in entry,
                f"{where}: history must alternate user/assistant starting with user",
            )
            uses = _assistant_message(entry, where)
            for tool_use_id, name in uses:
                _require(
                    tool_use_id not in seen_use_ids, f"{where}: duplicate toolUseId {tool_use_id!r}"
                )
                seen_use_ids.add(tool_use_id)
                history_tool_names.add(name)
            pending_uses = dict(uses)
    _require(
        len(history) % 2 == 0,
        "history must end with an assistant turn (currentMessage is the next user turn)",
    )

    where = "currentMessage"
    _require(
        isinstance(current, dict) and "userInputMessage" in current,
        "currentMessage must be a userInputMessage",
    )
    context, result_ids = _user_message(current, where, known_models)
    _pair_results(result_ids, pending_uses, where)
    declared = _tool_specs(context, where + ".userInputMessageContext")
    missing = sorted(history_tool_names - declared)
    _require(
        not missing, f"tools used in history are not declared in currentMessage tools: {missing}"
    )


def _pair_results(result_ids: list[str], pending: dict[str, str], where: str) -> None:
    for tool_use_id in result_ids:
        _require(
            tool_use_id in pending,
            f"{where}: toolResult {tool_use_id!r} has no toolUse in the preceding assistant turn",
        )
    unanswered = sorted(set(pending) - set(result_ids))
    _require(not unanswered, f"{where}: toolUses without a toolResult: {unanswered}")


def validate_generate_body(body: Any, known_models: Collection[str] | None = None) -> str | None:
    """None if the body is well formed, else the reason the real service would reject it."""
    try:
        _check(body, known_models)
    except Invalid as exc:
        return str(exc)
    return None


def content_chars(body: dict[str, Any]) -> int:
    """Characters of conversation content (text, tool results, tool specs) — the size Kiro caps."""
    state = body.get("conversationState") or {}
    entries = [*(state.get("history") or []), state.get("currentMessage") or {}]
    total = 0
    for entry in entries:
        message = entry.get("userInputMessage") or entry.get("assistantResponseMessage") or {}
        total += len(message.get("content") or "")
        context = message.get("userInputMessageContext") or {}
        for result in context.get("toolResults") or []:
            for part in result.get("content") or []:
                total += len(part.get("text") or "")
        for tool in context.get("tools") or []:
            spec = tool.get("toolSpecification") or {}
            total += len(spec.get("description") or "")
        for use in message.get("toolUses") or []:
            total += len(str(use.get("input") or ""))
    return total
