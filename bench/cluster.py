"""Rate-limit use and 429s of edits spread over Ray workers that share one coordinator.

    python -m bench.cluster [--rpm 30] [--window 2.0] [--windows 10] [--latency 0.05]

An emulator on loopback allows ``rpm`` requests per ``window`` seconds for one API key. The same
``rpm * windows`` jobs run three ways, and each prints the figures of ``bench.ratelimit``:

* ``ray_1_worker`` / ``ray_2_workers``: ``inpaint_async.ray.edit_dataset`` on a local Ray cluster
  (``num_cpus=2``) with 1 and 2 workers, all sharing the key's coordinator actor;
* ``two_processes_without_coordinator``: the control — two runners with their own clients and
  nothing shared, as two machines would run without a coordinator (in one process here, so it
  needs no cluster).

``limit_share`` is the achieved throughput over the allowed one, ``(succeeded / elapsed) / (rpm /
window)``, with ``elapsed`` from the first request to the end of the last rate-limit window;
``share_429`` is 429 answers over all answers to ``/image/edit``. Targets (issue 11): with the
coordinator ``limit_share >= 0.95`` and ``share_429 <= 0.02``, as for one process.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any


def _png(shade: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (30, shade % 256, 200)).save(buf, format="PNG")
    return buf.getvalue()


def _figures(emu: Any, rpm: int, window: float, succeeded: int, seconds: float) -> dict[str, Any]:
    edits = [r for r in emu.requests if r.path.endswith("/image/edit")]
    first = min(r.at for r in edits)
    # The emulator opens a window at the first request after the previous one ended.
    start = first
    for at in sorted(r.at for r in edits):
        if at >= start + window:
            start = at
    last_reset = start + window
    elapsed = last_reset - first
    limited = sum(r.status == 429 for r in edits)
    achieved = sum(r.status == 200 for r in edits) / elapsed
    return {
        "succeeded": succeeded,
        "requests": len(edits),
        "answered_429": limited,
        "elapsed_s": round(elapsed, 3),
        "wall_s": round(seconds, 3),
        "limit_share": round(achieved / (rpm / window), 4),
        "share_429": round(limited / len(edits), 4),
    }


async def _ray_run(
    key: str, workers: int, rpm: int, window: float, windows: int, latency: float
) -> dict[str, Any]:
    import ray

    from inpaint_async.ray import edit_dataset
    from inpaint_async.testing import Emulator

    n = rpm * windows
    rows = [{"id": f"j{i}", "image": _png(i)} for i in range(n)]
    async with Emulator(
        api_keys={key: 1000},
        rate_limit_rpm=rpm,
        rate_limit_window=window,
        max_output_side=64,
        latency=latency,
    ) as emu:
        with tempfile.TemporaryDirectory() as tmp:
            ds = edit_dataset(
                ray.data.from_items(rows, override_num_blocks=workers * 2),
                prompt="bench",
                out_dir=tmp,
                base_url=emu.base_url,
                journal=Path(tmp) / "run.jsonl",
                concurrency=workers,
                batch_size=max(1, n // (workers * 4)),
            )
            t0 = time.perf_counter()
            out = await asyncio.to_thread(ds.take_all)
            seconds = time.perf_counter() - t0
        ok = sum(r["status"] == "succeeded" for r in out)
        return {"workers": workers, **_figures(emu, rpm, window, ok, seconds)}


async def _control(rpm: int, window: float, windows: int, latency: float) -> dict[str, Any]:
    from inpaint_async import InpaintClient
    from inpaint_async.batch import EditJob
    from inpaint_async.testing import Emulator

    n = rpm * windows
    async with Emulator(
        rate_limit_rpm=rpm, rate_limit_window=window, max_output_side=64, latency=latency
    ) as emu:
        with tempfile.TemporaryDirectory() as tmp:

            async def one(name: str) -> int:
                jobs = [
                    EditJob(image=_png(i), prompt="bench", output=Path(tmp) / name / f"{i}.png")
                    for i in range(n // 2)
                ]
                async with InpaintClient(emu.api_key, base_url=emu.base_url) as client:
                    summary = await client.batch(jobs, estimator=lambda job: 0).run()
                return summary.succeeded

            t0 = time.perf_counter()
            done = await asyncio.gather(one("a"), one("b"))
            seconds = time.perf_counter() - t0
        return {"workers": 2, **_figures(emu, rpm, window, sum(done), seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rpm", type=int, default=30, help="requests per window")
    parser.add_argument("--window", type=float, default=2.0, help="window length, seconds")
    parser.add_argument("--windows", type=int, default=10, help="windows' worth of jobs")
    parser.add_argument("--latency", type=float, default=0.05, help="server latency, seconds")
    args = parser.parse_args()
    sizes = (args.rpm, args.window, args.windows, args.latency)
    result: dict[str, Any] = {
        "rpm": args.rpm,
        "window_s": args.window,
        "jobs": args.rpm * args.windows,
    }
    result["two_processes_without_coordinator"] = asyncio.run(_control(*sizes))

    import ray

    # The key reaches the workers through the environment they inherit, never their arguments.
    key = "VENICE_INFERENCE_KEY_bench_" + secrets.token_hex(12)
    os.environ["VENICE_API_KEY"] = key
    os.environ.pop("VENICE_WALLET_KEY", None)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        for workers in (1, 2):
            label = "ray_1_worker" if workers == 1 else "ray_2_workers"
            result[label] = asyncio.run(_ray_run(key, workers, *sizes))
    finally:
        ray.shutdown()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
