"""A batch budget never trusts a price that cannot bound it: $0, negative, 1e-30 or missing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from inpaint_async import BearerAuth, EditJob, InpaintClient, PriceError, ValidationError

from .conftest import PNG


def set_price(emu: Any, price: float | None) -> None:
    entry = next(m for m in emu.catalogue if m["id"] == "firered-image-edit")
    pricing = entry["model_spec"]["pricing"]
    if price is None:
        pricing.pop("inpaint", None)
    else:
        pricing["inpaint"] = {"usd": price, "diem": price}


def jobs(tmp_path: Path, n: int = 5, **params: Any) -> list[EditJob]:
    return [
        EditJob(image=PNG, prompt=f"hat {i}", output=tmp_path / f"o{i}.png", params=params)
        for i in range(n)
    ]


def edits_sent(emu: Any) -> int:
    return len([r for r in emu.requests if r.path.endswith("/image/edit")])


@pytest.mark.parametrize(
    "price", [0, -100, 1e-30, None], ids=["zero", "negative", "tiny", "missing"]
)
async def test_a_bad_price_refuses_the_launch_naming_the_model(
    make_emulator: Any, tmp_path: Path, price: float | None
) -> None:
    """Budget $0.10 and a catalogue price that cannot bound it: PriceError, nothing sent."""
    emu = await make_emulator()
    set_price(emu, price)
    async with InpaintClient(auth=BearerAuth(emu.api_key), base_url=emu.base_url) as client:
        runner = client.batch(jobs(tmp_path), budget_usd="0.10", concurrency=2)
        with pytest.raises(PriceError) as info:
            await runner.run()
    assert isinstance(info.value, ValidationError)
    assert info.value.model == "firered-image-edit"
    assert "firered-image-edit" in str(info.value) and "allow_unpriced" in str(info.value)
    assert edits_sent(emu) == 0


# (A model with no price at all cannot be run on the emulator: it has nothing to charge.)
@pytest.mark.parametrize("price", [0, -100], ids=["zero", "negative"])
async def test_allow_unpriced_runs_them_counted_at_zero(
    make_emulator: Any, tmp_path: Path, price: float | None
) -> None:
    """Opting in runs the jobs; the summary never reports a negative spend."""
    emu = await make_emulator()
    set_price(emu, price)
    async with InpaintClient(auth=BearerAuth(emu.api_key), base_url=emu.base_url) as client:
        runner = client.batch(
            jobs(tmp_path, 3), budget_usd="0.10", concurrency=2, allow_unpriced=True
        )
        summary = await runner.run()
    assert summary.succeeded == 3
    assert summary.spent_usd == Decimal(0)
    assert edits_sent(emu) == 3


async def test_without_a_budget_a_negative_price_is_not_reported_as_spend(
    make_emulator: Any, tmp_path: Path
) -> None:
    """No budget: the jobs run, and the spend is unknown rather than $-300."""
    emu = await make_emulator()
    set_price(emu, -100)
    async with InpaintClient(auth=BearerAuth(emu.api_key), base_url=emu.base_url) as client:
        summary = await client.batch(jobs(tmp_path, 3), concurrency=2).run()
    assert summary.succeeded == 3
    assert summary.spent_usd >= 0


async def test_cli_batch_names_the_model_and_the_option(make_emulator: Any, tmp_path: Path) -> None:
    """`batch --budget-usd` on a $0 model exits 2 naming it and --allow-unpriced."""
    import os
    import sys

    emu = await make_emulator()
    set_price(emu, 0)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(2):
        (src / f"i{i}.png").write_bytes(PNG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENICE_")}
    env.update(
        VENICE_API_KEY=emu.api_key, VENICE_BASE_URL=emu.base_url, XDG_STATE_HOME=str(tmp_path)
    )
    import asyncio

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "inpaint_async.cli", "batch", str(src), "--prompt", "hat",
        "--out", str(tmp_path / "out"), "--budget-usd", "0.10", "--quiet",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2, err.decode()
    assert "firered-image-edit" in err.decode() and "--allow-unpriced" in err.decode()
    assert edits_sent(emu) == 0
