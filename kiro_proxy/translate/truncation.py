"""The note shown when Kiro cut a tool call's arguments off (shared by both renderers)."""

from __future__ import annotations


def truncation_note(tool_name: str) -> str:
    # Visible to the user and, on the next turn, to the model: the call ran with repaired,
    # possibly incomplete arguments, and the remedy is to redo it in smaller pieces.
    return (
        f"\n\n[kiro-proxy: the upstream cut off the arguments of the {tool_name} tool call; "
        "they were closed automatically and may be incomplete. Split large inputs into "
        "smaller calls.]"
    )
