"""No self-wait: a 402 answered to a request made *by* a top-up never joins that top-up.

Three such requests: the balance read before paying (the 402 carried no balance), a balance
poll after a 504, the settlement POST itself. Each case ends within its deadline with a typed
error, and the next call on the same client works.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal

import pytest
from aiohttp import web

from inpaint_async import (
    InpaintClient,
    SettlementPendingError,
    TopUpError,
    WalletAuth,
)

from .conftest import KEY, NO_RETRY, PNG, policy
from .hostile import WALLET_402, HostileServer

Serve = Callable[[web.Application], Awaitable[str]]
# Far above each case's own deadline (a request_timeout of 5 s, a settlement_timeout of 1 s) and
# far below "forever": before the fix each case hung here.
LIMIT = 15.0


async def run_case(serve_app: Serve, server: HostileServer, error: type[Exception]) -> None:
    base = await serve_app(server.app())
    async with InpaintClient(
        auth=WalletAuth(KEY), base_url=base + "/api/v1", retry=NO_RETRY, top_up=policy()
    ) as client:
        async with asyncio.timeout(LIMIT):
            with pytest.raises(error) as info:
                await client.images.edit(PNG, "hat")
            assert isinstance(info.value, TopUpError)
            server.edit_ok = True
            result = await client.images.edit(PNG, "hat again")  # the gate was released
            assert result.data


async def test_a_402_to_the_balance_read_before_paying_is_a_typed_error(
    serve_app: Serve,
) -> None:
    """The edit's 402 carries no balance; the balance read is answered 402: TopUpError,
    nothing signed, and the next call works."""
    server = HostileServer("400", balance_402=True)
    server.edit_402 = {k: v for k, v in WALLET_402.items() if k != "currentBalanceUsd"}
    await run_case(serve_app, server, TopUpError)
    assert server.payments == []
    assert server.hits["balance"] == 1


async def test_a_402_to_a_balance_poll_after_a_504_ends_at_the_settlement_deadline(
    serve_app: Serve,
) -> None:
    """Settlement answers 504, every balance poll a 402: SettlementPendingError at the
    deadline (the payment may still land), and the next call works."""
    server = HostileServer("504", balance_402=True)
    await run_case(serve_app, server, SettlementPendingError)
    assert len(server.payments) == 1
    assert server.hits["balance"] >= 2  # polled, never joined itself


async def test_a_402_to_the_settlement_post_is_a_typed_error(serve_app: Serve) -> None:
    """The signed payment is answered with a wallet-credit 402: TopUpError at once (the
    signature still counts), and the next call works."""
    server = HostileServer("402-again")
    await run_case(serve_app, server, TopUpError)
    assert len(server.payments) == 1
    assert server.valid_signed_usd(WalletAuth(KEY).address) == Decimal(5)


async def test_waiting_for_another_process_top_up_has_a_deadline(
    serve_app: Serve, tmp_path: object
) -> None:
    """A dead process holds the ledger file's gate: the wait ends at wait_timeout with
    TopUpError, nothing is signed, and the gate frees itself once the holder's time is over."""
    from pathlib import Path

    from inpaint_async.spend import open_ledger, spender_id

    path = Path(str(tmp_path)) / "l.sqlite3"
    ledger = open_ledger(spender_id(WalletAuth(KEY)), path)
    assert await ledger.try_acquire_top_up("dead-process", ttl=1.5) is not None
    server = HostileServer("400")
    base = await serve_app(server.app())
    async with InpaintClient(
        auth=WalletAuth(KEY),
        base_url=base + "/api/v1",
        retry=NO_RETRY,
        top_up=policy(ledger=path, wait_timeout=0.5),
    ) as client:
        async with asyncio.timeout(LIMIT):
            with pytest.raises(TopUpError, match="did not end within"):
                await client.images.edit(PNG, "hat")
            assert server.payments == []
            await asyncio.sleep(1.1)  # the dead holder's lease runs out
            with pytest.raises(TopUpError, match="refused"):
                await client.images.edit(PNG, "hat")  # this time it signs (and is refused)
    assert len(server.payments) == 1


async def test_the_whole_top_up_has_a_deadline(
    serve_app: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A top-up stuck past its deadline ends typed: before signing, TopUpError (nothing
    signed); after signing, SettlementPendingError (the signature counts, outcome unknown)."""
    import inpaint_async.spend._topup as topup

    server = HostileServer("400")
    base = await serve_app(server.app())
    fast = policy(request_timeout=0.1, settlement_timeout=0.1)  # deadline: 0.4 s
    real_discover = topup.discover

    async def stuck(*args: object, **kwargs: object) -> None:
        await asyncio.sleep(30)

    async with InpaintClient(
        auth=WalletAuth(KEY), base_url=base + "/api/v1", retry=NO_RETRY, top_up=fast
    ) as client:
        async with asyncio.timeout(LIMIT):
            monkeypatch.setattr(topup, "discover", stuck)
            with pytest.raises(TopUpError, match="nothing was signed"):
                await client.images.edit(PNG, "hat")
            monkeypatch.setattr(topup, "discover", real_discover)
            monkeypatch.setattr(topup, "_settle", stuck)
            with pytest.raises(SettlementPendingError, match="did not finish"):
                await client.images.edit(PNG, "hat")
            hooks = client._wallet_hooks
            assert hooks is not None
            [record] = await hooks.ledger.authorizations()
    assert record.outcome == "unknown" and record.amount_usd == Decimal(5)
    assert server.payments == []  # _settle never sent it: still counted, as signed
