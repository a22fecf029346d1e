"""Crash-resume: SIGKILL the `inpaint-async batch` command at random moments, resume each time.

```bash
python -m reliability.crash_resume [--kills 5] [--jobs 300] [--seed 1] [--keep DIR]
```

An in-process emulator (5 % 503 on `/image/edit`, 50 ms latency per edit) serves a subprocess
running `inpaint-async batch SRC --prompt ... --out OUT --journal J` (reached through
`VENICE_BASE_URL` and `VENICE_API_KEY`). The subprocess is killed with SIGKILL ``--kills`` times, each
time after a seeded random number of new journal records plus a random few milliseconds, and
restarted with `--resume`; the last `--resume` runs to the end. Jobs that were in flight at a kill
are journalled `sent` with nothing after (outcome unknown): `--resume` skips them, so a final
`--resume --rerun-unknown` pass finishes them and is reported separately (those jobs may pay twice,
which is why it is opt-in).

Checked from the journal, the emulator's ledger and the files: no job that was journalled
succeeded is sent or charged again; under its final name every output decodes at every kill and
at the end; no `.part` file is left at the end; the only charges no journal record names are those
of jobs killed in flight (at most one each). Prints a JSON report; exits 1 when an invariant fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inpaint_async.testing import Emulator, FaultPlan

from ._common import (
    attribute_charges,
    duplicate_request_ids,
    part_files,
    read_records,
    states_by_job,
    undecodable_outputs,
    write_pngs,
)

#: Seconds any one CLI run may take before the script gives up on it.
RUN_TIMEOUT = 300.0


@dataclass
class Kill:
    """What one SIGKILL left behind."""

    landed: bool
    after_records: int
    in_flight: list[str] = field(default_factory=list)
    succeeded_so_far: int = 0
    undecodable: int = 0
    part_files: int = 0
    charges: int = 0


def _env(emu: Emulator) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENICE_")}
    env.update(VENICE_API_KEY=emu.api_key, VENICE_BASE_URL=emu.base_url, NO_COLOR="1")
    return env


async def _start(args: Sequence[str], env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "inpaint_async.cli", *args, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _finish(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    try:
        _, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, err.decode(errors="replace")[-2000:]


async def crash_resume(
    workdir: Path,
    *,
    jobs: int,
    kills: int,
    seed: int,
    latency: float = 0.05,
    concurrency: int = 8,
    fault_503: float = 0.05,
) -> dict[str, Any]:
    """Run the kill / resume cycle and check it; the report's ``violations`` lists failures."""
    rng = random.Random(seed)
    src, out, journal = workdir / "src", workdir / "out", workdir / "journal.jsonl"
    write_pngs(src, jobs)
    plan = FaultPlan(seed=seed, rules={"/image/edit": {"503": fault_503}} if fault_503 else {})
    emu = Emulator(rate_limit_rpm=10_000_000, max_output_side=64, latency=latency, faults=plan)
    emu.add_api_key(emu.api_key, 1_000_000)
    args = ["batch", str(src), "--prompt", "add rain", "--out", str(out), "--journal",
            str(journal), "--concurrency", str(concurrency), "--quiet"]  # fmt: skip
    violations: list[str] = []
    kill_log: list[Kill] = []
    started = time.perf_counter()
    async with emu:
        env = _env(emu)
        for k in range(kills):
            so_far = read_records(journal)
            before = len(so_far)
            settled = {str(r["job"]) for r in so_far if r["state"] == "succeeded"}
            settled |= {j for kill in kill_log for j in kill.in_flight}  # skipped on resume
            # A random moment: after 1 .. 2x an even share of the records still to come (about
            # two per job: sent, then its outcome), never so late that the run ends first.
            to_come = 2 * (jobs - len(settled))
            target = rng.randint(1, max(1, min(2 * to_come // (kills - k + 1), to_come * 3 // 4)))
            proc = await _start(args + (["--resume"] if k else []), env)
            try:
                deadline = time.monotonic() + RUN_TIMEOUT
                while proc.returncode is None and time.monotonic() < deadline:
                    if len(read_records(journal)) - before >= target:
                        break
                    await asyncio.sleep(0.005)
                await asyncio.sleep(rng.uniform(0, 0.05))
                landed = proc.returncode is None
                if landed:
                    proc.send_signal(signal.SIGKILL)
                await proc.wait()
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            records = read_records(journal)
            last = {str(r["job"]): str(r["state"]) for r in records}
            kill = Kill(
                landed=landed and proc.returncode == -signal.SIGKILL,
                after_records=len(records) - before,
                in_flight=sorted(
                    j
                    for j, s in last.items()
                    if s == "sent" and not any(j in kill.in_flight for kill in kill_log)
                ),
                succeeded_so_far=sum(s == "succeeded" for s in last.values()),
                undecodable=len(undecodable_outputs(out)),
                part_files=len(part_files(out)),
                charges=len(emu.charges_for(emu.api_key)),
            )
            kill_log.append(kill)
            if not kill.landed:
                violations.append(f"kill {k + 1} did not land: the run ended first")
            if kill.undecodable:
                violations.append(f"kill {k + 1}: {kill.undecodable} undecodable outputs")

        resume_code, resume_err = await _finish(await _start([*args, "--resume"], env))
        after_resume = read_records(journal)
        charges_after_resume = emu.charges_for(emu.api_key)
        rerun_code: int | None = None
        rerun_err = ""
        last = {str(r["job"]): str(r["state"]) for r in after_resume}
        unknown_jobs = sorted(j for j, s in last.items() if s in ("sent", "unknown"))
        if unknown_jobs:
            rerun_code, rerun_err = await _finish(
                await _start([*args, "--resume", "--rerun-unknown"], env)
            )
        charges = emu.charges_for(emu.api_key)
    wall = time.perf_counter() - started

    records = read_records(journal)
    states = states_by_job(records)
    killed_in_flight = sorted({j for kill in kill_log for j in kill.in_flight})

    # No success re-run: the journal never sends a succeeded job again, the ledger never
    # charges it again.
    rerun_succeeded: set[str] = set()
    for jid, history in states.items():
        if "succeeded" in history and "sent" in history[history.index("succeeded") :]:
            rerun_succeeded.add(jid)
    per_job, orphans = attribute_charges(charges, records)
    succeeded_at: dict[str, float] = {}
    for record in records:
        if record["state"] == "succeeded":
            succeeded_at.setdefault(str(record["job"]), float(record["ts"]))
    for jid, job_charges in per_job.items():
        first = succeeded_at.get(jid)
        if first is not None and any(c.at > first for c in job_charges):
            rerun_succeeded.add(jid)
    if rerun_succeeded:
        violations.append(
            f"{len(rerun_succeeded)} succeeded jobs re-run: {sorted(rerun_succeeded)[:5]}"
        )

    # Money before the opt-in pass: every charge is a journalled job's or a killed in-flight one's.
    per_job_resume, orphans_resume = attribute_charges(charges_after_resume, after_resume)
    charged_twice_resume = sorted(j for j, c in per_job_resume.items() if len(c) > 1)
    if charged_twice_resume:
        violations.append(f"{len(charged_twice_resume)} jobs charged twice without --rerun-unknown")
    if len(orphans_resume) > len(killed_in_flight):
        violations.append(
            f"{len(orphans_resume)} unattributed charges, only {len(killed_in_flight)} jobs "
            "were killed in flight"
        )
    if duplicate_request_ids(charges):
        violations.append("a request id was charged twice")

    # The end: every job succeeded exactly once, every output decodes, nothing partial is left.
    final_ok = rerun_code == 0 if unknown_jobs else resume_code == 0
    if not final_ok:
        violations.append(f"the last run exited {rerun_code if unknown_jobs else resume_code}")
    missing = sorted(
        str(p.name) for p in src.iterdir() if not (out / p.name).exists()
    )  # folder jobs keep the stem and the png format
    not_once = sorted(j for j, h in states.items() if h.count("succeeded") != 1)
    unfinished = sorted(j for j, h in states.items() if h[-1] != "succeeded")
    if len(states) != jobs or missing or not_once or unfinished:
        violations.append(
            f"{len(states)} journalled jobs of {jobs}; outputs missing {missing[:5]}; not "
            f"succeeded exactly once {not_once[:5]}; unfinished {unfinished[:5]}"
        )
    undecodable = undecodable_outputs(out)
    parts = part_files(out)
    if undecodable:
        violations.append(f"{len(undecodable)} outputs fail to decode")
    if parts:
        violations.append(f"{len(parts)} .part files left")
    extra = len(charges) - jobs
    return {
        "command": f"python -m reliability.crash_resume --kills {kills} --jobs {jobs} --seed {seed}",
        "jobs": jobs,
        "kills_requested": kills,
        "kills_landed": sum(k.landed for k in kill_log),
        "kills": [
            {
                "landed": k.landed,
                "new_records_before_kill": k.after_records,
                "in_flight": len(k.in_flight),
                "succeeded_so_far": k.succeeded_so_far,
                "undecodable_outputs": k.undecodable,
                "part_files": k.part_files,
                "charges": k.charges,
            }
            for k in kill_log
        ],
        "resume_exit_code": resume_code,
        "resume_stderr_tail": resume_err.strip().splitlines()[-1:]
        if resume_code not in (0, 7)
        else [],
        "succeeded_jobs_rerun": len(rerun_succeeded),
        "outputs_undecodable": len(undecodable),
        "part_files": len(parts),
        "unknown_after_resume": len(unknown_jobs),
        "killed_in_flight": len(killed_in_flight),
        "charges_after_resume": len(charges_after_resume),
        "unattributed_charges_after_resume": len(orphans_resume),
        "rerun_unknown_pass": {
            "ran": bool(unknown_jobs),
            "jobs": len(unknown_jobs),
            "exit_code": rerun_code,
            "stderr_tail": rerun_err.strip().splitlines()[-1:] if rerun_code else [],
            "charges": len(charges) - len(charges_after_resume),
            # A killed attempt's charge carries a request id no journal names; each such job
            # that the pass re-ran has now paid twice.
            "jobs_paid_twice": len(orphans),
        },
        "charges_total": len(charges),
        "charges_per_job": round(len(charges) / jobs, 4),
        "extra_charges": extra,
        "wall_s": round(wall, 2),
        "violations": violations,
        "ok": not violations,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability.crash_resume", description=__doc__)
    parser.add_argument("--kills", type=int, default=5, help="SIGKILLs before the last run")
    parser.add_argument("--jobs", type=int, default=300, help="images in the batch")
    parser.add_argument("--seed", type=int, default=1, help="seed for kill moments and faults")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args(argv)
    run = crash_resume
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        report = asyncio.run(run(args.keep, jobs=args.jobs, kills=args.kills, seed=args.seed))
    else:
        with tempfile.TemporaryDirectory(prefix="inpaint-crash-") as tmp:
            report = asyncio.run(run(Path(tmp), jobs=args.jobs, kills=args.kills, seed=args.seed))
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
