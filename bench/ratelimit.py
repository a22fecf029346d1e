"""How much of the rate limit a batch uses, and how often it is answered 429.

    python -m bench.ratelimit [--rpm 60] [--window 2.0] [--windows 12] [--latency 0.05]

An emulator on loopback allows ``rpm`` requests per ``window`` seconds (fixed windows, opened by the
first request after the previous one ended, as the live API's ``x-ratelimit-reset-requests``
suggests). A batch of ``rpm * windows`` jobs runs with ``concurrency="auto"``. Printed as JSON:

* ``limit_share``: the throughput the batch achieved over the throughput the limit allows,
  ``(succeeded / elapsed) / (rpm / window)``, where ``elapsed`` runs from the first request to the
  end of the last rate-limit window (the last reset moment the server announced);
* ``share_429``: 429 answers over all answers to ``/image/edit``.

Targets (issue 5): ``limit_share >= 0.95``, ``share_429 <= 0.02``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (30, 120, 200)).save(buf, format="PNG")
    return buf.getvalue()


async def run(rpm: int, window: float, windows: int, latency: float) -> dict[str, Any]:
    from inpaint_async import InpaintClient
    from inpaint_async._headers import rate_limit_state
    from inpaint_async._wire import RawResponse
    from inpaint_async.batch import EditJob
    from inpaint_async.testing import Emulator

    png = _png()
    last_reset = 0.0

    def track(raw: RawResponse) -> None:
        nonlocal last_reset
        state = rate_limit_state(raw.headers, time.time())
        if state is not None and state.reset_at is not None:
            last_reset = max(last_reset, state.reset_at.timestamp())

    n = rpm * windows
    async with Emulator(
        rate_limit_rpm=rpm, rate_limit_window=window, max_output_side=64, latency=latency
    ) as emu:
        with tempfile.TemporaryDirectory() as tmp:
            jobs = [
                EditJob(image=png, prompt=f"bench {i}", output=Path(tmp) / f"{i}.png", id=str(i))
                for i in range(n)
            ]
            async with InpaintClient(emu.api_key, base_url=emu.base_url) as client:
                client._shared.setdefault("observers", []).append(track)
                runner = client.batch(jobs, estimator=lambda job: 0)
                summary = await runner.run()
        edits = [r for r in emu.requests if r.path.endswith("/image/edit")]
        first = min(r.at for r in edits)
        ok = sum(r.status == 200 for r in edits)
        limited = sum(r.status == 429 for r in edits)
    elapsed = last_reset - first
    achieved = ok / elapsed
    allowed = rpm / window
    return {
        "rpm": rpm,
        "window_s": window,
        "jobs": n,
        "succeeded": summary.succeeded,
        "failed": summary.failed,
        "requests": len(edits),
        "answered_429": limited,
        "elapsed_s": round(elapsed, 3),
        "achieved_per_s": round(achieved, 3),
        "allowed_per_s": round(allowed, 3),
        "limit_share": round(achieved / allowed, 4),
        "share_429": round(limited / len(edits), 4),
        "final_concurrency": runner.limiter.limit,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rpm", type=int, default=60, help="requests per window")
    parser.add_argument("--window", type=float, default=2.0, help="window length, seconds")
    parser.add_argument("--windows", type=int, default=12, help="windows' worth of jobs")
    parser.add_argument("--latency", type=float, default=0.05, help="server latency, seconds")
    args = parser.parse_args()
    result = asyncio.run(run(args.rpm, args.window, args.windows, args.latency))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
