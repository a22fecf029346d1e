"""The default path and the coordinator share one single flight and one budget mechanism."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from inpaint_async import TopUpError
from inpaint_async.batch._budget import Budget, Reservation
from inpaint_async.coordination import LocalCoordinator
from inpaint_async.spend import open_ledger
from inpaint_async.spend._flight import Flights
from inpaint_async.spend._topup import guard_for

W = "0x" + "ab" * 20


async def test_every_caller_of_a_flight_gets_its_error_and_a_waiter_giving_up_keeps_it() -> None:
    flights = Flights()
    release = asyncio.Event()
    runs = 0

    async def perform() -> None:
        nonlocal runs
        runs += 1
        await release.wait()
        raise TopUpError("refused")

    first = asyncio.ensure_future(flights.join(perform, pause=True, timeout=5))
    await asyncio.sleep(0)
    assert flights.busy and flights.paused
    with pytest.raises(TopUpError, match="did not end within"):
        await flights.join(perform, pause=True, timeout=0.01)  # gives up; the flight goes on
    second = asyncio.ensure_future(flights.join(perform, pause=True, timeout=5))
    release.set()
    for waiter in (first, second):
        with pytest.raises(TopUpError, match="refused"):
            await waiter
    assert runs == 1 and not flights.busy and not flights.paused and flights.generation == 0


async def test_a_lead_handed_out_by_the_coordinator_holds_a_local_join() -> None:
    """A LocalCoordinator's lead and an in-process join meet in the same flight state."""
    flights = Flights()
    lead = flights.lead(pause=True)
    assert lead is not None and flights.lead(pause=False) is None
    waiter = asyncio.ensure_future(flights.join(lambda: asyncio.sleep(0), pause=True, timeout=5))
    await asyncio.sleep(0)
    flights.end(lead, ok=True)
    await waiter  # completed elsewhere: returns, nothing signed here
    assert flights.generation == 1 and flights.completed == 1


async def test_the_guard_flights_are_per_event_loop_and_the_coordinator_uses_the_same_kind() -> (
    None
):
    guard = guard_for(open_ledger(W))
    assert isinstance(guard.flights, Flights)
    assert guard.flights is guard.flights
    coordinator = LocalCoordinator(journal=None)
    turn = await coordinator.begin_top_up(W, generation=0, epoch=coordinator.epoch)
    assert turn.action == "lead"
    await coordinator.end_top_up(turn, ok=True)
    assert coordinator.top_ups(W) == 1


async def test_budget_reserve_commit_release() -> None:
    budget = Budget()
    first = budget.try_reserve(Decimal("0.4"), budget_usd=Decimal(1))
    assert isinstance(first, Reservation)
    second = budget.try_reserve(Decimal("0.4"), budget_usd=Decimal(1))
    assert isinstance(second, Reservation)
    assert budget.try_reserve(Decimal("0.4"), budget_usd=Decimal(1)) is True  # could come back
    waiting = asyncio.ensure_future(budget.reserve(Decimal("0.4"), budget_usd=Decimal(1)))
    await asyncio.sleep(0)
    assert not waiting.done()
    budget.release(second)
    third = await waiting
    assert third is not None
    budget.commit(first, Decimal("0.4"))
    budget.commit(first, Decimal("0.4"))  # once per reservation
    budget.commit(third, Decimal("0.4"))
    budget.release(third)  # settled already: a no-op
    assert budget.spent_usd == Decimal("0.8")
    assert budget.try_reserve(Decimal("0.4"), budget_usd=Decimal(1)) is False
    assert await budget.reserve(Decimal("0.4"), budget_usd=Decimal(1)) is None
