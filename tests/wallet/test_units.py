"""Units: TopUpPolicy validation, which 402s may top up, SETTLEMENT_FAILED, client wiring."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web

from inpaint_async import (
    BearerAuth,
    ConfigurationError,
    InpaintClient,
    InsufficientBalanceError,
    RetryPolicy,
    SettlementFailedError,
    TopUpLimitError,
    TopUpPolicy,
    ValidationError,
    WalletAuth,
    WalletCreditError,
    X402DiscoveryError,
)
from inpaint_async.spend._hooks import AttemptTicket
from inpaint_async.x402._parse import payment_required_error

from .conftest import KEY, fast_policy


def test_policy_normalises_amounts_to_decimal() -> None:
    """Ints, strings and floats become exact Decimals; the per-top-up cap defaults to amount."""
    policy = TopUpPolicy(amount_usd=10, max_total_usd="50", below_usd=0.5)
    assert policy.amount_usd == Decimal(10) and isinstance(policy.amount_usd, Decimal)
    assert policy.max_total_usd == Decimal(50)
    assert policy.below_usd == Decimal("0.5")
    assert policy.cap_per_top_up_usd == Decimal(10)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"amount_usd": 0, "max_total_usd": 10},
        {"amount_usd": -5, "max_total_usd": 10},
        {"amount_usd": "nan", "max_total_usd": 10},
        {"amount_usd": 10, "max_total_usd": 5},
        {"amount_usd": 10_001, "max_total_usd": 20_000},
        {"amount_usd": "5.0000001", "max_total_usd": 10},
        {"amount_usd": 10, "max_total_usd": 50, "max_per_top_up_usd": 5},
        {"amount_usd": 10, "max_total_usd": 50, "below_usd": -1},
        {"amount_usd": 10, "max_total_usd": 50, "allowed_payees": "0x" + "ab" * 20},
        {"amount_usd": 10, "max_total_usd": 50, "allowed_payees": ["not-an-address"]},
        {"amount_usd": 10, "max_total_usd": 50, "poll_interval": 0},
        {"amount_usd": True, "max_total_usd": 50},
    ],
)
def test_policy_rejects_bad_numbers(kwargs: dict[str, Any]) -> None:
    """Every malformed policy is refused at construction, before any money can move."""
    with pytest.raises(ValidationError):
        TopUpPolicy(**kwargs)


def test_top_up_policy_needs_a_wallet_and_a_policy_object() -> None:
    """A policy with an API key, or something that is not a TopUpPolicy, is a setup error."""
    with pytest.raises(ConfigurationError):
        InpaintClient(auth=BearerAuth("k"), top_up=fast_policy())
    with pytest.raises(ConfigurationError):
        InpaintClient(auth=WalletAuth(KEY), top_up={"amount_usd": 5})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        _ = InpaintClient(auth=BearerAuth("k")).wallet


def test_derived_clients_share_the_wallet_state() -> None:
    """with_options() and a second root client use one ledger and one guard per wallet."""
    client = InpaintClient(auth=WalletAuth(KEY), top_up=fast_policy())
    derived = client.with_options(read_timeout=5)
    other_root = InpaintClient(auth=WalletAuth(KEY))
    assert derived._wallet_hooks is not None and client._wallet_hooks is not None
    assert other_root._wallet_hooks is not None
    assert derived._wallet_hooks.ledger is client._wallet_hooks.ledger
    assert other_root._wallet_hooks.guard is client._wallet_hooks.guard
    assert derived._wallet_hooks.policy is not None


def _402(body: Any) -> Any:
    return payment_required_error("402", body=body, headers={}, request_id=None)


SHAPE_B = {"error": "Payment required", "code": "PAYMENT_REQUIRED", "currentBalanceUsd": 0.01}


async def test_only_a_wallet_credit_402_triggers_a_top_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shape A, shape C, DIEM mode and a second 402 in one chain never top up."""
    client = InpaintClient(auth=WalletAuth(KEY), top_up=fast_policy())
    calls: list[Any] = []

    async def fake_top_up(policy: TopUpPolicy, sent_at: float | None) -> Any:
        calls.append(policy)
        from inpaint_async import TopUpResult

        return TopUpResult(wallet_address="0x", amount_credited=Decimal(5), payment_id="p")

    hooks = client._wallet_hooks
    assert hooks is not None
    monkeypatch.setattr(hooks, "_fly", fake_top_up)

    async def hook(exc: Any, topped_up: int) -> bool:
        return await hooks.payment_required(exc, topped_up, AttemptTicket())

    shape_a = _402({"x402Version": 2, "accepts": [], "error": "Authentication required"})
    shape_c = _402({"error": "Insufficient USD or Diem balance to complete request."})
    diem = _402({**SHAPE_B, "diemBalanceUsd": 5})
    assert isinstance(shape_a, X402DiscoveryError)
    assert isinstance(shape_c, InsufficientBalanceError)
    assert isinstance(diem, WalletCreditError)
    assert not await hook(shape_a, 0)
    assert not await hook(shape_c, 0)
    assert not await hook(diem, 0)
    assert not await hook(_402(SHAPE_B), 1)  # a 402 right after this chain's top-up
    assert calls == []
    assert await hook(_402(SHAPE_B), 0)
    assert len(calls) == 1
    await client.close()


