"""The admin API (`/_emulator/...`, served with `admin=True`): faults, balances, ledger, requests."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from aiohttp import web

from ._faults import FaultPlan
from ._ledger import to_usd
from ._parse import ApiError

if TYPE_CHECKING:
    from ._app import Emulator

__all__ = ["AdminRoutes"]


class AdminRoutes:
    """Drive and inspect a running emulator over HTTP (for emulators in another process)."""

    def __init__(self, emu: Emulator) -> None:
        self._emu = emu

    def register(self, app: web.Application) -> None:
        app.router.add_get("/_emulator/faults", self._get_faults)
        app.router.add_put("/_emulator/faults", self._put_faults)
        app.router.add_get("/_emulator/ledger", self._ledger)
        app.router.add_get("/_emulator/balances", self._get_balances)
        app.router.add_put("/_emulator/balances", self._put_balances)
        app.router.add_get("/_emulator/requests", self._requests)
        app.router.add_post("/_emulator/reset", self._reset)

    async def _get_faults(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._emu.faults.to_dict())

    async def _put_faults(self, request: web.Request) -> web.StreamResponse:
        try:
            data = await request.json()
            self._emu.faults = FaultPlan.from_dict(data)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ApiError(400, f"Invalid fault plan: {exc}") from None
        return web.json_response(self._emu.faults.to_dict())

    async def _ledger(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            [
                {
                    **asdict(e),
                    "amount_usd": str(e.amount_usd),
                    "balance_after": str(e.balance_after),
                }
                for e in self._emu.ledger
            ]
        )

    async def _get_balances(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({k: str(v) for k, v in self._emu._balances().items()})

    async def _put_balances(self, request: web.Request) -> web.StreamResponse:
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise ValueError("expected an object of payer -> USD")
            updates = {str(k): to_usd(str(v)) for k, v in data.items()}
        except (ValueError, ArithmeticError) as exc:
            raise ApiError(400, f"Invalid balances: {exc}") from None
        for payer, usd in updates.items():
            if payer.startswith(("0x", "0X")):
                self._emu.fund_wallet(payer, usd)
            else:
                self._emu.add_api_key(payer, usd)
        return await self._get_balances(request)

    async def _requests(self, request: web.Request) -> web.StreamResponse:
        return web.json_response([asdict(r) for r in self._emu.requests])

    async def _reset(self, request: web.Request) -> web.StreamResponse:
        self._emu.reset()
        return web.json_response({"ok": True})
