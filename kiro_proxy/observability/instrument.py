"""Connects the pool runtime and the Kiro client to the metrics and the request log.

The pool's usage recorder already sees every finished request (model, account, tokens, credits,
time to first token, error kind) exactly once, so observing its `record` gives complete figures
without a second bookkeeping path in the request pipeline. Refreshes are counted at the client's
two refresh calls, the only place every refresh (on demand or background) passes through.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from kiro_proxy.observability.metrics import Metrics
from kiro_proxy.observability.middleware import RequestTracker
from kiro_proxy.observability.redaction import known_secrets

log = logging.getLogger(__name__)

_REFRESH_CALLS = {"refresh_social": "social", "refresh_oidc": "idc"}
# A refresh call's own secret arguments.
_CREDENTIAL_PARAMETERS = ("refresh_token", "client_secret")


def observe_usage(recorder: Any, metrics: Metrics, tracker: RequestTracker) -> None:
    """Wrap `recorder.record(row)` so every usage row also feeds metrics and the log line."""
    original: Callable[[Any], None] = recorder.record

    @functools.wraps(original)
    def record(row: Any) -> None:
        original(row)
        try:
            metrics.observe_usage(row)
            info = tracker.get(row.request_id)
            if info is not None:
                info.model = row.model
                info.account = row.account_id
                info.stream = row.stream
                info.error_kind = row.error_kind
        except Exception:  # observability must never break a request
            log.exception("could not observe a usage row")

    recorder.record = record


def observe_refreshes(client: Any, metrics: Metrics) -> None:
    """Count token refresh calls (and their outcome) at the Kiro client."""
    for name, method in _REFRESH_CALLS.items():
        original = getattr(client, name, None)
        if original is None:
            continue
        setattr(client, name, _counted(original, method, metrics))


def _counted(
    original: Callable[..., Awaitable[Any]], method: str, metrics: Metrics
) -> Callable[..., Awaitable[Any]]:
    try:
        signature: inspect.Signature | None = inspect.signature(original)
    except (TypeError, ValueError):
        signature = None

    @functools.wraps(original)
    async def call(*args: Any, **kwargs: Any) -> Any:
        # The account's long-lived secrets, registered again at each refresh: the registry
        # drops its least recently added values first, and these must outlive the tokens.
        known_secrets.add(*_credentials(signature, args, kwargs))
        try:
            grant = await original(*args, **kwargs)
        except BaseException:
            metrics.observe_refresh(method, "failure")
            raise
        metrics.observe_refresh(method, "success")
        # A fresh token is a secret the log must never show, whatever its shape.
        known_secrets.add(
            getattr(grant, "access_token", None), getattr(grant, "refresh_token", None)
        )
        return grant

    return call


def _credentials(
    signature: inspect.Signature | None, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> list[str]:
    if signature is None:
        return []
    try:
        arguments = signature.bind(*args, **kwargs).arguments
    except TypeError:
        return []
    values = (arguments.get(name) for name in _CREDENTIAL_PARAMETERS)
    return [value for value in values if isinstance(value, str)]


def account_states(pool: Any) -> Callable[[], Iterator[str]]:
    """Scrape-time view of the pool: each account's state ("usable" or why it is not)."""

    def states() -> Iterator[str]:
        now = pool.clock()
        for account in pool.all():
            yield account.unusable_reason(now) or "usable"

    return states


def register_account_secrets(pool: Any) -> None:
    """Teach the redaction filter the secrets of every account the pool holds."""
    for account in pool.all():
        known_secrets.add(account.access_token, account.refresh_token, account.client_secret)
