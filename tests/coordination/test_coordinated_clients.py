"""Several clients of one wallet in one process, as if they were workers: one coordinator."""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from inpaint_async import ConfigurationError, InpaintClient, WalletAuth
from inpaint_async.batch import EditJob
from inpaint_async.coordination import CoordinatedHooks, LocalCoordinator
from tests.wallet.conftest import FAST_RETRY
from tests.wallet.conftest import fast_policy as policy

KEY = "0x" + "3d" * 32


def small_png(shade: int) -> bytes:
    """A 256x256 PNG (the smallest image the local checks accept)."""
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (200, shade % 256, 40)).save(buf, format="PNG")
    return buf.getvalue()


def jobs(tmp_path: Path, worker: str, n: int) -> list[EditJob]:
    return [
        EditJob(
            image=small_png(i),
            prompt="add a hat",
            output=tmp_path / worker / f"{i}.png",
            id=f"{worker}-{i}",
        )
        for i in range(n)
    ]


def worker_client(emu: Any, **kwargs: Any) -> InpaintClient:
    """A client with its own WalletAuth object: its own semaphore, like another process."""
    kwargs.setdefault("retry", FAST_RETRY)
    return InpaintClient(auth=WalletAuth(KEY), base_url=emu.base_url, **kwargs)


async def run_workers(
    emu: Any, tmp_path: Path, *, coordinator: LocalCoordinator | None, n: int = 25, **batch: Any
) -> list[Any]:
    async def worker(name: str) -> list[Any]:
        async with worker_client(emu, top_up=policy(), coordinator=coordinator) as client:
            return [o async for o in client.batch(jobs(tmp_path, name, n), **batch)]

    results = await asyncio.gather(worker("a"), worker("b"))
    return [o for outcomes in results for o in outcomes]


async def test_two_workers_share_slots_and_one_top_up(make_emulator: Any, tmp_path: Path) -> None:
    """Two clients of a $0 wallet: one top-up, no concurrency 429, every job succeeded."""
    address = WalletAuth(KEY).address
    emu = await make_emulator(wallets={address: 0}, latency=0.05)
    outcomes = await run_workers(emu, tmp_path, coordinator=LocalCoordinator())
    assert Counter(o.status for o in outcomes) == {"succeeded": 50}
    assert len(emu.credits_for(address)) == 1
    assert [r for r in emu.requests if r.status == 429] == []
    assert len(emu.charges_for(address)) == 50


async def test_without_a_coordinator_two_workers_overrun_the_wallet(
    make_emulator: Any, tmp_path: Path
) -> None:
    """The per-process default: two clients x 5 slots > the wallet's 5, so the server says 429."""
    address = WalletAuth(KEY).address
    emu = await make_emulator(wallets={address: 50}, latency=0.05)
    await run_workers(emu, tmp_path, coordinator=None, concurrency=5)
    assert [r for r in emu.requests if r.status == 429]


async def test_a_budget_is_shared_by_runners(make_emulator: Any, tmp_path: Path) -> None:
    """Two runners, one $0.40 budget: together they spend at most the budget."""
    address = WalletAuth(KEY).address
    emu = await make_emulator(wallets={address: 50}, latency=0.02)
    outcomes = await run_workers(
        emu, tmp_path, coordinator=LocalCoordinator(), n=20, budget_usd="0.40"
    )
    spent = sum((c.amount_usd for c in emu.charges_for(address)), Decimal(0))
    assert spent <= Decimal("0.40")
    assert Counter(o.status for o in outcomes)["succeeded"] == len(emu.charges_for(address))
    assert len(emu.charges_for(address)) == 10  # $0.04 each


async def test_the_coordinator_journal_resumes(make_emulator: Any, tmp_path: Path) -> None:
    """A second run over the coordinator's journal skips every job the first one finished."""
    address = WalletAuth(KEY).address
    emu = await make_emulator(wallets={address: 50})
    journal = tmp_path / "run.jsonl"
    first = LocalCoordinator(journal)
    await run_workers(emu, tmp_path, coordinator=first, n=5)
    await first.aclose()
    again = LocalCoordinator(journal)
    outcomes = await run_workers(emu, tmp_path, coordinator=again, n=5)
    await again.aclose()
    assert {o.reason for o in outcomes} == {"already succeeded"}
    assert len(emu.charges_for(address)) == 10


async def test_a_failed_top_up_fails_every_waiting_worker(
    make_emulator: Any, tmp_path: Path
) -> None:
    """The leader's top-up is refused (payee not pinned): nothing is signed, every worker stops."""
    address = WalletAuth(KEY).address
    emu = await make_emulator(wallets={address: 0}, latency=0.02)
    coordinator = LocalCoordinator()
    bad = policy(allowed_payees=frozenset({"0x" + "99" * 20}))

    async def worker(name: str) -> list[Any]:
        async with worker_client(emu, top_up=bad, coordinator=coordinator) as client:
            return [o async for o in client.batch(jobs(tmp_path, name, 5))]

    results = await asyncio.gather(worker("a"), worker("b"))
    outcomes = [o for r in results for o in r]
    assert emu.credits_for(address) == []
    failed = [o for o in outcomes if o.status == "failed"]
    assert failed and all(
        "TopUp" in type(o.error).__name__ or "PaymentRail" in type(o.error).__name__ for o in failed
    )
    assert coordinator.top_ups(address.lower()) == 0


async def test_the_client_hands_its_coordinator_on(make_emulator: Any, tmp_path: Path) -> None:
    """Derived clients and batches use the client's coordinator; bad combinations are refused."""
    emu = await make_emulator()
    coordinator = LocalCoordinator()
    async with InpaintClient(
        auth=emu.api_key, base_url=emu.base_url, coordinator=coordinator
    ) as client:
        assert isinstance(client._wallet_hooks, CoordinatedHooks)
        assert client.with_options(retry=FAST_RETRY).coordinator is coordinator
        runner = client.batch(jobs(tmp_path, "k", 2))
        assert runner._coordinator is coordinator
        assert [o.status async for o in runner] == ["succeeded", "succeeded"]
        with pytest.raises(ConfigurationError, match="coordinator"):
            client.batch([], journal=tmp_path / "j.jsonl")
    with pytest.raises(ConfigurationError, match="Coordinator"):
        InpaintClient(auth=emu.api_key, base_url=emu.base_url, coordinator=object())  # type: ignore[arg-type]


async def test_the_sync_client_takes_a_coordinator(emulator: Any, tmp_path: Path) -> None:
    """SyncInpaintClient passes the coordinator on: its batches claim from the journal."""
    from inpaint_async import SyncInpaintClient

    coordinator = LocalCoordinator(tmp_path / "run.jsonl")

    def run() -> Any:  # in a thread: the emulator serves on this test's loop meanwhile
        with SyncInpaintClient(
            emulator.api_key, base_url=emulator.base_url, coordinator=coordinator
        ) as client:
            assert client.async_client.coordinator is coordinator
            return client.batch(jobs(tmp_path, "s", 2))

    summary = await asyncio.to_thread(run)
    assert summary.succeeded == 2
    assert (tmp_path / "run.jsonl").read_text().count('"sent"') == 2
