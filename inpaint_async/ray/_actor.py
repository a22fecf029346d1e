"""The coordinator actor: one named async Ray actor per spender, hosting LocalCoordinators.

One actor per wallet address (or API key id) holds the spender's in-flight slots, rate window
and top-up single flight for every worker of the cluster; each run's journal and budget live in
it too, keyed by the journal's path (the actor is the journal's single writer). Ray restarts the
actor when it dies (``max_restarts=-1``) and retries the calls in flight (``max_task_retries``):
the new actor re-reads each journal on first use, so jobs journalled ``sent``, ``unknown`` or
``succeeded`` are never sent again.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import ray

from ..batch._journal import JobState
from ..coordination import Claim, LocalCoordinator, Reservation, Slot, TopUpTurn

__all__ = ["RayCoordinator", "actor_name", "coordinator_actor"]

_PREFIX = "inpaint-async-coordinator-"


def actor_name(spender: str) -> str:
    """The actor's name for a spender id (a wallet address or ``key:<hash>``: never a secret)."""
    return _PREFIX + spender


class _CoordinatorActor:
    """The actor's class (wrapped by ``ray.remote`` below); every method is async."""

    def __init__(self, spender: str) -> None:
        self._spender = spender
        self._shared = LocalCoordinator()
        self._runs: dict[str | None, LocalCoordinator] = {}

    def _run(self, journal: str | None, run_id: str | None) -> LocalCoordinator:
        run = self._runs.get(journal)
        if run is None:
            run = self._runs[journal] = LocalCoordinator(journal, run_id=run_id)
        return run

    async def acquire_slot(
        self, spender: str, max_in_flight: int | None, during_top_up: bool, holder: str
    ) -> Slot:
        return await self._shared.acquire_slot(
            spender, max_in_flight=max_in_flight, during_top_up=during_top_up, holder=holder
        )

    async def heartbeat(self, holder: str) -> None:
        self._shared.heartbeat(holder)

    async def release_slot(
        self, slot: Slot, status: int | None, headers: Mapping[str, str] | None, code: str | None
    ) -> None:
        await self._shared.release_slot(slot, status=status, headers=headers, code=code)

    async def begin_top_up(
        self, spender: str, generation: int, epoch: str, pause: bool
    ) -> TopUpTurn:
        return await self._shared.begin_top_up(
            spender, generation=generation, epoch=epoch, pause=pause
        )

    async def end_top_up(self, turn: TopUpTurn, ok: bool, message: str | None) -> None:
        await self._shared.end_top_up(turn, ok=ok, message=message)

    async def reserve(
        self, journal: str | None, run_id: str | None, amount: Decimal, budget: Decimal
    ) -> Reservation | None:
        return await self._run(journal, run_id).reserve(amount, budget_usd=budget)

    async def commit(
        self, journal: str | None, run_id: str | None, reservation: Reservation, spent: Decimal
    ) -> None:
        await self._run(journal, run_id).commit(reservation, spent)

    async def release(
        self, journal: str | None, run_id: str | None, reservation: Reservation
    ) -> None:
        await self._run(journal, run_id).release(reservation)

    async def claim(
        self,
        journal: str | None,
        run_id: str | None,
        job_id: str,
        owner: str,
        rerun: bool,
        fields: dict[str, Any] | None = None,
    ) -> Claim:
        return await self._run(journal, run_id).claim(
            job_id, owner=owner, rerun_unknown=rerun, fields=fields
        )

    async def record(
        self,
        journal: str | None,
        run_id: str | None,
        job_id: str,
        state: JobState,
        fields: dict[str, Any],
    ) -> None:
        await self._run(journal, run_id).record(job_id, state, **fields)

    async def stats(self) -> dict[str, Any]:
        """What tests and operators look at: the process, its epoch, top-ups, slots in use."""
        return {
            "pid": os.getpid(),
            "epoch": self._shared.epoch,
            "spender": self._spender,
            "top_ups": self._shared.top_ups(self._spender),
            "in_flight": self._shared.in_flight(self._spender),
            "journals": [j for j in self._runs if j is not None],
        }

    async def close_run(self, journal: str | None) -> None:
        """Close a run's journal file (the run is over); a later call opens it again."""
        run = self._runs.pop(journal, None)
        if run is not None:
            await run.aclose()


