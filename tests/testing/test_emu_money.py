"""Money: catalogue pricing, the ledger, balances, and the x402 top-up flow."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from inpaint_async.testing import Emulator, FaultPlan

from .helpers import (
    OTHER_KEY,
    WALLET,
    FakeClock,
    decode_b64json,
    image_b64,
    payment_header,
    siwx_header,
)

IMG = image_b64()


async def call(http: aiohttp.ClientSession, emu: Emulator, path: str, body: dict[str, Any]) -> int:
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    async with http.post(emu.base_url + path, json=body, headers=headers) as r:
        await r.read()
        return r.status


@pytest.mark.parametrize(
    ("path", "body", "price"),
    [
        ("/image/edit", {"prompt": "x"}, "0.04"),
        ("/image/edit", {"prompt": "x", "enhance_prompt": True}, "0.08"),
        ("/image/edit", {"prompt": "x", "model": "grok-imagine-edit"}, "0.0323"),
        (
            "/image/edit",
            {"prompt": "x", "model": "nano-banana-pro-edit", "resolution": "4K"},
            "0.35",
        ),
        ("/image/edit", {"prompt": "x", "model": "gpt-image-2-edit", "resolution": "2K"}, "0.52"),
        (
            "/image/multi-edit",
            {"prompt": "x", "modelId": "gpt-image-2-edit", "resolution": "2K", "quality": "low"},
            "0.03",
        ),
        (
            "/image/multi-edit",
            {"prompt": "x", "modelId": "gpt-image-2-edit", "quality": "medium", "n": 3},
            "0.0984",
        ),
        ("/image/multi-edit", {"prompt": "x", "modelId": "qwen-image-3-edit", "n": 2}, "0.0469"),
    ],
)
async def test_prices_follow_the_catalogue(
    emulator: Emulator,
    http: aiohttp.ClientSession,
    path: str,
    body: dict[str, Any],
    price: str,
) -> None:
    """Quality price, else resolution price, else base; plus extra images and enhancement."""
    body = dict(body)
    n = body.pop("n", 1)
    body["images" if path == "/image/multi-edit" else "image"] = (
        [IMG] * n if path == "/image/multi-edit" else IMG
    )
    assert await call(http, emulator, path, body) == 200
    (charge,) = emulator.charges_for(emulator.api_key)
    assert charge.amount_usd == Decimal(price)
    assert emulator.balance_of(emulator.api_key) == Decimal(100) - Decimal(price)


async def test_upscale_and_background_remove_prices(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    """Upscale costs $0.02 at 2x and $0.08 above; background removal $0.03."""
    small = image_b64(256, 256)
    assert await call(http, emulator, "/image/upscale", {"image": small, "scale": 2}) == 200
    assert await call(http, emulator, "/image/upscale", {"image": small, "scale": 4}) == 200
    assert await call(http, emulator, "/image/background-remove", {"image": small}) == 200
    amounts = [(c.model, c.amount_usd) for c in emulator.charges_for()]
    assert amounts == [
        ("upscaler", Decimal("0.02")),
        ("upscaler", Decimal("0.08")),
        ("bria-bg-remover", Decimal("0.03")),
    ]


async def test_wallet_balance_never_goes_negative(
    http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """A $0.12 wallet running a $0.18 edit pays what it has and ends at zero."""
    async with Emulator(max_output_side=64, clock=clock, wallets={WALLET: "0.12"}) as emu:
        async with http.post(
            emu.base_url + "/image/edit",
            json={"image": IMG, "prompt": "x", "model": "nano-banana-pro-edit"},
            headers={"SIGN-IN-WITH-X": siwx_header(clock.now)},
        ) as r:
            assert r.status == 200
            assert r.headers["X-Balance-Remaining"] == "0.000000"
        assert emu.balance_of(WALLET) == 0
        assert emu.charges_for(WALLET)[0].amount_usd == Decimal("0.12")


async def test_balance_remaining_header_can_be_switched_off(
    http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """`send_balance_remaining=False` drops X-Balance-Remaining, as the live API may."""
    async with (
        Emulator(
            max_output_side=64, clock=clock, wallets={WALLET: 1}, send_balance_remaining=False
        ) as emu,
        http.post(
            emu.base_url + "/image/edit",
            json={"image": IMG, "prompt": "x"},
            headers={"SIGN-IN-WITH-X": siwx_header(clock.now)},
        ) as r,
    ):
        assert r.status == 200
        assert "X-Balance-Remaining" not in r.headers


# -- top-up -----------------------------------------------------------------------------------


async def top_up(
    http: aiohttp.ClientSession, emu: Emulator, header: str | None, name: str = "PAYMENT-SIGNATURE"
) -> tuple[int, Any, Any]:
    headers = {name: header} if header is not None else {}
    async with http.post(emu.base_url + "/x402/top-up", headers=headers) as r:
        return r.status, await r.json(), r.headers


@pytest.fixture
async def topup_emu(clock: FakeClock) -> Any:
    async with Emulator(max_output_side=64, clock=clock, settlement_delay=5) as emu:
        yield emu


async def test_top_up_discovery(topup_emu: Emulator, http: aiohttp.ClientSession) -> None:
    """No payment header: 402 with Base USDC and Solana rails priced at the $5 minimum."""
    status, body, headers = await top_up(http, topup_emu, None)
    assert status == 402
    base, solana = body["accepts"]
    assert base["network"] == "eip155:8453"
    assert base["asset"] == "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913"
    assert base["amount"] == "5000000"
    assert base["extra"] == {"name": "USD Coin", "version": "2"}
    assert solana["network"].startswith("solana:")
    assert decode_b64json(headers["PAYMENT-REQUIRED"]) == body


@pytest.mark.parametrize("name", ["PAYMENT-SIGNATURE", "X-402-Payment", "X-PAYMENT"])
async def test_top_up_credits_once(
    topup_emu: Emulator, http: aiohttp.ClientSession, clock: FakeClock, name: str
) -> None:
    """A signed payment is verified, credited once, and answered with PAYMENT-RESPONSE."""
    header = payment_header(clock.now, usd=12.5)
    status, body, headers = await top_up(http, topup_emu, header, name)
    assert status == 200
    data = body["data"]
    assert data["walletAddress"] == WALLET.lower()
    assert data["amountCredited"] == 12.5
    assert data["newBalance"] == 12.5
    receipt = decode_b64json(headers["PAYMENT-RESPONSE"])
    assert receipt["network"] == "eip155:8453"
    assert receipt["payer"] == WALLET.lower()
    assert receipt["transaction"].startswith("0x")
    status, again, _ = await top_up(http, topup_emu, header, name)
    assert status == 200
    assert again["data"]["paymentId"] == data["paymentId"]
    assert topup_emu.balance_of(WALLET) == Decimal("12.5")
    assert [c.payment_id for c in topup_emu.credits_for(WALLET)] == [data["paymentId"]]


async def test_reference_payment_vector_is_accepted(http: aiohttp.ClientSession) -> None:
    """The reference client's 10 USDC payment header is credited to its wallet."""
    from .test_emu_vectors import REFERENCE_NOW, REFERENCE_PAYMENT_HEADER, REFERENCE_WALLET

    async with Emulator(clock=FakeClock(REFERENCE_NOW)) as emu:
        status, body, _ = await top_up(http, emu, REFERENCE_PAYMENT_HEADER, "X-402-Payment")
        assert status == 200
        assert emu.balance_of(REFERENCE_WALLET) == 10
        assert body["data"]["amountCredited"] == 10


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"usd": 4.99}, "AMOUNT_TOO_LOW"),
        ({"usd": 10_000.01}, "AMOUNT_TOO_HIGH"),
        ({"scheme": "upto"}, "UNSUPPORTED_SCHEME"),
        ({"network": "eip155:1"}, "UNSUPPORTED_NETWORK"),
        ({"pay_to": "0x" + "12" * 20}, "INVALID_PAYMENT_RECIPIENT"),
        ({"valid_before": 1}, "INVALID_PAYMENT"),
        ({"signer_key": OTHER_KEY}, "PAYMENT_VERIFICATION_FAILED"),
        ({"domain_name": "USDC"}, "PAYMENT_VERIFICATION_FAILED"),
    ],
)
async def test_top_up_rejections(
    topup_emu: Emulator,
    http: aiohttp.ClientSession,
    clock: FakeClock,
    kwargs: dict[str, Any],
    code: str,
) -> None:
    """Bad payments get 400 with the reference error code, and move no money."""
    status, body, _ = await top_up(http, topup_emu, payment_header(clock.now, **kwargs))
    assert (status, body["error"]) == (400, code)
    assert topup_emu.ledger == []


