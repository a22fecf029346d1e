"""Chaos soak: thousands of edits through the batch runner against a faulty emulator.

```bash
python -m reliability.soak [--jobs 5000] [--seed 1] [--keep DIR]
```

One batch runs against an in-process emulator that injects, on `/image/edit`, 10 % 503, 5 % 429
(model overloaded, `Retry-After: 1`), 2 % connection resets, 1 % 504 after charging and 1 %
truncated bodies; then a fault-free batch of the same size gives the reference wall time. Both
are checked against the journal, the emulator's ledger and request log, and the files on disk
(`check_run`, which the CI test reuses). Prints a JSON report; exits 1 when an invariant fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inpaint_async import InpaintClient, RetryPolicy
from inpaint_async.batch import BatchSummary, EditJob
from inpaint_async.testing import Emulator, FaultPlan, LedgerEntry, RequestRecord

from ._common import (
    TERMINAL,
    attribute_charges,
    decodes,
    duplicate_request_ids,
    part_files,
    read_records,
    states_by_job,
    undecodable_outputs,
    write_pngs,
)

#: The fault mix on /image/edit (probability per request that reaches the fault point).
EDIT_FAULTS: Mapping[str, float] = {
    "503": 0.10,
    "429_overloaded": 0.05,
    "reset": 0.02,
    "504_after_charge": 0.01,
    "truncate": 0.01,
}
#: Faults after which the request was sent and no usable answer came back.
UNKNOWN_KINDS = ("504_after_charge", "reset", "truncate")
#: Faults the emulator charges for.
CHARGED_KINDS = frozenset({"504_after_charge", "truncate"})
#: Fast backoff, and a 1 s Retry-After is honoured (the default policy would honour it too).
SOAK_RETRY = RetryPolicy(max_attempts=4, initial_wait=0.05, max_wait=0.5, max_retry_after=5)
#: Distinct input images the jobs cycle through (each job still has its own prompt and output).
INPUTS = 64


@dataclass
class BatchRun:
    """Everything one batch left behind, for `check_run`."""

    job_ids: list[str]
    outcome_ids: list[str]
    summary: BatchSummary
    records: list[dict[str, Any]]
    charges: list[LedgerEntry]
    requests: list[RequestRecord]
    out_dir: Path
    wall_s: float
    faults: bool


async def run_batch(
    workdir: Path,
    *,
    jobs: int,
    seed: int,
    faults: Mapping[str, float] | None,
    retry_after: int = 1,
    retry: RetryPolicy = SOAK_RETRY,
) -> BatchRun:
    """Run ``jobs`` edits through ``client.batch`` against a fresh emulator; collect the evidence."""
    inputs = write_pngs(workdir / "in", min(INPUTS, jobs))
    out_dir = workdir / "out"
    journal = workdir / "journal.jsonl"
    plan = FaultPlan(seed=seed, rules={"/image/edit": dict(faults)} if faults else {})
    emu = Emulator(
        rate_limit_rpm=10_000_000,
        max_output_side=64,
        overloaded_retry_after=retry_after,
        faults=plan,
    )
    emu.add_api_key(emu.api_key, 1_000_000)  # 5,000 paid edits need more than the default $100
    batch = [
        EditJob(
            id=f"job{i:05d}",
            image=inputs[i % len(inputs)],
            prompt=f"soak edit {i}",
            output=out_dir / f"{i:05d}.png",
        )
        for i in range(jobs)
    ]
    async with emu, InpaintClient(emu.api_key, base_url=emu.base_url, retry=retry) as client:
        started = time.perf_counter()
        runner = client.batch(batch, journal=journal)
        outcome_ids = [o.job_id async for o in runner]
        wall = time.perf_counter() - started
        charges = emu.charges_for(emu.api_key)
        requests = list(emu.requests)
    return BatchRun(
        job_ids=[str(j.id) for j in batch],
        outcome_ids=outcome_ids,
        summary=runner.summary,
        records=read_records(journal),
        charges=charges,
        requests=requests,
        out_dir=out_dir,
        wall_s=wall,
        faults=bool(faults),
    )


def check_run(run: BatchRun) -> dict[str, Any]:
    """Check one batch's invariants; the report's ``violations`` lists every one that failed.

    Invariants: each job has exactly one outcome and exactly one terminal journal record (after
    its one ``sent``); no request id is charged twice and no job is charged twice; every charge
    belongs to a journalled job; every success decodes and no ``.part`` file is left; the
    unknown outcomes are exactly the injected 504-after-charge, reset and truncate faults, kind
    by kind; resets are not charged, 504-after-charge and truncate are charged exactly once.
    """
    violations: list[str] = []
    summary = run.summary
    states = states_by_job(run.records)
    expected = set(run.job_ids)

    # Nothing lost: one outcome from the runner and one terminal record in the journal per job.
    outcome_counts = Counter(run.outcome_ids)
    lost = sorted(
        jid
        for jid in expected
        if outcome_counts[jid] != 1 or [s for s in states.get(jid, []) if s in TERMINAL] == []
    )
    bad_histories = sorted(
        jid
        for jid, history in states.items()
        if history[0] != "sent" or sum(s in TERMINAL for s in history) != 1
    )
    strangers = sorted(set(states) - expected)
    if lost:
        violations.append(
            f"{len(lost)} jobs lost (no single outcome / terminal record): {lost[:5]}"
        )
    if bad_histories:
        violations.append(f"{len(bad_histories)} jobs without exactly one terminal record")
    if strangers:
        violations.append(f"{len(strangers)} journalled jobs that were never submitted")

    terminal = {
        str(r["job"]): r for r in run.records if r["state"] in TERMINAL
    }  # one per job (checked above)
    by_state = Counter(str(r["state"]) for r in terminal.values())
    statuses = {
        "succeeded": summary.succeeded,
        "failed": summary.failed,
        "outcome_unknown": summary.outcome_unknown,
        "skipped": summary.skipped,
    }
    if (by_state["succeeded"], by_state["failed"], by_state["unknown"]) != (
        summary.succeeded,
        summary.failed,
        summary.outcome_unknown,
    ):
        violations.append(f"journal states {dict(by_state)} disagree with the summary {statuses}")
    if sum(statuses.values()) != len(expected):
        violations.append(f"outcomes add up to {sum(statuses.values())}, not {len(expected)}")

    # Money: every charge belongs to one journalled job, and no job or request pays twice.
    per_job, orphans = attribute_charges(run.charges, run.records)
    charged_twice = sorted(jid for jid, charges in per_job.items() if len(charges) > 1)
    double_billed = duplicate_request_ids(run.charges)
    if charged_twice:
        violations.append(f"{len(charged_twice)} jobs charged twice: {charged_twice[:5]}")
    if double_billed:
        violations.append(f"{double_billed} request ids charged more than once")
    if orphans:
        violations.append(f"{len(orphans)} charges not attributable to a job")
    charged_ids = {c.request_id for c in run.charges}
    unpaid_successes = [
        jid
        for jid, r in terminal.items()
        if r["state"] == "succeeded" and r.get("request_id") not in charged_ids
    ]
    if unpaid_successes:
        violations.append(f"{len(unpaid_successes)} successes with no charge")

    # Files: every success decodes, nothing half-written is left.
    undecodable = [
        jid
        for jid, r in terminal.items()
        if r["state"] == "succeeded" and not decodes(Path(str(r["output"])))
    ]
    undecodable += [str(p) for p in undecodable_outputs(run.out_dir)]
    parts = part_files(run.out_dir)
    if undecodable:
        violations.append(f"{len(undecodable)} outputs fail to decode: {undecodable[:5]}")
    if parts:
        violations.append(f"{len(parts)} .part files left: {[str(p) for p in parts[:5]]}")

    # Unknown outcomes: exactly the injected faults that leave the outcome unknown.
    edits = [r for r in run.requests if r.path.endswith("/image/edit")]
    injected = Counter(r.fault for r in edits if r.fault)
    ids_by_fault: dict[str, set[str]] = {}
    for r in edits:
        if r.fault:
            ids_by_fault.setdefault(r.fault, set()).add(r.request_id)
    unknown_records = [r for r in terminal.values() if r["state"] == "unknown"]
    unknown_by_kind: Counter[str] = Counter()
    for record in unknown_records:
        request_id = record.get("request_id")
        kind = next((k for k in UNKNOWN_KINDS if request_id in ids_by_fault.get(k, ())), None)
        if kind is None and not request_id:
            kind = "reset"  # no status line came back, so no request id: the connection dropped
        unknown_by_kind[kind or "other"] += 1
    charge_count: Counter[str | None] = Counter(c.request_id for c in run.charges)
    unknown_kinds: dict[str, dict[str, int]] = {}
    for kind in UNKNOWN_KINDS:
        ids = ids_by_fault.get(kind, set())
        unknown_kinds[kind] = {
            "injected": injected[kind],
            "unknown": unknown_by_kind[kind],
            "charged": sum(charge_count[i] for i in ids),
            "charged_exactly_once": sum(charge_count[i] == 1 for i in ids),
        }
        if unknown_by_kind[kind] != injected[kind]:
            violations.append(f"{kind}: {unknown_by_kind[kind]} unknown, {injected[kind]} injected")
        expected_charges = injected[kind] if kind in CHARGED_KINDS else 0
        if unknown_kinds[kind]["charged"] != expected_charges or (
            kind in CHARGED_KINDS and unknown_kinds[kind]["charged_exactly_once"] != injected[kind]
        ):
            violations.append(
                f"{kind}: charged {unknown_kinds[kind]['charged']}, expected {expected_charges}"
            )
    injected_unknown = sum(injected[k] for k in UNKNOWN_KINDS)
    if unknown_by_kind["other"]:
        violations.append(f"{unknown_by_kind['other']} unknown outcomes without an injected fault")
    if summary.outcome_unknown != injected_unknown:
        violations.append(
            f"{summary.outcome_unknown} unknown outcomes, {injected_unknown} injected"
        )
    expected_total = summary.succeeded + injected["504_after_charge"] + injected["truncate"]
    if len(run.charges) != expected_total:
        violations.append(f"{len(run.charges)} charges, expected {expected_total}")

    return {
        "jobs": len(expected),
        "faults": run.faults,
        "wall_s": round(run.wall_s, 2),
        "edits_per_s": round(len(expected) / run.wall_s, 1) if run.wall_s else None,
        "outcomes": statuses,
        "failures": dict(summary.failures),
        "requests": len(edits),
        "injected": dict(sorted(injected.items())),
        "jobs_lost": len(set(lost) | set(bad_histories)),
        "jobs_charged_twice": len(charged_twice),
        "request_ids_charged_twice": double_billed,
        "charges": len(run.charges),
        "charges_not_attributable": len(orphans),
        "outputs_undecodable": len(undecodable),
        "part_files": len(parts),
        "unknown": {
            "total": summary.outcome_unknown,
            "injected": injected_unknown,
            **unknown_kinds,
        },
        "violations": violations,
    }


async def soak(workdir: Path, *, jobs: int, seed: int) -> dict[str, Any]:
    """The faulted batch, then the fault-free one; both checked, with the wall-time ratio."""
    faulted = check_run(
        await run_batch(workdir / "faulted", jobs=jobs, seed=seed, faults=EDIT_FAULTS)
    )
    clean = check_run(await run_batch(workdir / "clean", jobs=jobs, seed=seed, faults=None))
    ratio = faulted["wall_s"] / clean["wall_s"] if clean["wall_s"] else None
    return {
        "command": f"python -m reliability.soak --jobs {jobs} --seed {seed}",
        "fault_mix": dict(EDIT_FAULTS),
        "retry_policy": {
            "max_attempts": SOAK_RETRY.max_attempts,
            "initial_wait": SOAK_RETRY.initial_wait,
            "max_wait": SOAK_RETRY.max_wait,
            "max_retry_after": SOAK_RETRY.max_retry_after,
            "retry_unknown_outcome": SOAK_RETRY.retry_unknown_outcome,
        },
        "faulted": faulted,
        "fault_free": clean,
        "wall_time_ratio": round(ratio, 2) if ratio else None,
        "ok": not faulted["violations"] and not clean["violations"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability.soak", description=__doc__)
    parser.add_argument("--jobs", type=int, default=5000, help="edits per batch (default 5000)")
    parser.add_argument("--seed", type=int, default=1, help="fault plan seed (default 1)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args(argv)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        report = asyncio.run(soak(args.keep, jobs=args.jobs, seed=args.seed))
    else:
        with tempfile.TemporaryDirectory(prefix="inpaint-soak-") as tmp:
            report = asyncio.run(soak(Path(tmp), jobs=args.jobs, seed=args.seed))
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
