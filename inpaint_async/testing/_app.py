"""The emulator: an aiohttp application that behaves like the Venice image API on loopback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import math
import os
import re
import secrets
import time
import urllib.parse
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web

from .. import _constants as C
from . import _images
from ._catalogue import (
    ALL_ASPECT_RATIOS,
    BG_REMOVER_ID,
    DEFAULT_EDIT_MODEL,
    MODEL_TYPES,
    UPSCALER_ID,
    build_catalogue,
    edit_price,
)
from ._faults import Fault, FaultPlan, normalize_route
from ._ledger import Accounts, LedgerEntry, normalize_payer, to_usd
from ._parse import ApiError, Field, detailed_error, image_bytes, read_body, validate
from ._verify import (
    PaymentError,
    SiwxError,
    decode_payment,
    parse_siwx,
    recover_personal_sign,
    recover_transfer_authorization,
)

__all__ = ["DEFAULT_SIWX_DOMAINS", "Emulator", "RequestRecord"]

log = logging.getLogger("inpaint_async.testing")

API_PREFIX = "/api/v1"
VENICE_VERSION = "20260821.193530"
DEFAULT_SIWX_DOMAINS = frozenset({"api.venice.ai", "venice.ai", "127.0.0.1", "localhost"})
DEFAULT_PAY_TO = "0x2670B922ef37C7Df47158725C0CC407b5382293F"
SOLANA_PAY_TO = "EmuLatorSo1anaReceiver1111111111111111111111"
SOLANA_FEE_PAYER = "EmuLatorSo1anaFeePayer1111111111111111111111"
SOLANA_USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
NONCE_MEMORY = 330.0
MIN_WALLET = Decimal(C.MIN_WALLET_BALANCE_USD)
INSUFFICIENT_BALANCE = (
    "Insufficient USD or Diem balance to complete request. "
    "Visit https://venice.ai/settings/api to add credits."
)
CONTENT_VIOLATION = "Your prompt violates the content policy of Venice.ai or the model provider"
_WALLET_PATH = re.compile(r"^(0x[a-fA-F0-9]{40}|[1-9A-HJ-NP-Za-km-z]{32,44})$")
_PAYMENT_HEADERS = (C.H_PAYMENT_SIGNATURE, C.H_PAYMENT_LEGACY, C.H_PAYMENT_V1)
_CF_HTML = """<!DOCTYPE html>
<html lang="en-US"><head><title>api.venice.ai | 502: Bad gateway</title></head>
<body><div id="cf-error-details"><h1>Bad gateway</h1><span>Error code 502</span>
<p>Visit <a href="https://www.cloudflare.com/">cloudflare.com</a> for more information.</p>
<p>Cloudflare Ray ID: <strong>{ray}</strong></p></div></body></html>
"""

_ASPECT = (*ALL_ASPECT_RATIOS, "4:3")
_FORMATS = ("jpeg", "png", "webp", "jpg")
_COMMON: dict[str, Field] = {
    "prompt": Field("string", required=True, min_length=1, max_length=C.MAX_PROMPT_CHARS),
    "aspect_ratio": Field("string", enum=_ASPECT),
    "resolution": Field("string", min_length=1, max_length=10),
    "output_format": Field("string", enum=_FORMATS),
    "safe_mode": Field("boolean"),
    "enhance_prompt": Field("boolean"),
    "disable_prompt_optimization_thinking": Field("boolean"),
}
EDIT_SCHEMA: dict[str, Field] = {
    "image": Field("string", required=True, min_length=1),
    "model": Field("string", min_length=1),
    "modelId": Field("string", min_length=1),
    **_COMMON,
}
MULTI_EDIT_SCHEMA: dict[str, Field] = {
    "images": Field("string[]", required=True, min_length=1),
    "modelId": Field("string", min_length=1),
    "quality": Field("string", enum=("low", "medium", "high")),
    **_COMMON,
}
UPSCALE_SCHEMA: dict[str, Field] = {
    "image": Field("string", required=True, min_length=1),
    "scale": Field("number", minimum=2, maximum=4),
    "creativity": Field("number", nullable=True),
}
BG_SCHEMA: dict[str, Field] = {
    "image": Field("string", min_length=1),
    "image_url": Field("string", min_length=1),
}

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class RequestRecord:
    """What the emulator saw of one request (for assertions)."""

    method: str
    path: str
    status: int
    request_id: str
    payer: str | None = None
    siwx_nonce: str | None = None
    at: float = 0.0
    fault: str | None = None


_RECORD = web.RequestKey("inpaint_emulator_record", RequestRecord)
_BUCKET = web.RequestKey("inpaint_emulator_bucket", str)
_EXEMPT = web.RequestKey("inpaint_emulator_budget_exempt", bool)


@dataclass
class _Caller:
    payer: str
    kind: Literal["key", "wallet"]
    nonce: str | None = None


@dataclass
class _Payment:
    payer: str
    amount: Decimal
    payment_id: str
    transaction: str
    land_at: float
    credited: bool = False
    new_balance: Decimal = Decimal(0)


class _Dropped(Exception):
    """The connection was dropped on purpose (fault `reset`)."""


def _iso_ms(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _b64json(obj: Any) -> str:
    return base64.b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode()


def _money(value: Decimal) -> float:
    return float(value)


class Emulator:
    """A local, fault-injectable emulator of the Venice image API.

    Use it as an async context manager (or `await start()` / `await stop()`); it binds
    `127.0.0.1` on an ephemeral port by default and exposes `base_url` and a funded `api_key`.

    Example:
        ```python
        async with Emulator() as emu:
            client = InpaintClient(api_key=emu.api_key, base_url=emu.base_url)
        ```
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: Mapping[str, Decimal | float | str] | None = None,
        rate_limit_rpm: int = 20,
        rate_limit_window: float = 60.0,
        error_budget: int = 50,
        error_budget_window: float = 30.0,
        error_budget_lockout: float = 30.0,
        wallet_max_in_flight: int = C.WALLET_MAX_IN_FLIGHT,
        send_balance_remaining: bool = True,
        content_policy_phrase: str = "forbidden",
        blur_phrase: str = "nsfw",
        latency: float = 0.0,
        max_output_side: int | None = None,
        faults: FaultPlan | None = None,
        admin: bool = False,
        seed: int = 0,
        strict_quality: bool = True,
        clock: Callable[[], float] = time.time,
        siwx_domains: Iterable[str] = DEFAULT_SIWX_DOMAINS,
        pay_to: str = DEFAULT_PAY_TO,
        settlement_delay: float = 2.0,
        overloaded_retry_after: int = 30,
        wallets: Mapping[str, Decimal | float | str] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.rate_limit_rpm = rate_limit_rpm
        self.rate_limit_window = rate_limit_window
        self.error_budget = error_budget
        self.error_budget_window = error_budget_window
        self.error_budget_lockout = error_budget_lockout
        self.wallet_max_in_flight = wallet_max_in_flight
        self.send_balance_remaining = send_balance_remaining
        self.content_policy_phrase = content_policy_phrase
        self.blur_phrase = blur_phrase
        self.latency = latency
        self.max_output_side = max_output_side
        self.admin = admin
        self.seed = seed
        self.strict_quality = strict_quality
        self.clock = clock
        self.siwx_domains = frozenset(d.lower() for d in siwx_domains)
        self.pay_to = pay_to
        self.settlement_delay = settlement_delay
        self.overloaded_retry_after = overloaded_retry_after
        self.faults: FaultPlan = faults if faults is not None else FaultPlan(seed=seed)
        self.catalogue: list[dict[str, Any]] = build_catalogue()
        self.requests: list[RequestRecord] = []
        self.url_images: dict[str, bytes] = {}
        self._initial_faults = self.faults
        if api_keys is None:
            self.api_key = "VENICE_INFERENCE_KEY_emulator_" + secrets.token_hex(12)
            api_keys = {self.api_key: Decimal(100)}
        else:
            self.api_key = next(iter(api_keys), "")
        self._initial_balances: dict[str, Decimal] = {k: to_usd(v) for k, v in api_keys.items()}
        for wallet, usd in (wallets or {}).items():
            self._initial_balances[normalize_payer(wallet)] = to_usd(usd)
        self._keys: set[str] = set(api_keys)
        self._ray = 0
        self._executor: ThreadPoolExecutor | None = None
        self._runner: web.AppRunner | None = None
        self._reset_state()

    # -- state -----------------------------------------------------------------------------------

    def _reset_state(self) -> None:
        self._accounts = Accounts()
        for payer, usd in self._initial_balances.items():
            self._accounts.set_balance(payer, usd)
        self.requests.clear()
        self._windows: dict[tuple[str, str], list[float]] = {}
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._nonces: dict[tuple[str, str], float] = {}
        self._in_flight: Counter[str] = Counter()
        self._payments: dict[str, _Payment | None] = {}

    def reset(self) -> None:
        """Forget every request, charge, nonce and window; restore the starting balances."""
        self.faults = self._initial_faults
        self._reset_state()

    def add_api_key(self, key: str, usd: Decimal | float | str = 100) -> None:
        """Register a Bearer key with a USD balance (`VENICE_ADMIN_KEY_*` keys are admin keys)."""
        self._keys.add(key)
        self._accounts.set_balance(key, usd)

    def fund_wallet(self, address: str, usd: Decimal | float | str) -> None:
        """Set a wallet's prepaid credit (no top-up needed)."""
        self._accounts.set_balance(address, usd)

    def balance_of(self, payer: str) -> Decimal:
        """The USD balance of an API key or a wallet address."""
        self._land_pending_credits()
        return self._accounts.balance_of(payer)

    @property
    def ledger(self) -> list[LedgerEntry]:
        """Every charge and credit, oldest first."""
        self._land_pending_credits()
        return list(self._accounts.ledger)

    def charges_for(self, payer: str | None = None) -> list[LedgerEntry]:
        """Charges, optionally for one payer (key or wallet)."""
        key = normalize_payer(payer) if payer else None
        return [e for e in self.ledger if e.kind == "charge" and (key is None or e.payer == key)]

    def credits_for(self, payer: str | None = None) -> list[LedgerEntry]:
        """Top-up credits, optionally for one wallet."""
        key = normalize_payer(payer) if payer else None
        return [e for e in self.ledger if e.kind == "credit" and (key is None or e.payer == key)]

    def model(self, model_id: str) -> dict[str, Any] | None:
        """The catalogue entry for `model_id`, or None."""
        return next((m for m in self.catalogue if m.get("id") == model_id), None)

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server root, e.g. `http://127.0.0.1:8787`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The API base URL to give a client, e.g. `http://127.0.0.1:8787/api/v1`."""
        return self.url + API_PREFIX

    def make_app(self) -> web.Application:
        """Build the aiohttp application (for embedding in another server or test harness)."""
        app = web.Application(middlewares=[self._middleware], client_max_size=1024**2)
        p = API_PREFIX
        app.router.add_post(p + "/image/edit", self._edit)
        app.router.add_post(p + "/image/multi-edit", self._multi_edit)
        app.router.add_post(p + "/image/upscale", self._upscale)
        app.router.add_post(p + "/image/background-remove", self._background_remove)
        app.router.add_get(p + "/models", self._models)
        app.router.add_get(p + "/x402/balance/{wallet}", self._wallet_balance)
        app.router.add_get(p + "/x402/transactions/{wallet}", self._wallet_transactions)
        app.router.add_post(p + "/x402/top-up", self._top_up)
        app.router.add_get(p + "/api_keys/rate_limits", self._rate_limits)
        app.router.add_get(p + "/billing/balance", self._billing_balance)
        if self.admin:
            app.router.add_get("/_emulator/faults", self._admin_get_faults)
            app.router.add_put("/_emulator/faults", self._admin_put_faults)
            app.router.add_get("/_emulator/ledger", self._admin_ledger)
            app.router.add_get("/_emulator/balances", self._admin_get_balances)
            app.router.add_put("/_emulator/balances", self._admin_put_balances)
            app.router.add_get("/_emulator/requests", self._admin_requests)
            app.router.add_post("/_emulator/reset", self._admin_reset)
        return app

    async def start(self) -> None:
        """Bind and start serving."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        self._executor = ThreadPoolExecutor(
            max_workers=min(4, (os.cpu_count() or 1) + 1), thread_name_prefix="inpaint-emulator"
        )
        runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        address = runner.addresses[0]
        self.port = int(address[1])

    async def stop(self) -> None:
        """Stop serving and release the port and worker threads."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        """Start (if needed) and serve until cancelled."""
        if self._runner is None:
            await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args))

    # -- middleware ------------------------------------------------------------------------------

    def _new_request_id(self) -> str:
        self._ray += 1
        return f"{secrets.token_hex(6)}{self._ray:04x}-EMU"

    @web.middleware
    async def _middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        request_id = self._new_request_id()
        record = RequestRecord(request.method, request.path, 0, request_id, at=self.clock())
        request[_RECORD] = record
        self.requests.append(record)
        self._land_pending_credits()
        try:
            response = await handler(request)
        except (_Dropped, ConnectionResetError):
            # The transport is gone (our deliberate drop, or a client that died mid-upload):
            # this response is never written; it only keeps aiohttp from logging a server error.
            record.status = 0
            return web.Response(status=204)
        except ApiError as exc:
            if exc.exempt:
                request[_EXEMPT] = True
            response = self._error(exc)
        except web.HTTPException as exc:
            if exc.status == 405:
                response = web.json_response({"error": "Method not allowed"}, status=405)
            elif exc.status == 404:
                response = web.json_response({"error": "Not found"}, status=404)
            elif exc.status == 413:
                response = web.json_response(
                    {
                        "code": "PAYLOAD_TOO_LARGE",
                        "error": "Request body exceeds the maximum allowed size.",
                    },
                    status=413,
                )
            else:
                response = web.json_response({"error": exc.reason}, status=exc.status)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception:
            log.exception("emulator error on %s %s", request.method, request.path)
            response = web.json_response({"error": "Inference processing failed"}, status=500)
        if not response.prepared:
            response.headers["CF-RAY"] = request_id
            response.headers[C.H_VENICE_VERSION] = VENICE_VERSION
        record.status = response.status
        self._count_failure(request, response)
        return response

    def _error(self, exc: ApiError) -> web.Response:
        return web.json_response(exc.body, status=exc.status, headers=exc.headers)

    # -- error budget, rate limits, concurrency --------------------------------------------------

    def _bucket(self, request: web.Request, caller: _Caller | None) -> str:
        if caller is not None:
            return caller.payer
        return "ip:" + (request.remote or "unknown")

    def _count_failure(self, request: web.Request, response: web.StreamResponse) -> None:
        bucket = request.get(_BUCKET)
        if bucket is None or request.get(_EXEMPT):
            return
        if not 400 <= response.status < 500 or response.status == 429:
            return
        now = self.clock()
        failures = self._failures.setdefault(bucket, deque())
        failures.append(now)
        while failures and failures[0] <= now - self.error_budget_window:
            failures.popleft()
        if len(failures) >= self.error_budget:
            self._locked_until[bucket] = now + self.error_budget_lockout
            failures.clear()

    def _check_lockout(self, *buckets: str) -> None:
        now = self.clock()
        for bucket in buckets:
            until = self._locked_until.get(bucket)
            if until is not None and now < until:
                raise ApiError(
                    429,
                    f"Too many failed attempts (> {self.error_budget}) resulting in a non-success "
                    "status code. Please wait 30 seconds and try again. See "
                    "https://docs.venice.ai/api-reference/rate-limiting for more information.",
                    headers={
                        "x-ratelimit-remaining": "0",
                        "x-ratelimit-resets": str(int(until * 1000)),
                    },
                )

    def _take_rate(self, payer: str, model_id: str) -> dict[str, str]:
        now = self.clock()
        key = (payer, model_id)
        window = self._windows.get(key)
        if window is None or now >= window[0] + self.rate_limit_window:
            window = self._windows[key] = [now, 0.0]
        reset_ms = str(int((window[0] + self.rate_limit_window) * 1000))
        headers = {C.H_RL_LIMIT: str(self.rate_limit_rpm), C.H_RL_RESET: reset_ms}
        if window[1] >= self.rate_limit_rpm:
            headers[C.H_RL_REMAINING] = "0"
            raise ApiError(429, "Rate limit exceeded", headers=headers)
        window[1] += 1
        headers[C.H_RL_REMAINING] = str(self.rate_limit_rpm - int(window[1]))
        return headers

    # -- auth ------------------------------------------------------------------------------------

    async def _verify_siwx(self, header: str) -> tuple[str, str]:
        """Return (wallet, nonce) for a valid, fresh SIWX header, else raise SiwxError."""
        now = self.clock()
        proof = parse_siwx(header, now=now, allowed_domains=self.siwx_domains)
        signer = await self._run(recover_personal_sign, proof.message, proof.signature)
        if signer != proof.address:
            raise SiwxError("INVALID_SIGNATURE", "Sign-in-with-X signature verification failed")
        now = self.clock()
        for key in [k for k, exp in self._nonces.items() if exp <= now]:
            del self._nonces[key]
        key = (proof.address, proof.nonce)
        if key in self._nonces:
            raise SiwxError("NONCE_REUSED", "Sign-in-with-X nonce has already been used")
        self._nonces[key] = now + NONCE_MEMORY
        return proof.address, proof.nonce

    @staticmethod
    def _siwx_header(request: web.Request) -> str | None:
        return request.headers.get(C.H_SIWX) or request.headers.get(C.H_SIWX_LEGACY)

    async def _authenticate(self, request: web.Request) -> _Caller:
        """Inference-route auth: SIWX wins over Bearer; nothing at all is a discovery 402."""
        record: RequestRecord = request[_RECORD]
        request[_BUCKET] = self._bucket(request, None)
        if any(h in request.headers for h in _PAYMENT_HEADERS):
            raise ApiError(
                400,
                {
                    "error": "Payment headers are only accepted on /api/v1/x402/top-up",
                    "code": "PAYMENT_HEADER_NOT_ACCEPTED",
                },
            )
        siwx = self._siwx_header(request)
        if siwx is not None:
            try:
                wallet, nonce = await self._verify_siwx(siwx)
            except SiwxError as exc:
                raise ApiError(401, {"error": exc.message, "code": exc.code}) from None
            record.payer, record.siwx_nonce = wallet, nonce
            caller = _Caller(wallet, "wallet", nonce)
        else:
            auth = request.headers.get(C.H_AUTHORIZATION)
            if auth is None:
                request[_EXEMPT] = True
                raise self._discovery_402(request)
            scheme, _, key = auth.partition(" ")
            key = key.strip()
            if scheme.lower() != "bearer" or key not in self._keys:
                raise ApiError(401, "Authentication failed")
            record.payer = key
            caller = _Caller(key, "key")
        request[_BUCKET] = caller.payer
        return caller

    def _bearer_only(self, request: web.Request) -> str:
        auth = request.headers.get(C.H_AUTHORIZATION, "")
        scheme, _, key = auth.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or key not in self._keys:
            raise ApiError(401, "Authentication failed")
        request[_RECORD].payer = key
        return key

    # -- 402 bodies ------------------------------------------------------------------------------

    def _siwx_challenge(self, request: web.Request) -> dict[str, Any]:
        now = self.clock()
        return {
            "info": {
                "domain": request.host,
                "uri": str(request.url),
                "version": "1",
                "nonce": secrets.token_hex(8),
                "issuedAt": _iso_ms(now),
                "expirationTime": _iso_ms(now + C.SIWX_TTL_SECONDS),
                "statement": C.SIWX_STATEMENT,
            },
            "supportedChains": [
                {"chainId": C.BASE_CAIP2, "type": "eip191"},
                {"chainId": C.BASE_CAIP2, "type": "eip1271"},
                {"chainId": C.SOLANA_CAIP2, "type": "ed25519"},
            ],
        }

    def _accepts(self, amount: str, *, solana_network: str) -> list[dict[str, Any]]:
        return [
            {
                "scheme": "exact",
                "network": C.BASE_CAIP2,
                "amount": amount,
                "asset": C.USDC_BASE.lower(),
                "payTo": self.pay_to,
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
        self, request: web.Request, error: str, *, accepts: bool = True
    ) -> dict[str, Any]:
        return {
            "x402Version": 2,
            "error": error,
            "resource": {
                "url": str(request.url),
                "description": "Venice API",
                "mimeType": "application/json",
            },
            "accepts": self._accepts("10000000", solana_network="solana") if accepts else [],
            "extensions": {"sign-in-with-x": self._siwx_challenge(request)},
        }

    def _discovery_402(self, request: web.Request, *, accepts: bool = True) -> ApiError:
        body = self._payment_required(request, "Authentication required", accepts=accepts)
        header = _b64json(body)
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
        return ApiError(402, body, headers={"PAYMENT-REQUIRED": header})

    def _low_credit_402(self, request: web.Request, balance: Decimal) -> ApiError:
        challenge = self._siwx_challenge(request)
        body = {
            "error": "Payment required",
            "code": "PAYMENT_REQUIRED",
            "reason": "insufficient_balance",
            "message": "Insufficient x402 balance",
            "currentBalanceUsd": _money(balance),
            "minimumBalanceUsd": _money(MIN_WALLET),
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
                "receiverWallet": self.pay_to,
                "tokenAddress": C.USDC_BASE,
                "tokenDecimals": C.USDC_DECIMALS,
                "network": C.BASE_CAIP2,
                "minimumAmountUsd": int(C.MIN_TOP_UP_USD),
            },
            "siwxChallenge": challenge,
        }
        header = self._payment_required(request, "Insufficient x402 balance")
        header["extensions"] = {"sign-in-with-x": challenge}
        return ApiError(402, body, headers={"PAYMENT-REQUIRED": _b64json(header)})

    # -- faults ----------------------------------------------------------------------------------

    def _draw_fault(self, request: web.Request, route: str) -> Fault | None:
        fault = self.faults.draw(route)
        if fault is not None:
            request[_RECORD].fault = str(fault)
        return fault

    def _fault_response(self, fault: Fault, request_id: str) -> web.Response | None:
        kind = fault.kind
        if kind == "500":
            return web.json_response({"error": "Inference processing failed"}, status=500)
        if kind == "502":
            return web.json_response({"error": "Bad gateway"}, status=502)
        if kind == "503":
            return web.json_response(
                {"error": "The model is at capacity. Please try again later."}, status=503
            )
        if kind == "504":
            return web.json_response({"error": self._timeout_text()}, status=504)
        if kind == "429_overloaded":
            return web.json_response(
                {"error": "The model is currently overloaded. Please try again later."},
                status=429,
                headers={C.H_RETRY_AFTER: str(self.overloaded_retry_after)},
            )
        if kind == "html_502":
            return web.Response(
                text=_CF_HTML.format(ray=request_id), status=502, content_type="text/html"
            )
        return None

    @staticmethod
    def _timeout_text() -> str:
        return (
            "The request took too long to complete and was timed-out. "
            "Please try again with a smaller request."
        )

    @staticmethod
    def _drop(request: web.Request) -> None:
        transport = request.transport
        if transport is not None:
            transport.abort()
        raise _Dropped

    # -- image routes ----------------------------------------------------------------------------

    def _fetch(self, url: str) -> bytes | None:
        return self.url_images.get(url)

    def _resolve_model(self, model_id: str, *, type_: str = "inpaint") -> dict[str, Any]:
        model = self.model(model_id)
        if model is None or model.get("type") != type_:
            raise ApiError(400, "Invalid model id")
        return model

    def _check_prompt(self, prompt: str, model: dict[str, Any]) -> None:
        limit = int(model["model_spec"].get("constraints", {}).get("promptCharacterLimit", 1500))
        if len(prompt) > limit:
            raise detailed_error(
                [
                    {
                        "code": "too_big",
                        "maximum": limit,
                        "type": "string",
                        "inclusive": True,
                        "exact": False,
                        "path": ["prompt"],
                        "message": f"Prompt must be at most {limit} characters for {model['id']}",
                    }
                ]
            )
        phrase = self.content_policy_phrase
        if phrase and phrase.lower() in prompt.lower():
            raise ApiError(422, CONTENT_VIOLATION)

    @staticmethod
    def _check_constraints(
        fields: dict[str, Any], model: dict[str, Any], *, multi: bool
    ) -> tuple[str | None, str | None]:
        """Validate ratio/resolution/quality; return (tier, quality) to render and bill."""
        constraints = model["model_spec"].get("constraints", {})
        ratio = fields.get("aspect_ratio")
        allowed = constraints.get("aspectRatios", ALL_ASPECT_RATIOS)
        if ratio is not None and ratio not in allowed:
            raise ApiError(
                400,
                f"Aspect ratio {ratio} is not supported by {model['id']}. "
                f"Supported: {', '.join(allowed)}",
            )
        resolutions = constraints.get("resolutions")
        tier = fields.get("resolution")
        if tier is not None:
            if not resolutions:
                if not multi:
                    raise ApiError(400, f"{model['id']} does not support the resolution parameter")
                tier = None
            elif tier not in resolutions:
                raise ApiError(
                    400,
                    f"Resolution {tier} is not supported by {model['id']}. "
                    f"Supported: {', '.join(resolutions)}",
                )
        if tier is None and resolutions:
            tier = constraints.get("defaultResolution", resolutions[0])
        quality = fields.get("quality")
        qualities = constraints.get("qualities")
        if quality is not None:
            if not qualities:
                quality = None
            elif quality not in qualities:
                raise ApiError(
                    400,
                    f"Quality {quality} is not supported by {model['id']}. "
                    f"Supported: {', '.join(qualities)}",
                )
        return tier, quality

    def _default_format(self, fields: dict[str, Any], tier: str | None) -> str:
        fmt = fields.get("output_format")
        if fmt:
            return str(fmt)
        return "jpeg" if tier in ("2K", "4K") else "png"

    async def _admit(
        self, request: web.Request, caller: _Caller, model_id: str, price: Decimal
    ) -> dict[str, str]:
        """Balance, then per-(payer, model) rate limit; returns the rate-limit headers."""
        balance = self._accounts.balance_of(caller.payer)
        if caller.kind == "wallet" and balance < MIN_WALLET:
            raise self._low_credit_402(request, balance)
        if caller.kind == "key" and balance < price:
            raise ApiError(402, INSUFFICIENT_BALANCE)
        return self._take_rate(caller.payer, model_id)

    async def _image_route(
        self,
        request: web.Request,
        route: str,
        prepare: Callable[[web.Request, _Caller], Awaitable[_Job]],
    ) -> web.StreamResponse:
        caller = await self._authenticate(request)
        wallet = caller.payer if caller.kind == "wallet" else None
        if wallet is not None and self._in_flight[wallet] >= self.wallet_max_in_flight:
            raise ApiError(
                429, {"error": "Too many concurrent requests", "code": "X402_CONCURRENCY_LIMIT"}
            )
        if wallet is not None:
            self._in_flight[wallet] += 1
        try:
            return await self._run_job(request, route, caller, prepare)
        finally:
            if wallet is not None:
                self._in_flight[wallet] -= 1
                if self._in_flight[wallet] <= 0:
                    del self._in_flight[wallet]

    async def _run_job(
        self,
        request: web.Request,
        route: str,
        caller: _Caller,
        prepare: Callable[[web.Request, _Caller], Awaitable[_Job]],
    ) -> web.StreamResponse:
        self._check_lockout(caller.payer, self._bucket(request, None))
        job = await prepare(request, caller)
        headers = await self._admit(request, caller, job.model_id, job.price)
        record: RequestRecord = request[_RECORD]
        fault = self._draw_fault(request, route)
        if fault is not None:
            if fault.kind == "reset":
                self._drop(request)
            if fault.kind == "latency":
                await asyncio.sleep(fault.seconds)
            early = self._fault_response(fault, record.request_id)
            if early is not None:
                early.headers.update(headers)
                return early
        if self.latency:
            await asyncio.sleep(self.latency)
        data = await self._run(job.render)
        balance_before = self._accounts.balance_of(caller.payer)
        self._accounts.charge(
            caller.payer,
            job.price,
            request_id=record.request_id,
            model=job.model_id,
            at=self.clock(),
        )
        if fault is not None and fault.kind == "504_after_charge":
            return web.json_response({"error": self._timeout_text()}, status=504)
        headers.update(self._success_headers(caller, job, balance_before))
        headers["Content-Type"] = _images.sniff_content_type(data)
        headers["CF-RAY"] = record.request_id
        headers[C.H_VENICE_VERSION] = VENICE_VERSION
        if fault is not None and fault.kind == "truncate":
            response = web.StreamResponse(status=200, headers=headers)
            response.content_length = len(data)
            await response.prepare(request)
            await response.write(data[: max(1, len(data) // 2)])
            self._drop(request)
        return web.Response(body=data, status=200, headers=headers)

    def _success_headers(
        self, caller: _Caller, job: _Job, balance_before: Decimal
    ) -> dict[str, str]:
        model = job.model
        headers = {
            C.H_MODEL_ID: model["id"],
            C.H_MODEL_NAME: model["model_spec"].get("name", model["id"]),
            C.H_IS_BLURRED: "true" if job.blurred else "false",
            C.H_IS_CONTENT_VIOLATION: "false",
        }
        if caller.kind == "wallet":
            if self.send_balance_remaining:
                headers["X-Balance-Remaining"] = f"{self._accounts.balance_of(caller.payer):.6f}"
        else:
            headers[C.H_BALANCE_USD] = f"{balance_before:.6f}"
        deprecation = model["model_spec"].get("deprecation")
        if deprecation:
            headers[C.H_DEPRECATED] = "true"
            headers[C.H_DEPRECATION_WARNING] = (
                f"{model['id']} is deprecated and will be removed on {deprecation.get('removesAt')}"
            )
            headers[C.H_DEPRECATION_DATE] = str(
                deprecation.get("removesAt") or deprecation.get("date")
            )
            if deprecation.get("replacementModelId"):
                headers[C.H_DEPRECATED_REPLACEMENT] = deprecation["replacementModelId"]
        if job.enhanced_prompt is not None:
            headers[C.H_ENHANCED_PROMPT] = urllib.parse.quote(job.enhanced_prompt, safe="")
        return headers

    async def _decode(self, data: bytes, *, too_large_status: int = 422) -> _images.Decoded:
        try:
            decoded: _images.Decoded = await self._run(
                lambda: _images.decode(data, too_large_status=too_large_status)
            )
        except _images.BadImage as exc:
            raise ApiError(exc.status, exc.message) from None
        return decoded

    def _edit_job(
        self,
        model: dict[str, Any],
        fields: dict[str, Any],
        images: list[_images.Decoded],
        *,
        multi: bool,
    ) -> _Job:
        prompt: str = fields["prompt"]
        self._check_prompt(prompt, model)
        tier, quality = self._check_constraints(fields, model, multi=multi)
        constraints = model["model_spec"].get("constraints", {})
        enhance = bool(fields.get("enhance_prompt", False))
        enhanced = f"{prompt}, highly detailed, sharp focus" if enhance else None
        final_prompt = enhanced or prompt
        safe = bool(fields.get("safe_mode", True))
        blurred = safe and bool(self.blur_phrase) and self.blur_phrase.lower() in prompt.lower()
        base = images[0]
        if constraints.get("singleImageAspectRatio", True) is False and len(images) == 1:
            size = (base.width, base.height)
        else:
            size = _images.output_size(
                (base.width, base.height),
                aspect_ratio=fields.get("aspect_ratio"),
                supported=constraints.get("aspectRatios", ALL_ASPECT_RATIOS),
                tier=tier or "1K",
                max_side=self.max_output_side,
            )
        fmt = self._default_format(fields, tier)
        price = edit_price(
            model, resolution=tier, quality=quality, images=len(images), enhance_prompt=enhance
        )

        def render() -> bytes:
            return _images.edit(
                base.image,
                [d.image for d in images[1:]],
                prompt=final_prompt,
                size=size,
                fmt=fmt,
                blur=blurred,
            )

        return _Job(model, price, render, blurred=blurred, enhanced_prompt=enhanced)

    async def _edit(self, request: web.Request) -> web.StreamResponse:
        async def prepare(request: web.Request, caller: _Caller) -> _Job:
            body = await read_body(request)
            schema = dict(EDIT_SCHEMA)
            if not self.strict_quality:
                schema["quality"] = Field("string", enum=("low", "medium", "high"))
            files = body.files
            if len(files) > 1:
                raise ApiError(400, "Only one file is allowed")
            if files:
                name = files[0][0]
                if name != "image" or "image" in body.fields:
                    raise ApiError(400, "The file must be sent in the 'image' field")
                body.fields["image"] = "<file>"
            fields = validate(body, schema)
            model_id = fields.get("model") or fields.get("modelId") or DEFAULT_EDIT_MODEL
            model = self._resolve_model(model_id)
            raw = (
                files[0][1]
                if files
                else image_bytes(fields["image"], field_name="image", fetch=self._fetch)
            )
            self._check_prompt(fields["prompt"], model)
            self._check_constraints(fields, model, multi=False)
            decoded = await self._decode(raw, too_large_status=422)
            return self._edit_job(model, fields, [decoded], multi=False)

        return await self._image_route(request, "/image/edit", prepare)

    async def _multi_edit(self, request: web.Request) -> web.StreamResponse:
        async def prepare(request: web.Request, caller: _Caller) -> _Job:
            body = await read_body(request, empty_status=415)
            if body.multipart:
                if "model" in body.fields:
                    raise detailed_error(
                        [
                            {
                                "code": "unrecognized_keys",
                                "keys": ["model"],
                                "path": [],
                                "message": "Unrecognized key(s) in object: 'model'",
                            }
                        ]
                    )
                if any(name != "images" for name, _ in body.files):
                    raise ApiError(400, "Files must be sent in the 'images' field")
                if len(body.files) > 10:
                    raise ApiError(400, "At most 10 files are allowed")
                text_images = body.fields.pop("images", [])
                text_images = text_images if isinstance(text_images, list) else [text_images]
                body.fields = {k: v for k, v in body.fields.items() if k in MULTI_EDIT_SCHEMA}
                body.fields["images"] = ["<file>"] * len(body.files) + list(text_images)
            fields = validate(body, MULTI_EDIT_SCHEMA, strict=not body.multipart)
            model = self._resolve_model(fields.get("modelId") or DEFAULT_EDIT_MODEL)
            constraints = model["model_spec"].get("constraints", {})
            limit = constraints.get("maxInputImages") or (
                3 if constraints.get("combineImages", True) else 1
            )
            if len(fields["images"]) > limit:
                raise ApiError(400, f"{model['id']} accepts at most {limit} input image(s)")
            raws = [data for _, data in body.files]
            for item in fields["images"][len(raws) :]:
                raws.append(image_bytes(item, field_name="images", fetch=self._fetch))
            self._check_prompt(fields["prompt"], model)
            self._check_constraints(fields, model, multi=True)
            decoded = [await self._decode(raw, too_large_status=400) for raw in raws]
            return self._edit_job(model, fields, decoded, multi=True)

        return await self._image_route(request, "/image/multi-edit", prepare)

    async def _upscale(self, request: web.Request) -> web.StreamResponse:
        async def prepare(request: web.Request, caller: _Caller) -> _Job:
            body = await read_body(request)
            if body.files:
                if len(body.files) > 1:
                    raise ApiError(400, "Only one file is allowed")
                body.fields["image"] = "<file>"
            fields = validate(body, UPSCALE_SCHEMA, strict=False)
            raw = (
                body.files[0][1]
                if body.files
                else image_bytes(
                    fields["image"], field_name="image", allow_data_uri=False, allow_url=False
                )
            )
            scale = float(fields.get("scale", 2))
            decoded = await self._decode(raw, too_large_status=400)
            w, h = decoded.width, decoded.height
            effective = min(scale, math.sqrt(_images.UPSCALE_MAX_PIXELS / (w * h)))
            if effective < 1.0:
                raise ApiError(400, "Image is too large to upscale")
            price = Decimal("0.02") if effective <= 2 else Decimal("0.08")
            model = self.model(UPSCALER_ID) or {
                "id": UPSCALER_ID,
                "model_spec": {"name": "Upscaler"},
            }
            max_side = self.max_output_side

            def render() -> bytes:
                data, _ = _images.upscale(decoded.image, scale=effective, max_side=max_side)
                return data

            return _Job(model, price, render)

        return await self._image_route(request, "/image/upscale", prepare)

    async def _background_remove(self, request: web.Request) -> web.StreamResponse:
        async def prepare(request: web.Request, caller: _Caller) -> _Job:
            body = await read_body(request)
            if body.multipart:
                if "model" in body.fields:
                    raise ApiError(400, "invalid model id")
                if "image_url" in body.fields:
                    raise ApiError(400, "image_url is not accepted in multipart requests")
                if len(body.files) != 1 or body.files[0][0] != "image":
                    raise ApiError(400, "Send exactly one file in the 'image' field")
                raw = body.files[0][1]
            else:
                if "model" in body.fields:
                    raise ApiError(400, "invalid model id")
                fields = validate(body, BG_SCHEMA)
                if ("image" in fields) == ("image_url" in fields):
                    raise detailed_error(
                        [
                            {
                                "code": "custom",
                                "path": [],
                                "message": "Provide exactly one of image or image_url",
                            }
                        ]
                    )
                if "image" in fields:
                    raw = image_bytes(fields["image"], field_name="image", allow_url=False)
                else:
                    url = fields["image_url"]
                    if not url.startswith(("http://", "https://")):
                        raise ApiError(400, "image_url must be an http(s) URL")
                    raw = image_bytes(url, field_name="image_url", fetch=self._fetch)
            decoded = await self._decode(raw, too_large_status=400)
            model = self.model(BG_REMOVER_ID) or {
                "id": BG_REMOVER_ID,
                "model_spec": {"name": "Bria Background Remover"},
            }
            max_side = self.max_output_side

            def render() -> bytes:
                return _images.background_remove(decoded.image, max_side=max_side)

            return _Job(model, Decimal("0.03"), render)

        return await self._image_route(request, "/image/background-remove", prepare)

    # -- catalogue and account routes ------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.StreamResponse:
        type_ = request.query.get("type", "text")
        if type_ not in MODEL_TYPES:
            raise detailed_error(
                [
                    {
                        "code": "invalid_enum_value",
                        "options": sorted(MODEL_TYPES),
                        "received": type_,
                        "path": ["type"],
                        "message": f"Invalid enum value. Received '{type_}'",
                    }
                ]
            )
        fault = self._draw_fault(request, "/models")
        if fault is not None:
            if fault.kind == "reset":
                self._drop(request)
            if fault.kind == "latency":
                await asyncio.sleep(fault.seconds)
            early = self._fault_response(fault, request[_RECORD].request_id)
            if early is not None:
                return early
        data = [m for m in self.catalogue if type_ == "all" or m.get("type") == type_]
        return web.json_response({"object": "list", "type": type_, "data": data})

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
        siwx = self._siwx_header(request)
        if siwx is None:
            raise self._discovery_402(request, accepts=False)
        try:
            signer, nonce = await self._verify_siwx(siwx)
        except SiwxError:
            raise ApiError(
                401, {"error": "Invalid Sign-in-with-x signature", "code": "X402_INVALID_SIGN_IN"}
            ) from None
        record: RequestRecord = request[_RECORD]
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

    async def _wallet_balance(self, request: web.Request) -> web.StreamResponse:
        wallet = await self._wallet_auth(request)
        fault = self._draw_fault(request, "/x402/balance")
        if fault is not None:
            early = self._fault_response(fault, request[_RECORD].request_id)
            if early is not None:
                return early
        balance = self._accounts.balance_of(wallet)
        return web.json_response(
            {
                "success": True,
                "data": {
                    "walletAddress": wallet,
                    "balanceUsd": _money(balance),
                    "canConsume": balance >= MIN_WALLET,
                    "minimumTopUpUsd": int(C.MIN_TOP_UP_USD),
                    "suggestedTopUpUsd": 10,
                },
            }
        )

    async def _wallet_transactions(self, request: web.Request) -> web.StreamResponse:
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
        entries = list(self._accounts.entries_for(wallet))
        entries.reverse()
        page = entries[offset : offset + limit]
        transactions = [
            {
                "id": f"tx_{hashlib.sha256(f'{e.payer}{e.at}{e.request_id}{e.payment_id}{i}'.encode()).hexdigest()[:20]}",
                "amount": _money(e.amount_usd if e.kind == "credit" else -e.amount_usd),
                "balanceAfter": _money(e.balance_after),
                "type": "TOP_UP" if e.kind == "credit" else "CHARGE",
                "createdAt": _iso_ms(e.at),
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
                    "currentBalance": _money(self._accounts.balance_of(wallet)),
                    "transactions": transactions,
                    "pagination": {
                        "limit": limit,
                        "offset": offset,
                        "hasMore": offset + limit < len(entries),
                    },
                },
            }
        )

    async def _rate_limits(self, request: web.Request) -> web.StreamResponse:
        key = self._bearer_only(request)
        balance = self._accounts.balance_of(key)
        ids = [m["id"] for m in self.catalogue if m.get("type") in ("inpaint", "upscale", "image")]
        return web.json_response(
            {
                "data": {
                    "accessPermitted": balance >= MIN_WALLET,
                    "apiTier": {"id": "paid", "isCharged": True},
                    "balances": {"USD": _money(balance)},
                    "keyExpiration": None,
                    "nextEpochBegins": _iso_ms((int(self.clock()) // 86400 + 1) * 86400),
                    "rateLimits": [
                        {
                            "apiModelId": mid,
                            "rateLimits": [{"amount": self.rate_limit_rpm, "type": "RPM"}],
                        }
                        for mid in ids
                    ],
                }
            }
        )

    async def _billing_balance(self, request: web.Request) -> web.StreamResponse:
        key = self._bearer_only(request)
        if not key.startswith("VENICE_ADMIN_KEY_"):
            raise ApiError(401, "Admin API key required")
        balance = self._accounts.balance_of(key)
        return web.json_response(
            {
                "canConsume": balance >= MIN_WALLET,
                "consumptionCurrency": "USD",
                "balances": {"diem": None, "usd": _money(balance)},
                "diemEpochAllocation": 0,
            }
        )

    # -- top-up ----------------------------------------------------------------------------------

    def _land_pending_credits(self) -> None:
        now = self.clock()
        for state in self._payments.values():
            if state is not None and not state.credited and state.land_at <= now:
                self._credit(state)

    def _credit(self, state: _Payment) -> None:
        state.credited = True
        entry = self._accounts.credit(
            state.payer, state.amount, payment_id=state.payment_id, at=self.clock()
        )
        state.new_balance = entry.balance_after

    def _receipt(self, state: _Payment) -> web.Response:
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
                    "amountCredited": _money(state.amount),
                    "newBalance": _money(state.new_balance),
                    "paymentId": state.payment_id,
                },
            },
            headers={"PAYMENT-RESPONSE": _b64json(receipt)},
        )

    @staticmethod
    def _in_progress() -> web.Response:
        return web.json_response(
            {"error": "PAYMENT_IN_PROGRESS", "message": "This payment is already being settled"},
            status=409,
        )

    async def _top_up(self, request: web.Request) -> web.StreamResponse:
        header = next((request.headers[h] for h in _PAYMENT_HEADERS if h in request.headers), None)
        if header is None:
            body = {
                "x402Version": 2,
                "accepts": self._accepts("5000000", solana_network=C.SOLANA_CAIP2),
            }
            return web.json_response(body, status=402, headers={"PAYMENT-REQUIRED": _b64json(body)})
        try:
            payment = decode_payment(header, pay_to=self.pay_to, now=self.clock())
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
            signer = await self._run(recover_transfer_authorization, payment)
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
        fault = self._draw_fault(request, "/x402/top-up")
        if fault is not None:
            if fault.kind == "latency":
                await asyncio.sleep(fault.seconds)
            elif fault.kind == "reset":
                self._payments.pop(key, None)
                self._drop(request)
            early = self._fault_response(fault, request[_RECORD].request_id)
            if early is not None:
                self._payments.pop(key, None)
                return early
            if fault.kind in ("settlement_timeout", "payment_in_progress"):
                state.land_at = self.clock() + self.settlement_delay
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

    # -- admin -----------------------------------------------------------------------------------

    async def _admin_get_faults(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.faults.to_dict())

    async def _admin_put_faults(self, request: web.Request) -> web.StreamResponse:
        try:
            data = await request.json()
            self.faults = FaultPlan.from_dict(data)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ApiError(400, f"Invalid fault plan: {exc}") from None
        return web.json_response(self.faults.to_dict())

    async def _admin_ledger(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            [
                {
                    **asdict(e),
                    "amount_usd": str(e.amount_usd),
                    "balance_after": str(e.balance_after),
                }
                for e in self.ledger
            ]
        )

    async def _admin_get_balances(self, request: web.Request) -> web.StreamResponse:
        self._land_pending_credits()
        return web.json_response({k: str(v) for k, v in self._accounts.balances().items()})

    async def _admin_put_balances(self, request: web.Request) -> web.StreamResponse:
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise ValueError("expected an object of payer -> USD")
            updates = {str(k): to_usd(str(v)) for k, v in data.items()}
        except (ValueError, ArithmeticError) as exc:
            raise ApiError(400, f"Invalid balances: {exc}") from None
        for payer, usd in updates.items():
            if payer.startswith(("0x", "0X")):
                self.fund_wallet(payer, usd)
            else:
                self.add_api_key(payer, usd)
        return await self._admin_get_balances(request)

    async def _admin_requests(self, request: web.Request) -> web.StreamResponse:
        return web.json_response([asdict(r) for r in self.requests])

    async def _admin_reset(self, request: web.Request) -> web.StreamResponse:
        self.reset()
        return web.json_response({"ok": True})


@dataclass
class _Job:
    """A validated image request: what to render, which model ran it and what it costs."""

    model: dict[str, Any]
    price: Decimal
    render: Callable[[], bytes]
    blurred: bool = False
    enhanced_prompt: str | None = None

    @property
    def model_id(self) -> str:
        return str(self.model["id"])


_ = normalize_route  # re-exported for the admin API's users
