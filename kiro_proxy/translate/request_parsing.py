"""Helpers shared by the Anthropic and OpenAI request parsers (pure).

Bad input becomes an InvalidRequestError whose `param` is the dotted field path
(`messages.3.content.0.source.data`) and whose message a person can act on.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from kiro_proxy.errors import InvalidRequestError

ModelT = TypeVar("ModelT", bound=BaseModel)

# Claude Code's metadata.user_id: "user_<hash>_account_<uuid>_session_<uuid>".
_SESSION_IN_USER_ID = re.compile(r"session_([0-9a-fA-F-]{8,})")


class LenientModel(BaseModel):
    """Request models ignore fields they do not know: clients add new ones all the time."""

    model_config = ConfigDict(extra="ignore")


# orjson parses up to 1024 levels but serialises only 254, and the Kiro payload wraps request
# parts (tool schemas, tool inputs) a few levels deeper than the client did. Anything nested
# deeper than this cannot be sent upstream (and recursive helpers would hit Python's limit).
MAX_NESTING = 200
_SERIALISE_LIMIT = 254


def load_json_object(body: bytes | str) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequestError("request body must be a JSON object")
    if _may_nest_deeper_than_allowed(body):
        _check_nesting(data)
    return data


def _may_nest_deeper_than_allowed(body: bytes | str) -> bool:
    """Each nesting level opens with a `{` or `[`, so a body with at most MAX_NESTING of them
    cannot be too deep. Counting them is a C scan (~0.1 µs for a short request) where the exact
    check costs ~8 µs even for a tiny body; big bodies (Claude Code's) still get the exact check."""
    if isinstance(body, str):
        return body.count("{") + body.count("[") > MAX_NESTING
    return body.count(b"{") + body.count(b"[") > MAX_NESTING


def _check_nesting(data: dict[str, Any]) -> None:
    """Refuse bodies nested deeper than MAX_NESTING levels. orjson.dumps stops at its own fixed
    depth; wrapping the data in enough lists makes that limit ours, at C speed (≈0.2 ms/MB)."""
    wrapped: Any = data
    for _ in range(_SERIALISE_LIMIT - MAX_NESTING):
        wrapped = [wrapped]
    try:
        orjson.dumps(wrapped)
    except orjson.JSONEncodeError as exc:
        if "Recursion limit" not in str(exc):
            raise InvalidRequestError(f"request body cannot be processed: {exc}") from None
        raise InvalidRequestError(
            f"request body is nested too deeply: at most {MAX_NESTING} levels are accepted"
        ) from None


def validate_model(model: type[ModelT], data: Any) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error_to_invalid_request(exc, data) from None


def validation_error_to_invalid_request(exc: ValidationError, data: Any) -> InvalidRequestError:
    """First pydantic error → one readable message with the field path as `param`."""
    errors = exc.errors(include_url=False)
    # With `str | list[...]` unions pydantic reports every branch; the deepest error is the one
    # that explains what is actually wrong (e.g. the bad base64 field, not "not a string").
    first = max(errors, key=lambda error: len(error["loc"]))
    loc = _field_path(data, first["loc"])
    kind = first["type"]
    if kind == "union_tag_invalid":
        ctx = first.get("ctx") or {}
        field = str(ctx.get("discriminator", "'type'")).strip("'")
        if field != "type":
            loc.append(field)  # e.g. messages.0.role: the field the client got wrong
        message = (
            f"unsupported {field} {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
        )
    elif kind == "missing":
        message = "field required"
    else:
        message = first["msg"]
    param = ".".join(loc) or None
    return InvalidRequestError(f"{param}: {message}" if param else message, param=param)


def _field_path(data: Any, loc: tuple[int | str, ...]) -> list[str]:
    """Walk the input along pydantic's location, skipping the union-member labels it inserts
    ("str", "list[...]", a discriminator tag): only real keys and indexes form the `param`."""
    path: list[str] = []
    node = data
    last = len(loc) - 1
    for position, part in enumerate(loc):
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif position == last and isinstance(node, dict) and isinstance(part, str):
            pass  # a missing field: the last element names it
        else:
            continue
        path.append(str(part))
    return path


def session_hint_from_user_id(user_id: str | None) -> str | None:
    """The session part of a Claude Code user_id (one conversationId per session, not per
    user), else the whole id, else None."""
    if not user_id:
        return None
    match = _SESSION_IN_USER_ID.search(user_id)
    if match:
        return match.group(1)
    if user_id.startswith("{"):
        try:
            data = orjson.loads(user_id)
        except orjson.JSONDecodeError:
            return user_id
        if isinstance(data, dict) and isinstance(data.get("session_id"), str):
            return data["session_id"]
    return user_id


def parse_tool_arguments(arguments: Any) -> dict[str, Any]:
    """Tool-call arguments as the JSON object Kiro requires. Kept visible (not silently `{}`)
    when a client sends broken JSON, so the model sees what it actually produced."""
    if isinstance(arguments, dict):
        return arguments
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, str):
        try:
            parsed = orjson.loads(arguments)
        except orjson.JSONDecodeError:
            return {"_raw_arguments": arguments}
        if isinstance(parsed, dict):
            return parsed
        return {"_value": parsed}
    return {"_value": arguments}
