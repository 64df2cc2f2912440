"""Client API keys: create (the key is shown once; only its hash is stored), list, revoke."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from kiro_proxy.admin.common import camel_keys, json_response, not_found, runtime_of
from kiro_proxy.admin.session import require_admin
from kiro_proxy.errors import InvalidRequestError

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin/api", dependencies=[Depends(require_admin)])


class KeyCreate(BaseModel):
    name: str = Field(max_length=200)


@router.get("/keys")
async def list_keys(request: Request) -> Response:
    keys = await runtime_of(request).api_keys.list_all()
    return json_response({"keys": [camel_keys(k) for k in keys]})


@router.post("/keys")
async def create_key(request: Request, body: KeyCreate) -> Response:
    name = body.name.strip()
    if not name:
        raise InvalidRequestError("give the key a name (e.g. who or what uses it)", param="name")
    key_id, key = await runtime_of(request).create_api_key(name)
    log.info("admin created API key %r", name)
    # The only time the plaintext key leaves the server.
    return json_response({"success": True, "id": key_id, "name": name, "key": key})


@router.delete("/keys/{key_id}")
async def revoke_key(request: Request, key_id: str) -> Response:
    if not await runtime_of(request).revoke_api_key(key_id):
        raise not_found("active API key", key_id)
    log.info("admin revoked API key %s", key_id)
    return json_response({"success": True})
