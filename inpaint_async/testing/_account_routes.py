"""Catalogue and API-key account routes: `/models`, `/api_keys/rate_limits`, `/billing/balance`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from ._catalogue import MODEL_TYPES
from ._common import API_PREFIX, MIN_WALLET, iso_ms, money
from ._parse import ApiError, detailed_error

if TYPE_CHECKING:
    from ._app import Emulator

__all__ = ["AccountRoutes"]


class AccountRoutes:
    """The free routes: the model catalogue and a Bearer key's limits and balance."""

    def __init__(self, emu: Emulator) -> None:
        self._emu = emu

    def register(self, app: web.Application) -> None:
        p = API_PREFIX
        app.router.add_get(p + "/models", self._models)
        app.router.add_get(p + "/api_keys/rate_limits", self._rate_limits)
        app.router.add_get(p + "/billing/balance", self._billing_balance)

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
        _, early = await self._emu._limits.apply_fault(request, "/models")
        if early is not None:
            return early
        data = [m for m in self._emu.catalogue if type_ == "all" or m.get("type") == type_]
        return web.json_response({"object": "list", "type": type_, "data": data})

    async def _rate_limits(self, request: web.Request) -> web.StreamResponse:
        emu = self._emu
        key = emu._auth.bearer_only(request)
        balance = emu._accounts.balance_of(key)
        ids = [m["id"] for m in emu.catalogue if m.get("type") in ("inpaint", "upscale", "image")]
        rpm = emu.settings.rate_limit_rpm
        return web.json_response(
            {
                "data": {
                    "accessPermitted": balance >= MIN_WALLET,
                    "apiTier": {"id": "paid", "isCharged": True},
                    "balances": {"USD": money(balance)},
                    "keyExpiration": None,
                    "nextEpochBegins": iso_ms((int(emu.settings.clock()) // 86400 + 1) * 86400),
                    "rateLimits": [
                        {"apiModelId": mid, "rateLimits": [{"amount": rpm, "type": "RPM"}]}
                        for mid in ids
                    ],
                }
            }
        )

    async def _billing_balance(self, request: web.Request) -> web.StreamResponse:
        key = self._emu._auth.bearer_only(request)
        if not key.startswith("VENICE_ADMIN_KEY_"):
            raise ApiError(401, "Admin API key required")
        balance = self._emu._accounts.balance_of(key)
        return web.json_response(
            {
                "canConsume": balance >= MIN_WALLET,
                "consumptionCurrency": "USD",
                "balances": {"diem": None, "usd": money(balance)},
                "diemEpochAllocation": 0,
            }
        )
