"""pytest plugin (entry point `pytest11`): the `emulator` fixture.

pytest loads this module for everyone who has `inpaint_async` installed, so it imports nothing
heavy at import time; the emulator (aiohttp's server, Pillow) is imported inside the fixture.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from inpaint_async.testing import Emulator

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixture needs an event loop runner
    pytest_asyncio = None  # type: ignore[assignment]

#: Settings of the `emulator` fixture: generous rate limits and small images keep tests fast.
FIXTURE_SETTINGS: dict[str, Any] = {"rate_limit_rpm": 100_000, "max_output_side": 256}

if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def emulator() -> AsyncIterator[Emulator]:
        """A running emulator on 127.0.0.1 (ephemeral port), stopped after the test."""
        from inpaint_async.testing import Emulator

        async with Emulator(**FIXTURE_SETTINGS) as emu:
            yield emu

else:  # pragma: no cover

    @pytest.fixture
    def emulator() -> None:
        """Needs pytest-asyncio."""
        pytest.skip("the emulator fixture needs pytest-asyncio")
