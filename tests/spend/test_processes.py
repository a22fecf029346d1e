"""Durable and cross-process: processes sharing one ledger file against one emulator.

* Four processes × 50 concurrent edits on a drained wallet: exactly one top-up.
* Ten restarts of a process with a $10 cap and $5 top-ups, the wallet drained before each:
  at most $10 signed in all.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from inpaint_async import WalletAuth
from inpaint_async.spend import forget_ledgers, open_ledger, spender_id
from inpaint_async.testing import FaultPlan

from .conftest import KEY

CHILD = Path(__file__).with_name("child_edits.py")


async def run_child(
    base: str, ledger: Path, edits: int, amount: str, total: str, *barrier: str
) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), base, str(ledger), str(edits), amount, total, *barrier,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "SPEND_PROOF_KEY": KEY},
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def test_four_processes_on_a_drained_wallet_top_up_exactly_once(
    make_emulator: Any, tmp_path: Path
) -> None:
    """4 processes × 50 concurrent edits, one ledger file: one top-up, 200 edits done."""
    # Each process holds its own 5-in-flight bound; the server's per-wallet cap is raised to
    # their sum so that the proof is about top-ups, not 429s. Every top-up request takes 1 s,
    # and the processes start sending together: all four meet the 402 while one top-up runs.
    emu = await make_emulator(
        wallet_max_in_flight=20,
        faults=FaultPlan(script={"/x402/top-up": ["latency:1"] * 8}),
    )
    address = WalletAuth(KEY).address
    emu.fund_wallet(address, 0)
    ledger = tmp_path / "ledger.sqlite3"
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    children = [
        asyncio.ensure_future(run_child(emu.base_url, ledger, 50, "20", "100", str(barrier)))
        for _ in range(4)
    ]
    while len(list(barrier.glob("ready-*"))) < 4:
        assert not any(c.done() for c in children), [c.result() for c in children if c.done()]
        await asyncio.sleep(0.02)
    (barrier / "go").touch()
    results = await asyncio.gather(*children)
    assert [r["ok"] for r in results] == [50, 50, 50, 50], results
    credits = emu.credits_for(address)
    assert len(credits) == 1 and credits[0].amount_usd == Decimal(20)
    top_up_payments = [
        r for r in emu.requests if r.path.endswith("/x402/top-up") and r.status != 402
    ]
    assert len(top_up_payments) == 1
    edits = [r.status for r in emu.requests if r.path.endswith("/image/edit")]
    assert edits.count(200) == 200 and edits.count(402) >= 4
    forget_ledgers()
    status = await open_ledger(spender_id(WalletAuth(KEY)), ledger).status()
    assert status.auto_signed_total_usd == Decimal(20) and status.top_up_generation == 1


async def test_ten_restarts_never_sign_more_than_the_cap(
    make_emulator: Any, tmp_path: Path
) -> None:
    """Ten runs of a process ($5 top-ups, $10 cap), the wallet drained before each: $10."""
    emu = await make_emulator()
    address = WalletAuth(KEY).address
    ledger = tmp_path / "ledger.sqlite3"
    outcomes = []
    for _ in range(10):
        emu.fund_wallet(address, 0)
        outcomes.append(await run_child(emu.base_url, ledger, 1, "5", "10"))
    signed = sum((c.amount_usd for c in emu.credits_for(address)), Decimal(0))
    assert signed == Decimal(10)
    assert [o["ok"] for o in outcomes] == [1, 1] + [0] * 8
    assert all(o["errors"] == {"TopUpLimitError": 1} for o in outcomes[2:])
    forget_ledgers()
    status = await open_ledger(spender_id(WalletAuth(KEY)), ledger).status()
    assert status.auto_signed_total_usd == Decimal(10)
