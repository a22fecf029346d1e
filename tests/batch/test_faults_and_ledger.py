"""500 jobs through injected faults: one terminal outcome each, and the ledger agrees."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from inpaint_async import InpaintClient
from inpaint_async.batch import EditJob
from inpaint_async.testing import FaultPlan

from .conftest import FAST_RETRY, PNG, decodes, journal_records

TERMINAL = {"succeeded", "failed", "unknown"}
CHARGED_FAULTS = {"504_after_charge", "truncate"}


async def test_500_jobs_with_faults_each_end_once_and_match_the_ledger(
    make_emulator, tmp_path: Path
) -> None:
    """503/429/502/reset/504/504_after_charge/truncate: every job has exactly one terminal record,
    every success is exactly one charge, and the only other charges are unknown outcomes."""
    plan = FaultPlan(
        seed=7,
        rules={
            "/image/edit": {
                "503": 0.06,
                "429_overloaded": 0.04,
                "502": 0.02,
                "reset": 0.02,
                "504": 0.01,
                "504_after_charge": 0.02,
                "truncate": 0.02,
            }
        },
    )
    emu = await make_emulator(faults=plan)
    out = tmp_path / "out"
    jobs = [
        EditJob(image=PNG, prompt=f"edit number {i}", output=out / f"{i}.png") for i in range(500)
    ]
    journal = tmp_path / "journal.jsonl"
    async with InpaintClient(emu.api_key, base_url=emu.base_url, retry=FAST_RETRY) as client:
        runner = client.batch(jobs, journal=journal)
        outcomes = [o async for o in runner]

    summary = runner.summary
    assert len(outcomes) == 500
    assert len({o.job_id for o in outcomes}) == 500
    assert summary.succeeded + summary.failed + summary.outcome_unknown == 500
    assert summary.outcome_unknown > 0  # the plan did inject unknown outcomes

    records = journal_records(journal)
    per_job: dict[str, list[str]] = {}
    for record in records:
        per_job.setdefault(record["job"], []).append(record["state"])
    assert len(per_job) == 500
    for states in per_job.values():
        assert states[0] == "sent"
        assert len(states) == 2 and states[1] in TERMINAL
    terminal = {r["job"]: r for r in records if r["state"] in TERMINAL}
    by_state = Counter(r["state"] for r in terminal.values())
    assert by_state["succeeded"] == summary.succeeded
    assert by_state["unknown"] == summary.outcome_unknown

    charges = emu.charges_for(emu.api_key)
    charge_ids = [c.request_id for c in charges]
    assert len(charge_ids) == len(set(charge_ids))  # no request billed twice
    success_ids = [r["request_id"] for r in terminal.values() if r["state"] == "succeeded"]
    assert len(set(success_ids)) == len(success_ids)
    assert set(success_ids) <= set(charge_ids)  # every success is a charge
    charged_faults = {
        r.request_id for r in emu.requests if r.fault in CHARGED_FAULTS and r.path.endswith("/edit")
    }
    extra = set(charge_ids) - set(success_ids)
    assert extra <= charged_faults  # no charge without a recorded job
    assert len(extra) <= by_state["unknown"]  # an unknown job was charged at most once

    for record in terminal.values():
        if record["state"] == "succeeded":
            assert decodes(Path(record["output"]))
    assert not list(out.glob(".*.part"))