@pytest.mark.parametrize("value", ["garbage!", "eyJ4IjoxfQ==", "W10="])
async def test_top_up_garbage_payment(
    topup_emu: Emulator, http: aiohttp.ClientSession, value: str
) -> None:
    """Undecodable payments are INVALID_PAYMENT_FORMAT."""
    status, body, _ = await top_up(http, topup_emu, value)
    assert (status, body["error"]) == (400, "INVALID_PAYMENT_FORMAT")


async def test_settlement_timeout_credits_later(
    topup_emu: Emulator, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """504 SETTLEMENT_TIMEOUT; the same payment is 409 while settling; the credit then lands."""
    topup_emu.faults = FaultPlan(script={"/x402/top-up": ["settlement_timeout"]})
    header = payment_header(clock.now, usd=20)
    status, body, _ = await top_up(http, topup_emu, header)
    assert (status, body["error"]) == (504, "SETTLEMENT_TIMEOUT")
    assert topup_emu.balance_of(WALLET) == 0
    status, body, _ = await top_up(http, topup_emu, header)
    assert (status, body["error"]) == (409, "PAYMENT_IN_PROGRESS")
    clock.advance(5)
    assert topup_emu.balance_of(WALLET) == 20
    status, body, _ = await top_up(http, topup_emu, header)
    assert status == 200
    assert len(topup_emu.credits_for(WALLET)) == 1


async def test_payment_in_progress_then_success(
    topup_emu: Emulator, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Fault `payment_in_progress`: 409 for the same payment until it settles, then 200."""
    topup_emu.faults = FaultPlan(script={"/x402/top-up": ["payment_in_progress"]})
    header = payment_header(clock.now)
    assert (await top_up(http, topup_emu, header))[0] == 409
    assert (await top_up(http, topup_emu, header))[0] == 409
    clock.advance(6)
    status, body, _ = await top_up(http, topup_emu, header)
    assert status == 200
    assert body["data"]["newBalance"] == 10
    assert topup_emu.balance_of(WALLET) == 10


# -- balance and transactions --------------------------------------------------------------------


async def wallet_get(
    http: aiohttp.ClientSession, emu: Emulator, path: str, header: str | None
) -> tuple[int, Any]:
    headers = {"SIGN-IN-WITH-X": header} if header else {}
    async with http.get(emu.base_url + path, headers=headers) as r:
        return r.status, await r.json()


async def test_wallet_balance_endpoint(
    topup_emu: Emulator, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Own wallet: 200; another wallet: 403; no SIWX: 402 with empty accepts; bad SIWX: 401."""
    topup_emu.fund_wallet(WALLET, "2.5")
    status, body = await wallet_get(
        http, topup_emu, f"/x402/balance/{WALLET}", siwx_header(clock.now)
    )
    assert status == 200
    assert body["data"] == {
        "walletAddress": WALLET.lower(),
        "balanceUsd": 2.5,
        "canConsume": True,
        "minimumTopUpUsd": 5,
        "suggestedTopUpUsd": 10,
    }
    other = "0x" + "ab" * 20
    status, body = await wallet_get(
        http, topup_emu, f"/x402/balance/{other}", siwx_header(clock.now)
    )
    assert (status, body["code"]) == (403, "X402_WALLET_MISMATCH")
    status, body = await wallet_get(http, topup_emu, f"/x402/balance/{WALLET}", None)
    assert (status, body["accepts"]) == (402, [])
    status, body = await wallet_get(http, topup_emu, f"/x402/balance/{WALLET}", "bad")
    assert (status, body["error"]) == (401, "Invalid Sign-in-with-x signature")
    status, _ = await wallet_get(http, topup_emu, "/x402/balance/not-a-wallet", "bad")
    assert status == 400


async def test_transactions_are_paginated_newest_first(
    topup_emu: Emulator, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """TOP_UP and CHARGE entries, newest first, with limit/offset and hasMore."""
    assert (await top_up(http, topup_emu, payment_header(clock.now, usd=5)))[0] == 200
    for _ in range(3):
        clock.advance(1)
        async with http.post(
            topup_emu.base_url + "/image/edit",
            json={"image": IMG, "prompt": "x"},
            headers={"SIGN-IN-WITH-X": siwx_header(clock.now)},
        ) as r:
            assert r.status == 200
    status, body = await wallet_get(
        http, topup_emu, f"/x402/transactions/{WALLET}?limit=2", siwx_header(clock.now)
    )
    assert status == 200
    data = body["data"]
    assert [t["type"] for t in data["transactions"]] == ["CHARGE", "CHARGE"]
    assert data["transactions"][0]["amount"] == -0.04
    assert data["transactions"][0]["balanceAfter"] == 4.88
    assert data["transactions"][0]["modelId"] == "firered-image-edit"
    assert data["pagination"] == {"limit": 2, "offset": 0, "hasMore": True}
    status, body = await wallet_get(
        http, topup_emu, f"/x402/transactions/{WALLET}?limit=2&offset=2", siwx_header(clock.now)
    )
    assert [t["type"] for t in body["data"]["transactions"]] == ["CHARGE", "TOP_UP"]
    assert body["data"]["pagination"]["hasMore"] is False
    status, _ = await wallet_get(
        http, topup_emu, f"/x402/transactions/{WALLET}?limit=101", siwx_header(clock.now)
    )
    assert status == 400
