"""Limits and faults: the error budget, rate windows, the wallet in-flight cap and fault injection."""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from aiohttp import web

from .. import _constants as C
from ._common import BUCKET, EXEMPT, RECORD, Caller, drop
from ._faults import Fault
from ._parse import ApiError

if TYPE_CHECKING:
    from ._app import Emulator

__all__ = ["TIMEOUT_TEXT", "Limits"]

TIMEOUT_TEXT = (
    "The request took too long to complete and was timed-out. "
    "Please try again with a smaller request."
)
_CF_HTML = """<!DOCTYPE html>
<html lang="en-US"><head><title>api.venice.ai | 502: Bad gateway</title></head>
<body><div id="cf-error-details"><h1>Bad gateway</h1><span>Error code 502</span>
<p>Visit <a href="https://www.cloudflare.com/">cloudflare.com</a> for more information.</p>
<p>Cloudflare Ray ID: <strong>{ray}</strong></p></div></body></html>
"""


class Limits:
    """Per-caller limits (error budget, rate windows, wallet concurrency) and the fault plan's draws."""

    def __init__(self, emu: Emulator) -> None:
        self._emu = emu
        self.reset()

    def reset(self) -> None:
        """Forget every window, failure, lockout and in-flight count."""
        self._windows: dict[tuple[str, str], list[float]] = {}
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._in_flight: Counter[str] = Counter()

    # -- error budget ----------------------------------------------------------------------------

    @staticmethod
    def bucket(request: web.Request, caller: Caller | None) -> str:
        """The error-budget bucket: the payer when known, else the client's address."""
        if caller is not None:
            return caller.payer
        return "ip:" + (request.remote or "unknown")

    def count_failure(self, request: web.Request, response: web.StreamResponse) -> None:
        """Count a 4xx (429 excepted) against the request's bucket; lock it out when spent."""
        bucket = request.get(BUCKET)
        if bucket is None or request.get(EXEMPT):
            return
        if not 400 <= response.status < 500 or response.status == 429:
            return
        settings = self._emu.settings
        now = settings.clock()
        failures = self._failures.setdefault(bucket, deque())
        failures.append(now)
        while failures and failures[0] <= now - settings.error_budget_window:
            failures.popleft()
        if len(failures) >= settings.error_budget:
            self._locked_until[bucket] = now + settings.error_budget_lockout
            failures.clear()

    def check_lockout(self, *buckets: str) -> None:
        """Raise the error-budget 429 when any of `buckets` is locked out."""
        now = self._emu.settings.clock()
        for bucket in buckets:
            until = self._locked_until.get(bucket)
            if until is not None and now < until:
                raise ApiError(
                    429,
                    f"Too many failed attempts (> {self._emu.settings.error_budget}) resulting in "
                    "a non-success status code. Please wait 30 seconds and try again. See "
                    "https://docs.venice.ai/api-reference/rate-limiting for more information.",
                    headers={
                        "x-ratelimit-remaining": "0",
                        "x-ratelimit-resets": str(int(until * 1000)),
                    },
                )

    # -- rate limit and concurrency --------------------------------------------------------------

    def take_rate(self, payer: str, model_id: str) -> dict[str, str]:
        """Count one request in the (payer, model) window; return its headers or raise the 429."""
        settings = self._emu.settings
        now = settings.clock()
        key = (payer, model_id)
        window = self._windows.get(key)
        if window is None or now >= window[0] + settings.rate_limit_window:
            window = self._windows[key] = [now, 0.0]
        reset_ms = str(int((window[0] + settings.rate_limit_window) * 1000))
        headers = {C.H_RL_LIMIT: str(settings.rate_limit_rpm), C.H_RL_RESET: reset_ms}
        if window[1] >= settings.rate_limit_rpm:
            headers[C.H_RL_REMAINING] = "0"
            raise ApiError(429, "Rate limit exceeded", headers=headers)
        window[1] += 1
        headers[C.H_RL_REMAINING] = str(settings.rate_limit_rpm - int(window[1]))
        if "no_rate_limit_headers" in settings.deviations:
            return {}
        return headers

    @contextmanager
    def wallet_slot(self, wallet: str | None) -> Iterator[None]:
        """Hold one of a wallet's in-flight slots (nothing for API keys); 429 when none is free."""
        if wallet is None:
            yield
            return
        if self._in_flight[wallet] >= self._emu.settings.wallet_max_in_flight:
            raise ApiError(
                429, {"error": "Too many concurrent requests", "code": "X402_CONCURRENCY_LIMIT"}
            )
        self._in_flight[wallet] += 1
        try:
            yield
        finally:
            self._in_flight[wallet] -= 1
            if self._in_flight[wallet] <= 0:
                del self._in_flight[wallet]

    # -- faults ----------------------------------------------------------------------------------

    def draw_fault(self, request: web.Request, route: str) -> Fault | None:
        """Draw the next fault for `route` from the current plan and note it on the record."""
        fault = self._emu.faults.draw(route)
        if fault is not None:
            request[RECORD].fault = str(fault)
        return fault

    def fault_response(self, fault: Fault, request_id: str) -> web.Response | None:
        """The canned answer of a status fault, or None for the faults that act otherwise."""
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
            return web.json_response({"error": TIMEOUT_TEXT}, status=504)
        if kind == "429_overloaded":
            return web.json_response(
                {"error": "The model is currently overloaded. Please try again later."},
                status=429,
                headers={C.H_RETRY_AFTER: str(self._emu.settings.overloaded_retry_after)},
            )
        if kind == "html_502":
            return web.Response(
                text=_CF_HTML.format(ray=request_id), status=502, content_type="text/html"
            )
        return None

    async def apply_fault(
        self, request: web.Request, route: str
    ) -> tuple[Fault | None, web.Response | None]:
        """Draw a fault and act on a `reset` or `latency`; return it and its canned answer, if any."""
        fault = self.draw_fault(request, route)
        if fault is None:
            return None, None
        if fault.kind == "reset":
            drop(request)
        if fault.kind == "latency":
            await asyncio.sleep(fault.seconds)
        return fault, self.fault_response(fault, request[RECORD].request_id)
