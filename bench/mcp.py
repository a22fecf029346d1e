"""What the agent server adds to one paid edit: sandbox, catalogue price, spend guard (SQLite
ledger reserve + commit) and the MCP round trip, against the same edit through the SDK.

    python -m bench.mcp [--n 200]

Both variants send N sequential $0.04 edits of one 256x256 PNG to the emulator on loopback (no
latency), writing each result to a file; the figure is wall time per call, best of 3 rounds. The
MCP variant uses an in-memory client session (handshake-era protocol) with ``--no-confirm``.
No target: it is reported in docs/performance.md so that a regression shows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path


async def main(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-mcp-") as tmp:
        return await _run(n, Path(tmp))


async def _run(n: int, root: Path) -> dict[str, float]:
    from mcp import Client
    from PIL import Image

    from inpaint_async import InpaintClient
    from inpaint_async.mcp import ServerOptions, build_server
    from inpaint_async.testing import Emulator

    async with Emulator(rate_limit_rpm=10**7, max_output_side=64) as emu:
        os.environ["VENICE_API_KEY"] = emu.api_key
        os.environ["VENICE_BASE_URL"] = emu.base_url
        (root / "in").mkdir()
        image = root / "in" / "a.png"
        Image.new("RGB", (256, 256), (40, 80, 160)).save(image)
        app = build_server(
            ServerOptions(
                in_dir=root / "in", out_dir=root / "out", ledger_path=root / "ledger.sqlite3",
                no_confirm=True, max_per_session_usd=None, max_per_day_usd=None,
            )
        )  # fmt: skip
        direct: list[float] = []
        via: list[float] = []
        async with InpaintClient() as client, Client(app.server, mode="legacy") as session:
            await client.images.edit(image, "warm up", output=root / "warm.png")
            await session.call_tool("edit_image", {"image": "a.png", "prompt": "warm up"})
            for r in range(3):
                t = time.perf_counter()
                for i in range(n):
                    await client.images.edit(image, "x", output=root / f"d{r}-{i}.png")
                direct.append((time.perf_counter() - t) / n)
                t = time.perf_counter()
                for _ in range(n):
                    result = await session.call_tool(
                        "edit_image", {"image": "a.png", "prompt": "x"}
                    )
                    assert not result.is_error, result.structured_content
                via.append((time.perf_counter() - t) / n)
        await app.aclose()
    d, v = min(direct) * 1000, min(via) * 1000
    return {"n": n, "sdk_ms_per_edit": round(d, 2), "mcp_ms_per_edit": round(v, 2),
            "mcp_overhead_ms": round(v - d, 2)}  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    print(json.dumps(asyncio.run(main(parser.parse_args().n))))
