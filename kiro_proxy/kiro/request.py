"""The Kiro `generateAssistantResponse` request model and its serialisation (protocol doc §2.1).

Built by translate/ (pure), serialised here, sent by kiro/client.py. Field names on the wire are
camelCase; the dataclasses are snake_case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

ORIGIN_AI_EDITOR = "AI_EDITOR"


@dataclass(slots=True)
class KiroImage:
    format: str  # gif | jpeg | png | webp
    data: str  # raw base64, no data: prefix

    def to_wire(self) -> dict[str, Any]:
        return {"format": self.format, "source": {"bytes": self.data}}


@dataclass(slots=True)
class KiroToolSpec:
    name: str
    description: str
    input_schema: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        return {
            "toolSpecification": {
                "name": self.name,
                "description": self.description,
                "inputSchema": {"json": self.input_schema},
            }
        }


@dataclass(slots=True)
class KiroToolResult:
    tool_use_id: str
    text: str
    is_error: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {
            "toolUseId": self.tool_use_id,
            "content": [{"text": self.text}],
            "status": "error" if self.is_error else "success",
        }


@dataclass(slots=True)
class KiroToolUse:
    tool_use_id: str
    name: str
    input: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        return {"toolUseId": self.tool_use_id, "name": self.name, "input": self.input}


@dataclass(slots=True)
class KiroUserTurn:
    content: str
    images: list[KiroImage] = field(default_factory=list)
    tool_results: list[KiroToolResult] = field(default_factory=list)

    def to_wire(
        self, model_id: str, origin: str, tools: list[KiroToolSpec] | None = None
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"content": self.content, "modelId": model_id, "origin": origin}
        if self.images:
            message["images"] = [image.to_wire() for image in self.images]
        context: dict[str, Any] = {}
        if tools:
            context["tools"] = [tool.to_wire() for tool in tools]
        if self.tool_results:
            context["toolResults"] = [result.to_wire() for result in self.tool_results]
        if context:
            message["userInputMessageContext"] = context
        return {"userInputMessage": message}


@dataclass(slots=True)
class KiroAssistantTurn:
    content: str
    tool_uses: list[KiroToolUse] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        message: dict[str, Any] = {"content": self.content}
        if self.tool_uses:
            message["toolUses"] = [use.to_wire() for use in self.tool_uses]
        return {"assistantResponseMessage": message}


KiroTurn = KiroUserTurn | KiroAssistantTurn


@dataclass(slots=True)
class KiroRequest:
    """One generateAssistantResponse call.

    `history` alternates user/assistant starting with a user turn and ends with an assistant turn;
    `current` is always a user turn; `tools` ride on the current turn.
    """

    model_id: str
    current: KiroUserTurn
    conversation_id: str
    history: list[KiroTurn] = field(default_factory=list)
    tools: list[KiroToolSpec] = field(default_factory=list)
    profile_arn: str | None = None
    # Tool names shortened to fit Kiro's 64-char limit: short → original (restored in replies).
    tool_name_map: dict[str, str] = field(default_factory=dict)

    def to_payload(self, origin: str = ORIGIN_AI_EDITOR) -> dict[str, Any]:
        history = [
            turn.to_wire(self.model_id, ORIGIN_AI_EDITOR)
            if isinstance(turn, KiroUserTurn)
            else turn.to_wire()
            for turn in self.history
        ]
        state: dict[str, Any] = {
            "chatTriggerType": "MANUAL",
            "conversationId": self.conversation_id,
            "currentMessage": self.current.to_wire(self.model_id, origin, self.tools),
        }
        if history:
            state["history"] = history
        payload: dict[str, Any] = {"conversationState": state}
        if self.profile_arn:
            payload["profileArn"] = self.profile_arn
        return payload

    def to_json(self, origin: str = ORIGIN_AI_EDITOR) -> bytes:
        return orjson.dumps(self.to_payload(origin))