CoordinatorActor = ray.remote(_CoordinatorActor)


# Handles kept by this (driver) process: a named actor lives while a handle to it does.
_handles: dict[tuple[str, str | None], Any] = {}


def coordinator_actor(spender: str, *, namespace: str | None = None) -> Any:
    """The spender's coordinator actor: started on first use, else the running one.

    Restartable: Ray restarts it when it dies and retries the calls in flight. This process
    keeps a handle, so the actor lives as long as the process (or the Ray job) does.
    """
    handle = CoordinatorActor.options(
        name=actor_name(spender),
        namespace=namespace,
        get_if_exists=True,
        num_cpus=0,
        max_restarts=-1,
        max_task_retries=-1,
        max_concurrency=1000,
    ).remote(spender)
    _handles[(spender, namespace)] = handle
    return handle


class RayCoordinator:
    """A :class:`~inpaint_async.coordination.Coordinator` over the coordinator actor's handle.

    Args:
        handle: The actor (``coordinator_actor(spender)`` or ``ray.get_actor(name)``).
        journal: The run's journal path (reachable by the actor); ``None`` keeps the run's
            journal in the actor's memory only.
        run_id: Tags the run's journal records (the budget is recounted from them after a
            restart of the actor).
    """

    def __init__(
        self,
        handle: Any,
        *,
        journal: str | None = None,
        run_id: str | None = None,
        heartbeat_interval: float = 2.0,
    ) -> None:
        self._handle = handle
        self._journal = journal
        self._run_id = run_id
        # This process's slots are taken back by the actor when its heartbeats stop (it died).
        self._holder = secrets.token_hex(8)
        self._interval = heartbeat_interval
        self._beating: asyncio.Task[None] | None = None

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._handle.heartbeat.remote(self._holder)
            except Exception:  # the actor is restarting: the next beat reaches the new one
                continue

    async def acquire_slot(
        self, spender: str, *, max_in_flight: int | None, during_top_up: bool = False
    ) -> Slot:
        if self._beating is None or self._beating.done():
            self._beating = asyncio.get_running_loop().create_task(self._beat())
        slot: Slot = await self._handle.acquire_slot.remote(
            spender, max_in_flight, during_top_up, self._holder
        )
        return slot

    async def release_slot(
        self,
        slot: Slot,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        await self._handle.release_slot.remote(
            slot, status, dict(headers) if headers else None, code
        )

    async def begin_top_up(
        self, spender: str, *, generation: int, epoch: str, pause: bool = True
    ) -> TopUpTurn:
        turn: TopUpTurn = await self._handle.begin_top_up.remote(spender, generation, epoch, pause)
        return turn

    async def end_top_up(self, turn: TopUpTurn, *, ok: bool, message: str | None = None) -> None:
        await self._handle.end_top_up.remote(turn, ok, message)

    async def reserve(self, amount_usd: Decimal, *, budget_usd: Decimal) -> Reservation | None:
        result: Reservation | None = await self._handle.reserve.remote(
            self._journal, self._run_id, amount_usd, budget_usd
        )
        return result

    async def commit(self, reservation: Reservation, spent_usd: Decimal) -> None:
        await self._handle.commit.remote(self._journal, self._run_id, reservation, spent_usd)

    async def release(self, reservation: Reservation) -> None:
        await self._handle.release.remote(self._journal, self._run_id, reservation)

    async def claim(
        self,
        job_id: str,
        *,
        owner: str,
        rerun_unknown: bool = False,
        fields: Mapping[str, Any] | None = None,
    ) -> Claim:
        claim: Claim = await self._handle.claim.remote(
            self._journal, self._run_id, job_id, owner, rerun_unknown, dict(fields or {})
        )
        return claim

    async def record(self, job_id: str, state: JobState, **fields: Any) -> None:
        await self._handle.record.remote(self._journal, self._run_id, job_id, state, fields)
