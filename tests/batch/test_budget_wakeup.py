"""The budget gate wakes up when the last job in flight ends, however slowly it ends."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from inpaint_async import InpaintClient
from inpaint_async.batch import EditJob, Journal

from .conftest import FAST_RETRY, PNG


async def test_budget_full_stops_even_when_the_last_job_journals_slowly(
    make_emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last job settles, then takes a while to journal and end: the launcher, waiting on
    the budget, still sees that nothing is in flight and stops instead of waiting forever."""
    append = Journal.append

    async def slow_append(self: Journal, job: str, state: Any, **fields: Any) -> None:
        await append(self, job, state, **fields)
        if state != "sent":
            await asyncio.sleep(0.05)  # a slow disk: the job ends well after it settled

    monkeypatch.setattr(Journal, "append", slow_append)
    emu = await make_emulator()
    jobs = [EditJob(image=PNG, prompt=f"job {i}", output=tmp_path / f"{i}.png") for i in range(6)]
    async with InpaintClient(emu.api_key, base_url=emu.base_url, retry=FAST_RETRY) as client:
        runner = client.batch(
            jobs, budget_usd="0.08", estimator=lambda job: Decimal("0.04"),
            journal=tmp_path / "j.jsonl", concurrency=1,
        )  # fmt: skip
        summary = await asyncio.wait_for(runner.run(), 10)
    assert summary.succeeded == 2
    assert summary.stopped_reason is not None and "budget" in summary.stopped_reason
