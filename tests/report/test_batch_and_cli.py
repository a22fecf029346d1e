"""The report of real emulator batches: from the library, `report`, `batch --report`, `demo`."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from inpaint_async import InpaintClient
from inpaint_async.batch import EditJob
from inpaint_async.cli import main
from inpaint_async.cli._app import build_parser
from inpaint_async.cli._errors import EXIT_OK, EXIT_UNKNOWN, EXIT_USAGE
from inpaint_async.cli._report import batch_command
from inpaint_async.testing import FaultPlan
from tests.cli.conftest import clean_env, run_cli

from .conftest import Page, run_batch, write_png


async def test_the_journal_describes_each_job_for_the_report(make_emulator, tmp_path: Path) -> None:
    """A sent record carries the input path, prompt and params; inline bytes are never copied
    into the journal; the success records the model that ran."""
    emu = await make_emulator()
    src = write_png(tmp_path / "a.png", 1)
    jobs = [
        EditJob(image=src, prompt="add a hat", params={"resolution": "1K"}, output=tmp_path / "o1.png"),
        EditJob(image=src.read_bytes(), prompt="as bytes", output=tmp_path / "o2.png"),
    ]  # fmt: skip
    journal = tmp_path / "j.jsonl"
    async with InpaintClient(emu.api_key, base_url=emu.base_url) as client:
        await client.batch(jobs, journal=journal, concurrency=1).run()
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    sent = [r for r in records if r["state"] == "sent"]
    assert sent[0]["input"] == str(src) and sent[0]["prompt"] == "add a hat"
    assert sent[0]["params"] == {"resolution": "1K"}
    assert "input" not in sent[1] and sent[1]["prompt"] == "as bytes"
    succeeded = [r for r in records if r["state"] == "succeeded"]
    assert all(r["model"] for r in succeeded)


async def test_the_summary_writes_the_report_of_its_run(make_emulator, tmp_path: Path) -> None:
    """`summary.write_report()`: N pairs, the failure and the unknown with their request ids."""
    batch = await run_batch(make_emulator, tmp_path, ok=4)
    page_path = batch.summary.write_report()
    assert page_path == batch.journal.parent / "report.html"
    page = Page(page_path.read_text())
    assert page.stats["Succeeded"] == "4" and page.stats["Skipped this run"] == "0"
    gallery = page.with_class("div", "pair")
    assert len(gallery) == 4
    assert len([i for i in page.all("img") if i["alt"].startswith("Edited ")]) == 4
    assert "ContentPolicyError 422" in page.plain
    assert "OutcomeUnknownError" in page.plain
    assert page.plain.count("may have been charged") >= 2


def test_report_command_prints_the_page_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`inpaint-async report J -o P` writes P and prints its path (`--json`: with the counts);
    a missing journal exits 2."""
    journal = tmp_path / "j.jsonl"
    journal.write_text('{"v":1,"ts":1,"job":"a","state":"sent","prompt":"p"}\n')
    target = tmp_path / "site" / "page.html"
    assert main(["report", str(journal), "-o", str(target), "--title", "Mine"]) == EXIT_OK
    assert f"report: {target.resolve()}" in capsys.readouterr().out
    assert "<title>Mine</title>" in target.read_text()
    assert (tmp_path / "site" / "page_files").is_dir()
    assert main(["report", str(tmp_path / "nope.jsonl")]) == EXIT_USAGE
    assert "no journal" in capsys.readouterr().err
    assert main(["report", str(journal), "-o", str(target), "--json"]) == EXIT_OK
    document = json.loads(capsys.readouterr().out)
    assert document == {"report": str(target.resolve()), "jobs": 1, "unknown": 1}


async def test_batch_report_writes_the_page_with_the_exact_rerun_command(
    make_emulator, tmp_path: Path
) -> None:
    """`batch --report`: OUT/report.html, whose re-run command is this batch's own."""
    emu = await make_emulator()
    src = tmp_path / "src"
    for i in range(3):
        write_png(src / f"img{i}.png", i)
    out = tmp_path / "out"
    env = clean_env(VENICE_API_KEY=emu.api_key, VENICE_BASE_URL=emu.base_url)
    run = await run_cli(
        "batch", str(src), "--prompt", "add snow", "--out", str(out), "--quiet", "--report",
        "--model", "firered-image-edit", env=env,
    )  # fmt: skip
    assert run.code == 0, run.err
    assert f"report: {(out / 'report.html').resolve()}" in run.out
    page = Page((out / "report.html").read_text())
    assert len(page.with_class("div", "pair")) == 3
    text = (out / "report.html").read_text()
    assert "add snow" in page.plain and "firered-image-edit" in page.plain
    assert 'id="attention-h">Needs attention</h2><p>No failed or unknown jobs.' in text


async def test_batch_report_of_an_unknown_outcome_names_the_source(
    make_emulator, tmp_path: Path
) -> None:
    """The command that re-runs an unknown outcome is the batch's own command line plus
    --resume --rerun-unknown."""
    emu = await make_emulator(faults=FaultPlan(script={"/image/edit": ["504_after_charge"]}))
    src = tmp_path / "src"
    write_png(src / "img.png", 1)
    out = tmp_path / "out"
    env = clean_env(VENICE_API_KEY=emu.api_key, VENICE_BASE_URL=emu.base_url)
    run = await run_cli(
        "batch", str(src), "--prompt", "add snow, please", "--out", str(out), "--quiet",
        "--report", str(tmp_path / "r.html"), env=env,
    )  # fmt: skip
    assert run.code == EXIT_UNKNOWN, run.err
    page = Page((tmp_path / "r.html").read_text())
    assert (
        f"inpaint-async batch {src} --out {out} --journal {out / 'inpaint-journal.jsonl'} "
        "--prompt 'add snow, please' --resume --rerun-unknown"
    ) in page.plain
    assert page.stats["May have been charged"] == "$0.04"


async def test_demo_ends_with_the_report_to_open(tmp_path: Path) -> None:
    """`demo`: the last line is the report's file URL, and the page shows every edit."""
    out = tmp_path / "demo"
    run = await run_cli("demo", "--quiet", "--jobs", "3", "--out", str(out), env=clean_env(),
                        timeout=60)  # fmt: skip
    assert run.code == 0, run.out + run.err
    last = run.out.strip().splitlines()[-1]
    assert last == f"open the report: {(out / 'report.html').resolve().as_uri()}"
    page = Page((out / "report.html").read_text())
    assert len(page.with_class("div", "pair")) == 3


def test_the_rerun_command_repeats_the_batch_options(tmp_path: Path) -> None:
    """Every option that shapes the jobs comes back in the re-run command, quoted for a shell."""
    args = build_parser().parse_args([
        "--base-url", "http://127.0.0.1:9/api/v1", "batch", "my photos", "--out", "out",
        "--prompt", "it's snowing", "--model", "m", "--resolution", "2K", "--no-safe-mode",
        "--enhance-prompt", "--budget-usd", "5", "--report",
    ])  # fmt: skip
    command = shlex.join(batch_command(args, Path("out/j.jsonl")))
    assert command == (
        "inpaint-async --base-url http://127.0.0.1:9/api/v1 batch 'my photos' --out out "
        "--journal out/j.jsonl --prompt 'it'\"'\"'s snowing' --model m --resolution 2K "
        "--budget-usd 5 --no-safe-mode --enhance-prompt"
    )
