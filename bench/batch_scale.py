"""Batch bookkeeping: per-job cost from 1,000 to 100,000 jobs in one folder, and the runner's cost
over a plain ``asyncio.gather`` of edits.

    python -m bench.batch_scale [--sizes 1000,10000,100000] [--n 2000] [--rounds 3]

Two measurements:

* **scale** — ``client.batch`` over N jobs that all write into one output folder, against a
  near-instant server: an in-process transport that answers every edit at once and writes the
  output file (no network, no fsync; the folder on tmpfs when there is one), so what is left is the runner's and the client's own work.
  The client process's CPU per job must stay flat as N grows (``per_job_us_at_<N>``;
  ``scale_ratio`` = largest N over smallest). ``old_glob_ms_at_<N>`` is what the former
  per-job folder glob cost once in the final folder, for reference.
* **overhead** — the same N edits with ``output=`` (a path input, concurrency 32) sent to the
  loopback server of ``bench._server`` (another process) by a plain ``asyncio.gather`` under a
  semaphore and by ``client.batch(jobs, concurrency=32)`` with the journal off; CPU per job,
  best of interleaved rounds. ``batch_added_ms_per_job`` is the difference (target ≤ 0.3).
  The journal is reported separately: ``journal_added_ms_per_job`` (CPU, ``fsync=False``) and
  ``journal_fsync_wall_ms_per_job`` (the wall-clock cost of fsyncing every record).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import struct
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

from ._util import cpu_seconds, loopback_server, png_file

_CONCURRENCY = 32


def _instant_client() -> Any:
    """An InpaintClient whose transport answers at once: the catalogue, or a 1 KB image written
    to a temp file next to ``output`` (as the real transport does, without the fsync)."""
    from multidict import CIMultiDict, CIMultiDictProxy

    from inpaint_async import BearerAuth, InpaintClient
    from inpaint_async._transport import Transport
    from inpaint_async._wire import RawResponse
    from inpaint_async.testing._catalogue import build_catalogue

    catalogue = json.dumps(
        {"object": "list", "data": [m for m in build_catalogue() if m["type"] == "inpaint"]}
    ).encode()
    ihdr = struct.pack(">IIBBBBB", 512, 512, 8, 2, 0, 0, 0)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    head = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + crc
    image = head + b"\0" * (1024 - len(head))  # a readable PNG header: the client checks it
    ok = CIMultiDictProxy(
        CIMultiDict({"content-type": "image/png", "cf-ray": "bench", "x-venice-model-id": "m"})
    )
    js = CIMultiDictProxy(CIMultiDict({"content-type": "application/json"}))

    class InstantTransport(Transport):
        async def send(self, method: str, url: str, **kw: Any) -> RawResponse:
            if method == "GET":
                return RawResponse(200, js, content=catalogue)
            output: Path | None = kw.get("output")
            if output is None:
                return RawResponse(200, ok, content=image)
            # As the real transport: the body in a temp file; the client moves it into place.
            tmp = output.with_name(f".{output.name}.bench000.part")
            tmp.write_bytes(image)
            return RawResponse(200, ok, path=tmp, output=output, head=image, size=len(image))

    return InpaintClient(
        auth=BearerAuth("bench-key"), base_url="http://127.0.0.1:9/api/v1",
        _transport=InstantTransport(),
    )  # fmt: skip


async def _scale_run(folder: Path, n: int, image: bytes) -> float:
    from inpaint_async import EditJob

    jobs = (EditJob(image=image, prompt="p", output=folder / f"{i:07d}.png") for i in range(n))
    async with _instant_client() as client:
        start = time.process_time()
        summary = await client.batch(jobs, concurrency=_CONCURRENCY).run()
        spent = time.process_time() - start
    assert summary.succeeded == n, summary
    return spent


def scale(sizes: list[int]) -> dict[str, Any]:
    """CPU per job for each N, each run into a fresh folder that ends up holding N files."""
    # tmpfs when there is one: creating a file on this machine's disk costs about 1 ms and
    # varies with the other work on it, which would drown the bookkeeping being measured.
    where = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        image = png_file(Path(tmp), "in.png", 2048).read_bytes()
        asyncio.run(_scale_run(Path(tmp) / "warm", 200, image))
        out: dict[str, Any] = {"scale_folder": where or tempfile.gettempdir()}
        for n in sizes:
            folder = Path(tmp) / f"out{n}"
            per_job = asyncio.run(_scale_run(folder, n, image)) / n
            out[f"per_job_us_at_{n}"] = round(per_job * 1e6, 1)
            start = time.perf_counter()
            list(folder.glob(".0000001.png.*.part"))
            out[f"old_glob_ms_at_{n}"] = round((time.perf_counter() - start) * 1000, 2)
        first, last = min(sizes), max(sizes)
        out["scale_ratio"] = round(out[f"per_job_us_at_{last}"] / out[f"per_job_us_at_{first}"], 3)
    return out


async def _gather(base: str, image: Path, out: Path, n: int) -> None:
    from inpaint_async import BearerAuth, InpaintClient

    sem = asyncio.Semaphore(_CONCURRENCY)
    async with InpaintClient(auth=BearerAuth("bench-key"), base_url=base) as client:

        async def one(i: int) -> None:
            async with sem:
                result = await client.images.edit(image, "add a red hat", output=out / f"{i}.png")
                assert result.path is not None

        await asyncio.gather(*(one(i) for i in range(n)))


async def _batch(
    base: str, image: Path, out: Path, n: int, journal: Path | None, fsync: bool
) -> None:
    from inpaint_async import BearerAuth, EditJob, InpaintClient

    jobs = [EditJob(image=image, prompt="add a red hat", output=out / f"{i}.png") for i in range(n)]
    async with InpaintClient(auth=BearerAuth("bench-key"), base_url=base) as client:
        summary = await client.batch(
            jobs, concurrency=_CONCURRENCY, journal=journal, fsync=fsync
        ).run()
    assert summary.succeeded == n, summary


def overhead(n: int, rounds: int) -> dict[str, Any]:
    """CPU per job: plain gather vs client.batch (journal off, on, on with fsync)."""
    with tempfile.TemporaryDirectory() as tmp, loopback_server(1024) as base:
        root = Path(tmp)
        image = png_file(root, "input.png", 4096)
        variants = {
            "gather": lambda out: _gather(base, image, out, n),
            "batch": lambda out: _batch(base, image, out, n, None, False),
            "batch_journal": lambda out: _batch(base, image, out, n, out / "j.jsonl", False),
            "batch_journal_fsync": lambda out: _batch(base, image, out, n, out / "j.jsonl", True),
        }
        best_cpu: dict[str, float] = {}
        best_wall: dict[str, float] = {}
        run_no = 0
        for _ in range(rounds):
            for name, make in variants.items():
                run_no += 1
                warm = root / f"warm{run_no}"
                warm.mkdir()
                asyncio.run(_gather(base, image, warm, 100))
                out = root / f"run{run_no}"
                out.mkdir()
                cpu0, wall0 = cpu_seconds(), time.perf_counter()
                asyncio.run(make(out))
                cpu = (cpu_seconds() - cpu0) / n
                wall = (time.perf_counter() - wall0) / n
                best_cpu[name] = min(best_cpu.get(name, cpu), cpu)
                best_wall[name] = min(best_wall.get(name, wall), wall)
    ms = {k: v * 1000 for k, v in best_cpu.items()}
    return {
        "jobs": n,
        **{f"cpu_ms_per_job_{k}": round(v, 3) for k, v in ms.items()},
        "batch_added_ms_per_job": round(ms["batch"] - ms["gather"], 3),
        "journal_added_ms_per_job": round(ms["batch_journal"] - ms["batch"], 3),
        "journal_fsync_wall_ms_per_job": round(
            (best_wall["batch_journal_fsync"] - best_wall["batch_journal"]) * 1000, 3
        ),
        "target_batch_added_ms_per_job": 0.3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-overhead", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {}
    if not args.skip_scale:
        result.update(scale([int(s) for s in args.sizes.split(",")]))
    if not args.skip_overhead:
        result.update(overhead(args.n, args.rounds))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
