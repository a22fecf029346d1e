"""Wallet and x402 routes: a wallet's balance and transactions, and the USDC top-up."""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from aiohttp import web

from .. import _constants as C
from ._auth import PAYMENT_HEADERS
from ._common import API_PREFIX, MIN_WALLET, RECORD, b64json, drop, iso_ms, money
from ._parse import ApiError, detailed_error
from ._verify import PaymentError, SiwxError, decode_payment, recover_transfer_authorization
from ._x402 import accepts

if TYPE_CHECKING:
    from ._app import Emulator

__all__ = ["WalletRoutes"]

_WALLET_PATH = re.compile(r"^(0x[a-fA-F0-9]{40}|[1-9A-HJ-NP-Za-km-z]{32,44})$")


@dataclass
class _Payment:
    payer: str
    amount: Decimal
    payment_id: str
    transaction: str
    land_at: float
    credited: bool = False
    new_balance: Decimal = Decimal(0)


class WalletRoutes:
    """`/x402/balance`, `/x402/transactions` and `/x402/top-up`, with the payments being settled."""

    def __init__(self, emu: Emulator) -> None:
        self._emu = emu
        self.reset()

    def reset(self) -> None:
        """Forget every payment (settled or settling)."""
        self._payments: dict[str, _Payment | None] = {}

    def register(self, app: web.Application) -> None:
        p = API_PREFIX
        app.router.add_get(p + "/x402/balance/{wallet}", self._balance)
        app.router.add_get(p + "/x402/transactions/{wallet}", self._transactions)
        app.router.add_post(p + "/x402/top-up", self._top_up)

    # -- settlement ------------------------------------------------------------------------------

    def land_pending_credits(self) -> None:
        """Credit every payment whose delayed settlement is due."""
        now = self._emu.settings.clock()
        for state in self._payments.values():
            if state is not None and not state.credited and state.land_at <= now:
                self._credit(state)

    def _credit(self, state: _Payment) -> None:
        state.credited = True
        entry = self._emu._accounts.credit(
            state.payer, state.amount, payment_id=state.payment_id, at=self._emu.settings.clock()
        )
        state.new_balance = entry.balance_after

    @staticmethod
    def _receipt(state: _Payment) -> web.Response:
        receipt = {
            "success": True,
            "network": C.BASE_CAIP2,
            "payer": state.payer,
            "transaction": state.transaction,
        }
        return web.json_response(
            {
                "success": True,
                "data": {
                    "walletAddress": state.payer,
                    "amountCredited": money(state.amount),
                    "newBalance": money(state.new_balance),
                    "paymentId": state.payment_id,
                },
            },
            headers={C.H_PAYMENT_RESPONSE: b64json(receipt)},
        )

    @staticmethod
    def _in_progress() -> web.Response:
        return web.json_response(
            {"error": "PAYMENT_IN_PROGRESS", "message": "This payment is already being settled"},
            status=409,
        )

    # -- routes ----------------------------------------------------------------------------------

    async def _wallet_auth(self, request: web.Request) -> str:
        wallet = request.match_info["wallet"]
        if not _WALLET_PATH.match(wallet):
            raise detailed_error(
                [
                    {
                        "code": "invalid_string",
                        "validation": "regex",
                        "path": ["walletAddress"],
                        "message": "Invalid wallet address",
                    }
                ]
            )
        auth = self._emu._auth
        siwx = auth.siwx_header(request)
        if siwx is None:
            raise auth.discovery_402(request, with_accepts=False)
        try:
            signer, nonce = await auth.verify_siwx(siwx)
        except SiwxError:
            raise ApiError(
                401, {"error": "Invalid Sign-in-with-x signature", "code": "X402_INVALID_SIGN_IN"}
            ) from None
        record = request[RECORD]
        record.payer, record.siwx_nonce = signer, nonce
        if signer != wallet.lower():
            raise ApiError(
                403,
                {
                    "error": "You can only access resources for your own wallet",
                    "code": "X402_WALLET_MISMATCH",
                },
            )
        return signer

    async def _balance(self, request: web.Request) -> web.StreamResponse:
        wallet = await self._wallet_auth(request)
        fault = self._emu._limits.draw_fault(request, "/x402/balance")
        if fault is not None:
            early = self._emu._limits.fault_response(fault, request[RECORD].request_id)
            if early is not None:
                return early
        balance = self._emu._accounts.balance_of(wallet)
        return web.json_response(
            {
                "success": True,
                "data": {
                    "walletAddress": wallet,
                    "balanceUsd": money(balance),
                    "canConsume": balance >= MIN_WALLET,
                    "minimumTopUpUsd": int(C.MIN_TOP_UP_USD),
                    "suggestedTopUpUsd": 10,
                },
            }
        )

    async def _transactions(self, request: web.Request) -> web.StreamResponse:
        wallet = await self._wallet_auth(request)
        issues = []
        values: dict[str, int] = {}
        for name, default, low, high in (("limit", 50, 1, 100), ("offset", 0, 0, None)):
            raw = request.query.get(name)
            try:
                value = default if raw is None else int(raw)
            except ValueError:
                issues.append(
                    {
                        "code": "invalid_type",
                        "expected": "number",
                        "received": "string",
                        "path": [name],
                        "message": "Expected number, received string",
                    }
                )
                continue
            if value < low or (high is not None and value > high):
                issues.append(
                    {
                        "code": "too_small" if value < low else "too_big",
                        "path": [name],
                        "message": f"{name} must be between {low} and {high or 'infinity'}",
                    }
                )
            values[name] = value
        if issues:
            raise detailed_error(issues)
        limit, offset = values["limit"], values["offset"]
        accounts = self._emu._accounts
        entries = list(accounts.entries_for(wallet))
        entries.reverse()
        page = entries[offset : offset + limit]
        transactions = [
            {
                "id": f"tx_{hashlib.sha256(f'{e.payer}{e.at}{e.request_id}{e.payment_id}{i}'.encode()).hexdigest()[:20]}",
                "amount": money(e.amount_usd if e.kind == "credit" else -e.amount_usd),
                "balanceAfter": money(e.balance_after),
                "type": "TOP_UP" if e.kind == "credit" else "CHARGE",
                "createdAt": iso_ms(e.at),
                "requestId": e.request_id,
                "modelId": e.model,
            }
            for i, e in enumerate(page, start=offset)
        ]
        return web.json_response(
            {
                "success": True,
                "data": {
                    "walletAddress": wallet,
                    "currentBalance": money(accounts.balance_of(wallet)),
                    "transactions": transactions,
                    "pagination": {
                        "limit": limit,
                        "offset": offset,
                        "hasMore": offset + limit < len(entries),
                    },
                },
            }
        )

    async def _top_up(self, request: web.Request) -> web.StreamResponse:
        emu = self._emu
        settings = emu.settings
        header = next((request.headers[h] for h in PAYMENT_HEADERS if h in request.headers), None)
        if header is None:
            body = {
                "x402Version": 2,
                "accepts": accepts(
                    "5000000", pay_to=settings.pay_to, solana_network=C.SOLANA_CAIP2
                ),
            }
            return web.json_response(
                body, status=402, headers={C.H_PAYMENT_REQUIRED: b64json(body)}
            )
        try:
            payment = decode_payment(header, pay_to=settings.pay_to, now=settings.clock())
        except PaymentError as exc:
            return web.json_response(exc.body(), status=exc.status)
        key = payment.key
        if key in self._payments:
            state = self._payments[key]
            if state is not None and state.credited:
                return self._receipt(state)
            return self._in_progress()
        self._payments[key] = None  # settling: duplicates arriving now get 409
        try:
            signer = await emu._run(recover_transfer_authorization, payment)
        except BaseException:
            self._payments.pop(key, None)
            raise
        if signer != payment.payer:
            self._payments.pop(key, None)
            return web.json_response(
                {
                    "error": "PAYMENT_VERIFICATION_FAILED",
                    "message": "Invalid payment header",
                    "details": {"reason": "signature_mismatch"},
                },
                status=400,
            )
        digest = hashlib.sha256(
            f"{payment.payer}:{payment.nonce}:{payment.signature}".encode()
        ).hexdigest()
        state = _Payment(
            payer=payment.payer,
            amount=payment.amount_usd,
            payment_id="payment_" + digest[:26].upper(),
            transaction="0x" + hashlib.sha256(digest.encode()).hexdigest(),
            land_at=math.inf,
        )
        fault = emu._limits.draw_fault(request, "/x402/top-up")
        if fault is not None:
            if fault.kind == "latency":
                await asyncio.sleep(fault.seconds)
            elif fault.kind == "reset":
                self._payments.pop(key, None)
                drop(request)
            early = emu._limits.fault_response(fault, request[RECORD].request_id)
            if early is not None:
                self._payments.pop(key, None)
                return early
            if fault.kind in ("settlement_timeout", "payment_in_progress"):
                state.land_at = settings.clock() + settings.settlement_delay
                self._payments[key] = state
                if fault.kind == "payment_in_progress":
                    return self._in_progress()
                return web.json_response(
                    {
                        "error": "SETTLEMENT_TIMEOUT",
                        "message": "Settlement timed out; the payment may still be credited",
                    },
                    status=504,
                )
        self._payments[key] = state
        self._credit(state)
        return self._receipt(state)
