"""The request line's cheap record (FieldsRecord) logs exactly what `logger.info(extra=…)` logs."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from unittest.mock import patch

import orjson
import pytest

from kiro_proxy.observability import setup_logging
from kiro_proxy.observability.logging_setup import FieldsRecord, fields_record, log_fields_line
from kiro_proxy.observability.middleware import RequestObserver
from kiro_proxy.observability.redaction import MASK

TOKEN_MODEL = "aoaAAAAAGh" + "x7Yq_-Z" * 8  # a client-supplied model name that is a token
TOKEN_ID = "ksk_abcdefghijklmnop"  # a plain (so kept) caller request id that is an API key
KNOWN = "plain-Known-Value"  # a registered secret, no secret shape


class _Route:
    path = "/v1/messages"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    yield io.StringIO()
    setup_logging("plain", "INFO")


def _lines(log_format: str, stream: io.StringIO, model: str, request_id: str) -> list[str]:
    setup_logging(log_format, "INFO", stream=stream, secrets=(KNOWN,))  # type: ignore[arg-type]
    logger = logging.getLogger("kiro_proxy.access_test")
    observer = RequestObserver(logger=logger)
    scope = {"method": "POST", "path": "/v1/messages", "route": _Route(), "headers": []}
    info = observer.begin(scope, request_id)
    info.model, info.account, info.stream, info.error_kind = model, "acct-1", False, "throttled"
    observer.end(scope, info, 429, 0.01234)
    logger.info(  # the stdlib way the line used to be made
        "%s %s %s %sms",
        "POST",
        "/v1/messages",
        429,
        12.3,
        extra={
            "request_id": request_id,
            "method": "POST",
            "path": "/v1/messages",
            "status": 429,
            "latency_ms": 12.3,
            "model": model,
            "account": "acct-1",
            "stream": False,
            "error_kind": "throttled",
        },
    )
    return stream.getvalue().splitlines()


@pytest.mark.parametrize("log_format", ["plain", "json"])
@pytest.mark.parametrize(
    ("model", "request_id"),
    [("claude-sonnet-4", "req-1"), (TOKEN_MODEL, TOKEN_ID), (f"x-{KNOWN}", "r.2")],
)
def test_request_line_is_the_stdlib_line_and_redacted(
    log_format: str, stream: io.StringIO, model: str, request_id: str
) -> None:
    fast, slow = _lines(log_format, stream, model, request_id)
    if log_format == "json":
        fast_body, slow_body = orjson.loads(fast), orjson.loads(slow)
        assert fast_body.pop("ts") == pytest.approx(slow_body.pop("ts"), abs=5)
        assert fast_body == slow_body
        assert fast_body["status"] == 429 and fast_body["stream"] is False
    else:
        assert fast.split(" ", 1)[1] == slow.split(" ", 1)[1]  # all but the timestamp
        assert fast.endswith("stream=False error_kind=throttled")
    for secret in (TOKEN_MODEL, TOKEN_ID, KNOWN):
        assert secret not in fast
    if model != "claude-sonnet-4":
        assert MASK in fast


def test_other_handlers_see_the_fields_as_record_attributes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="kiro_proxy.access_test"):
        logger = logging.getLogger("kiro_proxy.access_test")
        logger.handle(fields_record(logger.name, logging.INFO, "%s!", ("hi",), {"model": "m1"}))
    (record,) = caplog.records
    assert record.getMessage() == "hi!"
    assert record.model == "m1"  # type: ignore[attr-defined]
    assert "fields" not in record.__dict__  # a slot: not listed as an extra by anyone


@pytest.mark.parametrize("threads", [False, True])
def test_record_attributes_match_make_record(
    monkeypatch: pytest.MonkeyPatch, threads: bool
) -> None:
    monkeypatch.setattr(logging, "logThreads", threads)
    monkeypatch.setattr(logging, "_srcfile", None)
    logger = logging.getLogger("kiro_proxy.access_test")
    fields = {"request_id": "abc", "status": 200}
    ours = fields_record(logger.name, logging.INFO, "%s %s", ("a", 1), dict(fields))
    stdlib = logger.makeRecord(
        logger.name, logging.INFO, "(unknown file)", 0, "%s %s", ("a", 1), None,
        "(unknown function)", dict(fields),
    )  # fmt: skip
    assert isinstance(ours, FieldsRecord)
    assert ours.fields == fields
    timing = ("created", "msecs", "relativeCreated")
    assert list(ours.__dict__) == list(stdlib.__dict__)
    assert {k: v for k, v in ours.__dict__.items() if k not in timing} == {
        k: v for k, v in stdlib.__dict__.items() if k not in timing
    }
    assert ours.created == pytest.approx(stdlib.created, abs=5)
    assert 0 <= ours.msecs < 1000


def test_our_handler_writes_the_request_line_without_a_record(
    stream: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    """log_fields_line: our LineHandler formats the line from the fields (no LogRecord through
    its filter and formatter); any other handler on the way still gets the stdlib record."""
    handler = setup_logging("plain", "INFO", stream=stream, secrets=(KNOWN,))  # type: ignore[arg-type]
    logger = logging.getLogger("kiro_proxy.access_test")
    fields = {"request_id": "r-9", "model": f"m-{KNOWN}", "status": 200}
    with (
        caplog.at_level(logging.INFO, logger="kiro_proxy.access_test"),
        patch.object(type(handler), "handle", side_effect=AssertionError("record path taken")),
    ):
        log_fields_line(logger, logging.INFO, "%s %s", ("POST", 200), fields)
    line = stream.getvalue()
    assert line.endswith(" INFO kiro_proxy.access_test POST 200 request_id=r-9 "
                         f"model=m-{MASK} status=200\n")  # fmt: skip
    assert fields["model"] == f"m-{KNOWN}"  # the caller's dict is not changed
    (record,) = caplog.records  # pytest's capture handler: the record, as before
    assert isinstance(record, FieldsRecord) and record.getMessage() == "POST 200"
    assert record.model == f"m-{KNOWN}"  # type: ignore[attr-defined]


def test_a_foreign_formatter_on_our_handler_takes_the_record_path(stream: io.StringIO) -> None:
    handler = setup_logging("plain", "INFO", stream=stream)  # type: ignore[arg-type]
    handler.setFormatter(logging.Formatter("%(levelname)s|%(message)s|%(model)s"))
    log_fields_line(
        logging.getLogger("kiro_proxy.access_test"), logging.INFO, "%s", ("x",), {"model": "m"}
    )
    assert stream.getvalue() == "INFO|x|m\n"


def test_below_the_level_nothing_is_written(stream: io.StringIO) -> None:
    setup_logging("plain", "WARNING", stream=stream)  # type: ignore[arg-type]
    log_fields_line(logging.getLogger("kiro_proxy.access_test"), logging.INFO, "%s", ("x",), {})
    assert stream.getvalue() == ""
