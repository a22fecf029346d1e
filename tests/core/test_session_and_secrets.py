"""Session ownership, connection errors, logging, and a canary key that must never leak."""

from __future__ import annotations

import logging

import aiohttp
import pytest
from aiohttp import web
from aioresponses import aioresponses

from inpaint_async import (
    APIConnectionError,
    BearerAuth,
    InpaintClient,
    InpaintError,
    RetryPolicy,
)

from .conftest import Loopback
from .helpers import png_bytes

PNG = png_bytes()
CANARY = "VENICE_INFERENCE_KEY_canary" + "7f3a" * 6


async def test_borrowed_session_is_not_closed(loopback: Loopback) -> None:
    """An injected aiohttp session is used and left open."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    loopback.handler = handler
    async with aiohttp.ClientSession() as session:
        async with InpaintClient(auth="k" * 16, base_url=loopback.base_url, session=session) as c:
            await c.images.edit(PNG, "hat")
        assert not session.closed


async def test_owned_session_is_closed_and_derived_clients_share_it(loopback: Loopback) -> None:
    """The root client closes its session; a derived client reuses it and closes nothing."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    loopback.handler = handler
    c = InpaintClient(auth="k" * 16, base_url=loopback.base_url)
    await c.images.edit(PNG, "hat")
    session = c._transport.session
    child = c.with_options(read_timeout=5)
    await child.images.edit(PNG, "hat")
    await child.close()
    assert not session.closed and child._transport.session is session
    await c.close()
    assert session.closed


async def test_connection_refused_is_retried_then_raised() -> None:
    """Nothing listens: APIConnectionError after every attempt (the request never left)."""
    waits: list[float] = []

    async def sleep(s: float) -> None:
        waits.append(s)

    c = InpaintClient(auth="k" * 16, base_url="http://127.0.0.1:9/api/v1",
                      retry=RetryPolicy(max_attempts=3, sleep=sleep))  # fmt: skip
    async with c:
        with pytest.raises(APIConnectionError):
            await c.images.edit(PNG, "hat")
    assert len(waits) == 2


async def test_canary_key_never_leaks(caplog: pytest.LogCaptureFixture) -> None:
    """Across success, errors, retries and debug logs, the key appears nowhere."""
    auth = BearerAuth(CANARY)
    base = "http://api.test/api/v1"
    seen: list[str] = [repr(auth)]
    caplog.set_level(logging.DEBUG, logger="inpaint_async")

    async def sleep(s: float) -> None:
        return None

    with aioresponses() as m:
        url = base + "/image/edit"
        m.post(url, status=503, payload={"error": "busy"})
        m.post(url, status=200, body=PNG, headers={"content-type": "image/png"})
        for status in (400, 401, 402, 403, 422, 429, 500, 504):
            m.post(url, status=status, payload={"error": "e"}, headers={"Retry-After": "999"})
        m.post(url, exception=TimeoutError())
        c = InpaintClient(auth=auth, base_url=base, retry=RetryPolicy(sleep=sleep, max_attempts=2))
        seen.append(repr(c))
        async with c:
            await c.images.edit(PNG, "hat")
            for _ in range(9):
                with pytest.raises(InpaintError) as info:
                    await c.images.edit(PNG, "hat", retry=RetryPolicy.no_retry())
                seen += [
                    str(info.value),
                    repr(info.value),
                    repr(getattr(info.value, "headers", "")),
                ]
    seen += [r.getMessage() for r in caplog.records]
    assert any("Bearer ***" in s or "'***'" in s for s in seen), "debug logs were captured"
    for text in seen:
        assert CANARY not in text
