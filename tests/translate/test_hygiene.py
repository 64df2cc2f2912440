"""Message-level hygiene rules; each test names the Kiro 400 (or model confusion) it prevents."""

from __future__ import annotations

from kiro_proxy.translate.conversation import (
    ImageBlock,
    ImageUrlBlock,
    Message,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from kiro_proxy.translate.hygiene import (
    CONTINUE_TEXT,
    IMAGE_OMITTED,
    MISSING_TOOL_RESULT,
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

IMG = ImageBlock("image/png", "iVBORw0KGgo=")


def user(*blocks: object) -> Message:
    return Message("user", list(blocks))  # type: ignore[arg-type]


def assistant(*blocks: object) -> Message:
    return Message("assistant", list(blocks))  # type: ignore[arg-type]


def test_two_consecutive_assistant_turns_are_merged() -> None:
    merged = merge_same_role_turns(
        [user(TextBlock("q")), assistant(TextBlock("a")), assistant(TextBlock("b"))]
    )
    assert [m.role for m in merged] == ["user", "assistant"]
    assert merged[1].blocks == [TextBlock("a"), TextBlock("b")]


def test_two_consecutive_user_turns_are_merged_without_mutating_input() -> None:
    first = user(TextBlock("a"))
    merged = merge_same_role_turns([first, user(TextBlock("b"))])
    assert merged == [user(TextBlock("a"), TextBlock("b"))]
    assert first.blocks == [TextBlock("a")]


def test_history_starting_with_assistant_gets_a_user_turn_first() -> None:
    fixed = ensure_first_turn_is_user([assistant(TextBlock("hello"))])
    assert [m.role for m in fixed] == ["user", "assistant"]


def test_trailing_assistant_prefill_moves_to_history_and_current_says_continue() -> None:
    history, current = split_current_turn([user(TextBlock("q")), assistant(TextBlock("{"))])
    assert [m.role for m in history] == ["user", "assistant"]
    assert current == user(TextBlock(CONTINUE_TEXT))


def test_last_user_turn_is_the_current_message() -> None:
    history, current = split_current_turn(
        [user(TextBlock("q")), assistant(TextBlock("a")), user(TextBlock("r"))]
    )
    assert len(history) == 2 and current == user(TextBlock("r"))


def test_orphan_tool_result_becomes_text_so_the_model_still_sees_it() -> None:
    fixed = repair_tool_pairing([user(ToolResultBlock("ghost", "output", is_error=True))])
    assert fixed == [user(TextBlock("[result of tool call ghost (error)]\noutput"))]


def test_tool_result_after_a_text_only_assistant_turn_is_an_orphan() -> None:
    fixed = repair_tool_pairing(
        [
            user(TextBlock("q")),
            assistant(ToolUseBlock("t1", "Read", {})),
            user(ToolResultBlock("t1", "ok")),
            assistant(TextBlock("done")),
            user(ToolResultBlock("t1", "again")),
        ]
    )
    assert isinstance(fixed[4].blocks[0], TextBlock)


def test_tool_use_without_result_gets_an_error_result_not_silence() -> None:
    fixed = repair_tool_pairing(
        [
            user(TextBlock("q")),
            assistant(ToolUseBlock("t1", "Read", {}), ToolUseBlock("t2", "Grep", {})),
            user(ToolResultBlock("t1", "ok"), TextBlock("stop")),
        ]
    )
    results = [b for b in fixed[2].blocks if isinstance(b, ToolResultBlock)]
    assert {(r.tool_use_id, r.is_error) for r in results} == {("t1", False), ("t2", True)}
    assert next(r for r in results if r.tool_use_id == "t2").content == MISSING_TOOL_RESULT


def test_trailing_assistant_tool_use_gets_a_user_turn_with_error_result() -> None:
    fixed = repair_tool_pairing([user(TextBlock("q")), assistant(ToolUseBlock("t1", "Read", {}))])
    assert fixed[-1] == user(ToolResultBlock("t1", MISSING_TOOL_RESULT, is_error=True))


def test_duplicate_tool_result_ids_are_deduped() -> None:
    fixed = repair_tool_pairing(
        [
            user(TextBlock("q")),
            assistant(ToolUseBlock("t1", "Read", {})),
            user(ToolResultBlock("t1", "first"), ToolResultBlock("t1", "second")),
        ]
    )
    assert fixed[2].blocks == [ToolResultBlock("t1", "first")]


def test_tool_use_id_reused_in_a_later_turn_is_renamed_with_its_result() -> None:
    fixed = repair_tool_pairing(
        [
            user(TextBlock("q")),
            assistant(ToolUseBlock("call_0", "A", {})),
            user(ToolResultBlock("call_0", "a")),
            assistant(ToolUseBlock("call_0", "B", {})),
            user(ToolResultBlock("call_0", "b")),
        ]
    )
    second_use = fixed[3].blocks[0]
    assert isinstance(second_use, ToolUseBlock) and second_use.id != "call_0"
    assert fixed[4].blocks == [ToolResultBlock(second_use.id, "b")]


def test_duplicate_tool_use_id_in_one_turn_keeps_the_first_call() -> None:
    fixed = repair_tool_pairing(
        [
            user(TextBlock("q")),
            assistant(ToolUseBlock("t", "A", {}), ToolUseBlock("t", "B", {})),
            user(ToolResultBlock("t", "a")),
        ]
    )
    assert fixed[1].blocks == [ToolUseBlock("t", "A", {})]


def test_empty_tool_use_id_is_given_one() -> None:
    fixed = repair_tool_pairing(
        [user(TextBlock("q")), assistant(ToolUseBlock("", "A", {})), user(ToolResultBlock("", "a"))]
    )
    use = fixed[1].blocks[0]
    assert isinstance(use, ToolUseBlock) and use.id
    assert fixed[2].blocks == [ToolResultBlock(use.id, "a")]


def test_previous_thinking_blocks_are_dropped_because_kiro_has_no_slot() -> None:
    assert drop_thinking_blocks([assistant(ThinkingBlock("hmm"), TextBlock("a"))]) == [
        assistant(TextBlock("a"))
    ]


def test_tool_result_images_move_onto_the_user_turn() -> None:
    fixed = move_tool_result_images([user(ToolResultBlock("t1", "shot", images=[IMG]))])
    assert fixed[0].blocks == [
        ToolResultBlock("t1", "shot\n[1 image from this result attached below]"),
        IMG,
    ]


def test_images_in_assistant_turns_are_replaced_by_a_note() -> None:
    assert strip_assistant_images([assistant(IMG, TextBlock("x"))]) == [
        assistant(TextBlock(IMAGE_OMITTED), TextBlock("x"))
    ]


def test_old_images_are_omitted_to_bound_request_size() -> None:
    messages = [
        user(IMG),
        assistant(TextBlock("a")),
        user(IMG),
        assistant(TextBlock("b")),
        user(IMG),
    ]
    fixed = limit_image_history(messages, turns_kept=2)
    assert fixed[0].blocks == [TextBlock(IMAGE_OMITTED)]
    assert fixed[2].blocks == [IMG] and fixed[4].blocks == [IMG]


def test_unfetched_image_urls_are_named_not_silently_dropped() -> None:
    fixed = replace_unfetched_image_urls(
        [
            user(
                ImageUrlBlock("https://x/a.png"),
                ToolResultBlock("t", "r", images=[ImageUrlBlock("https://x/b.png"), IMG]),
            )
        ]
    )
    assert fixed[0].blocks[0] == TextBlock("[image not available: https://x/a.png]")
    assert fixed[0].blocks[1] == ToolResultBlock(
        "t", "r\n[image not available: https://x/b.png]", False, [IMG]
    )


def test_tool_history_without_declared_tools_becomes_text() -> None:
    fixed = tool_history_to_text(
        [
            user(TextBlock("q")),
            assistant(ToolUseBlock("t1", "Read", {"b": 1, "a": 2})),
            user(ToolResultBlock("t1", "ok")),
        ]
    )
    assert fixed[1].blocks == [TextBlock('[called tool Read (id t1) with input {"a":2,"b":1}]')]
    assert fixed[2].blocks == [TextBlock("[result of tool call t1]\nok")]


def test_tool_names_used_lists_each_name_once_in_order() -> None:
    messages = [
        assistant(ToolUseBlock("1", "B", {}), ToolUseBlock("2", "A", {})),
        assistant(ToolUseBlock("3", "B", {})),
    ]
    assert tool_names_used(messages) == ["B", "A"]
