"""pytest plugin (entry point `pytest11`): the `emulator` and `aioresponses_mock` fixtures.

pytest loads this module for everyone who has `inpaint_async` installed, so it imports nothing
heavy at import time; the emulator (aiohttp's server, Pillow) is imported inside the fixture.

* `emulator`: a running emulator on 127.0.0.1 for one test. For the test's duration every
  `VENICE_*` variable is removed from the environment (a test that forgets `base_url=` or
  `auth=` can never reach the real API with the developer's real key) and `VENICE_BASE_URL`
  points at the emulator.
* `aioresponses_mock`: an active `aioresponses` mock with the aiohttp >= 3.14 compatibility fix
  applied (opt-in: only tests that ask for it get it; see `inpaint_async.testing.aioresponses_compat`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from aioresponses import aioresponses

    from inpaint_async.testing import Emulator

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixture needs an event loop runner
    pytest_asyncio = None  # type: ignore[assignment]

#: Settings of the `emulator` fixture: generous rate limits and small images keep tests fast.
FIXTURE_SETTINGS: dict[str, Any] = {"rate_limit_rpm": 100_000, "max_output_side": 256}


def isolate_environment(monkeypatch: pytest.MonkeyPatch, base_url: str) -> None:
    """Remove every ``VENICE_*`` variable and point ``VENICE_BASE_URL`` at ``base_url``."""
    for name in list(os.environ):
        if name.startswith("VENICE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("VENICE_BASE_URL", base_url)


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def emulator(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
        """A running emulator on 127.0.0.1 (ephemeral port), stopped after the test; no
        ``VENICE_*`` credentials in the environment meanwhile, ``VENICE_BASE_URL`` set to it."""
        try:
            from inpaint_async.testing import Emulator
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                f"the emulator fixture needs {exc.name}: pip install 'inpaint-async[testing]'"
            ) from exc

        async with Emulator(**FIXTURE_SETTINGS) as emu:
            isolate_environment(monkeypatch, emu.base_url)
            yield emu

else:  # pragma: no cover

    @pytest.fixture
    def emulator() -> None:
        """Needs pytest-asyncio."""
        pytest.skip(
            "the emulator fixture needs pytest-asyncio: pip install 'inpaint-async[testing]'"
        )


@pytest.fixture
def aioresponses_mock() -> Iterator[aioresponses]:
    """An active ``aioresponses()`` mock that works on aiohttp >= 3.14 (opt-in compatibility fix)."""
    from aioresponses import aioresponses

    from inpaint_async.testing import aioresponses_compat

    with aioresponses_compat(), aioresponses() as mocked:
        yield mocked
