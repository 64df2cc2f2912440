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


class FieldsRecord(logging.LogRecord):
    """A record whose `extra=` fields are known up front, in `fields` (a slot, so it is not one
    of the record's attributes and formatters that list those do not show it). The fields are
    also set as attributes, like `extra=` does, so every handler sees the same record.

    For the request line, the hottest log call: the redaction filter and our formatters read
    `fields` instead of scanning the record's attributes twice, and `fields_record` builds the
    record from a copy of a template instead of LogRecord's __init__ (4.7 µs -> 1.1 µs)."""

    __slots__ = ("fields",)
    fields: dict[str, Any]


# Per (logger name, level): the attributes LogRecord's __init__ sets that do not vary per record
# while the module switches below are off (no thread, process or task names to look up).
_templates: dict[tuple[str, int], dict[str, Any]] = {}


def _per_record_attributes_off() -> bool:
    return not (
        logging.logThreads
        or logging.logProcesses
        or logging.logMultiprocessing
        or getattr(logging, "logAsyncioTasks", False)  # Python 3.12+
    )


def fields_record(
    name: str, level: int, msg: str, args: tuple[Any, ...], fields: dict[str, Any]
) -> FieldsRecord:
    """What `logger.log(level, msg, *args, extra=fields)` would hand to the handlers when the
    caller is not looked up (setup_logging sets `logging._srcfile = None`)."""
    if _per_record_attributes_off():
        template = _templates.get((name, level))
        if template is None:
            template = _templates[(name, level)] = _template(name, level)
        record = FieldsRecord.__new__(FieldsRecord)
        attributes = record.__dict__
        attributes.update(template)
        now = time.time()
        attributes["created"] = now
        attributes["msecs"] = int((now - int(now)) * 1000) + 0.0
        attributes["relativeCreated"] = (now - logging._startTime) * 1000  # type: ignore[attr-defined]
        attributes["msg"] = msg
        attributes["args"] = args
    else:
        record = FieldsRecord(name, level, "(unknown file)", 0, msg, args, None)
        record.funcName = "(unknown function)"
    record.__dict__.update(fields)
    record.fields = fields
    return record


def log_fields_line(
    logger: logging.Logger, level: int, msg: str, args: tuple[Any, ...], fields: dict[str, Any]
) -> None:
    """`logger.log(level, msg, *args, extra=fields)` for the hottest line (one per request).

    Handlers are found as `Logger.callHandlers` finds them (levels, propagation). Our own
    LineHandler writes the line straight from the fields: the same text the record path gives
    (same redaction, same formatter), without building a LogRecord and passing it through the
    generic filter and formatter calls, which cost about as much as the rest of the request's
    bookkeeping. Any other handler (a test's capture, a handler someone added) receives the
    record it would have received from `logger.log`.
    """
    if logger.disabled or not logger.isEnabledFor(level):
        return
    if logger.filters:
        logger.handle(fields_record(logger.name, level, msg, args, fields))
        return
    handlers: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        handlers += [h for h in current.handlers if level >= h.level]
        current = current.parent if current.propagate else None
    if not handlers:
        if level >= logging.WARNING:  # the stdlib's last resort, as logger.log would
            logger.handle(fields_record(logger.name, level, msg, args, fields))
        return
    message = msg % args
    record: FieldsRecord | None = None
    created = time.time()
    for handler in handlers:
        if type(handler) is LineHandler and handler.emit_fields_line(
            logger.name, level, message, dict(fields), created
        ):
            continue
        if record is None:
            record = fields_record(logger.name, level, msg, args, fields)
        handler.handle(record)


def _template(name: str, level: int) -> dict[str, Any]:
    sample = logging.LogRecord(
        name, level, "(unknown file)", 0, "", None, None, "(unknown function)"
    )
    return sample.__dict__.copy()


def redact_fields_line(message: str, fields: dict[str, Any]) -> str | None:
    """Mask secrets in a fields line (the rendered message and the string fields, in place).
    None when nothing needed masking (the common case: one cheap check over all the texts)."""
    texts = [value for value in fields.values() if isinstance(value, str)]
    texts.insert(0, message)
    if not needs_redaction("\n".join(texts)):
        return None
    for key, value in fields.items():
        if isinstance(value, str):
            fields[key] = redact(value)
    return redact(message)