async def test_settlement_failed_is_a_typed_retryable_error(
    serve_app: Callable[[web.Application], Awaitable[str]],
) -> None:
    """402 SETTLEMENT_FAILED raises SettlementFailedError; the signature still counts."""
    settlements: list[str] = []

    async def top_up(request: web.Request) -> web.Response:
        payment = request.headers.get("payment-signature")
        if payment is None:
            body = {
                "x402Version": 2,
                "accepts": [
                    {
                        "scheme": "exact",
                        "network": "eip155:8453",
                        "amount": "5000000",
                        "asset": "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913",
                        "payTo": "0x2670B922ef37C7Df47158725C0CC407b5382293F",
                        "maxTimeoutSeconds": 300,
                    }
                ],
            }
            return web.json_response(body, status=402)
        settlements.append(payment)
        return web.json_response(
            {"error": "SETTLEMENT_FAILED", "message": "Settlement failed"}, status=402
        )

    async def balance(request: web.Request) -> web.Response:
        data = {"walletAddress": "0x", "balanceUsd": 0.01, "canConsume": False}
        return web.Response(text=json.dumps({"success": True, "data": data}))

    app = web.Application()
    app.router.add_post("/api/v1/x402/top-up", top_up)
    app.router.add_get("/api/v1/x402/balance/{wallet}", balance)
    base = await serve_app(app)
    async with InpaintClient(
        auth=WalletAuth(KEY),
        base_url=base + "/api/v1",
        retry=RetryPolicy.no_retry(),
        top_up=fast_policy(amount_usd=5, max_total_usd=5),
    ) as client:
        hooks = client._wallet_hooks
        assert hooks is not None
        with pytest.raises(SettlementFailedError):
            await hooks.payment_required(_402(SHAPE_B), 0, AttemptTicket())
        # The authorization stays valid until validBefore: it counts, and fills the $5 cap.
        assert client.wallet.committed_top_ups_usd == 5
        with pytest.raises(TopUpLimitError):
            await hooks.payment_required(_402(SHAPE_B), 0, AttemptTicket())
        with pytest.raises(SettlementFailedError):  # a manual retry is the caller's choice
            await client.wallet.top_up(5)
        status = await client.wallet.spend_status()
        assert status.signed_total_usd == 10 and status.auto_signed_total_usd == 5
    assert len(settlements) == 2 and settlements[0] != settlements[1]


async def test_no_payment_is_signed_for_a_plain_http_origin() -> None:
    """Payment requirements must come over https (loopback excepted): nothing is even sent."""
    from aioresponses import aioresponses

    from inpaint_async import ConfigurationError, InpaintClient, WalletAuth

    with aioresponses() as m:
        async with InpaintClient(
            auth=WalletAuth(KEY), base_url="http://api.example.test/api/v1"
        ) as c:
            with pytest.raises(ConfigurationError, match="https"):
                await c.wallet.top_up(10)
        assert not m.requests
