"""Fixtures for the image-surface tests: images made at runtime, a recording loopback server."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from inpaint_async import BearerAuth, InpaintClient
from inpaint_async.testing import Emulator


def png_bytes(width: int = 300, height: int = 300, rgb: bytes = b"\x80\x40\x20") -> bytes:
    """A valid solid-colour PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + rgb * width for _ in range(height))
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 1))
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")


PNG = png_bytes()
PNG_B = png_bytes(320, 240, b"\x10\x90\x30")


def emulator_client(emu: Emulator, **options: Any) -> InpaintClient:
    return InpaintClient(auth=BearerAuth(emu.api_key), base_url=emu.base_url, **options)


def image_posts(emu: Emulator) -> list[str]:
    """The image routes the emulator received (GET /models excluded)."""
    return [r.path for r in emu.requests if r.method == "POST"]


@dataclass
class Recorder:
    """A loopback server that records each request's body and answers with a PNG."""

    base_url: str = ""
    seen: list[dict[str, Any]] = field(default_factory=list)
    respond: Callable[[web.Request], web.StreamResponse] | None = None

    def client(self, **options: Any) -> InpaintClient:
        return InpaintClient(
            auth=BearerAuth("rec-key-" + "0" * 8), base_url=self.base_url, **options
        )


async def _record(request: web.Request) -> dict[str, Any]:
    info: dict[str, Any] = {
        "path": request.path,
        "method": request.method,
        "query": dict(request.query),
        "headers": dict(request.headers),
        "fields": [],
        "files": [],
    }
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/"):
        reader = await request.multipart()
        async for part in reader:
            if part.filename:  # type: ignore[union-attr]
                data = await part.read()  # type: ignore[union-attr]
                info["files"].append((part.name, part.filename, bytes(data)))  # type: ignore[union-attr]
            else:
                info["fields"].append((part.name, await part.text()))  # type: ignore[union-attr]
    elif ctype.startswith("application/json"):
        info["json"] = await request.json()
    return info


@pytest.fixture
async def recorder(serve_app: Callable[[web.Application], Awaitable[str]]) -> Recorder:
    """A server on 127.0.0.1 that records every request and answers with a PNG (or ``respond``)."""
    box = Recorder()

    async def handle(request: web.Request) -> web.StreamResponse:
        box.seen.append(await _record(request))
        if box.respond is not None:
            return box.respond(request)
        return web.Response(
            body=PNG, headers={"content-type": "image/png", "cf-ray": f"ray-{len(box.seen)}"}
        )

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handle)
    box.base_url = await serve_app(app) + "/api/v1"
    return box
