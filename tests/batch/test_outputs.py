"""Output folders: created once, a killed run's temp files removed, one folder scan per run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from inpaint_async import EditJob, InpaintClient
from inpaint_async.batch import _outputs
from inpaint_async.batch._outputs import OutputFolders

from .conftest import PNG


def test_stale_temp_files_of_a_killed_run_are_removed_for_their_output_only(
    tmp_path: Path,
) -> None:
    """`.a.png.x1.part` goes when a.png is prepared; another output's and other files stay."""
    folder = tmp_path / "out"
    folder.mkdir()
    mine = [folder / ".a.png.k2j4h1_q.part", folder / ".a.png.zz9x0abc.part"]
    theirs = folder / ".b.png.k2j4h1_q.part"
    keep = [folder / "a.png.part", folder / ".a.png", folder / "notes.txt"]
    for path in [*mine, theirs, *keep]:
        path.write_bytes(b"x")
    folders = OutputFolders()
    folders.prepare(folder / "a.png")
    assert not any(p.exists() for p in mine)
    assert theirs.exists() and all(p.exists() for p in keep)
    folders.prepare(folder / "b.png")
    assert not theirs.exists()


def test_a_temp_file_made_after_the_scan_is_not_touched(tmp_path: Path) -> None:
    """A job of this run streaming into its own temp file is not swept by a later job."""
    folders = OutputFolders()
    folders.prepare(tmp_path / "a.png")
    in_flight = tmp_path / ".a.png.abcdefgh.part"
    in_flight.write_bytes(b"x")
    folders.prepare(tmp_path / "a.png")  # the same output prepared again (a re-run)
    folders.prepare(tmp_path / "b.png")
    assert in_flight.exists()


def test_missing_folders_are_created(tmp_path: Path) -> None:
    """The output's folder (and its parents) exist after prepare."""
    OutputFolders().prepare(tmp_path / "x" / "y" / "a.png")
    assert (tmp_path / "x" / "y").is_dir()


async def test_a_batch_scans_each_output_folder_once(
    make_emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 jobs into one folder cost one folder scan, not one per job (O(1) bookkeeping per job)."""
    scans: list[str] = []
    real = os.scandir

    def counting(path: str | os.PathLike[str]):  # type: ignore[no-untyped-def]
        scans.append(os.fspath(path))
        return real(path)

    monkeypatch.setattr(_outputs.os, "scandir", counting)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".3.png.deadbeef.part").write_bytes(b"left by a killed run")
    emu = await make_emulator()
    jobs = [EditJob(image=PNG, prompt=f"p{i}", output=out / f"{i}.png") for i in range(40)]
    async with InpaintClient(emu.api_key, base_url=emu.base_url) as client:
        summary = await client.batch(jobs, concurrency=8).run()
    assert summary.succeeded == 40
    assert scans == [os.fspath(out)]
    assert not list(out.glob(".*.part"))


async def test_two_jobs_writing_one_output_second_is_refused_unsent(
    make_emulator, tmp_path: Path
) -> None:
    """`a.jpg` and `a.png` of a folder both write `a.png`: the second job would be paid for
    and replace the first's image. It fails with a ValidationError instead, nothing sent; the
    first job's image stays."""
    from PIL import Image

    from inpaint_async import ValidationError
    from inpaint_async.batch import folder_jobs

    src = tmp_path / "in"
    src.mkdir()
    Image.new("RGB", (300, 300), (200, 0, 0)).save(src / "a.jpg")
    Image.new("RGB", (300, 300), (0, 0, 200)).save(src / "a.png")
    (src / "b.png").write_bytes(PNG)
    out = tmp_path / "out"
    emu = await make_emulator()
    jobs = list(folder_jobs(src, prompt="p", out_dir=out))
    async with InpaintClient(emu.api_key, base_url=emu.base_url) as client:
        runner = client.batch(jobs, concurrency=4)
        outcomes = {o.job.image: o async for o in runner}
    assert runner.summary.succeeded == 2 and runner.summary.failed == 1
    refused = outcomes[src / "a.png"]
    assert isinstance(refused.error, ValidationError)
    assert "earlier job of this batch" in str(refused.error)
    assert outcomes[src / "a.jpg"].status == "succeeded"
    assert len(emu.charges_for()) == 2
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".png") == ["a.png", "b.png"]


async def test_a_job_cannot_write_over_the_batch_journal(make_emulator, tmp_path: Path) -> None:
    """A manifest is data: a line whose output is the journal would replace the batch's record
    with an image (and the run's later records would go to the replaced file). Refused unsent;
    the journal stays a journal."""
    from inpaint_async import ValidationError
    from inpaint_async.batch import manifest_jobs, read_journal

    (tmp_path / "a.png").write_bytes(PNG)
    (tmp_path / "b.png").write_bytes(PNG)
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text(
        '{"image": "a.png", "prompt": "x", "output": "journal.jsonl"}\n'
        '{"image": "b.png", "prompt": "y"}\n'
    )
    out = tmp_path / "out"
    journal = out / "journal.jsonl"
    emu = await make_emulator()
    async with InpaintClient(emu.api_key, base_url=emu.base_url) as client:
        runner = client.batch(manifest_jobs(manifest, out_dir=out), journal=journal)
        outcomes = [o async for o in runner]
    (refused,) = [o for o in outcomes if o.status == "failed"]
    assert isinstance(refused.error, ValidationError) and "journal" in str(refused.error)
    assert len(emu.charges_for()) == 1
    assert [e.state for e in read_journal(journal).values()] == ["succeeded"]
