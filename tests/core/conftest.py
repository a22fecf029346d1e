"""A tiny loopback aiohttp server for the core tests that need a real wire."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Loopback:
    base_url: str
    seen: list[dict[str, Any]] = field(default_factory=list)
    handler: Handler | None = None


async def _record_upload(request: web.Request, box: Loopback) -> dict[str, Any]:
    info: dict[str, Any] = {"headers": dict(request.headers), "fields": {}, "files": {}}
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/"):
        reader = await request.multipart()
        async for part in reader:
            if part.filename:  # type: ignore[union-attr]
                digest = hashlib.sha256()
                size = 0
                while chunk := await part.read_chunk(1 << 16):  # type: ignore[union-attr]
                    digest.update(chunk)
                    size += len(chunk)
                info["files"][part.name] = {
                    "filename": part.filename,  # type: ignore[union-attr]
                    "content_type": part.headers.get("content-type"),
                    "sha256": digest.hexdigest(),
                    "size": size,
                }
            else:
                info["fields"][part.name] = await part.text()  # type: ignore[union-attr]
    elif ctype.startswith("application/json"):
        info["json"] = await request.json()
    box.seen.append(info)
    return info


@pytest.fixture
async def loopback(serve_app: Callable[[web.Application], Awaitable[str]]) -> Loopback:
    """A server on 127.0.0.1 that records uploads and answers with ``box.handler``."""
    box = Loopback(base_url="")

    async def handle(request: web.Request) -> web.StreamResponse:
        await _record_upload(request, box)
        assert box.handler is not None
        return await box.handler(request)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handle)
    box.base_url = await serve_app(app) + "/api/v1"
    return box
