"""The adaptive limiter: AIMD on the concurrency, the rate-limit window as a request budget."""

from __future__ import annotations

import asyncio

import pytest

from inpaint_async.batch import AdaptiveLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def window(remaining: int, reset: float) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": str(remaining),
        "x-ratelimit-reset-requests": str(int(reset * 1000)),
    }


def test_grows_on_success_halves_on_429_and_respects_the_ceiling() -> None:
    """Additive increase, multiplicative decrease, never above maximum."""
    limiter = AdaptiveLimiter(initial=4, maximum=10)
    for _ in range(200):
        limiter.observe_success()
    assert limiter.limit == 10
    limiter.observe(429, {})
    assert limiter.limit == 5
    limiter.observe(429, {}, code="X402_CONCURRENCY_LIMIT")
    assert limiter.limit == 4


def test_fixed_concurrency_does_not_adapt() -> None:
    """concurrency=N stays N whatever happens."""
    limiter = AdaptiveLimiter(3)
    limiter.observe_success()
    limiter.observe(429, {})
    assert limiter.limit == 3
    with pytest.raises(ValueError, match="concurrency"):
        AdaptiveLimiter(0)


async def test_an_exhausted_window_waits_for_the_reset() -> None:
    """remaining=0: no launch until the reset moment passes; then a fresh window is unknown."""
    clock = Clock()
    limiter = AdaptiveLimiter(8, clock=clock)
    limiter.observe(200, window(0, clock.now + 2))
    assert limiter._wait_needed() == pytest.approx(2.05)
    clock.now += 2.1
    await asyncio.wait_for(limiter.acquire(), 1)
    assert limiter.in_flight == 1


def test_requests_in_flight_count_against_the_remaining_budget() -> None:
    """remaining=2 with two in flight: wait; a late answer from an older window is ignored."""
    clock = Clock()
    limiter = AdaptiveLimiter(8, clock=clock)
    limiter.in_flight = 2
    limiter.observe(200, window(2, clock.now + 3))
    assert limiter._wait_needed() == pytest.approx(3.05)
    limiter.observe(200, window(50, clock.now + 1))  # older window
    assert limiter.snapshot()["remaining"] == 2
    limiter.in_flight = 1
    assert limiter._wait_needed() == 0.0


def test_an_overload_retry_after_pauses_launches() -> None:
    """A 429 with Retry-After holds every launch for that long."""
    clock = Clock()
    limiter = AdaptiveLimiter(clock=clock)
    limiter.observe(429, {"retry-after": "3"})
    assert limiter._wait_needed() == pytest.approx(3)


def test_try_acquire_takes_a_free_slot_and_refuses_a_full_limit() -> None:
    """The launcher's no-wait path: a slot while under the limit, nothing taken at the limit."""
    limiter = AdaptiveLimiter(2)
    assert limiter.try_acquire() and limiter.try_acquire()
    assert not limiter.try_acquire()
    assert limiter.in_flight == 2
    limiter.release()
    assert limiter.try_acquire()
