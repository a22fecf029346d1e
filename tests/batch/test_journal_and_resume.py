"""The journal's format and durability, and what a resumed run re-runs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from inpaint_async import ConfigurationError, InpaintClient
from inpaint_async.batch import EditJob, Journal, JournalCorruptError, job_id, read_journal

from .conftest import FAST_RETRY, PNG, journal_records, small_png


def test_a_torn_last_line_is_ignored_and_cut_before_appending(tmp_path: Path) -> None:
    """A crash mid-write leaves half a line: reading skips it, the next append starts clean."""
    path = tmp_path / "j.jsonl"
    path.write_bytes(b'{"v":1,"job":"a","state":"sent"}\n{"v":1,"job":"a","state":"succ')
    assert read_journal(path)["a"].state == "sent"
    with Journal(path) as journal:
        journal.append_now("a", "unknown")
    assert [r["state"] for r in journal_records(path)] == ["sent", "unknown"]


def test_a_corrupt_middle_line_is_an_error(tmp_path: Path) -> None:
    """Only the last line may be torn; garbage before it is reported, not skipped."""
    path = tmp_path / "j.jsonl"
    path.write_text(
        '{"v":1,"job":"a","state":"sent"}\nnot json\n{"v":1,"job":"a","state":"failed"}\n'
    )
    with pytest.raises(JournalCorruptError, match=":2:"):
        read_journal(path)


def test_one_journal_one_run(tmp_path: Path) -> None:
    """A second run cannot append to a journal in use."""
    path = tmp_path / "j.jsonl"
    with Journal(path), pytest.raises(ConfigurationError, match="in use"):
        Journal(path).open()


async def test_concurrent_records_share_fsyncs(tmp_path: Path) -> None:
    """100 concurrent appends are all durable with far fewer than 100 fsyncs (group commit)."""
    path = tmp_path / "j.jsonl"
    with Journal(path) as journal:
        await asyncio.gather(*(journal.append(f"j{i}", "sent") for i in range(100)))
        assert 1 <= journal.fsyncs < 100
    assert len(journal_records(path)) == 100


def test_job_id_hashes_content_not_the_path(tmp_path: Path) -> None:
    """The same bytes under another name keep the id; other bytes or params change it."""
    a, b, c = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    a.write_bytes(PNG)
    b.write_bytes(PNG)
    c.write_bytes(small_png(90))
    out = tmp_path / "o.png"
    ids = {
        job_id(EditJob(image=a, prompt="x", output=out)),
        job_id(EditJob(image=b, prompt="x", output=out)),
    }
    assert len(ids) == 1
    assert job_id(EditJob(image=c, prompt="x", output=out)) not in ids
    assert job_id(EditJob(image=a, prompt="x", params={"model": "m"}, output=out)) not in ids
    assert job_id(EditJob(image=a, prompt="x", output=out, id="mine")) == "mine"


async def test_resume_runs_only_what_is_safe(make_emulator, tmp_path: Path) -> None:
    """Succeeded (output present) and unknown jobs are skipped; retryable failures and
    successes whose output vanished run again; rerun_unknown runs the unknown one."""
    emu = await make_emulator()
    out = tmp_path / "out"
    jobs = [EditJob(image=PNG, prompt=name, output=out / f"{name}.png", id=name)
            for name in ("done", "gone", "retry", "final", "unknown", "new")]  # fmt: skip
    out.mkdir()
    (out / "done.png").write_bytes(PNG)
    journal = tmp_path / "j.jsonl"
    lines = [
        {"job": "done", "state": "succeeded"},
        {"job": "gone", "state": "succeeded"},
        {"job": "retry", "state": "failed", "error": {"type": "ServerError", "retryable": True}},
        {
            "job": "final",
            "state": "failed",
            "error": {"type": "BadRequestError", "retryable": False},
        },
        {"job": "unknown", "state": "sent"},
    ]
    journal.write_text("".join(json.dumps({"v": 1, **line}) + "\n" for line in lines))
    async with InpaintClient(emu.api_key, base_url=emu.base_url, retry=FAST_RETRY) as client:
        first = {o.job_id: o for o in [o async for o in client.batch(jobs, journal=journal)]}
        assert {k for k, o in first.items() if o.status == "succeeded"} == {"gone", "retry", "new"}
        assert {k for k, o in first.items() if o.status == "skipped"} == {
            "done",
            "final",
            "unknown",
        }
        assert "rerun_unknown" in (first["unknown"].reason or "")
        again = [o async for o in client.batch(jobs, journal=journal, rerun_unknown=True)]
    ran = {o.job_id for o in again if o.status == "succeeded"}
    assert ran == {"unknown"}
    assert len(emu.charges_for(emu.api_key)) == 4


async def test_cancelling_a_batch_records_in_flight_jobs_as_unknown(
    make_emulator, tmp_path: Path
) -> None:
    """Cancelled mid-run: every job sent has a terminal record; resume skips the unknown ones."""
    emu = await make_emulator(latency=0.3)
    jobs = [EditJob(image=PNG, prompt=f"p{i}", output=tmp_path / f"{i}.png") for i in range(20)]
    journal = tmp_path / "j.jsonl"
    started = asyncio.Event()

    async def consume() -> None:
        async with InpaintClient(emu.api_key, base_url=emu.base_url) as client:
            async for _ in client.batch(jobs, journal=journal, concurrency=4,
                                        on_event=lambda e: e.kind == "started" and started.set()):  # fmt: skip
                pass

    task = asyncio.create_task(consume())
    await started.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    states: dict[str, list[str]] = {}
    for record in journal_records(journal):
        states.setdefault(record["job"], []).append(record["state"])
    assert states
    for history in states.values():
        assert history[0] == "sent" and len(history) == 2
        assert history[1] in ("unknown", "failed", "succeeded")
    assert any(h[1] == "unknown" for h in states.values())
    assert not list(tmp_path.glob(".*.part"))
