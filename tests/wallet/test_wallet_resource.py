"""client.wallet against the emulator: balance, transactions paging, manual top-ups, SIWX wire."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web

from inpaint_async import (
    APIStatusError,
    AuthenticationError,
    ConfigurationError,
    InpaintClient,
    PaymentRailError,
    RetryPolicy,
    TopUpLimitError,
    WalletAuth,
    WalletBalance,
)
from inpaint_async.testing import FaultPlan

from .conftest import KEY, PNG, client_for, fast_policy, paths


async def test_balance_is_signed_and_updates_last_known_balance(
    make_emulator: Any, wallet: WalletAuth
) -> None:
    """balance() is a SIWX-signed GET; unknown is None before it, the value after."""
    emu = await make_emulator()
    emu.fund_wallet(wallet.address, "12.5")
    async with client_for(emu, wallet) as client:
        assert client.wallet.last_known_balance is None
        balance = await client.wallet.balance()
        assert isinstance(balance, WalletBalance)
        assert balance.balance_usd == Decimal("12.5") and balance.can_consume is True
        assert client.wallet.last_known_balance == Decimal("12.5")
    (record,) = paths(emu, "/x402/balance")
    assert record.status == 200 and record.siwx_nonce


async def test_balance_header_tracks_the_balance_after_each_edit(
    make_emulator: Any, wallet: WalletAuth
) -> None:
    """X-Balance-Remaining on a success updates last_known_balance."""
    emu = await make_emulator(send_balance_remaining=True)
    emu.fund_wallet(wallet.address, 1)
    async with client_for(emu, wallet) as client:
        await client.images.edit(PNG, "hat")
        assert client.wallet.last_known_balance == Decimal("0.96")


async def test_transactions_page_through_limit_and_offset(
    make_emulator: Any, wallet: WalletAuth
) -> None:
    """7 charges read 3 at a time: 3 signed requests, every entry once, newest first."""
    emu = await make_emulator()
    emu.fund_wallet(wallet.address, 5)
    async with client_for(emu, wallet) as client:
        for i in range(7):
            await client.images.edit(PNG, f"hat {i}")
        seen = [t async for t in client.wallet.transactions(limit=3)]
        with pytest.raises(ConfigurationError):
            [t async for t in client.wallet.transactions(limit=101)]
    assert len(seen) == 7 and len({t.id for t in seen}) == 7
    assert all(t.type == "CHARGE" and t.amount == Decimal("-0.04") for t in seen)
    after = [t.balance_after for t in seen]
    assert after == sorted(after)  # newest (lowest balance) first
    requests = paths(emu, "/x402/transactions")
    assert len(requests) == 3 and len({r.siwx_nonce for r in requests}) == 3


async def test_manual_top_up_returns_the_receipt(make_emulator: Any, wallet: WalletAuth) -> None:
    """top_up(7.5): credited, new balance, payment id and tx hash from PAYMENT-RESPONSE."""
    emu = await make_emulator()
    emu.fund_wallet(wallet.address, 1)
    async with client_for(emu, wallet) as client:
        result = await client.wallet.top_up("7.5")
        assert client.wallet.last_known_balance == Decimal("8.5")
    assert result.amount_credited == Decimal("7.5")
    assert result.new_balance == Decimal("8.5")
    assert result.payment_id.startswith("payment_")
    assert result.transaction and result.network == "eip155:8453"
    assert result.payer and result.payer.lower() == wallet.address.lower()
    (credit,) = emu.credits_for(wallet.address)
    assert credit.amount_usd == Decimal("7.5")


async def test_manual_top_up_checks_amounts_and_payees_before_signing(
    make_emulator: Any, wallet: WalletAuth
) -> None:
    """Below the server minimum, above the caller's cap, or an unpinned payee: nothing signed."""
    emu = await make_emulator()
    emu.fund_wallet(wallet.address, 1)
    async with client_for(emu, wallet) as client:
        with pytest.raises(PaymentRailError, match="minimum"):
            await client.wallet.top_up(1)
        with pytest.raises(PaymentRailError, match="10,000"):
            await client.wallet.top_up(10_001)
        with pytest.raises(TopUpLimitError):
            await client.wallet.top_up(20, max_usd=10)
        with pytest.raises(PaymentRailError, match="pinned"):
            await client.wallet.top_up(10, allowed_payees=["0x" + "ab" * 20])
        result = await client.wallet.top_up(10, allowed_payees=[emu.pay_to.lower()])
        assert result.amount_credited == Decimal(10)
    statuses = [r.status for r in paths(emu, "/x402/top-up")]
    assert statuses.count(200) == 1 and len(emu.credits_for(wallet.address)) == 1


async def test_legacy_header_option_sends_x_402_payment(
    make_emulator: Any, wallet: WalletAuth
) -> None:
    """legacy_header=True: the payment travels as X-402-Payment, never both names."""
    emu = await make_emulator()
    emu.fund_wallet(wallet.address, 1)
    async with client_for(emu, wallet, top_up=fast_policy(legacy_header=True)) as client:
        sent: list[dict[str, str]] = []
        real = client._transport.send

        async def spy(method: str, url: str, **kwargs: Any) -> Any:
            sent.append(dict(kwargs["headers"]))
            return await real(method, url, **kwargs)

        client._transport.send = spy  # type: ignore[method-assign]
        await client.wallet.top_up(10)
    settle = [h for h in sent if "x-402-payment" in h]
    assert len(settle) == 1 and "payment-signature" not in settle[0]
    assert not any("sign-in-with-x" in h for h in settle)  # top-ups carry no SIWX


