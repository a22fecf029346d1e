"""LocalCoordinator in one process: slots, pauses, the rate window, top-ups, budget, journal."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from inpaint_async import BearerAuth, WalletAuth
from inpaint_async.coordination import Coordinator, LocalCoordinator, Slot, spender_of

W = "0x" + "ab" * 20


async def pending(awaitable: Any, wait: float = 0.05) -> asyncio.Task[Any]:
    """Start ``awaitable`` and check it is still waiting after ``wait`` seconds."""
    task = asyncio.ensure_future(awaitable)
    await asyncio.sleep(wait)
    assert not task.done()
    return task


def test_local_coordinator_is_a_coordinator() -> None:
    """The protocol is checkable at run time (the client refuses anything else)."""
    assert isinstance(LocalCoordinator(), Coordinator)


def test_spender_ids_never_contain_the_secret() -> None:
    """A wallet is its lower-case address; a key is a hash prefix."""
    key = "VENICE_INFERENCE_KEY_" + "x" * 20
    wallet = WalletAuth("0x" + "11" * 32)
    assert spender_of(wallet) == wallet.address.lower()
    sid = spender_of(BearerAuth(key))
    assert sid.startswith("key:") and key not in sid

    class Custom:
        async def headers(self, method: str, url: str) -> dict[str, str]:
            return {}

    assert spender_of(Custom()) == "auth:Custom"  # type: ignore[arg-type]


async def test_slots_are_capped_per_spender() -> None:
    """Two slots for a wallet capped at 2: the third waits until one is given back."""
    c = LocalCoordinator()
    a = await c.acquire_slot(W, max_in_flight=2)
    await c.acquire_slot(W, max_in_flight=2)
    third = await pending(c.acquire_slot(W, max_in_flight=2))
    other = await c.acquire_slot("key:0000000000000000", max_in_flight=None)  # its own slots
    assert other.spender.startswith("key:")
    await c.release_slot(a)
    await asyncio.wait_for(third, 1)
    assert c.in_flight(W) == 2
    await c.release_slot(a)  # released twice: ignored
    assert c.in_flight(W) == 2


async def test_one_top_up_leads_and_the_others_wait_then_retry() -> None:
    """Five 402s at once: one leads, four wait; new slots pause until the top-up ends."""
    c = LocalCoordinator()
    slot = await c.acquire_slot(W, max_in_flight=5)
    await c.release_slot(slot)
    turns = [
        asyncio.ensure_future(c.begin_top_up(W, generation=slot.generation, epoch=slot.epoch))
        for _ in range(5)
    ]
    await asyncio.sleep(0.02)
    leaders = [t.result() for t in turns if t.done()]
    assert [t.action for t in leaders] == ["lead"]
    blocked = await pending(c.acquire_slot(W, max_in_flight=5))
    # The leader's own requests (balance, discovery) pass the pause it holds.
    own = await asyncio.wait_for(c.acquire_slot(W, max_in_flight=5, during_top_up=True), 1)
    await c.release_slot(own)
    await c.end_top_up(leaders[0], ok=True)
    results = await asyncio.gather(*turns)
    assert sorted(t.action for t in results) == ["lead", "retry", "retry", "retry", "retry"]
    fresh = await asyncio.wait_for(blocked, 1)
    assert fresh.generation == slot.generation + 1
    assert c.top_ups(W) == 1
    # An attempt admitted before that top-up just sends again; one from another life too.
    stale = await c.begin_top_up(W, generation=slot.generation, epoch=slot.epoch)
    assert stale.action == "retry"
    other_life = await c.begin_top_up(W, generation=fresh.generation, epoch="elsewhere")
    assert other_life.action == "retry"
    await c.end_top_up(stale, ok=True)  # not the leader: ignored
    assert c.top_ups(W) == 1


async def test_a_failed_top_up_fails_its_waiters() -> None:
    """The leader's failure is every waiter's failure, with its message; nothing retries."""
    c = LocalCoordinator()
    lead = await c.begin_top_up(W, generation=0, epoch=c.epoch)
    waiter = await pending(c.begin_top_up(W, generation=0, epoch=c.epoch))
    await c.end_top_up(lead, ok=False, message="TopUpLimitError: cap")
    turn = await asyncio.wait_for(waiter, 1)
    assert (turn.action, turn.message) == ("failed", "TopUpLimitError: cap")
    assert c.top_ups(W) == 0
    again = await c.begin_top_up(W, generation=0, epoch=c.epoch)
    assert again.action == "lead"  # a refused top-up moved no money: another may lead


async def test_a_vanished_top_up_leader_stops_automatic_top_ups() -> None:
    """A leader that never reports back may have signed: waiters fail, and so does the next."""
    c = LocalCoordinator(top_up_lease=0.1)
    await c.begin_top_up(W, generation=0, epoch=c.epoch)
    turn = await c.begin_top_up(W, generation=0, epoch=c.epoch)
    assert turn.action == "failed" and "may have been signed" in (turn.message or "")
    assert (await c.begin_top_up(W, generation=0, epoch=c.epoch)).action == "failed"
    slot = await asyncio.wait_for(c.acquire_slot(W, max_in_flight=5), 1)  # not paused forever
    await c.release_slot(slot)


async def test_the_rate_window_is_shared() -> None:
    """A response saying nothing is left in the window holds every slot until its reset."""
    c = LocalCoordinator()
    slot = await c.acquire_slot(W, max_in_flight=5)
    reset_ms = str(int((time.time() + 0.3) * 1000))
    headers = {
        "x-ratelimit-limit-requests": "2",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": reset_ms,
    }
    await c.release_slot(slot, status=200, headers=headers)
    later = await pending(c.acquire_slot(W, max_in_flight=5), 0.1)
    await asyncio.wait_for(later, 2)


async def test_a_rate_limited_429_pauses_new_slots() -> None:
    """A 429 with Retry-After: no slot is handed out before it has passed."""
    c = LocalCoordinator()
    slot = await c.acquire_slot(W, max_in_flight=5)
    await c.release_slot(slot, status=429, headers={"retry-after": "1"}, code=None)
    later = await pending(c.acquire_slot(W, max_in_flight=5), 0.3)
    await asyncio.wait_for(later, 3)


async def test_slots_of_a_dead_holder_are_taken_back() -> None:
    """A worker that stops beating loses its slots after the lease, queued calls included."""
    c = LocalCoordinator(holder_lease=0.2)
    await c.acquire_slot(W, max_in_flight=2, holder="dead")
    live = await c.acquire_slot(W, max_in_flight=2, holder="live")
    queued_by_dead = asyncio.ensure_future(c.acquire_slot(W, max_in_flight=2, holder="dead"))
    await asyncio.sleep(0.01)
    waiting = asyncio.ensure_future(c.acquire_slot(W, max_in_flight=2, holder="live"))
    for _ in range(10):
        c.heartbeat("live")
        await asyncio.sleep(0.05)
    got = await asyncio.wait_for(waiting, 1)
    late = await asyncio.wait_for(queued_by_dead, 1)  # answered, but holds nothing
    assert isinstance(got, Slot) and late.spender == W
    assert c.in_flight(W) == 2  # the live holder's two slots, nothing leaked
    await c.release_slot(late)
    assert c.in_flight(W) == 2
    await c.release_slot(live)
    await c.release_slot(got)
    assert c.in_flight(W) == 0


async def test_budget_reservations_are_shared() -> None:
    """Reservations count against the budget; a full budget waits for jobs in flight."""
    c = LocalCoordinator()
    budget = Decimal("0.10")
    first = await c.reserve(Decimal("0.04"), budget_usd=budget)
    second = await c.reserve(Decimal("0.04"), budget_usd=budget)
    assert first is not None and second is not None
    third = await pending(c.reserve(Decimal("0.04"), budget_usd=budget))
    await c.release(first)  # not charged: its room comes back
    assert await asyncio.wait_for(third, 1) is not None
    await c.commit(second, Decimal("0.04"))
    fourth = await pending(c.reserve(Decimal("0.04"), budget_usd=budget))
    got = third.result()
    await c.commit(got, Decimal("0.04"))
    assert await asyncio.wait_for(fourth, 1) is None  # spent 0.08: no room, nothing in flight
    assert c.spent_usd == Decimal("0.08")
    await c.commit(got, Decimal("1"))  # committed twice: ignored
    assert c.spent_usd == Decimal("0.08")


async def test_journal_claims_gate_every_send(tmp_path: Path) -> None:
    """A claim journals `sent` durably; no second claim runs it; replay keeps the decisions."""
    path = tmp_path / "j.jsonl"
    c = LocalCoordinator(path, run_id="r1")
    assert (await c.claim("a", owner="o1")).run
    assert (await c.claim("a", owner="o1")).run  # the same claim, retried
    assert (await c.claim("a", owner="o2")).decision == "skip-unknown"
    assert (await c.claim("a", owner="o2", rerun_unknown=True)).run
    await c.record("a", "succeeded", cost_usd=Decimal("0.04"), request_id="r")
    assert (await c.claim("a", owner="o3")).decision == "skip-succeeded"
    assert (await c.claim("b", owner="o1")).run
    await c.record(
        "b", "failed", error={"type": "BadRequestError", "retryable": False, "message": "x"}
    )
    assert (await c.claim("b", owner="o2")).decision == "skip-failed"
    assert (await c.claim("c", owner="o1")).run
    await c.record("c", "failed", error={"type": "ServerError", "retryable": True})
    assert (await c.claim("c", owner="o2")).run
    await c.record("c", "unknown", cost_usd="0.04")
    assert c.entry("c") is not None and c.entry("c").state == "unknown"  # type: ignore[union-attr]
    await c.aclose()
    states = [json.loads(line)["state"] for line in path.read_text().splitlines()]
    assert states.count("sent") == 5
    # A restarted coordinator replays the file: same decisions, and this run's spend.
    again = LocalCoordinator(path, run_id="r1")
    assert (await again.claim("a", owner="o9")).decision == "skip-succeeded"
    assert (await again.claim("c", owner="o9")).decision == "skip-unknown"
    assert again.spent_usd == Decimal("0.08")
    await again.aclose()
    other_run = LocalCoordinator(path, run_id="r2")
    assert (await other_run.reserve(Decimal(1), budget_usd=Decimal(1))) is not None
    await other_run.aclose()


async def test_concurrent_claims_of_one_job_run_it_once() -> None:
    """Ten claims of one job at once (a re-executed block racing): exactly one runs."""
    c = LocalCoordinator()
    claims = await asyncio.gather(*(c.claim("j", owner=f"o{i}") for i in range(10)))
    assert sum(claim.run for claim in claims) == 1
    assert repr(c) == "LocalCoordinator(journal=None)"
