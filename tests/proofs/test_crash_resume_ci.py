"""Crash-resume at CI size: the batch command SIGKILLed twice, resumed, nothing paid twice."""

from __future__ import annotations

from pathlib import Path

from reliability import crash_resume


async def test_two_sigkills_then_resume_never_rerun_a_success(tmp_path: Path) -> None:
    """Two kills at seeded random moments, --resume each time: no succeeded job is sent or
    charged again, outputs always decode, no .part file is left, and the only unjournalled
    charges are those of jobs killed in flight."""
    report = await crash_resume.crash_resume(tmp_path, jobs=80, kills=2, seed=5)

    assert report["violations"] == []
    assert report["kills_landed"] == 2
    assert all(kill["undecodable_outputs"] == 0 for kill in report["kills"])
    assert report["succeeded_jobs_rerun"] == 0
    assert report["outputs_undecodable"] == 0
    assert report["part_files"] == 0
    assert report["unattributed_charges_after_resume"] <= report["killed_in_flight"]
    # Without --rerun-unknown every job pays at most once: the successes plus killed attempts.
    assert report["charges_after_resume"] <= report["jobs"]