async def test_a_503_then_a_200_is_two_requests_with_two_verified_nonces(
    make_emulator: Any, wallet: WalletAuth
) -> None:
    """A 503 then a 200: two requests, two different nonces, both verified by the server."""
    emu = await make_emulator(faults=FaultPlan(script={"/image/edit": ["503"]}))
    emu.fund_wallet(wallet.address, 1)
    async with client_for(emu, wallet) as client:
        await client.images.edit(PNG, "hat")
    records = paths(emu, "/image/edit")
    assert [r.status for r in records] == [503, 200]
    nonces = [r.siwx_nonce for r in records]
    assert all(nonces) and nonces[0] != nonces[1]
    assert all(r.payer == wallet.address.lower() for r in records)


async def test_a_replayed_header_is_an_authentication_error_with_its_code(
    make_emulator: Any,
) -> None:
    """Reusing a nonce: 401 X402_SIGN_IN_NONCE_REUSED surfaces as AuthenticationError.code."""
    emu = await make_emulator()
    replaying = WalletAuth(KEY, nonce_factory=lambda: "a1b2c3d4e5f64789")
    emu.fund_wallet(replaying.address, 1)
    async with client_for(emu, replaying) as client:
        await client.images.edit(PNG, "hat")
        with pytest.raises(AuthenticationError) as info:
            await client.images.edit(PNG, "hat")
    assert info.value.status_code == 401
    assert info.value.code == "X402_SIGN_IN_NONCE_REUSED"
    assert [r.status for r in paths(emu, "/image/edit")] == [200, 401]  # 401 is not retried


async def test_in_flight_requests_per_wallet_are_capped_across_clients(
    make_emulator: Any,
) -> None:
    """Two clients on one WalletAuth(max_in_flight=2) never exceed the server's cap of 2."""
    emu = await make_emulator(wallet_max_in_flight=2, latency=0.02)
    auth = WalletAuth(KEY, max_in_flight=2)
    emu.fund_wallet(auth.address, 5)
    no_retry = RetryPolicy.no_retry()
    async with client_for(emu, auth, retry=no_retry) as a, client_for(emu, auth) as b:
        derived = a.with_options(read_timeout=60)
        await asyncio.gather(
            *(c.images.edit(PNG, "hat") for c in (a, b, derived) for _ in range(6))
        )
    assert len(paths(emu, "/image/edit")) == 18
    assert 429 not in [r.status for r in paths(emu, "/image/edit")]


async def test_without_the_semaphore_the_server_cap_is_hit(make_emulator: Any) -> None:
    """Control for the test above: max_in_flight=10 against a cap of 2 gets 429s."""
    emu = await make_emulator(wallet_max_in_flight=2, latency=0.02)
    auth = WalletAuth(KEY, max_in_flight=10)
    emu.fund_wallet(auth.address, 5)
    async with client_for(emu, auth, retry=RetryPolicy.no_retry()) as client:
        outcomes = await asyncio.gather(
            *(client.images.edit(PNG, "hat") for _ in range(10)), return_exceptions=True
        )
    assert any(isinstance(o, APIStatusError) and o.status_code == 429 for o in outcomes)


async def test_no_wallet_header_goes_to_a_foreign_origin_on_a_redirect(
    serve_app: Callable[[web.Application], Awaitable[str]],
) -> None:
    """A 307 to another origin is not followed: the other host never sees a request."""
    foreign_hits: list[web.Request] = []

    async def foreign(request: web.Request) -> web.Response:
        foreign_hits.append(request)
        return web.Response(status=200)

    foreign_app = web.Application()
    foreign_app.router.add_route("*", "/{tail:.*}", foreign)
    foreign_port = (await serve_app(foreign_app)).rsplit(":", 1)[1]
    seen_siwx: list[str | None] = []

    async def redirect(request: web.Request) -> web.Response:
        seen_siwx.append(request.headers.get("sign-in-with-x"))
        raise web.HTTPTemporaryRedirect(f"http://localhost:{foreign_port}/steal")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    base = await serve_app(app)
    auth = WalletAuth(KEY)
    async with InpaintClient(
        auth=auth, base_url=base + "/api/v1", retry=RetryPolicy.no_retry()
    ) as client:
        with pytest.raises(APIStatusError) as info:
            await client.images.edit(PNG, "hat")
        assert info.value.status_code == 307
        with pytest.raises(ConfigurationError, match="refusing to sign"):
            await auth.headers("GET", f"http://localhost:{foreign_port}/steal")
    assert len(seen_siwx) == 1 and seen_siwx[0]  # the base URL was signed for
    assert foreign_hits == []


async def test_repr_logs_and_errors_never_leak_the_key(
    make_emulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Canary: the private key appears in no repr, log line or error message of a top-up run."""
    emu = await make_emulator(faults=FaultPlan(script={"/x402/top-up": ["payment_in_progress"]}))
    auth = WalletAuth(KEY)
    emu.fund_wallet(auth.address, 0)
    policy = fast_policy(amount_usd=5, max_total_usd=5)
    caplog.set_level(logging.DEBUG, logger="inpaint_async")
    texts: list[str] = []
    async with client_for(emu, auth, top_up=policy) as client:
        await client.images.edit(PNG, "hat")
        emu.fund_wallet(auth.address, 0)
        with pytest.raises(TopUpLimitError) as info:
            await client.images.edit(PNG, "hat")
        texts += [repr(client), repr(client.wallet), repr(auth), repr(policy), str(info.value)]
        texts.append(repr(info.value.__cause__))
    texts.append(caplog.text)
    assert "payment-signature" in caplog.text.lower() or "top-up" in caplog.text
    secret = KEY[2:].lower()
    for text in texts:
        assert secret not in text.lower()
        assert secret.upper() not in text
