"""The chaos soak at CI size: 300 edits through injected faults, every invariant holds."""

from __future__ import annotations

from pathlib import Path

from reliability import soak


async def test_300_faulted_edits_lose_nothing_and_never_pay_twice(tmp_path: Path) -> None:
    """The soak's fault mix on 300 jobs: no job lost or charged twice, every charge attributed,
    outputs decode, no .part files, unknowns are exactly the injected 504/reset/truncate."""
    # Retry-After 0 keeps CI fast: the full soak (`python -m reliability.soak`) waits 1 s.
    run = await soak.run_batch(tmp_path, jobs=300, seed=3, faults=soak.EDIT_FAULTS, retry_after=0)
    report = soak.check_run(run)

    assert report["violations"] == []
    assert report["jobs_lost"] == 0
    assert report["jobs_charged_twice"] == 0
    assert report["charges_not_attributable"] == 0
    assert report["outputs_undecodable"] == 0
    assert report["part_files"] == 0
    unknown = report["unknown"]
    assert unknown["total"] == unknown["injected"] > 0
    for kind in ("504_after_charge", "reset", "truncate"):
        assert unknown[kind]["unknown"] == unknown[kind]["injected"]
    assert unknown["reset"]["charged"] == 0
    assert unknown["504_after_charge"]["charged"] == unknown["504_after_charge"]["injected"]
    assert unknown["truncate"]["charged"] == unknown["truncate"]["injected"]
    assert report["injected"]["503"] > 0 and report["injected"]["429_overloaded"] > 0


def test_check_run_catches_a_double_charge_and_a_lost_job(tmp_path: Path) -> None:
    """The checker is not vacuous: a second charge for a job and a job with no outcome fail it."""
    from decimal import Decimal

    from inpaint_async.batch import BatchSummary
    from inpaint_async.testing import LedgerEntry

    def charge(request_id: str) -> LedgerEntry:
        return LedgerEntry("charge", "k", Decimal("0.04"), request_id, "m", None, 0.0)

    records = [
        {"job": "a", "state": "sent"},
        {"job": "a", "state": "succeeded", "request_id": "r1", "output": str(tmp_path / "a")},
        {"job": "b", "state": "sent"},
    ]
    run = soak.BatchRun(
        job_ids=["a", "b"],
        outcome_ids=["a"],
        summary=BatchSummary(succeeded=1),
        records=records,
        charges=[charge("r1"), charge("r1"), charge("r9")],
        requests=[],
        out_dir=tmp_path / "out",
        wall_s=1.0,
        faults=False,
    )
    report = soak.check_run(run)
    assert report["jobs_lost"] == 1
    assert report["jobs_charged_twice"] == 1
    assert report["charges_not_attributable"] == 1
    assert report["outputs_undecodable"] == 1  # "a" was never written
    assert report["violations"]
