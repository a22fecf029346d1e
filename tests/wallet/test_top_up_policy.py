"""Automatic top-ups against the emulator: single flight, the cap, settlement faults, proactive."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

import inpaint_async.spend._topup as wallet_module
from inpaint_async import (
    SettlementPendingError,
    TopUpLimitError,
    WalletAuth,
    WalletCreditError,
)
from inpaint_async.spend._hooks import _background
from inpaint_async.testing import FaultPlan

from .conftest import PNG, client_for, fast_policy, paths


@pytest.fixture
def signatures(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every top-up payment the SDK signs."""
    signed: list[Any] = []
    real = wallet_module.sign_payment

    async def spy(**kwargs: Any) -> Any:
        payment = await real(**kwargs)
        signed.append(payment)
        return payment

    monkeypatch.setattr(wallet_module, "sign_payment", spy)
    return signed


def record_top_up_headers(client: Any) -> list[dict[str, str]]:
    """The headers of every POST /x402/top-up the client sends."""
    sent: list[dict[str, str]] = []
    real = client._transport.send

    async def spy(method: str, url: str, **kwargs: Any) -> Any:
        if url.endswith("/x402/top-up"):
            sent.append(dict(kwargs["headers"]))
        return await real(method, url, **kwargs)

    client._transport.send = spy
    return sent


async def test_200_concurrent_edits_on_a_drained_wallet_top_up_exactly_once(
    make_emulator: Any, wallet: WalletAuth, signatures: list[Any]
) -> None:
    """200 edits hit the 402 together: one top-up, 200 successes, 200 charges and 1 credit."""
    emu = await make_emulator()
    emu.fund_wallet(wallet.address, 0)
    async with client_for(emu, wallet, top_up=fast_policy()) as client:
        results = await asyncio.gather(
            *(client.images.edit(PNG, f"add a hat {i}") for i in range(200))
        )
        assert all(r.data for r in results)
        assert len(signatures) == 1
        assert len(emu.charges_for(wallet.address)) == 200
        credits = emu.credits_for(wallet.address)
        assert len(credits) == 1 and credits[0].amount_usd == Decimal(20)
        assert client.wallet.committed_top_ups_usd == Decimal(20)
        assert emu.balance_of(wallet.address) == Decimal(20) - 200 * Decimal("0.04")
        # No 429 from the wallet's concurrency cap, and the burst of 402s stayed small.
        statuses = [r.status for r in paths(emu, "/image/edit")]
        assert 429 not in statuses
        assert statuses.count(402) <= 10


async def test_the_cap_stops_top_ups_with_top_up_limit_error_and_signs_nothing_more(
    make_emulator: Any, wallet: WalletAuth, signatures: list[Any]
) -> None:
    """After max_total_usd is committed, the next 402 raises TopUpLimitError unsigned."""
    emu = await make_emulator()
    emu.fund_wallet(wallet.address, 0)
    policy = fast_policy(amount_usd=5, max_total_usd=9)
    async with client_for(emu, wallet, top_up=policy) as client:
        await client.images.edit(PNG, "first")  # 402 -> top-up of $5 -> success
        assert len(signatures) == 1
        emu.fund_wallet(wallet.address, 0)  # drained again: a second $5 would exceed $9
        top_ups_before = len(paths(emu, "/x402/top-up"))
        for _ in range(3):
            with pytest.raises(TopUpLimitError) as info:
                await client.images.edit(PNG, "second")
            assert isinstance(info.value.__cause__, WalletCreditError)
        assert len(signatures) == 1
        assert len(paths(emu, "/x402/top-up")) == top_ups_before
        assert len(emu.credits_for(wallet.address)) == 1
        assert client.wallet.committed_top_ups_usd == Decimal(5)


async def test_without_a_policy_a_wallet_402_is_raised_and_nothing_is_signed(
    make_emulator: Any, wallet: WalletAuth, signatures: list[Any]
) -> None:
    """Money is never spent implicitly: no policy, no top-up."""
    emu = await make_emulator()
    emu.fund_wallet(wallet.address, "0.05")
    async with client_for(emu, wallet) as client:
        with pytest.raises(WalletCreditError) as info:
            await client.images.edit(PNG, "hat")
        assert info.value.info is not None
        assert info.value.info.current_balance_usd == Decimal("0.05")
        assert client.wallet.last_known_balance is None  # unknown stays unknown
    assert signatures == [] and paths(emu, "/x402/top-up") == []


async def test_409_resends_the_same_payment_and_is_credited_once(
    make_emulator: Any, wallet: WalletAuth, signatures: list[Any]
) -> None:
    """PAYMENT_IN_PROGRESS: the identical header is resent until it settles; one credit."""
    emu = await make_emulator(faults=FaultPlan(script={"/x402/top-up": ["payment_in_progress"]}))
    emu.fund_wallet(wallet.address, 1)
    async with client_for(emu, wallet, top_up=fast_policy()) as client:
        sent = record_top_up_headers(client)
        result = await client.wallet.top_up(10)
    assert result.amount_credited == Decimal(10) and result.payment_id
    assert result.transaction and result.transaction.startswith("0x")
    assert len(signatures) == 1
    payments = [h["payment-signature"] for h in sent if "payment-signature" in h]
    assert len(payments) >= 2 and len(set(payments)) == 1
    statuses = [r.status for r in paths(emu, "/x402/top-up")]
    assert 409 in statuses and statuses[-1] == 200
    assert len(emu.credits_for(wallet.address)) == 1
    assert emu.balance_of(wallet.address) == Decimal(11)


