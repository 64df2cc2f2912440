"""Responses input items of hosted tools → plain history for Kiro (pure).

A client replaying a conversation (Codex, or an app that used OpenAI's hosted tools before it
pointed its base URL here) sends back the items those tools produced. Kiro has none of these
tools and no slot for their items, so each item either becomes a short text note in the turn of
the side that produced it, or is dropped when it carries nothing the model can use. Notes made
on the assistant side (a call and, for tools the server ran, its result) join the assistant
turn; outputs the client sends back for a call join the user turn. Consecutive items of a side
merge into one turn as every other item does, so the user/assistant alternation Kiro requires
holds. The shapes are those of the `openai` SDK's `ResponseInputItemParam` types.

Mapping, per item type (A: a note on the assistant side, U: on the user side, —: dropped):

* `web_search_call` — : a status and the query; what was found is in the message after it.
* `file_search_call` A: `[file search: <queries>]`, then each result's file name and text;
  dropped when it has no results (`include` did not ask for them): then it is only a status.
* `computer_call` A: `[computer action <call_id>: <action(s) as JSON>]`.
* `computer_call_output` U: `[screenshot after computer action <call_id>]` and the screenshot
  (a data: or http(s) URL; an uploaded `file_id` is named, it cannot be fetched).
* `image_generation_call` A: `[image generation <status>: <revised prompt>]`; the image itself
  stays out (Kiro takes images in user turns only, and the model made it).
* `code_interpreter_call` A: `[code interpreter run]`, the code, then `[output]` and its logs
  (image outputs as their URLs).
* `local_shell_call` A: `[shell call <call_id>: <command> (in <working directory>)]`.
* `local_shell_call_output` U: `[output of shell call <id>]` and the output.
* `shell_call` A: `[shell call <call_id>]` and its commands.
* `shell_call_output` U: `[output of shell call <call_id>]`, stdout, `[stderr]` and stderr,
  `[exit code N]` or `[timed out]`.
* `apply_patch_call` A: `[apply_patch <call_id>: <operation> <path>]` and the diff.
* `apply_patch_call_output` U: `[result of apply_patch <call_id>: <status>]` and its log.
* `mcp_call` A: `[MCP tool <server>.<name> called with <arguments>]`, then `[output]` and the
  output or `[error]` and the error (the server ran it: call and result are one item).
* `mcp_list_tools` — : a listing of tools the model cannot call from here.
* `mcp_approval_request` A: `[approval requested for MCP tool <server>.<name> with <args>]`.
* `mcp_approval_response` U: `[MCP tool call approved]` or `[MCP tool call declined: <reason>]`.
* `program` A: `[program <call_id>]` and its code.
* `program_output` U: `[result of program <call_id> (<status>)]` and the result.
* `tool_search_call` — : only the query; the tools it found come in `tool_search_output`.
* `configuration_update` — : the request's own `reasoning` and `text` settings apply.
* `compaction` — : encrypted, like the content of `reasoning` items.

`additional_tools` and `tool_search_output` carry tool definitions, not history: the request
translator adds their function and custom tools to the declared tools. `compaction_trigger` and
`item_reference` ask for stored state this gateway does not keep and are refused with a 400.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

import orjson

from kiro_proxy.translate.conversation import Block, TextBlock
from kiro_proxy.translate.openai_request import image_from_url

Side = Literal["user", "assistant"]
HostedTurn = tuple[Side, list[Block]]


def hosted_item_turn(kind: str, item: dict[str, Any], param: str) -> HostedTurn | None:
    """The history a hosted-tool item becomes: (side, blocks), or None when it is dropped.

    `kind` must be one of `HOSTED_ITEM_KINDS`."""
    return _HANDLERS[kind](item, param)


# --- assistant side -----------------------------------------------------------------------------


def _file_search_call(item: dict[str, Any], param: str) -> HostedTurn | None:
    results = [r for r in _list(item.get("results")) if isinstance(r, dict)]
    found = [
        f"{_str(r.get('filename')) or _str(r.get('file_id')) or 'file'}: {_str(r.get('text'))}"
        for r in results
        if _str(r.get("text"))
    ]
    if not found:
        return None
    queries = "; ".join(q for q in _list(item.get("queries")) if isinstance(q, str))
    return _note("assistant", f"[file search: {queries}]" if queries else "[file search]", *found)


def _computer_call(item: dict[str, Any], param: str) -> HostedTurn:
    actions = item.get("actions") if item.get("actions") else item.get("action")
    head = f"[computer action{_id(item, 'call_id')}"
    return _note("assistant", f"{head}: {_json(actions)}]" if actions else f"{head}]")


def _image_generation_call(item: dict[str, Any], param: str) -> HostedTurn:
    status = _str(item.get("status")) or "call"
    prompt = _str(item.get("revised_prompt"))
    return _note(
        "assistant",
        f"[image generation {status}: {prompt}]" if prompt else f"[image generation {status}]",
    )


def _code_interpreter_call(item: dict[str, Any], param: str) -> HostedTurn:
    outputs: list[str] = []
    for output in _list(item.get("outputs")):
        if not isinstance(output, dict):
            continue
        if output.get("type") == "logs" and _str(output.get("logs")):
            outputs.append(_str(output.get("logs")))
        elif output.get("type") == "image" and _str(output.get("url")):
            outputs.append(f"[image: {_str(output.get('url'))}]")
    parts = ["[code interpreter run]", _str(item.get("code"))]
    if outputs:
        parts += ["[output]", *outputs]
    return _note("assistant", *parts)


def _local_shell_call(item: dict[str, Any], param: str) -> HostedTurn:
    action = item.get("action") if isinstance(item.get("action"), dict) else {}
    command = " ".join(c for c in _list(action.get("command")) if isinstance(c, str))
    where = _str(action.get("working_directory"))
    text = f"[shell call{_id(item, 'call_id')}: {command}"
    return _note("assistant", text + (f" (in {where})]" if where else "]"))


def _shell_call(item: dict[str, Any], param: str) -> HostedTurn:
    action = item.get("action") if isinstance(item.get("action"), dict) else {}
    commands = [c for c in _list(action.get("commands")) if isinstance(c, str)]
    return _note("assistant", f"[shell call{_id(item, 'call_id')}]", *commands)


def _apply_patch_call(item: dict[str, Any], param: str) -> HostedTurn:
    operation = item.get("operation") if isinstance(item.get("operation"), dict) else {}
    what = " ".join(p for p in (_str(operation.get("type")), _str(operation.get("path"))) if p)
    head = f"[apply_patch{_id(item, 'call_id')}" + (f": {what}]" if what else "]")
    return _note("assistant", head, _str(operation.get("diff")))


def _mcp_call(item: dict[str, Any], param: str) -> HostedTurn:
    head = f"[MCP tool {_mcp_tool(item)} called with {_str(item.get('arguments')) or '{}'}]"
    parts = [head]
    if item.get("error"):
        parts += ["[error]", _text(item.get("error"))]
    elif item.get("output"):
        parts += ["[output]", _text(item.get("output"))]
    return _note("assistant", *parts)


def _mcp_approval_request(item: dict[str, Any], param: str) -> HostedTurn:
    arguments = _str(item.get("arguments")) or "{}"
    return _note(
        "assistant", f"[approval requested for MCP tool {_mcp_tool(item)} with {arguments}]"
    )


def _program(item: dict[str, Any], param: str) -> HostedTurn:
    return _note("assistant", f"[program{_id(item, 'call_id')}]", _str(item.get("code")))


# --- user side ----------------------------------------------------------------------------------


def _computer_call_output(item: dict[str, Any], param: str) -> HostedTurn:
    head = f"[screenshot after computer action{_id(item, 'call_id')}"
    output = item.get("output") if isinstance(item.get("output"), dict) else {}
    url = _str(output.get("image_url"))
    if url:
        return "user", [TextBlock(head + "]"), image_from_url(url, f"{param}.output.image_url")]
    file_id = _str(output.get("file_id"))
    missing = f": uploaded file {file_id}, not available here]" if file_id else ": missing]"
    return _note("user", head + missing)


def _local_shell_call_output(item: dict[str, Any], param: str) -> HostedTurn:
    return _note("user", f"[output of shell call{_id(item, 'id')}]", _str(item.get("output")))


def _shell_call_output(item: dict[str, Any], param: str) -> HostedTurn:
    parts = [f"[output of shell call{_id(item, 'call_id')}]"]
    for chunk in _list(item.get("output")):
        if not isinstance(chunk, dict):
            continue
        parts.append(_str(chunk.get("stdout")))
        if _str(chunk.get("stderr")):
            parts += ["[stderr]", _str(chunk.get("stderr"))]
        outcome = chunk.get("outcome") if isinstance(chunk.get("outcome"), dict) else {}
        if outcome.get("type") == "exit" and isinstance(outcome.get("exit_code"), int):
            parts.append(f"[exit code {outcome['exit_code']}]")
        elif outcome.get("type") == "timeout":
            parts.append("[timed out]")
    return _note("user", *parts)


def _apply_patch_call_output(item: dict[str, Any], param: str) -> HostedTurn:
    status = _str(item.get("status")) or "done"
    head = f"[result of apply_patch{_id(item, 'call_id')}: {status}]"
    return _note("user", head, _str(item.get("output")))


def _mcp_approval_response(item: dict[str, Any], param: str) -> HostedTurn:
    verdict = "approved" if item.get("approve") is True else "declined"
    reason = _str(item.get("reason"))
    return _note("user", f"[MCP tool call {verdict}" + (f": {reason}]" if reason else "]"))


def _program_output(item: dict[str, Any], param: str) -> HostedTurn:
    status = _str(item.get("status")) or "done"
    head = f"[result of program{_id(item, 'call_id')} ({status})]"
    return _note("user", head, _str(item.get("result")))


def _dropped(item: dict[str, Any], param: str) -> None:
    return None


_HANDLERS: dict[str, Callable[[dict[str, Any], str], HostedTurn | None]] = {
    "web_search_call": _dropped,
    "file_search_call": _file_search_call,
    "computer_call": _computer_call,
    "computer_call_output": _computer_call_output,
    "image_generation_call": _image_generation_call,
    "code_interpreter_call": _code_interpreter_call,
    "local_shell_call": _local_shell_call,
    "local_shell_call_output": _local_shell_call_output,
    "shell_call": _shell_call,
    "shell_call_output": _shell_call_output,
    "apply_patch_call": _apply_patch_call,
    "apply_patch_call_output": _apply_patch_call_output,
    "mcp_call": _mcp_call,
    "mcp_list_tools": _dropped,
    "mcp_approval_request": _mcp_approval_request,
    "mcp_approval_response": _mcp_approval_response,
    "program": _program,
    "program_output": _program_output,
    "tool_search_call": _dropped,
    "configuration_update": _dropped,
    "compaction": _dropped,
}
HOSTED_ITEM_KINDS = frozenset(_HANDLERS)


# --- helpers ------------------------------------------------------------------------------------


def _note(side: Side, *parts: str) -> HostedTurn:
    return side, [TextBlock("\n".join(part for part in parts if part))]


def _id(item: dict[str, Any], key: str) -> str:
    value = _str(item.get(key))
    return f" {value}" if value else ""


def _mcp_tool(item: dict[str, Any]) -> str:
    return ".".join(p for p in (_str(item.get("server_label")), _str(item.get("name"))) if p)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else _json(value)


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _list(value: Any) -> Iterable[Any]:
    return value if isinstance(value, list) else ()
