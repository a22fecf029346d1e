"""Adaptive concurrency: how many edits a batch may have in flight, and when it may launch more.

Two controls work together:

* **the concurrency limit** (AIMD, like TCP): it starts modest, grows by about one slot per
  ``limit`` successes, halves on a 429 and drops by one on the wallet's in-flight cap
  (``X402_CONCURRENCY_LIMIT``). ``concurrency=N`` fixes it instead. It never exceeds ``maximum``
  (the runner passes the wallet's in-flight cap, 5, for wallet auth).
* **the request budget of the rate-limit window**: every response's
  ``x-ratelimit-remaining-requests`` and ``x-ratelimit-reset-requests`` are observed. Within one
  window (one reset moment) the smallest ``remaining`` seen is the server's count; requests in
  flight may already be counted in it or not, so the limiter counts them against it again
  (conservative, exact once they are back). When nothing is left the limiter waits for the reset
  moment. A 429 with ``Retry-After`` (overload) pauses launches for that long.

No header can stall a batch for ever: every server-directed pause is capped at ``max_pause``
(the client's ``RetryPolicy.max_retry_after``), a reset moment further away is treated as
``max_pause`` from now, and an exhausted window that names no reset moment gets a timer
(``unknown_reset_wait``) instead of waiting for an answer that nothing in flight will bring.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from .._constants import H_RL_LIMIT, H_RL_REMAINING, H_RL_RESET
from .._exceptions import ValidationError
from .._headers import parse_count, parse_reset, parse_retry_after

__all__ = ["AdaptiveLimiter"]

#: Extra wait after the server's reset moment, for clock skew between us and the server.
RESET_MARGIN = 0.05
#: Wait when the window is used up and the server named no reset moment (its windows are minutes).
UNKNOWN_RESET_WAIT = 60.0


class AdaptiveLimiter:
    """Gatekeeper of a batch's launches. ``await acquire()`` before a job, ``release()`` after.

    Args:
        concurrency: ``"auto"`` for the adaptive limit, or a fixed number of jobs in flight.
        initial: The adaptive limit's start.
        maximum: The adaptive (or fixed) limit's ceiling.
        clock: Wall-clock seconds (the server's reset moments are wall-clock).
        max_pause: Longest pause a server's headers may impose (``Retry-After``, a reset moment).
        unknown_reset_wait: Pause when the window is used up and no reset moment is known
            (capped at ``max_pause``).
    """

    def __init__(
        self,
        concurrency: int | str = "auto",
        *,
        initial: int = 4,
        maximum: int = 64,
        clock: Callable[[], float] = time.time,
        max_pause: float = 120.0,
        unknown_reset_wait: float = UNKNOWN_RESET_WAIT,
    ) -> None:
        if concurrency == "auto":
            self.adaptive = True
            self._limit = float(max(1, min(initial, maximum)))
        elif isinstance(concurrency, int) and not isinstance(concurrency, bool) and concurrency > 0:
            self.adaptive = False
            self._limit = float(min(concurrency, maximum))
        else:
            raise ValidationError(
                f"concurrency must be 'auto' or a positive integer, not {concurrency!r}",
                param="concurrency",
            )
        self.maximum = maximum
        self.max_pause = max(0.0, max_pause)
        self.unknown_reset_wait = min(max(0.0, unknown_reset_wait), self.max_pause)
        self._clock = clock
        self.in_flight = 0
        self._window_reset: float | None = None  # the server's reset moment (Unix seconds)
        self._window_remaining: int | None = None
        self._paused_until = 0.0
        self._changed = asyncio.Event()

    @property
    def limit(self) -> int:
        """The current concurrency limit."""
        return max(1, int(self._limit))

    # -- the gate -----------------------------------------------------------------------------

    def _wait_needed(self) -> float | None:
        """Seconds to sleep before a launch, 0 when one may go now, ``None`` to wait for a change."""
        now = self._clock()
        if now < self._paused_until:
            return self._paused_until - now
        if self._window_reset is not None and now >= self._window_reset + RESET_MARGIN:
            self._window_reset = None  # a new window: its budget is unknown until a response
            self._window_remaining = None
        if self.in_flight >= self.limit:
            return None
        if self._window_remaining is not None and self._window_remaining - self.in_flight <= 0:
            if self._window_reset is None:
                return None
            return max(0.0, self._window_reset + RESET_MARGIN - now)
        return 0.0

    def try_acquire(self) -> bool:
        """Count one more job in flight if one may be launched now, without waiting."""
        if self._wait_needed() == 0.0:
            self.in_flight += 1
            return True
        return False

    async def acquire(self) -> None:
        """Wait until one more job may be launched, then count it in flight."""
        while True:
            wait = self._wait_needed()
            if wait == 0.0:
                self.in_flight += 1
                return
            self._changed.clear()
            if wait is None:
                await self._changed.wait()
            else:
                try:
                    async with asyncio.timeout(wait):
                        await self._changed.wait()
                except TimeoutError:
                    pass

    def release(self) -> None:
        """A job has ended (whatever its outcome)."""
        self.in_flight -= 1
        self._changed.set()

    def _notify(self) -> None:
        self._changed.set()

    # -- feedback -----------------------------------------------------------------------------

    def observe(self, status: int, headers: Mapping[str, str], *, code: Any = None) -> None:
        """Learn from one response (any attempt of any job): its status and rate-limit headers."""
        now = self._clock()
        self._observe_window(headers, now)
        if status == 429:
            if code == "X402_CONCURRENCY_LIMIT":
                if self.adaptive:
                    self._limit = max(1.0, self._limit - 1)
            else:
                if self.adaptive:
                    self._limit = max(1.0, self._limit / 2)
                wait = parse_retry_after(headers, now)
                if wait is not None:
                    wait = min(wait, self.max_pause)
                    self._paused_until = max(self._paused_until, now + wait)
        self._notify()

    def observe_success(self) -> None:
        """A job succeeded: grow the adaptive limit by about one slot per ``limit`` successes."""
        if self.adaptive:
            self._limit = min(float(self.maximum), self._limit + 1 / self._limit)
            self._notify()

    def _observe_window(self, headers: Mapping[str, str], now: float) -> None:
        if headers.get(H_RL_LIMIT) is None and headers.get(H_RL_REMAINING) is None:
            return
        reset = parse_reset(headers.get(H_RL_RESET), now)
        remaining = parse_count(headers.get(H_RL_REMAINING))
        if remaining is None:
            return
        reset_ts = reset.timestamp() if reset is not None else None
        if reset_ts is not None and reset_ts + RESET_MARGIN <= now:
            return  # an answer from a window that has already ended
        if reset_ts is not None and reset_ts > now + self.max_pause:
            reset_ts = now + self.max_pause  # a reset beyond the cap is waited for only that long
        if reset_ts is None and remaining == 0:
            reset_ts = now + self.unknown_reset_wait  # exhausted, no reset named: a timer
        if reset_ts != self._window_reset:
            old = self._window_reset
            if old is not None and reset_ts is not None and reset_ts < old:
                return  # a late answer from an older window
            self._window_reset = reset_ts
            self._window_remaining = remaining
        else:
            current = self._window_remaining
            self._window_remaining = remaining if current is None else min(current, remaining)

    def snapshot(self) -> dict[str, Any]:
        """The limiter's state, for progress reports."""
        return {
            "limit": self.limit,
            "in_flight": self.in_flight,
            "remaining": self._window_remaining,
            "reset_at": self._window_reset,
            "paused_until": self._paused_until if self._paused_until > self._clock() else None,
        }
