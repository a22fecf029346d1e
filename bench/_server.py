"""A loopback server in its own process that drains uploads and answers with a fixed image body
(and with the emulator's model catalogue on ``GET /models``, so catalogue estimates work).

Run as ``python -m bench._server PORT_FILE BODY_BYTES``: it writes its port to PORT_FILE and serves
until killed. Keeping it in another process means the client's CPU time is the client's alone.
"""

from __future__ import annotations

import asyncio
import struct
import sys
import zlib
from pathlib import Path

from aiohttp import web


async def main(port_file: Path, body_size: int) -> None:
    # A PNG signature and IHDR header (the client checks an image's header before accepting it).
    ihdr = struct.pack(">IIBBBBB", 512, 512, 8, 2, 0, 0, 0)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    head = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + crc
    body = head + b"\0" * (body_size - len(head))
    from inpaint_async.testing._catalogue import build_catalogue

    catalogue = build_catalogue()

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.method == "GET" and request.path.endswith("/models"):
            kind = request.query.get("type", "text")
            data = [m for m in catalogue if kind == "all" or m.get("type") == kind]
            return web.json_response({"object": "list", "type": kind, "data": data})
        async for _ in request.content.iter_chunked(1 << 16):
            pass
        if request.query.get("stream"):
            resp = web.StreamResponse(headers={"content-type": "image/png"})
            resp.content_length = body_size
            await resp.prepare(request)
            for i in range(0, body_size, 1 << 20):
                await resp.write(body[i : i + (1 << 20)])
            return resp
        return web.Response(
            body=body,
            headers={
                "content-type": "image/png",
                "cf-ray": "bench-ray",
                "x-venice-model-id": "firered-image-edit",
                "x-ratelimit-limit-requests": "1000000",
                "x-ratelimit-remaining-requests": "999999",
                "x-ratelimit-reset-requests": "1780580108941",
            },
        )

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    port_file.write_text(str(port))
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
