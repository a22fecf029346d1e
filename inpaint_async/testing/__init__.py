"""An offline emulator of the Venice image API, for testing code that uses `inpaint_async`.

```python
from inpaint_async.testing import Emulator, EmulatorSettings, FaultPlan

async with Emulator(faults=FaultPlan(script={"/image/edit": ["503", None]})) as emu:
    ...  # point a client at emu.base_url with emu.api_key

settings = EmulatorSettings(max_output_side=64, latency=0.05)   # shareable; keywords override
async with Emulator(settings=settings, rate_limit_rpm=10) as emu:
    ...
```

`Emulator` is imported lazily: importing this package (as the pytest plugin does) stays cheap
and pulls in neither aiohttp's server nor Pillow. Install what it needs with
`pip install 'inpaint-async[testing]'` (Pillow, pytest-asyncio, aioresponses).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._faults import FAULT_KINDS, Fault, FaultPlan
from ._ledger import LedgerEntry
from ._mocking import aioresponses_compat
from ._samples import sample_image, sample_images, write_sample_image
from ._settings import DEVIATIONS, EmulatorSettings
from ._thread import emulator_in_thread

if TYPE_CHECKING:
    from ._app import Emulator, RequestRecord

__all__ = [
    "DEVIATIONS",
    "FAULT_KINDS",
    "Emulator",
    "EmulatorSettings",
    "Fault",
    "FaultPlan",
    "LedgerEntry",
    "RequestRecord",
    "aioresponses_compat",
    "emulator_in_thread",
    "sample_image",
    "sample_images",
    "write_sample_image",
]


def __getattr__(name: str) -> Any:
    if name in ("Emulator", "RequestRecord"):
        try:
            from . import _app
        except ImportError as exc:
            raise ImportError(
                f"the emulator needs {exc.name}: pip install 'inpaint-async[testing]'"
            ) from exc

        return getattr(_app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
