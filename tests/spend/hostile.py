"""A loopback server that takes top-up payments and never credits them, and the count of what
it holds: every distinct, validly signed, unexpired authorization it received."""

from __future__ import annotations

import io
import json
import time
from decimal import Decimal
from typing import Any

from aiohttp import web
from PIL import Image

from inpaint_async.testing._verify import decode_payment, recover_transfer_authorization

PAYEE = "0x2670B922ef37C7Df47158725C0CC407b5382293F"
DECOY = "0x" + "de" * 20
USDC_BASE = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
WALLET_402 = {"error": "Payment required", "code": "PAYMENT_REQUIRED", "currentBalanceUsd": 0.01}

#: Every answer a hostile (or broken) server can give a signed top-up without crediting it.
FAILURES = ("400", "402-settlement-failed", "402-again", "503", "404", "302")


def png_bytes(side: int = 256) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (10, 120, 200)).save(buf, format="PNG")
    return buf.getvalue()


def offer(pay_to: str = PAYEE, usd: int = 5) -> dict[str, Any]:
    return {
        "scheme": "exact",
        "network": "eip155:8453",
        "amount": str(usd * 1_000_000),
        "asset": USDC_BASE,
        "payTo": pay_to,
        "maxTimeoutSeconds": 3600,
    }


class HostileServer:
    """Edits answer a wallet 402 (reactive) or a 200 with a low balance (proactive); signed
    top-ups answer ``failure``. Every payment header received is kept."""

    def __init__(
        self,
        failure: str,
        *,
        proactive: bool = False,
        offers: list[dict[str, Any]] | None = None,
        balance_402: bool = False,
    ) -> None:
        self.failure = failure
        self.proactive = proactive
        self.offers = offers if offers is not None else [offer()]
        self.balance_402 = balance_402
        self.payments: list[str] = []
        self.hits: dict[str, int] = {}
        #: Flip to True to make the server behave: edits answer 200 with an image.
        self.edit_ok = False
        #: The body of the edit 402 (a wallet-credit 402; without a balance when changed).
        self.edit_402: dict[str, Any] = dict(WALLET_402)
        self.image = png_bytes(64)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/v1/image/edit", self.edit)
        app.router.add_post("/api/v1/x402/top-up", self.top_up)
        app.router.add_get("/api/v1/x402/balance/{wallet}", self.balance)
        return app

    def _hit(self, name: str) -> None:
        self.hits[name] = self.hits.get(name, 0) + 1

    async def edit(self, request: web.Request) -> web.Response:
        self._hit("edit")
        await request.read()
        if self.edit_ok:
            return web.Response(body=self.image, content_type="image/png")
        if self.proactive:
            return web.Response(
                body=self.image, content_type="image/png", headers={"X-Balance-Remaining": "0.05"}
            )
        return web.json_response(self.edit_402, status=402)

    async def balance(self, request: web.Request) -> web.Response:
        self._hit("balance")
        if self.balance_402:
            return web.json_response(WALLET_402, status=402)
        data = {"walletAddress": request.match_info["wallet"], "balanceUsd": 0.01}
        return web.json_response({"success": True, "data": data})

    async def top_up(self, request: web.Request) -> web.StreamResponse:
        payment = request.headers.get("payment-signature") or request.headers.get("x-402-payment")
        if payment is None:
            self._hit("discovery")
            return web.json_response({"x402Version": 2, "accepts": self.offers}, status=402)
        self._hit("payment")
        self.payments.append(payment)
        return self.answer(self.failure)

    @staticmethod
    def answer(failure: str) -> web.StreamResponse:
        if failure == "400":
            return web.json_response({"error": "INVALID_PAYMENT", "message": "no"}, status=400)
        if failure == "402-settlement-failed":
            body = {"error": "SETTLEMENT_FAILED", "message": "Settlement failed"}
            return web.json_response(body, status=402)
        if failure == "402-again":
            return web.json_response(WALLET_402, status=402)
        if failure == "503":
            return web.json_response({"error": "unavailable"}, status=503)
        if failure == "404":
            return web.json_response({"error": "not found"}, status=404)
        if failure == "504":
            return web.json_response({"error": "SETTLEMENT_TIMEOUT"}, status=504)
        if failure == "302":
            return web.Response(status=302, headers={"Location": "http://127.0.0.1:9/elsewhere"})
        raise AssertionError(failure)

    def valid_signed_usd(self, wallet: str, *, pay_to: str = PAYEE) -> Decimal:
        """What the server could still settle: distinct authorizations signed by ``wallet``."""
        return sum(
            (p.amount_usd for p in valid_authorizations(self.payments, wallet, pay_to=pay_to)),
            Decimal(0),
        )


def valid_authorizations(headers: list[str], wallet: str, *, pay_to: str = PAYEE) -> list[Any]:
    """Decode each payment header; keep distinct nonces whose signature recovers to ``wallet``
    and that are still valid (a 409 resend of one payment counts once)."""
    seen: dict[str, Any] = {}
    now = time.time()
    for header in headers:
        payment = decode_payment(header, pay_to=pay_to, now=now)
        if recover_transfer_authorization(payment) == wallet.lower():
            seen.setdefault(payment.nonce, payment)
    return list(seen.values())


def decoded(header: str) -> dict[str, Any]:
    import base64

    return dict(json.loads(base64.b64decode(header)))
