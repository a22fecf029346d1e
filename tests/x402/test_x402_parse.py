"""402 classification into Venice's three shapes; garbage never crashes the parser."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import pytest
from multidict import CIMultiDict

from inpaint_async._exceptions import (
    InsufficientBalanceError,
    PaymentRequiredError,
    WalletCreditError,
    X402DiscoveryError,
)
from inpaint_async._response import make_status_error
from inpaint_async.x402 import PaymentRequiredBody, WalletCreditRequired, payment_required_error

RECEIVER = "0x2670B922ef37C7Df47158725C0CC407b5382293F"
BASE_ENTRY = {
    "scheme": "exact",
    "network": "eip155:8453",
    "amount": "10000000",
    "asset": "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913",
    "payTo": RECEIVER,
    "maxTimeoutSeconds": 300,
    "extra": {"name": "USD Coin", "version": "2"},
}
SOLANA_ENTRY = {
    "scheme": "exact",
    "network": "solana",
    "amount": "10000000",
    "asset": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
    "payTo": "SoLReceiver1111111111111111111111111111111",
    "maxTimeoutSeconds": 300,
    "extra": {"name": "USD Coin", "version": "2", "feePayer": "FeePayer111"},
}
CHALLENGE = {
    "info": {
        "domain": "api.venice.ai",
        "uri": "https://api.venice.ai/api/v1/image/edit",
        "version": "1",
        "nonce": "9f8e7d6c5b4a3f2e",
        "issuedAt": "2025-01-15T12:00:00.000Z",
        "expirationTime": "2025-01-15T12:05:00.000Z",
        "statement": "Sign in to Venice AI",
    },
    "supportedChains": [{"chainId": "eip155:8453", "type": "eip191"}],
}
PAYMENT_REQUIRED = {
    "x402Version": 2,
    "error": "Payment required",
    "resource": {
        "url": "https://api.venice.ai/api/v1/image/edit",
        "description": "Venice API",
        "mimeType": "application/json",
    },
    "accepts": [BASE_ENTRY, SOLANA_ENTRY],
    "extensions": {"sign-in-with-x": CHALLENGE},
}
SHAPE_A = {
    **PAYMENT_REQUIRED,
    "error": "Authentication required",
    "authOptions": {
        "apiKey": {"header": "Authorization: Bearer YOUR_API_KEY"},
        "x402Wallet": {"header": "SIGN-IN-WITH-X", "legacyHeader": "X-Sign-In-With-X"},
    },
}
SHAPE_B = {
    "error": "Payment required",
    "code": "PAYMENT_REQUIRED",
    "reason": "insufficient_balance",
    "message": "Insufficient x402 balance",
    "currentBalanceUsd": 0.04,
    "minimumBalanceUsd": 0.1,
    "description": "Venice API",
    "suggestedTopUpUsd": 10,
    "minimumTopUpUsd": 5,
    "supportedTokens": ["USDC"],
    "supportedChains": ["base", "solana"],
    "topUpInstructions": {
        "step1": "POST /api/v1/x402/top-up with no payment header to get payment requirements",
        "receiverWallet": RECEIVER,
        "tokenAddress": "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
        "tokenDecimals": 6,
        "network": "eip155:8453",
        "minimumAmountUsd": 5,
    },
    "siwxChallenge": CHALLENGE,
}
SHAPE_C = {
    "error": "Insufficient USD or Diem balance to complete request. "
    "Visit https://venice.ai/settings/api to add credits."
}


def b64json(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def classify(body: Any, headers: dict[str, str] | None = None) -> PaymentRequiredError:
    return payment_required_error("msg", body=body, headers=headers or {}, request_id="ray-1")


def test_shape_a_is_a_discovery_error_with_accepts_and_auth_options() -> None:
    """No credentials: X402DiscoveryError whose .info lists the rails and the auth options."""
    err = classify(SHAPE_A, {"PAYMENT-REQUIRED": b64json(PAYMENT_REQUIRED)})
    assert type(err) is X402DiscoveryError
    assert isinstance(err.info, PaymentRequiredBody)
    assert err.info.x402_version == 2
    assert [a.network for a in err.info.accepts] == ["eip155:8453", "solana"]
    assert err.info.accepts[0].pay_to == RECEIVER
    assert err.info.accepts[0].amount == 10_000_000
    assert err.info.auth_options is not None
    assert err.info.auth_options["x402Wallet"]["header"] == "SIGN-IN-WITH-X"
    assert err.info.resource is not None
    assert err.info.resource.mime_type == "application/json"
    assert err.payment_required is not None
    assert err.payment_required.extensions is not None
    assert (err.status_code, err.request_id, err.body) == (402, "ray-1", SHAPE_A)


def test_shape_b_is_a_wallet_credit_error_with_decimal_money() -> None:
    """code PAYMENT_REQUIRED: WalletCreditError; balances are exact Decimals; header decoded."""
    header_payload = {**PAYMENT_REQUIRED, "accepts": [BASE_ENTRY]}
    err = classify(SHAPE_B, {"payment-required": b64json(header_payload)})
    assert type(err) is WalletCreditError
    assert isinstance(err.info, WalletCreditRequired)
    assert err.info.current_balance_usd == Decimal("0.04")
    assert err.info.minimum_balance_usd == Decimal("0.1")
    assert err.info.suggested_top_up_usd == Decimal(10)
    assert err.info.minimum_top_up_usd == Decimal(5)
    assert err.info.supported_chains == ("base", "solana")
    assert err.info.top_up_instructions is not None
    assert err.info.top_up_instructions.token_decimals == 6
    assert err.info.siwx_challenge is not None
    assert err.info.siwx_challenge.info is not None
    assert err.info.siwx_challenge.info.nonce == "9f8e7d6c5b4a3f2e"
    assert err.payment_required is not None
    assert len(err.payment_required.accepts) == 1
    assert err.code == "PAYMENT_REQUIRED"


def test_shape_c_is_insufficient_balance() -> None:
    """Only an error string: InsufficientBalanceError, no header."""
    err = classify(SHAPE_C)
    assert type(err) is InsufficientBalanceError
    assert err.payment_required is None
    assert err.body == SHAPE_C


def test_make_status_error_routes_402_through_the_classifier() -> None:
    """The core's status → error path yields the typed shapes (CF-RAY becomes request_id)."""
    err = make_status_error(402, SHAPE_B, CIMultiDict({"CF-RAY": "abc"}))
    assert isinstance(err, WalletCreditError)
    assert err.request_id == "abc"
    assert err.message == "Insufficient x402 balance"


