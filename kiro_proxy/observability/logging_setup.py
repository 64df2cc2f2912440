"""Process-wide logging: one handler on the root logger, plain or JSON lines, always redacted.

uvicorn is started with `log_config=None` so that its loggers propagate here instead of
installing their own handlers (which would bypass the redaction filter).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import IO, Any, Literal

import orjson

from kiro_proxy.observability.redaction import known_secrets, needs_redaction, redact

LogFormat = Literal["plain", "json"]

# Attributes every LogRecord has; anything else was passed through `extra=` and is a field.
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName", "color_message"}  # uvicorn's ANSI-coloured duplicate
)

_HANDLER_NAME = "kiro-proxy"


class RedactionFilter(logging.Filter):
    """Renders the message (and any traceback) once, masks secrets, and stores the result
    back on the record, so every formatter downstream sees only the redacted text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad %-format must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        extras = [
            (key, value)
            for key, value in record.__dict__.items()
            if key not in _STANDARD_ATTRS and isinstance(value, str)
        ]
        # One cheap check over everything first: most lines (the request line above all) hold
        # nothing secret-looking, and then no regex runs at all.
        combined = "\n".join([message, *(value for _, value in extras)]) if extras else message
        if needs_redaction(combined):
            message = redact(message)
            for key, value in extras:
                setattr(record, key, redact(value))
        record.msg = message
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            record.exc_info = None  # formatters must use the redacted text, not re-render
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}


class PlainFormatter(logging.Formatter):
    """`2025-01-01T12:00:00.123Z INFO kiro_proxy.access message key=value …`"""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:  # strftime once per second, not once per line
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        stamp = self._stamp
        line = f"{stamp}.{int(record.msecs):03d}Z {record.levelname} {record.name} {record.msg}"
        fields = _extra_fields(record)
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, then the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.msg,
        }
        body.update(_extra_fields(record))
        if record.exc_text:
            body["exc"] = record.exc_text
        return orjson.dumps(body, default=str).decode()


def setup_logging(
    log_format: LogFormat = "plain",
    level: str = "INFO",
    *,
    stream: IO[str] | None = None,
    secrets: tuple[str | None, ...] = (),
) -> logging.Handler:
    """Install (or replace) the kiro-proxy handler on the root logger. Idempotent."""
    known_secrets.add(*secrets)
    # The logging HOWTO's "Optimization" switches: our formats use neither the caller's file and
    # line nor thread/process names, and collecting them is most of a record's cost.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(RedactionFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else PlainFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True
    # aiosqlite logs every cursor operation with its parameters at DEBUG: noise, not insight.
    logging.getLogger("aiosqlite").setLevel(max(root.level, logging.INFO))
    # Our own request line replaces uvicorn's access log.
    logging.getLogger("uvicorn.access").disabled = True
    return handler
