"""The emulator on a background thread, for testing synchronous code (``SyncInpaintClient``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._app import Emulator

__all__ = ["emulator_in_thread"]


@contextmanager
def emulator_in_thread(**settings: Any) -> Iterator[Emulator]:
    """Run an :class:`Emulator` on its own event loop in a daemon thread for the ``with`` block.

    Synchronous tests (and code that blocks the caller's loop, as the sync client does) need the
    server to answer from another thread::

        with emulator_in_thread() as emu:
            with SyncInpaintClient(emu.api_key, base_url=emu.base_url) as client:
                client.images.edit(...)

    The keyword arguments are the :class:`Emulator`'s. Its inspection helpers (``requests``,
    ``balance_of``...) may be read from the test thread while no request is in flight.
    """
    from ._app import Emulator

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="inpaint-emulator-loop", daemon=True)
    thread.start()
    try:
        emu = Emulator(**settings)
        asyncio.run_coroutine_threadsafe(emu.start(), loop).result()
        try:
            yield emu
        finally:
            asyncio.run_coroutine_threadsafe(emu.stop(), loop).result()
    finally:
        # Requests still being answered when the block ends (a slow answer the client gave up
        # on) are cancelled and let finish here, not destroyed pending with the loop.
        asyncio.run_coroutine_threadsafe(_cancel_the_rest(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


async def _cancel_the_rest() -> None:
    current = asyncio.current_task()
    rest = [task for task in asyncio.all_tasks() if task is not current]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)
