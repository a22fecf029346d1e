"""Shared fixtures. The `emulator` fixture comes from the package's own pytest plugin;
`make_emulator` starts emulators with other settings."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import aioresponses.core
import pytest
from aiohttp import web

from inpaint_async.testing import Emulator

# --- aioresponses 0.7.9 vs aiohttp >= 3.14 -------------------------------------------------------
# aiohttp 3.14 (a security release) made `stream_writer` a required keyword of
# ClientResponse.__init__; aioresponses 0.7.9 does not pass it (aioresponses issue #289, fixed by the
# unreleased PR #288). Until a release carries the fix, give aioresponses a ClientResponse whose
# stream_writer defaults to a stub. Remove this block when aioresponses > 0.7.9 is out.


class _StubStreamWriter:
    output_size = 0


if "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters:

    class _CompatClientResponse(aiohttp.ClientResponse):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            kwargs.setdefault("stream_writer", _StubStreamWriter())
            super().__init__(*args, **kwargs)

    aioresponses.core.ClientResponse = _CompatClientResponse  # type: ignore[misc]


#: Test settings: no practical rate limit, 64-pixel outputs, no waiting on overloaded 429s, and
#: delayed top-up credits that land quickly.
EMULATOR_TEST_SETTINGS: dict[str, Any] = {
    "rate_limit_rpm": 100_000,
    "max_output_side": 64,
    "overloaded_retry_after": 0,
    "settlement_delay": 0.2,
}


@pytest.fixture
async def make_emulator() -> AsyncIterator[Callable[..., Any]]:
    """Start emulators with the test settings, overridable per call; stopped at the end."""
    started: list[Emulator] = []

    async def make(**settings: Any) -> Emulator:
        emu = Emulator(**{**EMULATOR_TEST_SETTINGS, **settings})
        await emu.start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        await emu.stop()


@pytest.fixture
async def serve_app() -> AsyncIterator[Callable[[web.Application], Awaitable[str]]]:
    """Serve aiohttp apps on 127.0.0.1 (ephemeral ports); each call returns the app's origin."""
    runners: list[web.AppRunner] = []

    async def serve(app: web.Application) -> str:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield serve
    for runner in reversed(runners):
        await runner.cleanup()


@pytest.fixture(autouse=True)
def _fresh_spend_ledgers() -> Iterator[None]:
    """Each test starts with empty in-memory spend ledgers: one wallet address is shared by many
    tests, and a process-wide ledger would otherwise carry one test's signatures into the next."""
    from inpaint_async.spend import forget_ledgers

    forget_ledgers()
    yield
    forget_ledgers()
