"""The emulator: an aiohttp application that behaves like the Venice image API on loopback.

`Emulator` owns the settings, the accounts and the lifecycle; each concern lives in its own module:

- `_image_routes`: edit, multi-edit, upscale, background removal (validate, admit, render, bill);
- `_wallet_routes`: a wallet's balance and transactions, the USDC top-up and its settlement;
- `_account_routes`: the model catalogue and a Bearer key's rate limits and balance;
- `_auth` (SIWX and Bearer) and `_x402` (the 402 bodies);
- `_limits`: the error budget, rate windows, the wallet in-flight cap and fault injection;
- `_admin`: the `/_emulator/...` routes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from decimal import Decimal
from types import TracebackType
from typing import Any, Self, Unpack

from aiohttp import web

from .. import _constants as C
from ._account_routes import AccountRoutes
from ._admin import AdminRoutes
from ._auth import Auth
from ._catalogue import build_catalogue
from ._common import API_PREFIX, EXEMPT, RECORD, VENICE_VERSION, Dropped, Handler, RequestRecord
from ._faults import FaultPlan
from ._image_routes import ImageRoutes
from ._ledger import Accounts, LedgerEntry, normalize_payer, to_usd
from ._limits import Limits
from ._parse import ApiError
from ._settings import DEFAULT_SIWX_DOMAINS, EmulatorOptions, EmulatorSettings
from ._wallet_routes import WalletRoutes

__all__ = ["DEFAULT_SIWX_DOMAINS", "Emulator", "EmulatorSettings", "RequestRecord"]

log = logging.getLogger("inpaint_async.testing")


class Emulator:
    """A local, fault-injectable emulator of the Venice image API.

    Use it as an async context manager (or `await start()` / `await stop()`); it binds
    `127.0.0.1` on an ephemeral port by default and exposes `base_url` and a funded `api_key`.
    Configure it with keywords (the fields of `EmulatorSettings`), with `settings=`, or both
    (keywords override the settings object).

    Example:
        ```python
        async with Emulator(max_output_side=256) as emu:
            async with InpaintClient(auth=emu.api_key, base_url=emu.base_url) as client:
                ...
        ```
    """

    def __init__(
        self, *, settings: EmulatorSettings | None = None, **options: Unpack[EmulatorOptions]
    ) -> None:
        settings = settings if settings is not None else EmulatorSettings()
        if options:
            settings = replace(settings, **options)
        self.settings: EmulatorSettings = settings
        self.host = settings.host
        self.port = settings.port
        self.faults: FaultPlan = (
            settings.faults if settings.faults is not None else FaultPlan(seed=settings.seed)
        )
        self.catalogue: list[dict[str, Any]] = build_catalogue()
        self.requests: list[RequestRecord] = []
        self.url_images: dict[str, bytes] = {}
        self._initial_faults = self.faults
        api_keys = settings.api_keys
        if api_keys is None:
            self.api_key = "VENICE_INFERENCE_KEY_emulator_" + secrets.token_hex(12)
            api_keys = {self.api_key: Decimal(100)}
        else:
            self.api_key = next(iter(api_keys), "")
        self._initial_balances: dict[str, Decimal] = {k: to_usd(v) for k, v in api_keys.items()}
        for wallet, usd in (settings.wallets or {}).items():
            self._initial_balances[normalize_payer(wallet)] = to_usd(usd)
        self._keys: set[str] = set(api_keys)
        self._ray = 0
        self._executor: ThreadPoolExecutor | None = None
        self._runner: web.AppRunner | None = None
        self._limits = Limits(self)
        self._auth = Auth(self)
        self._wallet = WalletRoutes(self)
        self._routes = (ImageRoutes(self), self._wallet, AccountRoutes(self))
        self._reset_state()

    # -- state -----------------------------------------------------------------------------------

    def _reset_state(self) -> None:
        self._accounts = Accounts()
        for payer, usd in self._initial_balances.items():
            self._accounts.set_balance(payer, usd)
        self.requests.clear()
        self._limits.reset()
        self._auth.reset()
        self._wallet.reset()

    @property
    def pay_to(self) -> str:
        """The Base address top-ups must pay (`settings.pay_to`)."""
        return self.settings.pay_to

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
        self._wallet.land_pending_credits()
        return self._accounts.balance_of(payer)

    def _balances(self) -> dict[str, Decimal]:
        self._wallet.land_pending_credits()
        return self._accounts.balances()

    @property
    def ledger(self) -> list[LedgerEntry]:
        """Every charge and credit, oldest first."""
        self._wallet.land_pending_credits()
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
        for routes in self._routes:
            routes.register(app)
        if self.settings.admin:
            AdminRoutes(self).register(app)
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
        """Run CPU work (signature recovery, image rendering) on the emulator's worker threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args))

    # -- middleware ------------------------------------------------------------------------------

    def _new_request_id(self) -> str:
        self._ray += 1
        return f"{secrets.token_hex(6)}{self._ray:04x}-EMU"

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = self._new_request_id()
        record = RequestRecord(
            request.method, request.path, 0, request_id, at=self.settings.clock()
        )
        request[RECORD] = record
        self.requests.append(record)
        self._wallet.land_pending_credits()
        try:
            response = await handler(request)
        except (Dropped, ConnectionResetError):
            # The transport is gone (our deliberate drop, or a client that died mid-upload):
            # this response is never written; it only keeps aiohttp from logging a server error.
            record.status = 0
            return web.Response(status=204)
        except ApiError as exc:
            if exc.exempt:
                request[EXEMPT] = True
            response = web.json_response(exc.body, status=exc.status, headers=exc.headers)
        except web.HTTPException as exc:
            response = _http_exception_response(exc)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception:
            log.exception("emulator error on %s %s", request.method, request.path)
            response = web.json_response({"error": "Inference processing failed"}, status=500)
        if not response.prepared:
            response.headers[C.H_CF_RAY] = request_id
            response.headers[C.H_VENICE_VERSION] = VENICE_VERSION
        record.status = response.status
        self._limits.count_failure(request, response)
        return response


def _http_exception_response(exc: web.HTTPException) -> web.Response:
    """aiohttp's own errors (unknown route, wrong method, body too large) in the API's JSON shape."""
    if exc.status == 405:
        return web.json_response({"error": "Method not allowed"}, status=405)
    if exc.status == 404:
        return web.json_response({"error": "Not found"}, status=404)
    if exc.status == 413:
        return web.json_response(
            {
                "code": "PAYLOAD_TOO_LARGE",
                "error": "Request body exceeds the maximum allowed size.",
            },
            status=413,
        )
    return web.json_response({"error": exc.reason}, status=exc.status)
