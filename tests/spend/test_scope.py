"""Scope is the wallet, never an object: two root clients, a client per task, a widening
with_options, a second WalletAuth object — one ledger, the strictest cap."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from inpaint_async import (
    ConfigurationError,
    InpaintClient,
    TopUpLimitError,
    TopUpPolicy,
    WalletAuth,
)
from inpaint_async.testing import Emulator

from .conftest import KEY, PNG, policy


def signed_usd(emu: Emulator, address: str) -> Decimal:
    return sum((c.amount_usd for c in emu.credits_for(address)), Decimal(0))


async def drained_edit(emu: Emulator, client: InpaintClient) -> bool:
    """Drain the wallet, then edit: the 402 needs a top-up. False when the cap refused it."""
    emu.fund_wallet(client.wallet.address, 0)
    try:
        await client.images.edit(PNG, "add a hat")
    except TopUpLimitError:
        return False
    return True


async def test_two_root_clients_share_one_cap(make_emulator: Any) -> None:
    """Two root clients, two WalletAuth objects, one policy of $20: at most $20 signed."""
    emu = await make_emulator()
    cap = policy(max_total_usd=20)
    a = InpaintClient(auth=WalletAuth(KEY), base_url=emu.base_url, top_up=cap)
    b = InpaintClient(auth=WalletAuth(KEY), base_url=emu.base_url, top_up=cap)
    async with a, b:
        outcomes = [await drained_edit(emu, c) for _ in range(5) for c in (a, b)]
    assert signed_usd(emu, a.wallet.address) == Decimal(20)
    assert outcomes.count(True) == 4


async def test_a_client_per_task_never_resets_the_cap(make_emulator: Any) -> None:
    """Ten tasks, each with its own new client: the cap is the wallet's, not the client's."""
    emu = await make_emulator()

    async def task(i: int) -> bool:
        async with InpaintClient(
            auth=WalletAuth(KEY), base_url=emu.base_url, top_up=policy(max_total_usd=20)
        ) as client:
            return await drained_edit(emu, client)

    outcomes = [await task(i) for i in range(10)]
    assert outcomes.count(True) == 4
    assert signed_usd(emu, WalletAuth(KEY).address) == Decimal(20)


async def test_concurrent_clients_per_task_share_one_flight_and_one_cap(
    make_emulator: Any,
) -> None:
    """Ten concurrent tasks with their own clients on a drained wallet: one top-up."""
    emu = await make_emulator()
    emu.fund_wallet(WalletAuth(KEY).address, 0)

    async def task(i: int) -> None:
        async with InpaintClient(
            auth=WalletAuth(KEY), base_url=emu.base_url, top_up=policy(max_total_usd=20)
        ) as client:
            await client.images.edit(PNG, f"hat {i}")

    await asyncio.gather(*(task(i) for i in range(10)))
    assert len(emu.credits_for(WalletAuth(KEY).address)) == 1


async def test_with_options_cannot_widen_the_cap(make_emulator: Any) -> None:
    """A derived client with a $60 policy under a $20 root: the strictest cap ($20) holds."""
    emu = await make_emulator()
    async with InpaintClient(
        auth=WalletAuth(KEY), base_url=emu.base_url, top_up=policy(max_total_usd=20)
    ) as root:
        wide = root.with_options(top_up=policy(max_total_usd=60))
        outcomes = [await drained_edit(emu, wide) for _ in range(12)]
        status = await wide.wallet.spend_status()
    assert outcomes.count(True) == 4
    assert signed_usd(emu, root.wallet.address) == Decimal(20)
    assert status.max_total_usd == Decimal(20) and status.auto_signed_total_usd == Decimal(20)


async def test_a_stricter_per_day_cap_of_another_client_applies(make_emulator: Any) -> None:
    """max_per_day_usd of one client binds every client of the wallet (rolling 24 h)."""
    emu = await make_emulator()
    async with (
        InpaintClient(
            auth=WalletAuth(KEY),
            base_url=emu.base_url,
            top_up=policy(max_total_usd=100, max_per_day_usd=10),
        ) as strict,
        InpaintClient(
            auth=WalletAuth(KEY), base_url=emu.base_url, top_up=policy(max_total_usd=100)
        ) as loose,
    ):
        outcomes = [await drained_edit(emu, loose) for _ in range(4)]
        emu.fund_wallet(strict.wallet.address, 0)
        with pytest.raises(TopUpLimitError) as info:
            await strict.images.edit(PNG, "hat")
    assert outcomes == [True, True, False, False]
    assert info.value.cap_name == "max_per_day_usd"
    assert signed_usd(emu, strict.wallet.address) == Decimal(10)


def test_two_ledgers_for_one_wallet_in_one_process_are_refused(tmp_path: Any) -> None:
    """A memory ledger with caps in use, then a client asking for a file: refused, clearly."""
    InpaintClient(auth=WalletAuth(KEY), top_up=policy())
    with pytest.raises(ConfigurationError, match="already uses the ledger"):
        InpaintClient(auth=WalletAuth(KEY), top_up=policy(ledger=tmp_path / "l.sqlite3"))


def test_a_file_ledger_chosen_first_is_used_by_every_client(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client without a ledger path joins the file another client of the wallet chose."""
    monkeypatch.delenv("INPAINT_LEDGER", raising=False)
    first = InpaintClient(auth=WalletAuth(KEY), top_up=policy(ledger=tmp_path / "l.sqlite3"))
    second = InpaintClient(auth=WalletAuth(KEY), top_up=TopUpPolicy(amount_usd=5, max_total_usd=50))
    assert first._wallet_hooks is not None and second._wallet_hooks is not None
    assert second._wallet_hooks.ledger is first._wallet_hooks.ledger
    assert first._wallet_hooks.ledger.path == (tmp_path / "l.sqlite3").resolve()
    assert first._wallet_hooks.ledger.caps.max_total_usd == Decimal(10)


def test_inpaint_ledger_env_selects_the_file(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """INPAINT_LEDGER=PATH: the wallet's ledger is that file."""
    monkeypatch.setenv("INPAINT_LEDGER", str(tmp_path / "env.sqlite3"))
    client = InpaintClient(auth=WalletAuth(KEY), top_up=policy())
    assert client._wallet_hooks is not None
    assert client._wallet_hooks.ledger.path == (tmp_path / "env.sqlite3").resolve()
    assert (tmp_path / "env.sqlite3").exists()
