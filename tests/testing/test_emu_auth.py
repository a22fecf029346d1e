"""Auth: Bearer keys, SIWX verified from scratch, the three 402 shapes, the wallet in-flight cap."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from inpaint_async.testing import Emulator

from .helpers import OTHER_KEY, WALLET, FakeClock, decode_b64json, image_b64, siwx_header

EDIT = {"image": image_b64(), "prompt": "a red hat"}


async def edit(
    http: aiohttp.ClientSession, emu: Emulator, headers: dict[str, str]
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    async with http.post(emu.base_url + "/image/edit", json=EDIT, headers=headers) as r:
        body = await r.json() if r.content_type == "application/json" else await r.read()
        return r.status, body, r.headers


@pytest.fixture
async def wallet_emu(clock: FakeClock) -> Any:
    async with Emulator(max_output_side=64, clock=clock, wallets={WALLET: 5}) as emu:
        yield emu


async def test_siwx_request_is_charged_to_the_wallet(
    wallet_emu: Emulator, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """A valid SIWX header authenticates the wallet; the edit is debited from its credit."""
    status, _, headers = await edit(http, wallet_emu, {"SIGN-IN-WITH-X": siwx_header(clock.now)})
    assert status == 200
    assert wallet_emu.balance_of(WALLET) == Decimal("4.96")
    assert headers["X-Balance-Remaining"] == "4.960000"
    assert wallet_emu.charges_for(WALLET)[0].model == "firered-image-edit"
    assert wallet_emu.requests[-1].payer == WALLET.lower()


async def test_legacy_header_name_is_accepted(
    wallet_emu: Emulator, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """`X-Sign-In-With-X` works like the canonical name."""
    status, _, _ = await edit(http, wallet_emu, {"X-Sign-In-With-X": siwx_header(clock.now)})
    assert status == 200


async def test_reference_vector_verifies(http: aiohttp.ClientSession) -> None:
    """The byte-exact header of the reference client verifies at its own instant."""
    from .test_emu_vectors import REFERENCE_SIWX_HEADER, REFERENCE_WALLET

    clock = FakeClock(1736942400.0 + 5)
    async with Emulator(max_output_side=64, clock=clock, wallets={REFERENCE_WALLET: 1}) as emu:
        status, _, _ = await edit(http, emu, {"SIGN-IN-WITH-X": REFERENCE_SIWX_HEADER})
        assert status == 200
        assert emu.requests[-1].siwx_nonce == "a1b2c3d4e5f64789"


@pytest.mark.parametrize(
    ("kwargs", "advance", "code"),
    [
        ({"domain": "evil.example"}, 0, "DOMAIN_MISMATCH"),
        ({"chain_id": 1, "payload_chain": 1}, 0, "UNSUPPORTED_CHAIN"),
        ({"chain_id": None, "payload_chain": 1}, 0, "UNSUPPORTED_CHAIN"),
        ({"payload_chain": 84532}, 0, "CHAIN_MISMATCH"),
        ({"payload_chain": "base"}, 0, "INVALID_CHAIN_ID"),
        ({"address": "0x" + "ab" * 20}, 0, "ADDRESS_MISMATCH"),
        ({"signer_key": OTHER_KEY}, 0, "INVALID_SIGNATURE"),
        ({"nonce": ""}, 0, "MISSING_NONCE"),
        ({"timestamp_ms": 1}, 0, "TIMESTAMP_MISMATCH"),
        ({}, 301, "EXPIRED"),
        ({"ttl": 60}, 61, "EXPIRED"),
        ({}, -31, "FUTURE_TIMESTAMP"),
        ({"overrides": {"signature": None}}, 0, "INVALID_PAYLOAD"),
        ({"overrides": {"signature": "0x1234"}}, 0, "INVALID_SIGNATURE"),
    ],
)
async def test_siwx_rejections_have_exact_codes(
    wallet_emu: Emulator,
    http: aiohttp.ClientSession,
    clock: FakeClock,
    kwargs: dict[str, Any],
    advance: float,
    code: str,
) -> None:
    """Each broken SIWX header gets 401 with its `X402_SIGN_IN_*` code and costs nothing."""
    header = siwx_header(clock.now, **kwargs)
    clock.advance(advance)
    status, body, _ = await edit(http, wallet_emu, {"SIGN-IN-WITH-X": header})
    assert status == 401
    assert body["code"] == f"X402_SIGN_IN_{code}"
    assert wallet_emu.ledger == []


async def test_not_before_in_the_future(
    wallet_emu: Emulator, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """A `Not Before` still in the future is X402_SIGN_IN_NOT_BEFORE."""
    header = siwx_header(clock.now, not_before=clock.now + 60)
    status, body, _ = await edit(http, wallet_emu, {"SIGN-IN-WITH-X": header})
    assert (status, body["code"]) == (401, "X402_SIGN_IN_NOT_BEFORE")


@pytest.mark.parametrize("value", ["!!!not base64!!!", "bm90IGpzb24=", "W10="])
async def test_garbage_siwx_headers(
    wallet_emu: Emulator, http: aiohttp.ClientSession, value: str
) -> None:
    """Undecodable or non-object payloads are PARSE_ERROR / INVALID_PAYLOAD, never a 500."""
    status, body, _ = await edit(http, wallet_emu, {"SIGN-IN-WITH-X": value})
    assert status == 401
    assert body["code"] in ("X402_SIGN_IN_PARSE_ERROR", "X402_SIGN_IN_INVALID_PAYLOAD")


async def test_nonce_is_single_use_even_when_the_request_fails(
    http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """A verified nonce is consumed even by a 402; replaying it is NONCE_REUSED for 5.5 min."""
    async with Emulator(max_output_side=64, clock=clock) as emu:
        header = siwx_header(clock.now, nonce="feedfacecafebeef")
        status, body, _ = await edit(http, emu, {"SIGN-IN-WITH-X": header})
        assert (status, body["code"]) == (402, "PAYMENT_REQUIRED")
        status, body, _ = await edit(http, emu, {"SIGN-IN-WITH-X": header})
        assert (status, body["code"]) == (401, "X402_SIGN_IN_NONCE_REUSED")
        emu.fund_wallet(WALLET, 1)
        clock.advance(200)  # the same nonce in a fresh message is still remembered
        status, body, _ = await edit(
            http, emu, {"SIGN-IN-WITH-X": siwx_header(clock.now, nonce="feedfacecafebeef")}
        )
        assert body["code"] == "X402_SIGN_IN_NONCE_REUSED"
        clock.advance(131)  # 5.5 min after first use, the nonce is forgotten
        status, _, _ = await edit(
            http, emu, {"SIGN-IN-WITH-X": siwx_header(clock.now, nonce="feedfacecafebeef")}
        )
        assert status == 200


async def test_no_credentials_is_discovery_402(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    """No auth at all: 402 shape A with accepts, authOptions and a PAYMENT-REQUIRED header."""
    status, body, headers = await edit(http, emulator, {})
    assert status == 402
    assert body["x402Version"] == 2
    assert body["error"] == "Authentication required"
    assert body["authOptions"]["x402Wallet"]["header"] == "SIGN-IN-WITH-X"
    networks = [a["network"] for a in body["accepts"]]
    assert networks == ["eip155:8453", "solana"]
    assert body["accepts"][0]["amount"] == "10000000"
    decoded = decode_b64json(headers["PAYMENT-REQUIRED"])
    assert decoded["accepts"] == body["accepts"]
    assert "authOptions" not in decoded


async def test_low_wallet_credit_is_shape_b(http: aiohttp.ClientSession, clock: FakeClock) -> None:
    """A wallet under $0.10 gets PAYMENT_REQUIRED with topUpInstructions and a SIWX challenge."""
    async with Emulator(max_output_side=64, clock=clock, wallets={WALLET: "0.09"}) as emu:
        status, body, headers = await edit(http, emu, {"SIGN-IN-WITH-X": siwx_header(clock.now)})
    assert status == 402
    assert body["code"] == "PAYMENT_REQUIRED"
    assert body["reason"] == "insufficient_balance"
    assert body["currentBalanceUsd"] == 0.09
    assert body["topUpInstructions"]["network"] == "eip155:8453"
    assert body["siwxChallenge"]["info"]["statement"] == "Sign in to Venice AI"
    assert decode_b64json(headers["PAYMENT-REQUIRED"])["x402Version"] == 2


async def test_api_key_without_balance_is_shape_c(http: aiohttp.ClientSession) -> None:
    """An API key out of funds gets the plain-string 402, without PAYMENT-REQUIRED."""
    async with Emulator(api_keys={"VENICE_INFERENCE_KEY_broke": 0}) as emu:
        status, body, headers = await edit(
            http, emu, {"Authorization": "Bearer VENICE_INFERENCE_KEY_broke"}
        )
    assert status == 402
    assert set(body) == {"error"}
    assert body["error"].startswith("Insufficient USD or Diem balance")
    assert "PAYMENT-REQUIRED" not in headers


async def test_payment_header_on_inference_route_is_400(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    """Payment headers belong on /x402/top-up only."""
    status, body, _ = await edit(
        http, emulator, {"Authorization": f"Bearer {emulator.api_key}", "X-PAYMENT": "abc"}
    )
    assert (status, body["code"]) == (400, "PAYMENT_HEADER_NOT_ACCEPTED")


async def test_wallet_in_flight_cap(http: aiohttp.ClientSession, clock: FakeClock) -> None:
    """Beyond `wallet_max_in_flight` concurrent requests, a wallet gets X402_CONCURRENCY_LIMIT."""
    from inpaint_async.testing import FaultPlan

    plan = FaultPlan(script={"/image/edit": ["latency:0.5"]})
    async with Emulator(
        max_output_side=64, clock=clock, wallets={WALLET: 5}, wallet_max_in_flight=1, faults=plan
    ) as emu:
        first = asyncio.create_task(edit(http, emu, {"SIGN-IN-WITH-X": siwx_header(clock.now)}))
        while not any(r.fault for r in emu.requests):
            await asyncio.sleep(0.005)
        status, body, headers = await edit(http, emu, {"SIGN-IN-WITH-X": siwx_header(clock.now)})
        assert (status, body["code"]) == (429, "X402_CONCURRENCY_LIMIT")
        assert "Retry-After" not in headers
        assert (await first)[0] == 200


async def test_bearer_only_routes_ignore_siwx(
    wallet_emu: Emulator, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """/api_keys/rate_limits and /billing/balance answer SIWX alone with 401."""
    for path in ("/api_keys/rate_limits", "/billing/balance"):
        async with http.get(
            wallet_emu.base_url + path, headers={"SIGN-IN-WITH-X": siwx_header(clock.now)}
        ) as r:
            assert r.status == 401
            assert await r.json() == {"error": "Authentication failed"}


async def test_rate_limits_and_billing_balance(http: aiohttp.ClientSession) -> None:
    """Keys see their limits; /billing/balance wants an admin key."""
    admin = "VENICE_ADMIN_KEY_emulator_test"
    async with Emulator(api_keys={"VENICE_INFERENCE_KEY_a": 3, admin: 7}, rate_limit_rpm=9) as emu:
        async with http.get(
            emu.base_url + "/api_keys/rate_limits",
            headers={"Authorization": "Bearer VENICE_INFERENCE_KEY_a"},
        ) as r:
            data = (await r.json())["data"]
        assert data["balances"]["USD"] == 3
        assert data["accessPermitted"] is True
        assert {"amount": 9, "type": "RPM"} in data["rateLimits"][0]["rateLimits"]
        async with http.get(
            emu.base_url + "/billing/balance",
            headers={"Authorization": "Bearer VENICE_INFERENCE_KEY_a"},
        ) as r:
            assert (r.status, (await r.json())["error"]) == (401, "Admin API key required")
        async with http.get(
            emu.base_url + "/billing/balance", headers={"Authorization": f"Bearer {admin}"}
        ) as r:
            body = await r.json()
        assert body["balances"]["usd"] == 7
        assert body["canConsume"] is True