class RedactionFilter(logging.Filter):
    """Renders the message (and any traceback) once, masks secrets, and stores the result
    back on the record, so every formatter downstream sees only the redacted text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad %-format must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        if isinstance(record, FieldsRecord):
            fields = record.fields
        else:
            fields = {
                key: value
                for key, value in record.__dict__.items()
                if key not in _STANDARD_ATTRS and isinstance(value, str)
            }
        masked = redact_fields_line(message, fields)
        if masked is not None:
            message = masked
            record.__dict__.update(fields)
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
    if isinstance(record, FieldsRecord):
        return record.fields
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}


class LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """StreamHandler whose emit writes and flushes directly: `handle` already holds the lock
    that StreamHandler.flush would take a second time."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = self.stream
            stream.write(self.format(record) + self.terminator)
            stream.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def emit_fields_line(
        self, name: str, level: int, message: str, fields: dict[str, Any], created: float
    ) -> bool:
        """Write a fields line (already %-rendered) without building a LogRecord: the same
        text the record path writes (same redaction, same formatter), for the request line.
        False when this handler cannot (a filter or formatter other than ours is installed):
        the caller then falls back to the record path."""
        formatter = self.formatter
        if len(self.filters) != 1 or type(self.filters[0]) is not RedactionFilter:
            return False
        if type(formatter) is not PlainFormatter and type(formatter) is not JsonFormatter:
            return False
        masked = redact_fields_line(message, fields)
        if masked is not None:
            message = masked
        line = formatter.format_line(created, logging.getLevelName(level), name, message, fields)
        self.acquire()
        try:
            stream = self.stream
            stream.write(line + self.terminator)
            stream.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(fields_record(name, level, message, (), fields))
        finally:
            self.release()
        return True


class _LineFormatter(logging.Formatter):
    """A formatter whose whole line comes from `format_line`, which the request line's fast
    path (`LineHandler.emit_fields_line`) calls directly with the same arguments."""

    def format(self, record: logging.LogRecord) -> str:
        return self.format_line(
            record.created,
            record.levelname,
            record.name,
            record.msg,
            _extra_fields(record),
            record.exc_text,
        )

    def format_line(
        self,
        created: float,
        levelname: str,
        name: str,
        message: str,
        fields: dict[str, Any],
        exc_text: str | None = None,
    ) -> str:
        raise NotImplementedError


class PlainFormatter(_LineFormatter):
    """`2025-01-01T12:00:00.123Z INFO kiro_proxy.access message key=value …`"""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._stamp = ""

    def format_line(
        self,
        created: float,
        levelname: str,
        name: str,
        message: str,
        fields: dict[str, Any],
        exc_text: str | None = None,
    ) -> str:
        second = int(created)
        if second != self._second:  # strftime once per second, not once per line
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        line = f"{self._stamp}.{int((created - second) * 1000):03d}Z {levelname} {name} {message}"
        if fields:
            line += " " + " ".join([f"{k}={v}" for k, v in fields.items()])
        if exc_text:
            line += "\n" + exc_text
        return line


class JsonFormatter(_LineFormatter):
    """One JSON object per line: ts, level, logger, msg, then the record's extra fields."""

    def format_line(
        self,
        created: float,
        levelname: str,
        name: str,
        message: str,
        fields: dict[str, Any],
        exc_text: str | None = None,
    ) -> str:
        body: dict[str, Any] = {
            "ts": round(created, 3),
            "level": levelname,
            "logger": name,
            "msg": message,
        }
        body.update(fields)
        if exc_text:
            body["exc"] = exc_text
        return orjson.dumps(body, default=str).decode()


def setup_logging(
    log_format: LogFormat = "plain",
    level: str = "INFO",
    *,
    stream: IO[str] | None = None,
    secrets: tuple[str | None, ...] = (),
) -> logging.Handler:
    """Install (or replace) the kiro-proxy handler on the root logger. Idempotent.
    `secrets` (the admin password, the API key) are masked for the life of the process."""
    known_secrets.pin(*secrets)
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
    handler = LineHandler(stream or sys.stderr)
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
