"""Secrets never reach a log line: shapes, known values, tracebacks, JSON and plain output."""

from __future__ import annotations

import io
import logging

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiro_proxy.observability import setup_logging
from kiro_proxy.observability.redaction import (
    MASK,
    SecretRegistry,
    known_secrets,
    needs_redaction,
    redact,
)

ACCESS = "aoaAAAAAGh" + "x7Yq_-Z" * 8
REFRESH = "aorAAAAAGk" + "Qm3-Vb_" * 12


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"refreshed token {ACCESS} for account a", ACCESS),
        (f'{{"refreshToken": "{REFRESH}", "region": "us-east-1"}}', REFRESH),
        ("{'password': 'hunter22-correct', 'user': 'x'}", "hunter22-correct"),
        ("login password=s3cr3t-value&next=/", "s3cr3t-value"),
        ("Authorization: Bearer abc.def.ghi-very-secret", "abc.def.ghi-very-secret"),
        ("headers={'authorization': 'Basic dXNlcjpwYXNz'}", "dXNlcjpwYXNz"),
        ("cookie: kp_session=Zm9vYmFy1234; theme=dark", "Zm9vYmFy1234"),
        ("x-api-key: sk-live-1234567890abcdefgh", "sk-live-1234567890abcdefgh"),
        ("kiro key ksk_abcdefghijklmnop in use", "ksk_abcdefghijklmnop"),
        ('"clientSecret":"eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl"', "eyJzdWIiOiIx"),
        ("api_key = plain-key-value", "plain-key-value"),
        ('{"access_token":"tok-123456","expires_in":3600}', "tok-123456"),
    ],
)
def test_secret_shapes_are_masked(text: str, secret: str) -> None:
    out = redact(text, SecretRegistry())
    assert secret not in out
    assert MASK in out


@pytest.mark.parametrize(
    "text",
    [
        "POST /v1/messages 200 12.5ms",
        '{"input_tokens": 12, "output_tokens": 30, "max_tokens": 100}',
        "model=claude-sonnet-4.5 account=a1b2 stream=True first_token_ms=80",
    ],
)
def test_ordinary_lines_are_left_alone(text: str) -> None:
    assert redact(text, SecretRegistry()) == text


def test_known_values_are_masked_whatever_their_shape() -> None:
    registry = SecretRegistry()
    registry.add("correct horse battery", "short", None, "")
    assert len(registry) == 1  # too-short and empty values are not registered
    assert redact("pw was correct horse battery!", registry) == f"pw was {MASK}!"


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=40))
def test_a_registered_secret_never_survives(noise: str) -> None:
    registry = SecretRegistry()
    secret = "Zq9-unusual-Secret-Value"
    registry.add(secret)
    assert secret not in redact(noise + secret + noise, registry)


def _capture(log_format: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    setup_logging(log_format, "DEBUG", stream=stream)  # type: ignore[arg-type]
    return logging.getLogger("kiro_proxy.test_redaction"), stream


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_handler_masks_messages_args_extras_and_tracebacks(log_format: str) -> None:
    known_secrets.add("admin-Password-123")
    logger, stream = _capture(log_format)
    logger.info("token %s", ACCESS, extra={"detail": f"refresh={REFRESH}"})
    try:
        raise RuntimeError("login failed for password admin-Password-123")
    except RuntimeError:
        logger.exception("boom with %s", "admin-Password-123")
    output = stream.getvalue()
    for secret in (ACCESS, REFRESH, "admin-Password-123"):
        assert secret not in output
    assert "RuntimeError" in output  # the traceback itself is kept
    if log_format == "json":
        lines = [orjson.loads(line) for line in output.splitlines() if line.startswith("{")]
        assert lines[0]["msg"] == f"token {MASK}"
        assert lines[0]["logger"] == "kiro_proxy.test_redaction"
        assert "RuntimeError" in lines[1]["exc"]


def test_setup_logging_is_idempotent() -> None:
    _capture("plain")
    _capture("json")
    names = [h.get_name() for h in logging.getLogger().handlers]
    assert names.count("kiro-proxy") == 1


@given(
    st.sampled_from(
        [ACCESS, REFRESH, "ksk_abcdefghijk", "sk-abcdefghijklmnopq", "Bearer abcdefghij"]
        + [f"{k}=v4lue" for k in ("accessToken", "CLIENT_SECRET", "passwd", "x-api-key")]
        + ["Cookie: a=b", "eyJhbGciOiJI.eyJzdWIiOiIx.sig"]
    ),
    st.text(alphabet=st.characters(codec="ascii"), max_size=20),
)
def test_the_fast_path_never_skips_a_line_the_patterns_would_change(
    secret: str, noise: str
) -> None:
    # redact() returns early when no trigger word is present; that must never hide a secret.
    text = noise + " " + secret + " " + noise
    assert needs_redaction(text, SecretRegistry())
    assert redact(text, SecretRegistry()) != text