def test_header_lookup_is_case_insensitive_on_plain_dicts() -> None:
    """Any capitalisation of PAYMENT-REQUIRED is found, also in a plain dict."""
    err = classify(SHAPE_A, {"Payment-Required": b64json(PAYMENT_REQUIRED)})
    assert isinstance(err, X402DiscoveryError)
    assert err.payment_required is not None


def test_url_safe_unpadded_header_is_decoded() -> None:
    """A URL-safe alphabet or missing padding still decodes."""
    raw = base64.urlsafe_b64encode(json.dumps(PAYMENT_REQUIRED).encode()).decode().rstrip("=")
    err = classify(SHAPE_A, {"payment-required": raw})
    assert isinstance(err, X402DiscoveryError)
    assert err.payment_required is not None


def test_top_up_code_in_error_stays_the_base_class() -> None:
    """{"error": "SETTLEMENT_FAILED"} is a top-up outcome, not shape C."""
    err = classify({"error": "SETTLEMENT_FAILED", "message": "no funds moved"})
    assert type(err) is PaymentRequiredError
    assert err.code == "SETTLEMENT_FAILED"


def test_shape_with_bad_fields_keeps_its_class_with_info_none() -> None:
    """Recognised but invalid: the shape class, info=None, the raw body kept."""
    bad_b = {"code": "PAYMENT_REQUIRED", "currentBalanceUsd": "lots", "supportedChains": 5}
    err = classify(bad_b)
    assert type(err) is WalletCreditError
    assert err.info is None
    assert err.body == bad_b
    bad_a = {"x402Version": "two", "accepts": "none"}
    err = classify(bad_a)
    assert type(err) is X402DiscoveryError
    assert err.info is None


class ExplodingHeaders(dict[str, str]):
    def get(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    def items(self) -> Any:
        raise RuntimeError("boom")


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (None, {}),
        ("<!doctype html><html>402</html>", {}),
        ([1, 2, 3], {"payment-required": b64json([1, 2, 3])}),
        ({}, {"payment-required": "!!!not base64!!!"}),
        ({"error": 42}, {"payment-required": "e30"}),  # "{}" unpadded: not a PaymentRequired
        ({"x402Version": 2, "accepts": [{"scheme": 1}]}, {"payment-required": "A" * 2_000_000}),
        ({"x402Version": 2}, {"payment-required": b64json({"x402Version": 2, "accepts": 7})}),
        ({"code": "PAYMENT_REQUIRED"}, {"payment-required": b64json("[" * 100_000)}),
        ({"code": ["PAYMENT_REQUIRED"], "x": "y" * 1_000_000}, {}),
        (
            {"x402Version": 2},
            {"payment-required": base64.b64encode(b"[" * 100_000 + b"]" * 100_000).decode()},
        ),
        (SHAPE_A, ExplodingHeaders()),
        ({"error": "x"}, {"payment-required": base64.b64encode(b"\xff\xfe{").decode()}),
    ],
)
def test_garbage_never_raises(body: Any, headers: dict[str, str]) -> None:
    """Non-JSON bodies, non-base64 or non-object headers, huge or nested input: an error object."""
    err = classify(body, headers)
    assert isinstance(err, PaymentRequiredError)
    assert err.status_code == 402
    assert err.body is body
    assert getattr(err, "payment_required", None) is None
