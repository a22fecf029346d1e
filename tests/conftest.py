"""Shared fixtures. The `emulator` fixture comes from the package's own pytest plugin;
`make_emulator` starts emulators with other settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web

from inpaint_async.testing import Emulator, aioresponses_compat

#: tests/fixtures holds a separate user project; its tests run in their own pytest process.
collect_ignore = ["fixtures"]

# aioresponses 0.7.9 fails on aiohttp >= 3.14 (issue #289); the suite applies the package's own
# opt-in fix for every test, the way users get it from the `aioresponses_mock` fixture.


@pytest.fixture(autouse=True, scope="session")
def _aioresponses_compat() -> Iterator[None]:
    with aioresponses_compat():
        yield


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
