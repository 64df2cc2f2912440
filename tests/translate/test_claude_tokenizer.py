"""The bundled Claude vocabulary run by tiktoken equals the reference (Hugging Face `tokenizers`)."""

from __future__ import annotations

import socket
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from kiro_proxy.translate import claude_tokenizer

ROOT = Path(__file__).resolve().parents[2]

SAMPLES = {
    "english": (ROOT / "README.md").read_text() * 3
    + "The quick brown fox jumps over the lazy dog. It's 3:45pm, isn't it? We'll see.\n",
    "python": (ROOT / "kiro_proxy" / "kiro" / "eventstream.py").read_text(),
    "json": '{"type":"object","properties":{"path":{"type":"string","description":"Absolute path"}},'
    '"required":["path"],"additionalProperties":false}',
    "chinese": "这是一个测试。我们需要计算令牌的数量，并且比较不同的分词器的结果。" * 5,
    "japanese": "日本語のテキストも正しく数えられるかを確認します。カタカナ、ひらがな、漢字。" * 5,
    "korean": "한국어 문장도 올바르게 계산되는지 확인합니다. 토큰 수를 세어 봅시다." * 5,
    "mixed": "Ｆｕｌｌｗｉｄｔｈ ﬁ ligature ① ½ café naïve 😀🚀 \t\n\n  indented\r\n",
    "whitespace": " " * 300 + "x" + "\n" * 50 + "\t" * 20,
}


@pytest.fixture(scope="module")
def reference() -> Tokenizer:
    path = resources.files("kiro_proxy.translate").joinpath(claude_tokenizer.VOCABULARY_FILE)
    return Tokenizer.from_str(path.read_text(encoding="utf-8"))


def reference_tokens(reference: Tokenizer, text: str) -> list[str]:
    return reference.encode(text, add_special_tokens=False).tokens


def our_tokens(text: str) -> list[bytes]:
    encoding = claude_tokenizer.claude_encoding()
    return [encoding.decode_single_token_bytes(t) for t in claude_tokenizer.encode(text)]


def as_bytes(byte_level_token: str) -> bytes:
    alphabet = claude_tokenizer._byte_level_alphabet()
    return bytes(alphabet[ch] for ch in byte_level_token)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_same_tokens_as_reference(name: str, reference: Tokenizer) -> None:
    text = SAMPLES[name]
    assert our_tokens(text) == [as_bytes(t) for t in reference_tokens(reference, text)]


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=200),
        st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=300),
        st.lists(
            st.sampled_from(
                ["def", " foo", "(", "):", "\n", "    ", "return", " 42", "'s", "中文"]
            ),
            max_size=60,
        ).map("".join),
    )
)
def test_same_count_as_reference_on_random_text(text: str, reference: Tokenizer) -> None:
    # Added special tokens (<EOT>, <META>…) are matched by the reference; we count them as text.
    if any(special in text for special in ("<EOT>", "<META", "<SOS>")):
        return
    assert claude_tokenizer.count(text) == len(reference_tokens(reference, text))


def test_alphabet_covers_every_byte() -> None:
    alphabet = claude_tokenizer._byte_level_alphabet()
    assert sorted(alphabet.values()) == list(range(256))
    assert alphabet["A"] == ord("A") and alphabet["Ġ"] == ord(" ")


def test_ranks_are_built_from_merges() -> None:
    ranks = claude_tokenizer.ranks_from_merges(["Ġ t", "Ġt he", ["a", "b"]])
    assert ranks[b" t"] == 256 and ranks[b" the"] == 257 and ranks[b"ab"] == 258
    assert claude_tokenizer.count("") == 0


def test_loads_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the tokenizer tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "/nonexistent")
    claude_tokenizer.claude_encoding.cache_clear()
    try:
        assert claude_tokenizer.count("offline, always") == 3  # offline | , | always
    finally:
        claude_tokenizer.claude_encoding.cache_clear()
