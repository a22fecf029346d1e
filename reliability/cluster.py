"""The cluster run, looped: 200 paid edits on 2 Ray workers of one wallet that starts at $0.

    python -m reliability.cluster [--runs 5] [--jobs 200] [--workers 2]

Each run starts a fresh emulator and a fresh coordinator actor, funds nothing (the wallet is below
the minimum, so the first edits meet a 402) and gives the workers a ``TopUpPolicy``. Invariants per
run: exactly one top-up credited, no request answered 429 (the wallet's 5 in-flight slots are
shared), every job succeeded, and the emulator's ledger reconciles with the outcomes (one charge per
succeeded job, same request ids, same total as the outcomes' prices). Prints a JSON report; exits 1
when an invariant fails. The CI-sized run is ``tests/cluster/test_edit_dataset.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

KEY = "0x" + "6e" * 32  # a throwaway test key, built at run time


def _png(shade: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (shade % 256, 90, 40)).save(buf, format="PNG")
    return buf.getvalue()


async def one_run(jobs: int, workers: int) -> dict[str, Any]:
    import ray

    from inpaint_async import RetryPolicy, TopUpPolicy, WalletAuth
    from inpaint_async.ray import actor_name, edit_dataset
    from inpaint_async.testing import Emulator

    address = WalletAuth(KEY).address.lower()
    try:  # a fresh coordinator per run: nothing carried over
        ray.kill(ray.get_actor(actor_name(address)), no_restart=True)
        time.sleep(1)
    except ValueError:
        pass
    policy = TopUpPolicy(
        amount_usd=20, max_total_usd=20, poll_interval=0.05, in_progress_backoff=0.05
    )
    rows = [{"id": f"job-{i:04d}", "image": _png(i)} for i in range(jobs)]
    async with Emulator(
        wallets={address: 0},
        rate_limit_rpm=100_000,
        max_output_side=64,
        settlement_delay=0.2,
        overloaded_retry_after=0,
    ) as emu:
        with tempfile.TemporaryDirectory() as tmp:
            ds = edit_dataset(
                ray.data.from_items(rows, override_num_blocks=workers * 2),
                prompt="add a red hat",
                out_dir=tmp,
                base_url=emu.base_url,
                top_up=policy,
                journal=Path(tmp) / "run.jsonl",
                concurrency=workers,
                batch_size=20,
                retry=RetryPolicy(initial_wait=0.01, max_wait=0.05),
            )
            t0 = time.perf_counter()
            out = await asyncio.to_thread(ds.take_all)
            seconds = time.perf_counter() - t0
        charges = emu.charges_for(address)
        statuses = Counter(r["status"] for r in out)
        violations = []
        if len(emu.credits_for(address)) != 1:
            violations.append(f"{len(emu.credits_for(address))} top-ups credited, expected 1")
        limited = sum(r.status == 429 for r in emu.requests)
        if limited:
            violations.append(f"{limited} requests answered 429")
        if statuses != {"succeeded": jobs}:
            violations.append(f"outcomes {dict(statuses)}")
        if {c.request_id for c in charges} != {r["request_id"] for r in out} or len(
            charges
        ) != jobs:
            violations.append("the ledger's charges are not the outcomes' requests")
        outcome_total = sum((Decimal(r["cost_usd"] or 0) for r in out), Decimal(0))
        if sum((c.amount_usd for c in charges), Decimal(0)) != outcome_total:
            violations.append("the ledger's total differs from the outcomes' prices")
    return {
        "seconds": round(seconds, 2),
        "succeeded": statuses.get("succeeded", 0),
        "top_ups": len(emu.credits_for(address)),
        "answered_429": limited,
        "charges": len(charges),
        "violations": violations,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    import ray

    os.environ["VENICE_WALLET_KEY"] = KEY  # the workers inherit it; it never travels in tasks
    os.environ.pop("VENICE_API_KEY", None)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        runs = [asyncio.run(one_run(args.jobs, args.workers)) for _ in range(args.runs)]
    finally:
        ray.shutdown()
    report = {
        "runs": len(runs),
        "jobs_per_run": args.jobs,
        "workers": args.workers,
        "runs_ok": sum(not r["violations"] for r in runs),
        "detail": runs,
    }
    print(json.dumps(report, indent=2))
    return 0 if report["runs_ok"] == len(runs) else 1


if __name__ == "__main__":
    sys.exit(main())
