"""Schemathesis against the gateway's own OpenAPI document (issue 10: "finds no 500s").

The real app (uvicorn, real HTTP) runs on the Kiro simulator with API keys required, and every
documented operation — the model routes, health/models/stats and the admin API behind a logged-in
session — gets schema-valid and schema-invalid requests. Checks: never a 5xx, every status and
content type documented, bodies match the response schemas where the document has them, and a
route that declares a key refuses a request without one.

Bounded and reproducible: a fixed number of examples per operation, derandomized.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from kiro_proxy.app import create_app
from kiro_proxy.settings import Settings
from tests.e2e.stack import LiveStack

API_KEY = "sk-schemathesis-7b1f0c"
ADMIN_PASSWORD = "Fuzz-Admin-Pw-9921q"
# Per operation and generation mode (schema-valid, schema-invalid): about 400 requests in all.
MODEL_EXAMPLES = 20
ADMIN_EXAMPLES = 4
MODEL_ROUTES = {
    "/v1/messages",
    "/v1/messages/count_tokens",
    "/cc/v1/messages",
    "/cc/v1/messages/count_tokens",
    "/v1/chat/completions",
    "/v1/responses",
}

# Logging out would end the session the rest of the run uses; the route is covered elsewhere.
EXCLUDED = {("POST", "/admin/api/logout")}

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    ignored_auth,
]


@dataclass(frozen=True)
class Credentials:
    cookies: dict[str, str]
    csrf: str


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    with LiveStack(
        Path(tmp_path_factory.mktemp("schemathesis")),
        accounts=2,
        settings={
            "admin_password": ADMIN_PASSWORD,
            "require_api_key": True,
            "api_key": API_KEY,
            "max_body_bytes": 256 * 1024,
            "first_byte_timeout": 2.0,
            "idle_timeout": 2.0,
        },
    ) as live:
        yield live


@pytest.fixture(scope="module")
def admin(fuzz_stack: LiveStack) -> Credentials:
    response = httpx.post(
        f"{fuzz_stack.url}/admin/api/login", json={"password": ADMIN_PASSWORD}, timeout=10
    )
    response.raise_for_status()
    return Credentials(dict(response.cookies), response.json()["csrfToken"])


def _document() -> dict[str, Any]:
    """The gateway's OpenAPI document, built without serving (test_live_document_is_this_one
    checks the served one is the same). Schemathesis' fixture-based loader does not run on the
    pytest in use, so the schema is loaded at import time."""
    data_dir = Path(tempfile.mkdtemp(prefix="kiro-openapi-"))
    try:
        settings_ = Settings(
            config_path=data_dir / "config.json", data_dir=data_dir, admin_password=ADMIN_PASSWORD
        )
        return create_app(settings_).openapi()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


DOCUMENT = _document()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS = [
    operation
    for operation in (result.ok() for result in SCHEMA.get_all_operations())
    if (operation.method.upper(), operation.path) not in EXCLUDED
]


def _examples(operation: Any) -> int:
    return MODEL_EXAMPLES if not operation.path.startswith("/admin/") else ADMIN_EXAMPLES


def test_live_document_is_this_one(fuzz_stack: LiveStack) -> None:
    served = httpx.get(f"{fuzz_stack.url}/openapi.json", timeout=10)
    assert served.status_code == 200
    assert served.json() == DOCUMENT


def test_every_model_route_is_fuzzed_with_a_request_body() -> None:
    fuzzed = {operation.path for operation in OPERATIONS if operation.body}
    assert MODEL_ROUTES <= fuzzed


def _runs() -> list[Any]:
    """Every operation with schema-valid data; those with a body or parameters (the security
    headers count) with schema-invalid data as well: nothing else can be made invalid."""
    runs = []
    for operation in OPERATIONS:
        modes = [GenerationMode.POSITIVE]
        if operation.body or any(True for _ in operation.iter_parameters()):
            modes.append(GenerationMode.NEGATIVE)
        runs += [
            pytest.param(operation, mode, id=f"{operation.label} {mode.value}") for mode in modes
        ]
    return runs


@pytest.mark.parametrize(("operation", "mode"), _runs())
def test_gateway_answers_generated_requests_without_server_errors(
    operation: Any, mode: GenerationMode, fuzz_stack: LiveStack, admin: Credentials
) -> None:
    headers = {"x-api-key": API_KEY}
    cookies: dict[str, str] = {}
    if operation.path.startswith("/admin/api/"):
        headers = {"x-csrf-token": admin.csrf}
        cookies = admin.cookies

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=_examples(operation),
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call_and_validate(
            base_url=fuzz_stack.url, headers=headers, cookies=cookies, checks=CHECKS, timeout=15
        )
        statuses[response.status_code] += 1

    statuses: Counter[int] = Counter()
    run()
    if operation.path in MODEL_ROUTES and mode is GenerationMode.POSITIVE:
        # Schema-valid requests must get through (key accepted, upstream answered) often enough
        # that the relay and the reply renderers are fuzzed, not only the parsers.
        assert statuses[200] >= _examples(operation) // 4, dict(statuses)
