"""Suite-wide guard: an aiohttp session or connector left unclosed fails the run loudly.

aiohttp reports one from its finalizer ("Unclosed client session", "Unclosed connector")
through the event loop's exception handler, i.e. as an error record of the `asyncio` logger,
whenever the garbage collector gets to it, often during another test. The handler here only
appends to a list (a finalizer may run anywhere, even inside the logging machinery: no locks
beyond the handler's own re-entrant one, no formatting); the test during which the report
arrives fails (at set-up when it came between two tests), and the session fails if one arrives after the last test.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator

import pytest

_LEAK_PREFIXES = ("Unclosed client session", "Unclosed connector")


class _LeakReports(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.reports: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.msg if isinstance(record.msg, str) else ""
        if message.startswith(_LEAK_PREFIXES):
            self.reports.append(message)


_reports = _LeakReports()
logging.getLogger("asyncio").addHandler(_reports)


def _take() -> list[str]:
    taken, _reports.reports[:] = list(_reports.reports), []
    return taken


@pytest.fixture(autouse=True)
def _no_unclosed_aiohttp() -> Iterator[None]:
    early = _take()
    if early:  # arrived between tests: left by an earlier test, collected only now
        pytest.fail(f"aiohttp reported unclosed object(s) before this test: {early}", pytrace=False)
    yield
    leaks = _take()
    if leaks:
        pytest.fail(f"aiohttp reported {len(leaks)} unclosed object(s): {leaks}", pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    gc.collect()
    leaks = _take()
    if leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"aiohttp reported unclosed object(s) after the tests: {leaks}")
