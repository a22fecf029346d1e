"""The emulator's 402 answers: the discovery, low-credit and top-up payment requirements."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from aiohttp import web

from .. import _constants as C
from ._common import MIN_WALLET, b64json, iso_ms, money
from ._parse import ApiError

__all__ = ["accepts", "discovery_402", "low_credit_402"]

SOLANA_PAY_TO = "EmuLatorSo1anaReceiver1111111111111111111111"
SOLANA_FEE_PAYER = "EmuLatorSo1anaFeePayer1111111111111111111111"
SOLANA_USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


def siwx_challenge(request: web.Request, now: float) -> dict[str, Any]:
    """The `sign-in-with-x` extension: a fresh challenge for the requested URL."""
    return {
        "info": {
            "domain": request.host,
            "uri": str(request.url),
            "version": "1",
            "nonce": secrets.token_hex(8),
            "issuedAt": iso_ms(now),
            "expirationTime": iso_ms(now + C.SIWX_TTL_SECONDS),
            "statement": C.SIWX_STATEMENT,
        },
        "supportedChains": [
            {"chainId": C.BASE_CAIP2, "type": "eip191"},
            {"chainId": C.BASE_CAIP2, "type": "eip1271"},
            {"chainId": C.SOLANA_CAIP2, "type": "ed25519"},
        ],
    }


def accepts(amount: str, *, pay_to: str, solana_network: str) -> list[dict[str, Any]]:
    """The payment options: USDC on Base to `pay_to`, and a Solana option the client must skip."""
    return [
        {
            "scheme": "exact",
            "network": C.BASE_CAIP2,
            "amount": amount,
            "asset": C.USDC_BASE.lower(),
            "payTo": pay_to,
            "maxTimeoutSeconds": 300,
            "extra": {"name": C.USDC_EIP712_NAME, "version": C.USDC_EIP712_VERSION},
        },
        {
            "scheme": "exact",
            "network": solana_network,
            "amount": amount,
            "asset": SOLANA_USDC,
            "payTo": SOLANA_PAY_TO,
            "maxTimeoutSeconds": 300,
            "extra": {
                "name": C.USDC_EIP712_NAME,
                "version": C.USDC_EIP712_VERSION,
                "feePayer": SOLANA_FEE_PAYER,
            },
        },
    ]


def _payment_required(
    request: web.Request, error: str, *, pay_to: str, now: float, with_accepts: bool = True
) -> dict[str, Any]:
    return {
        "x402Version": 2,
        "error": error,
        "resource": {
            "url": str(request.url),
            "description": "Venice API",
            "mimeType": "application/json",
        },
        "accepts": (
            accepts("10000000", pay_to=pay_to, solana_network="solana") if with_accepts else []
        ),
        "extensions": {"sign-in-with-x": siwx_challenge(request, now)},
    }


def discovery_402(
    request: web.Request, *, pay_to: str, now: float, with_accepts: bool = True
) -> ApiError:
    """The 402 of a request with no credentials: how to pay, and how to sign in instead."""
    body = _payment_required(
        request, "Authentication required", pay_to=pay_to, now=now, with_accepts=with_accepts
    )
    header = b64json(body)
    body["authOptions"] = {
        "apiKey": {
            "header": "Authorization: Bearer YOUR_API_KEY",
            "getKey": "https://venice.ai/settings/api",
            "docs": "https://docs.venice.ai/api-reference",
        },
        "x402Wallet": {
            "header": "SIGN-IN-WITH-X",
            "legacyHeader": "X-Sign-In-With-X",
            "topUp": "POST /api/v1/x402/top-up",
            "docs": "https://docs.venice.ai/api-reference/endpoint/x402/top-up",
        },
    }
    return ApiError(402, body, headers={C.H_PAYMENT_REQUIRED: header})


def low_credit_402(request: web.Request, balance: Decimal, *, pay_to: str, now: float) -> ApiError:
    """The 402 of a signed-in wallet whose credit is under the minimum: the top-up instructions."""
    challenge = siwx_challenge(request, now)
    body = {
        "error": "Payment required",
        "code": "PAYMENT_REQUIRED",
        "reason": "insufficient_balance",
        "message": "Insufficient x402 balance",
        "currentBalanceUsd": money(balance),
        "minimumBalanceUsd": money(MIN_WALLET),
        "description": "Venice API",
        "suggestedTopUpUsd": 10,
        "minimumTopUpUsd": int(C.MIN_TOP_UP_USD),
        "supportedTokens": ["USDC"],
        "supportedChains": ["base", "solana"],
        "topUpInstructions": {
            "step1": "POST /api/v1/x402/top-up with no payment header to get payment requirements",
            "step2": "Choose a payment option from accepts and sign a USDC transfer authorization"
            " using the x402 SDK (createPaymentHeader)",
            "step3": "POST /api/v1/x402/top-up with the signed PAYMENT-SIGNATURE header",
            "receiverWallet": pay_to,
            "tokenAddress": C.USDC_BASE,
            "tokenDecimals": C.USDC_DECIMALS,
            "network": C.BASE_CAIP2,
            "minimumAmountUsd": int(C.MIN_TOP_UP_USD),
        },
        "siwxChallenge": challenge,
    }
    header = _payment_required(request, "Insufficient x402 balance", pay_to=pay_to, now=now)
    header["extensions"] = {"sign-in-with-x": challenge}
    return ApiError(402, body, headers={C.H_PAYMENT_REQUIRED: b64json(header)})