async def test_504_polls_the_balance_and_never_signs_a_second_payment(
    make_emulator: Any, wallet: WalletAuth, signatures: list[Any]
) -> None:
    """SETTLEMENT_TIMEOUT: the balance is polled until the credit shows; one signature."""
    emu = await make_emulator(faults=FaultPlan(script={"/x402/top-up": ["settlement_timeout"]}))
    emu.fund_wallet(wallet.address, 0)
    async with client_for(emu, wallet, top_up=fast_policy()) as client:
        result = await client.images.edit(PNG, "hat")
        assert result.data
        assert client.wallet.last_known_balance is not None
    assert len(signatures) == 1
    assert [r.status for r in paths(emu, "/x402/top-up")] == [402, 504]
    assert len(paths(emu, "/x402/balance")) >= 2  # the baseline, then the polls
    assert len(emu.credits_for(wallet.address)) == 1


async def test_unresolved_settlement_raises_pending_and_blocks_a_second_signature(
    make_emulator: Any, wallet: WalletAuth, signatures: list[Any]
) -> None:
    """A 504 whose credit never shows: SettlementPendingError, and later 402s sign nothing."""
    emu = await make_emulator(
        faults=FaultPlan(script={"/x402/top-up": ["settlement_timeout"]}),
        settlement_delay=10_000,
    )
    emu.fund_wallet(wallet.address, 0)
    policy = fast_policy(settlement_timeout=0.3, amount_usd=5, max_total_usd=100)
    async with client_for(emu, wallet, top_up=policy) as client:
        with pytest.raises(SettlementPendingError) as info:
            await client.images.edit(PNG, "hat")
        assert info.value.valid_before > 0 and info.value.amount_usd == Decimal(5)
        with pytest.raises(SettlementPendingError):
            await client.images.edit(PNG, "again")
        # The unknown payment still counts against the cap.
        assert client.wallet.committed_top_ups_usd == Decimal(5)
    assert len(signatures) == 1
    assert emu.credits_for(wallet.address) == []


async def test_below_usd_tops_up_before_any_402_from_the_balance_header(
    make_emulator: Any, wallet: WalletAuth
) -> None:
    """X-Balance-Remaining drops under below_usd: a background top-up, no 402 ever."""
    emu = await make_emulator(send_balance_remaining=True)
    emu.fund_wallet(wallet.address, "0.30")
    policy = fast_policy(amount_usd=5, max_total_usd=50, below_usd="0.25")
    async with client_for(emu, wallet, top_up=policy) as client:
        for i in range(3):
            await client.images.edit(PNG, f"hat {i}")  # 0.26, then below 0.25
        await client._wallet_hooks.wait_idle()
        assert len(emu.credits_for(wallet.address)) == 1
        assert client.wallet.last_known_balance is not None
        assert client.wallet.last_known_balance >= Decimal(5)
    assert 402 not in [r.status for r in paths(emu, "/image/edit")]


async def test_below_usd_polls_the_balance_when_the_header_is_absent(
    make_emulator: Any, wallet: WalletAuth
) -> None:
    """Without X-Balance-Remaining the proactive path polls balance() and tops up once."""
    emu = await make_emulator(send_balance_remaining=False)
    emu.fund_wallet(wallet.address, "0.30")
    policy = fast_policy(amount_usd=5, max_total_usd=50, below_usd=1, balance_poll_interval=3600)
    async with client_for(emu, wallet, top_up=policy) as client:
        await client.images.edit(PNG, "hat")
        await client._wallet_hooks.wait_idle()
        await client.images.edit(PNG, "hat again")  # poll interval not over: no second poll
        await client._wallet_hooks.wait_idle()
    assert len(paths(emu, "/x402/balance")) == 1
    assert len(emu.credits_for(wallet.address)) == 1


async def test_close_cancels_background_wallet_work(make_emulator: Any, wallet: WalletAuth) -> None:
    """Closing the client cancels a proactive balance poll instead of leaving it running."""
    emu = await make_emulator(send_balance_remaining=False)
    emu.fund_wallet(wallet.address, "10")  # well above below_usd: polls never top up
    policy = fast_policy(amount_usd=5, max_total_usd=50, below_usd=1, balance_poll_interval=0.001)
    client = client_for(emu, wallet, top_up=policy)
    hooks = client._wallet_hooks
    assert hooks is not None
    await client.images.edit(PNG, "hat")
    await hooks.wait_idle()
    emu.faults = FaultPlan(script={"/x402/balance": ["latency:30"]})
    await asyncio.sleep(0.01)
    await client.images.edit(PNG, "hat again")  # schedules a balance poll that will hang
    assert _background[client._transport]
    await client.close()
    assert not _background[client._transport]
    assert emu.credits_for(wallet.address) == []


async def test_a_balance_poll_does_not_schedule_another(
    make_emulator: Any, wallet: WalletAuth
) -> None:
    """Only paid requests trigger proactive balance checks: the poll's own answer does not."""
    emu = await make_emulator(send_balance_remaining=False)
    emu.fund_wallet(wallet.address, "10")
    policy = fast_policy(amount_usd=5, max_total_usd=50, below_usd=1, balance_poll_interval=0.001)
    async with client_for(emu, wallet, top_up=policy) as client:
        await client.images.edit(PNG, "hat")
        await asyncio.sleep(0.2)  # a chain of polls would show up here
        await client._wallet_hooks.wait_idle()
    assert len(paths(emu, "/x402/balance")) == 1
