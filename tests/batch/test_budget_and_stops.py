"""The budget, and the errors that stop a batch launching new jobs."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from inpaint_async import (
    AuthenticationError,
    InpaintClient,
    InsufficientBalanceError,
    TopUpPolicy,
    WalletAuth,
    WalletCreditError,
)
from inpaint_async.batch import EditJob

from .conftest import FAST_RETRY, PNG

KEY = "0x" + "6b" * 32


def jobs_for(out: Path, n: int, **params: object) -> list[EditJob]:
    return [
        EditJob(image=PNG, prompt=f"job {i}", params=dict(params), output=out / f"{i}.png")
        for i in range(n)
    ]


async def test_budget_stops_within_one_job_price(make_emulator, tmp_path: Path) -> None:
    """Priced from the catalogue: the spend ends within one job's price of the budget, never above."""
    emu = await make_emulator()
    budget = Decimal("1.00")
    async with InpaintClient(emu.api_key, base_url=emu.base_url, retry=FAST_RETRY) as client:
        price = await client.estimate_cost(None)
        runner = client.batch(jobs_for(tmp_path, 100), budget_usd=budget, concurrency=8)
        summary = await runner.run()
    charged = sum((c.amount_usd for c in emu.charges_for(emu.api_key)), Decimal(0))
    assert charged == summary.spent_usd == price * summary.succeeded
    assert budget - price < charged <= budget
    assert summary.stopped_reason is not None and "budget" in summary.stopped_reason
    assert summary.stopped_by == "budget"
    assert summary.not_started == 100 - summary.succeeded


async def test_budget_counts_unknown_outcomes_as_spent(make_emulator, tmp_path: Path) -> None:
    """A job whose outcome is unknown may have been paid: it counts against the budget."""
    from inpaint_async.testing import FaultPlan

    emu = await make_emulator(faults=FaultPlan(script={"/image/edit": ["504_after_charge"] * 3}))
    async with InpaintClient(emu.api_key, base_url=emu.base_url, retry=FAST_RETRY) as client:
        summary = await client.batch(
            jobs_for(tmp_path, 20), budget_usd="0.40", estimator=lambda job: Decimal("0.04")
        ).run()
    assert summary.outcome_unknown == 3
    assert summary.succeeded == 7
    charged = sum((c.amount_usd for c in emu.charges_for(emu.api_key)), Decimal(0))
    assert charged == Decimal("0.40") == summary.spent_usd


async def test_a_401_stops_new_launches(make_emulator, tmp_path: Path) -> None:
    """A bad key fails the jobs in flight and launches nothing more."""
    emu = await make_emulator()
    async with InpaintClient("not-a-key", base_url=emu.base_url, retry=FAST_RETRY) as client:
        runner = client.batch(jobs_for(tmp_path, 50), concurrency=3, estimator=lambda j: 0)
        summary = await runner.run()
    assert isinstance(summary.stop_error, AuthenticationError)
    assert summary.stopped_by == "error"
    assert 1 <= summary.failed <= 3
    assert summary.not_started == 50 - summary.failed
    assert not summary.ok


async def test_an_api_key_out_of_funds_stops_new_launches(make_emulator, tmp_path: Path) -> None:
    """A key balance that runs out (402 shape C) stops the batch after the first refusal."""
    emu = await make_emulator(api_keys={"VENICE_INFERENCE_KEY_poor": "0.10"})
    async with InpaintClient(
        "VENICE_INFERENCE_KEY_poor", base_url=emu.base_url, retry=FAST_RETRY
    ) as client:
        summary = await client.batch(jobs_for(tmp_path, 30), concurrency=1).run()
    assert isinstance(summary.stop_error, InsufficientBalanceError)
    assert summary.succeeded == len(emu.charges_for("VENICE_INFERENCE_KEY_poor"))
    assert summary.failed == 1


async def test_a_wallet_402_without_a_policy_stops(make_emulator, tmp_path: Path) -> None:
    """Without a TopUpPolicy a wallet 402 fails the job and stops the launches."""
    wallet = WalletAuth(KEY)
    emu = await make_emulator(wallets={wallet.address: "0.05"})
    async with InpaintClient(wallet, base_url=emu.base_url, retry=FAST_RETRY) as client:
        summary = await client.batch(jobs_for(tmp_path, 20)).run()
    assert isinstance(summary.stop_error, WalletCreditError)
    assert summary.succeeded == 0
    assert emu.charges_for(wallet.address) == []


async def test_a_wallet_402_with_a_policy_tops_up_once(make_emulator, tmp_path: Path) -> None:
    """Below the minimum with a policy: one top-up, every job done, never above 5 in flight."""
    wallet = WalletAuth(KEY)
    emu = await make_emulator(wallets={wallet.address: "0.05"})
    policy = TopUpPolicy(amount_usd=5, max_total_usd=20, poll_interval=0.05, settlement_timeout=10)
    events: list[int] = []
    async with InpaintClient(
        wallet, base_url=emu.base_url, retry=FAST_RETRY, top_up=policy
    ) as client:
        runner = client.batch(
            jobs_for(tmp_path, 24), on_event=lambda e: events.append(e.progress.in_flight)
        )
        summary = await runner.run()
    assert summary.succeeded == 24, summary
    assert len(emu.credits_for(wallet.address)) == 1
    assert len(emu.charges_for(wallet.address)) == 24
    assert max(events) <= 5
    assert runner.limiter.maximum == 5
