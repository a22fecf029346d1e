"""One spender's top-up single flight and the pause it holds: the one implementation.

:class:`Flights` is the in-process state both paths use, so there is one mechanism, not two:

* a wallet's own clients (no coordinator, the default) reach it through the process's
  :class:`~inpaint_async.spend._topup.SpendGuard` of the spender's ledger (one per event loop);
* :class:`~inpaint_async.coordination.LocalCoordinator` (a process's shared coordinator, and the
  engine of the Ray coordinator actor) keeps one per spender and hands out its leads
  (``begin_top_up`` / ``end_top_up``) from it.

A flight either runs here (:meth:`Flights.join`: the first caller starts the top-up as a task,
every other caller awaits it and gets its result or its error) or is led elsewhere
(:meth:`Flights.lead` / :meth:`Flights.end`: a remote worker performs it and reports back).
While a pausing flight runs, :meth:`Flights.admit` holds new attempts back; a top-up's own
requests pass. Every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .._exceptions import TopUpError

__all__ = ["Flight", "Flights"]

T = TypeVar("T")


@dataclass
class Flight:
    """One top-up in progress: led here (``task``) or by a caller that reports back (``end``)."""

    token: str
    done: asyncio.Event = field(default_factory=asyncio.Event)
    ok: bool = False
    message: str | None = None
    task: asyncio.Task[Any] | None = None


class Flights:
    """One spender's top-up single flight and pause, in one event loop (see the module doc)."""

    def __init__(self) -> None:
        self.current: Flight | None = None
        #: Top-ups completed (``ok``) so far: tells whether one completed after an attempt left.
        self.generation = 0
        #: Top-ups that completed with a credit.
        self.completed = 0
        self.paused = False
        self.resumed = asyncio.Event()
        self.resumed.set()

    # -- state ---------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Whether a top-up is in progress."""
        return self.current is not None

    def running(self) -> asyncio.Task[Any] | None:
        """The task of a flight led here, while it runs."""
        current = self.current
        task = current.task if current is not None else None
        return task if task is not None and not task.done() else None

    def pause(self, paused: bool) -> None:
        """Hold new attempts back (``True``) or let them go."""
        self.paused = paused
        if paused:
            self.resumed.clear()
        else:
            self.resumed.set()

    async def wait_resumed(self, timeout: float | None = None) -> None:
        """Wait while a pausing top-up runs (``TopUpError`` after ``timeout`` seconds)."""
        if not self.paused:
            return
        try:
            async with asyncio.timeout(timeout):
                await self.resumed.wait()
        except TimeoutError:
            raise TopUpError(f"a wallet top-up did not end within {timeout:.0f} s") from None

    async def admit(
        self,
        acquire: Callable[[], Awaitable[object]],
        release: Callable[[], None],
        *,
        during_top_up: bool,
        timeout: float | None = None,
    ) -> None:
        """Take a slot (``acquire``) once no pausing top-up runs; a top-up's own requests pass."""
        while True:
            if not during_top_up:
                await self.wait_resumed(timeout)
            await acquire()
            if during_top_up or not self.paused:
                return
            release()  # a top-up started while we queued: let it finish first

    # -- flights led elsewhere -------------------------------------------------------------------

    def lead(self, *, pause: bool) -> Flight | None:
        """Start a flight the caller performs (``None`` when one is already in progress)."""
        if self.current is not None:
            if pause:
                self.pause(True)
            return None
        flight = self.current = Flight(secrets.token_hex(8))
        if pause:
            self.pause(True)
        return flight

    def end(self, flight: Flight, *, ok: bool, message: str | None = None) -> None:
        """The flight ended (``ok``: it completed); its waiters and held attempts resume."""
        if self.current is not flight:
            return
        flight.ok = ok
        flight.message = message
        if ok:
            self.generation += 1
            if flight.task is None or flight.task.result() is not None:
                self.completed += 1
        self.current = None
        self.pause(False)
        flight.done.set()

    async def wait(self, flight: Flight, timeout: float | None) -> None:
        """Wait for ``flight`` to end (``TimeoutError`` after ``timeout`` seconds)."""
        async with asyncio.timeout(timeout):
            await flight.done.wait()

    # -- flights run here --------------------------------------------------------------------------

    async def join(
        self, perform: Callable[[], Coroutine[Any, Any, T]], *, pause: bool, timeout: float
    ) -> T | None:
        """Wait for the flight in progress, or start ``perform`` as the one; return its result.

        The flight runs as its own task: a caller that gives up (or is cancelled) never cancels
        it. Every caller gets the flight's result or its error; ``None`` when the flight was led
        elsewhere and completed.
        """
        flight = self.lead(pause=pause)
        if flight is not None:
            task = asyncio.get_running_loop().create_task(perform())
            flight.task = task
            landed = flight

            def on_done(t: asyncio.Task[Any]) -> None:
                self._landed(landed, t)

            task.add_done_callback(on_done)
        else:
            flight = self.current
            assert flight is not None
        try:
            await self.wait(flight, timeout)
        except TimeoutError:
            raise TopUpError(f"a wallet top-up did not end within {timeout:.0f} s") from None
        if flight.task is not None:
            result: T = flight.task.result()
            return result
        if not flight.ok:
            raise TopUpError(f"the wallet's top-up failed: {flight.message}")
        return None

    async def exclusive(
        self, perform: Callable[[], Coroutine[Any, Any, T]], *, timeout: float
    ) -> T | None:
        """Run ``perform`` as its own flight once the one in progress (if any) has ended."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (current := self.current) is not None:
            try:
                await self.wait(current, max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise TopUpError(f"another top-up did not end within {timeout:.0f} s") from None
        return await self.join(perform, pause=False, timeout=max(0.0, deadline - loop.time()))

    def _landed(self, flight: Flight, task: asyncio.Task[Any]) -> None:
        # Retrieved here, so an outcome every waiter gave up on is never "unretrieved".
        if task.cancelled():
            self.end(flight, ok=False, message="the top-up was cancelled")
            return
        error = task.exception()
        if error is None:
            self.end(flight, ok=True)
        else:
            self.end(flight, ok=False, message=f"{type(error).__name__}: {error}")
