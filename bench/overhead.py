"""Client CPU per edit: InpaintClient (Bearer) vs raw aiohttp vs raw httpx, in one run.

    python -m bench.overhead [--n 2000] [--concurrency 32] [--image-kb 150]

The same N multipart edits (a 150 KB image from disk plus the prompt) at concurrency C go to a loopback
server in another process that answers with a fixed 150 KB body; the client process's CPU seconds
(threads included) are measured per variant, best of ``--rounds`` interleaved rounds. Two raw aiohttp
baselines: ``aiohttp`` passes the open file to FormData (what most code does), ``aiohttp_bytes`` reads
the file into memory first (the leanest possible).

Two more pairs: a ``bytes`` input the caller already holds (``inpaint_bytes`` against raw
multipart of the same bytes, ``aiohttp_held``) and a base64 string (``inpaint_b64`` against raw
aiohttp posting ``json={"image": b64, ...}``). Targets: base64 ≤ 1.0×, bytes and path ≤ 1.1× the
raw multipart call (the path against ``aiohttp_bytes``, which reads the file per call).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from ._util import cpu_seconds, loopback_server, png_file

Variant = Callable[[str, Path, int, int], Awaitable[None]]


async def _gather(n: int, concurrency: int, one: Callable[[], Awaitable[None]]) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def run() -> None:
        async with sem:
            await one()

    await asyncio.gather(*(run() for _ in range(n)))


async def raw_aiohttp(base: str, image: Path, n: int, concurrency: int) -> None:
    url = base + "/image/edit"
    async with aiohttp.ClientSession() as session:

        async def one() -> None:
            with open(image, "rb") as fh:
                form = aiohttp.FormData()
                form.add_field("prompt", "add a red hat")
                form.add_field("image", fh, filename=image.name, content_type="image/png")
                async with session.post(
                    url, data=form, headers={"Authorization": "Bearer bench-key"}
                ) as resp:
                    body = await resp.read()
                    assert resp.status == 200 and body

        await _gather(n, concurrency, one)


async def raw_aiohttp_bytes(base: str, image: Path, n: int, concurrency: int) -> None:
    """The leanest raw baseline: read the file in the loop, post the bytes."""
    url = base + "/image/edit"
    async with aiohttp.ClientSession() as session:

        async def one() -> None:
            form = aiohttp.FormData()
            form.add_field("prompt", "add a red hat")
            form.add_field(
                "image", image.read_bytes(), filename=image.name, content_type="image/png"
            )
            async with session.post(
                url, data=form, headers={"Authorization": "Bearer bench-key"}
            ) as resp:
                body = await resp.read()
                assert resp.status == 200 and body

        await _gather(n, concurrency, one)


async def raw_aiohttp_held(base: str, image: Path, n: int, concurrency: int) -> None:
    """Raw multipart of bytes the caller already holds (the baseline of a ``bytes`` input)."""
    url = base + "/image/edit"
    data = image.read_bytes()
    async with aiohttp.ClientSession() as session:

        async def one() -> None:
            form = aiohttp.FormData()
            form.add_field("prompt", "add a red hat")
            form.add_field("image", data, filename=image.name, content_type="image/png")
            async with session.post(
                url, data=form, headers={"Authorization": "Bearer bench-key"}
            ) as resp:
                body = await resp.read()
                assert resp.status == 200 and body

        await _gather(n, concurrency, one)


async def raw_aiohttp_b64(base: str, image: Path, n: int, concurrency: int) -> None:
    """Raw JSON with the image as a base64 string (the baseline of a base64 input)."""
    url = base + "/image/edit"
    b64 = base64.b64encode(image.read_bytes()).decode()
    async with aiohttp.ClientSession() as session:

        async def one() -> None:
            async with session.post(
                url,
                json={"image": b64, "prompt": "add a red hat"},
                headers={"Authorization": "Bearer bench-key"},
            ) as resp:
                body = await resp.read()
                assert resp.status == 200 and body

        await _gather(n, concurrency, one)


def _inpaint(kind: str) -> Variant:
    async def variant(base: str, image: Path, n: int, concurrency: int) -> None:
        from inpaint_async import BearerAuth, InpaintClient

        source: Path | bytes | str = image
        if kind == "bytes":
            source = image.read_bytes()
        elif kind == "base64":
            source = base64.b64encode(image.read_bytes()).decode()
        async with InpaintClient(auth=BearerAuth("bench-key"), base_url=base) as client:

            async def one() -> None:
                result = await client.images.edit(source, "add a red hat")
                assert result.data

            await _gather(n, concurrency, one)

    return variant


async def inpaint_client(base: str, image: Path, n: int, concurrency: int) -> None:
    from inpaint_async import BearerAuth, InpaintClient

    async with InpaintClient(auth=BearerAuth("bench-key"), base_url=base) as client:

        async def one() -> None:
            result = await client.images.edit(image, "add a red hat")
            assert result.data

        await _gather(n, concurrency, one)


async def raw_httpx(base: str, image: Path, n: int, concurrency: int) -> None:
    import httpx

    url = base + "/image/edit"
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(limits=limits, timeout=300) as client:

        async def one() -> None:
            with open(image, "rb") as fh:
                resp = await client.post(
                    url,
                    data={"prompt": "add a red hat"},
                    files={"image": (image.name, fh, "image/png")},
                    headers={"Authorization": "Bearer bench-key"},
                )
                assert resp.status_code == 200 and resp.content

        await _gather(n, concurrency, one)


def measure(variant: Variant, base: str, image: Path, n: int, concurrency: int) -> float:
    asyncio.run(variant(base, image, min(n, 200), concurrency))  # warm-up
    start = cpu_seconds()
    asyncio.run(variant(base, image, n, concurrency))
    return cpu_seconds() - start


def run(
    n: int = 2000, concurrency: int = 32, image_kb: int = 150, rounds: int = 3
) -> dict[str, float]:
    """Measure every variant ``rounds`` times interleaved; keep each one's best CPU per 1,000 edits."""
    with tempfile.TemporaryDirectory() as tmp, loopback_server(image_kb * 1024) as base:
        image = png_file(Path(tmp), "input.png", image_kb * 1024)
        variants: dict[str, Variant] = {
            "aiohttp": raw_aiohttp,
            "aiohttp_bytes": raw_aiohttp_bytes,
            "inpaint_async": inpaint_client,
            "aiohttp_held": raw_aiohttp_held,
            "inpaint_bytes": _inpaint("bytes"),
            "aiohttp_b64": raw_aiohttp_b64,
            "inpaint_b64": _inpaint("base64"),
        }
        try:
            import httpx  # noqa: F401

            variants["httpx"] = raw_httpx
        except ImportError:
            pass
        best: dict[str, float] = {}
        for _ in range(rounds):
            for name, variant in variants.items():
                per_k = measure(variant, base, image, n, concurrency) / n * 1000
                best[name] = min(best.get(name, per_k), per_k)
    out = {f"cpu_s_per_1000_{k}": round(v, 3) for k, v in best.items()}
    out["ratio_inpaint_vs_aiohttp"] = round(best["inpaint_async"] / best["aiohttp"], 3)
    out["ratio_inpaint_vs_aiohttp_bytes"] = round(best["inpaint_async"] / best["aiohttp_bytes"], 3)
    out["ratio_bytes_input_vs_aiohttp"] = round(best["inpaint_bytes"] / best["aiohttp_held"], 3)
    out["ratio_base64_input_vs_aiohttp"] = round(best["inpaint_b64"] / best["aiohttp_b64"], 3)
    if "httpx" in best:
        out["ratio_inpaint_vs_httpx"] = round(best["inpaint_async"] / best["httpx"], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--image-kb", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(run(args.n, args.concurrency, args.image_kb, args.rounds), indent=2))


if __name__ == "__main__":
    main()
