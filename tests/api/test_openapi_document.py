"""The OpenAPI document: request bodies for the raw-body model routes, refs that resolve,
security schemes, the 400 the gateway really sends instead of FastAPI's 422, and a cache."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from kiro_proxy.app import create_app
from kiro_proxy.settings import Settings

MODEL_ROUTES = {
    "/v1/messages": "AnthropicRequest",
    "/cc/v1/messages": "AnthropicRequest",
    "/v1/messages/count_tokens": "AnthropicCountTokensRequest",
    "/cc/v1/messages/count_tokens": "AnthropicCountTokensRequest",
    "/v1/chat/completions": "OpenAIChatRequest",
    "/v1/responses": "ResponsesRequest",
}


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    settings = Settings(
        config_path=tmp_path / "config.json", data_dir=tmp_path, admin_password="Doc-Pw-12345"
    )
    return create_app(settings)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _has_key(node: Any, wanted: str) -> bool:
    if isinstance(node, dict):
        return wanted in node or any(_has_key(v, wanted) for v in node.values())
    if isinstance(node, list):
        return any(_has_key(item, wanted) for item in node)
    return False


def test_model_routes_document_their_request_bodies(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    for path, model in MODEL_ROUTES.items():
        operation = paths[path]["post"]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{model}"}, path
        assert operation["security"] == [{"ApiKey": []}, {"Bearer": []}]
        assert {"200", "400", "401", "413", "429"} <= set(operation["responses"]), path
        assert "500" not in operation["responses"]


def test_every_ref_resolves_and_no_inline_defs_remain(app: FastAPI) -> None:
    document = app.openapi()
    components = document["components"]["schemas"]
    refs = set(_refs(document))
    assert refs, "the document has no refs at all"
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in components, ref
    assert not _has_key(document, "$defs")


def test_request_schemas_follow_the_parsers(app: FastAPI) -> None:
    components = app.openapi()["components"]["schemas"]
    messages = components["AnthropicRequest"]
    count = components["AnthropicCountTokensRequest"]
    chat = components["OpenAIChatRequest"]
    assert {"model", "max_tokens", "messages"} <= set(messages["required"])
    assert "max_tokens" not in count["required"]  # count_tokens needs no max_tokens
    assert messages["properties"]["messages"]["minItems"] == 1
    assert "minItems" not in count["properties"]["messages"]
    assert {"model", "messages"} <= set(chat["required"])
    # Discriminated unions keep their mapping, pointing into components.
    content = components["AnthropicMessage"]["properties"]["content"]
    assert _has_key(content, "discriminator")


def test_admin_routes_document_400_not_422_and_their_session(app: FastAPI) -> None:
    document = app.openapi()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    schemes = document["components"]["securitySchemes"]
    assert schemes["AdminSession"]["in"] == "cookie"
    assert schemes["AdminCsrf"] == {**schemes["AdminCsrf"], "in": "header", "name": "x-csrf-token"}
    for path, operations in document["paths"].items():
        if not path.startswith("/admin/api/"):
            continue
        for method, operation in operations.items():
            assert "422" not in operation["responses"], (method, path)
            assert "400" in operation["responses"], (method, path)
    keys = document["paths"]["/admin/api/keys"]
    assert keys["get"]["security"] == [{"AdminSession": []}]
    assert keys["post"]["security"] == [{"AdminSession": [], "AdminCsrf": []}]
    assert "security" not in document["paths"]["/admin/api/login"]["post"]
    login_body = document["paths"]["/admin/api/login"]["post"]["requestBody"]
    assert login_body["content"]["application/json"]["schema"]["required"] == ["password"]


def test_document_is_built_once_and_cheaply(app: FastAPI) -> None:
    started = time.perf_counter()
    first = app.openapi()
    built = time.perf_counter() - started
    started = time.perf_counter()
    assert app.openapi() is first
    cached = time.perf_counter() - started
    assert built < 2.0  # measured ≈ 40 ms; generous for a loaded CI machine
    assert cached < 0.01
