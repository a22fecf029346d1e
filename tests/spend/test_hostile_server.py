"""A hostile server: every failure answer to a signed top-up, reactive and proactive paths.

Whatever the server answers after a payment was signed, the authorization stays valid until
``validBefore``; the server received every header, so the proof decodes each one, keeps the
distinct, validly signed, unexpired ones and sums them: never more than ``max_total_usd``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web

from inpaint_async import InpaintClient, InpaintError, TopUpError, TopUpLimitError, WalletAuth

from .conftest import KEY, NO_RETRY, PNG, policy
from .hostile import FAILURES, HostileServer

Serve = Callable[[web.Application], Awaitable[str]]


@pytest.mark.parametrize("failure", FAILURES)
async def test_reactive_failures_never_sign_past_the_cap(serve_app: Serve, failure: str) -> None:
    """60 edits meet a wallet 402; each top-up is answered `failure`: ≤ $10 validly signed."""
    server = HostileServer(failure)
    base = await serve_app(server.app())
    auth = WalletAuth(KEY)
    async with InpaintClient(
        auth=auth, base_url=base + "/api/v1", retry=NO_RETRY, top_up=policy()
    ) as client:
        errors: list[BaseException] = []
        for i in range(20):
            with pytest.raises(InpaintError) as info:
                await client.images.edit(PNG, f"sequential {i}")
            errors.append(info.value)
        gathered = await asyncio.gather(
            *(client.images.edit(PNG, f"concurrent {i}") for i in range(40)),
            return_exceptions=True,
        )
        assert all(isinstance(r, InpaintError) for r in gathered)
        status = await client.wallet.spend_status()
    assert server.valid_signed_usd(auth.address) <= Decimal(10)
    # Not vacuous: the server did receive (and refuse) two signed $5 payments...
    assert len(server.payments) == 2 and server.valid_signed_usd(auth.address) == 10
    # ...after which the cap refused before signing, and the ledger says why.
    assert isinstance(errors[0], TopUpError) and not isinstance(errors[0], TopUpLimitError)
    assert all(isinstance(e, TopUpLimitError) for e in errors[2:])
    assert status.auto_signed_total_usd == 10


@pytest.mark.parametrize("failure", FAILURES)
async def test_proactive_failures_never_sign_past_the_cap(serve_app: Serve, failure: str) -> None:
    """below_usd with a low X-Balance-Remaining on every 200; each top-up fails: ≤ $10."""
    server = HostileServer(failure, proactive=True)
    base = await serve_app(server.app())
    auth = WalletAuth(KEY)
    async with InpaintClient(
        auth=auth, base_url=base + "/api/v1", retry=NO_RETRY, top_up=policy(below_usd=1)
    ) as client:
        hooks = client._wallet_hooks
        assert hooks is not None
        for i in range(20):
            await client.images.edit(PNG, f"sequential {i}")
            await hooks.wait_idle()
        await asyncio.gather(*(client.images.edit(PNG, f"batch {i}") for i in range(40)))
        await hooks.wait_idle()
    assert server.hits["edit"] == 60
    assert server.valid_signed_usd(auth.address) <= Decimal(10)
    assert len(server.payments) == 2


async def test_a_409_resend_counts_once(make_emulator: Any) -> None:
    """PAYMENT_IN_PROGRESS twice, then settled: one authorization sent three times, counted
    once ($5 of the $10 cap), so a second top-up still fits."""
    from inpaint_async.testing import FaultPlan

    emu = await make_emulator(
        faults=FaultPlan(script={"/x402/top-up": [None, "payment_in_progress"]})
    )
    auth = WalletAuth(KEY)
    emu.fund_wallet(auth.address, 0)
    async with InpaintClient(auth=auth, base_url=emu.base_url, top_up=policy()) as client:
        await client.images.edit(PNG, "hat")
        status = await client.wallet.spend_status()
        emu.fund_wallet(auth.address, 0)
        await client.images.edit(PNG, "hat again")  # the second $5 fits under $10
    settle = [r.status for r in emu.requests if r.path.endswith("/x402/top-up")]
    assert settle.count(409) >= 1
    assert status.auto_signed_total_usd == Decimal(5)
    assert len(emu.credits_for(auth.address)) == 2
