"""Fixtures for the emulator's own tests (the `emulator` fixture comes from the plugin)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from .helpers import FakeClock


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session (not the SDK) for talking to the emulator over loopback."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
