"""A batch process SIGKILLed mid-run, then resumed: nothing paid twice, no partial outputs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path

from PIL import Image

from inpaint_async.cli._errors import EXIT_UNKNOWN

from .conftest import clean_env, run_cli, write_png

JOBS = 30


def records(journal: Path) -> list[dict[str, object]]:
    lines = journal.read_text().splitlines() if journal.exists() else []
    out = []
    for line in lines:
        with contextlib.suppress(ValueError):  # a torn last line while the writer runs
            out.append(json.loads(line))
    return out


async def test_sigkill_then_resume_never_reruns_a_success(make_emulator, tmp_path: Path) -> None:
    """Kill -9 after some successes; resume skips them (and the unknown ones) and
    --rerun-unknown finishes the rest: every output decodes, the ledger shows no success paid twice."""
    emu = await make_emulator(latency=0.1)
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    for i in range(JOBS):
        write_png(src / f"img{i:02d}.png", shade=i * 7)
    journal = out / "inpaint-journal.jsonl"
    env = clean_env(VENICE_API_KEY=emu.api_key, VENICE_BASE_URL=emu.base_url)
    args = ["batch", str(src), "--prompt", "add rain", "--out", str(out), "--concurrency", "3",
            "--quiet"]  # fmt: skip

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "inpaint_async.cli", *args, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(600):
        if sum(r["state"] == "succeeded" for r in records(journal)) >= 6:
            break
        await asyncio.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    before = records(journal)
    succeeded_before = {r["job"] for r in before if r["state"] == "succeeded"}
    assert 6 <= len(succeeded_before) < JOBS
    last = {r["job"]: r["state"] for r in before}
    in_flight = {job for job, state in last.items() if state == "sent"}
    charges_at_kill = len(emu.charges_for(emu.api_key))
    assert charges_at_kill <= len(succeeded_before) + len(in_flight)

    resumed = await run_cli(*args, "--resume", env=env)
    after_resume = records(journal)
    rerun = [r for r in after_resume[len(before) :] if r["job"] in succeeded_before | in_flight]
    assert rerun == []  # neither a success nor an unknown job was sent again
    assert resumed.code == (EXIT_UNKNOWN if in_flight else 0), resumed.err

    final = await run_cli(*args, "--resume", "--rerun-unknown", env=env)
    assert final.code == 0, final.err
    states: dict[str, list[str]] = {}
    for record in records(journal):
        states.setdefault(str(record["job"]), []).append(str(record["state"]))
    assert len(states) == JOBS
    for job, history in states.items():
        assert history.count("succeeded") == 1, (job, history)
        assert history[-1] == "succeeded"
    # Every charge is one success, or a job killed in flight (charged at most once, then re-run).
    charges = len(emu.charges_for(emu.api_key))
    assert JOBS <= charges <= JOBS + len(in_flight)
    outputs = sorted(out.glob("*.png"))
    assert len(outputs) == JOBS
    for path in outputs:
        with Image.open(path) as img:
            img.load()
    assert not list(out.glob(".*.part"))
