"""The coordination seam: what many clients, runners and processes of one account must share.

A :class:`Coordinator` covers the state that is per process without one:

* **in-flight slots per spender** (a wallet address or a key's id), held around signing and
  sending each attempt — Venice answers a wallet's 6th concurrent request with ``429
  X402_CONCURRENCY_LIMIT``;
* **the pause** while a top-up answering a 402 runs, or while a rate-limit pause
  (``Retry-After``) lasts: no slot is handed out meanwhile;
* **the shared rate window**, fed by every response's ``x-ratelimit-*`` headers, so that several
  workers together stay inside the account's requests per minute;
* **single-flight top-ups**: the first caller that meets a wallet 402 *leads* the top-up (it
  signs, under the spend caps of the policy); every other caller waits for it and then sends
  again; a caller whose attempt left before a top-up completed just sends again;
* **budget reservation** (``reserve`` / ``commit`` / ``release``) across every runner sharing
  the coordinator;
* **the journal**: ``claim(job_id)`` decides, atomically, whether a job may be sent
  (``run``), is done (``skip-succeeded``) or may have been charged already (``skip-unknown``:
  its last record is ``sent`` or ``unknown``); a ``run`` claim writes the durable ``sent``
  record before it returns, so two claims of one job can never both run it.

:class:`LocalCoordinator` implements it in one process (asyncio, no locks across processes).
Pass one to ``InpaintClient(coordinator=...)`` and ``client.batch(..., coordinator=...)`` to
share slots, top-ups, a budget and a journal between several clients and runners of one
process. Without a coordinator, a client keeps the same mechanisms per process: the wallet's
top-up single flight and pause are a :class:`~inpaint_async.spend._flight.Flights` (the one this
coordinator keeps per spender) in the spend guard, its slots pass the same pause-aware gate, and a
runner keeps its own :class:`~inpaint_async.batch._budget.Budget` (the one this coordinator
keeps), rate window and journal. With one, the client's requests take the coordinator's
slots, and a 402 asks it which caller leads the top-up; the leader's wallet hooks perform it under
the spend ledger's caps (one top-up procedure, one ledger).
``inpaint_async.ray`` hosts a :class:`LocalCoordinator` in a named Ray actor per spender, so
the same guarantees hold across a cluster.

Every method's arguments and results are plain data (strings, numbers, ``Decimal``, frozen
dataclasses), so a coordinator can live in another process.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from ._exceptions import ConfigurationError, PaymentRequiredError, TopUpError
from .batch._budget import Budget, Reservation
from .batch._journal import (
    JobState,
    Journal,
    JournalEntry,
    ResumeDecision,
    read_journal,
    resume_decision,
)
from .batch._limiter import AdaptiveLimiter
from .spend._flight import Flights

if TYPE_CHECKING:
    from ._client import InpaintClient
    from ._wire import RawResponse
    from .auth import Auth
    from .spend import TopUpPolicy
    from .spend._hooks import AttemptTicket, WalletHooks

__all__ = [
    "Claim",
    "ClaimDecision",
    "CoordinatedHooks",
    "Coordinator",
    "LocalCoordinator",
    "Reservation",
    "Slot",
    "TopUpTurn",
    "spender_of",
]

ClaimDecision = ResumeDecision

#: Slots of a spender with no in-flight cap (an API key): effectively unbounded.
_UNBOUNDED = 1_000_000
#: Response headers a coordinator learns from (the rate window and rate-limit pauses).
_WINDOW_HEADERS = ("x-ratelimit-", "retry-after")


@dataclass(frozen=True, slots=True)
class Slot:
    """One in-flight slot of a spender, held around signing and sending one attempt.

    ``generation`` counts the spender's completed top-ups when the slot was handed out and
    ``epoch`` names the coordinator's life (a restarted coordinator starts a new one): together
    they tell whether a top-up completed after this attempt left.
    """

    spender: str
    token: str
    generation: int
    epoch: str


@dataclass(frozen=True, slots=True)
class TopUpTurn:
    """The answer to :meth:`Coordinator.begin_top_up`.

    ``action``: ``lead`` (perform the top-up, then call ``end_top_up``), ``retry`` (a top-up
    completed since the attempt left: send again) or ``failed`` (the top-up this caller waited
    for failed; ``message`` says why).
    """

    action: Literal["lead", "retry", "failed"]
    spender: str
    token: str = ""
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """The journal's decision on a job: run it, or skip it and why."""

    decision: ClaimDecision
    reason: str | None = None

    @property
    def run(self) -> bool:
        """Whether the job may be sent."""
        return self.decision == "run"


@runtime_checkable
class Coordinator(Protocol):
    """What the clients and runners of one account share. See the module docstring."""

    async def acquire_slot(
        self, spender: str, *, max_in_flight: int | None, during_top_up: bool = False
    ) -> Slot:
        """Wait out pauses and the rate window, then take one of ``spender``'s slots.

        ``during_top_up`` is set for the top-up leader's own requests: they do not wait for
        the pause their top-up holds.
        """
        ...

    async def release_slot(
        self,
        slot: Slot,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        """Give a slot back, with what the attempt's response said (feeds the rate window)."""
        ...

    async def begin_top_up(
        self, spender: str, *, generation: int, epoch: str, pause: bool = True
    ) -> TopUpTurn:
        """Lead a top-up, wait for the one in flight, or learn that one completed since."""
        ...

    async def end_top_up(self, turn: TopUpTurn, *, ok: bool, message: str | None = None) -> None:
        """The leader's top-up ended (``ok``: credited); waiters and new slots resume."""
        ...

    async def reserve(self, amount_usd: Decimal, *, budget_usd: Decimal) -> Reservation | None:
        """Reserve ``amount_usd`` of ``budget_usd``; ``None`` when the budget is reached.

        Waits while reservations in flight could still be released.
        """
        ...

    async def commit(self, reservation: Reservation, spent_usd: Decimal) -> None:
        """The reserved job was sent (succeeded or unknown): count ``spent_usd`` as spent."""
        ...

    async def release(self, reservation: Reservation) -> None:
        """The reserved job was not charged: give the reservation back."""
        ...

    async def claim(
        self,
        job_id: str,
        *,
        owner: str,
        rerun_unknown: bool = False,
        fields: Mapping[str, Any] | None = None,
    ) -> Claim:
        """Decide whether ``job_id`` may be sent; a ``run`` claim is journalled ``sent`` first.

        ``owner`` identifies this attempt to claim: the same owner claiming again (a retried
        call) gets ``run`` again instead of ``skip-unknown``. ``fields`` go into the ``sent``
        record (the output, the prompt: what a report shows).
        """
        ...

    async def record(self, job_id: str, state: JobState, **fields: Any) -> None:
        """Journal a job's outcome (``succeeded``, ``failed`` or ``unknown``), durably."""
        ...


def spender_of(auth: Auth) -> str:
    """The spender id of ``auth``: a wallet's lower-case address, or ``key:`` + a key hash.

    The spend ledger's id (:func:`inpaint_async.spend.spender_id`); it never contains a secret.
    Another kind of auth is coordinated under its class name.
    """
    from .spend import spender_id

    try:
        return spender_id(auth)
    except ConfigurationError:
        return "auth:" + type(auth).__name__


# -- the local implementation -------------------------------------------------------------------


class _Spender:
    """One spender's slots and rate window, and its top-up flights and pause.

    The flights are :class:`~inpaint_async.spend._flight.Flights`, the single flight a wallet's
    own clients use without a coordinator: one mechanism, here handing out leads.
    """

    def __init__(self, max_in_flight: int | None) -> None:
        cap = max_in_flight or _UNBOUNDED
        self.limiter = AdaptiveLimiter(cap, maximum=cap)
        self.tokens: set[str] = set()
        self.flights = Flights()
        self.failed_top_up: str | None = None


class LocalCoordinator:
    """The :class:`Coordinator` of one process (and the engine of the Ray coordinator actor).

    Args:
        journal: A JSONL journal file (the batch journal's format); it is replayed on first use
            and this coordinator is its single writer. ``None`` keeps the journal in memory.
        fsync: fsync journal records (default ``True``).
        run_id: Tags this run's journal records, so a restarted coordinator counts the spend of
            this run (and only this run) against the budget again.
        top_up_lease: Seconds a top-up leader may take before its waiters give up; a vanished
            leader may have signed, so further top-ups are then refused.
        holder_lease: Seconds without a :meth:`heartbeat` after which the slots of a *holder*
            (a worker process that passed ``holder=``) are taken back: a killed worker never
            returns its slots itself.
    """

    def __init__(
        self,
        journal: str | os.PathLike[str] | None = None,
        *,
        fsync: bool = True,
        run_id: str | None = None,
        top_up_lease: float = 600.0,
        holder_lease: float = 10.0,
    ) -> None:
        self.epoch = secrets.token_hex(8)
        self.journal_path = Path(journal).resolve() if journal is not None else None
        self.run_id = run_id
        self._fsync = fsync
        self._top_up_lease = top_up_lease
        self._spenders: dict[str, _Spender] = {}
        self._holder_lease = holder_lease
        self._heartbeats: dict[str, float] = {}
        self._holders: dict[str, tuple[str, str]] = {}  # slot token -> (spender, holder)
        self._dead: set[str] = set()  # holders whose heartbeats stopped
        self._reaper: asyncio.Task[None] | None = None
        self._journal: Journal | None = None
        self._entries: dict[str, JournalEntry] = {}
        self._opened = False
        self._open_lock: asyncio.Lock | None = None
        self._budget = Budget()

    def __repr__(self) -> str:
        return (
            f"LocalCoordinator(journal={str(self.journal_path) if self.journal_path else None!r})"
        )

    # -- slots, pauses, the rate window -----------------------------------------------------------

    def _spender(self, spender: str, max_in_flight: int | None = None) -> _Spender:
        state = self._spenders.get(spender)
        if state is None:
            state = self._spenders[spender] = _Spender(max_in_flight)
        return state

    async def acquire_slot(
        self,
        spender: str,
        *,
        max_in_flight: int | None,
        during_top_up: bool = False,
        holder: str | None = None,
    ) -> Slot:
        """See :meth:`Coordinator.acquire_slot`; ``holder`` names the process (see ``heartbeat``)."""
        state = self._spender(spender, max_in_flight)
        if holder is not None:
            self.heartbeat(holder)
        await state.flights.admit(
            state.limiter.acquire, state.limiter.release, during_top_up=during_top_up
        )
        token = secrets.token_hex(8)
        if holder is not None and holder in self._dead:
            # A call queued by a process that died meanwhile: its answer goes nowhere, so the
            # slot goes straight back (were it alive after all, its release is ignored).
            state.limiter.release()
            return Slot(spender, token, state.flights.generation, self.epoch)
        state.tokens.add(token)
        if holder is not None:
            self._holders[token] = (spender, holder)
        return Slot(spender, token, state.flights.generation, self.epoch)

    def heartbeat(self, holder: str) -> None:
        """``holder`` is alive: its slots stay held for another ``holder_lease`` seconds."""
        self._heartbeats[holder] = time.monotonic()
        self._dead.discard(holder)
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap())

    async def _reap(self) -> None:
        """Take back the slots of holders that stopped beating (a killed worker)."""
        while self._holders:
            await asyncio.sleep(self._holder_lease / 4)
            now = time.monotonic()
            dead = {h for h, seen in self._heartbeats.items() if now - seen > self._holder_lease}
            for holder in dead:
                self._heartbeats.pop(holder, None)
            self._dead |= dead
            for token, (spender, holder) in list(self._holders.items()):
                if holder in self._dead or holder not in self._heartbeats:
                    await self.release_slot(Slot(spender, token, 0, self.epoch))

    async def release_slot(
        self,
        slot: Slot,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        """See :meth:`Coordinator.release_slot`."""
        state = self._spenders.get(slot.spender)
        if state is None or slot.token not in state.tokens:
            return  # a slot of an earlier life of this coordinator, or released already
        state.tokens.discard(slot.token)
        self._holders.pop(slot.token, None)
        state.limiter.release()
        if status is not None:
            state.limiter.observe(status, headers or {}, code=code)

    def in_flight(self, spender: str) -> int:
        """Slots of ``spender`` held now."""
        state = self._spenders.get(spender)
        return 0 if state is None else state.limiter.in_flight

    # -- top-ups ----------------------------------------------------------------------------------

    async def begin_top_up(
        self, spender: str, *, generation: int, epoch: str, pause: bool = True
    ) -> TopUpTurn:
        """See :meth:`Coordinator.begin_top_up`."""
        state = self._spender(spender)
        flights = state.flights
        if epoch != self.epoch or generation < flights.generation:
            # A top-up completed after this attempt left (or the coordinator restarted and
            # cannot tell): send again before paying again.
            return TopUpTurn("retry", spender)
        if state.failed_top_up is not None:
            return TopUpTurn("failed", spender, message=state.failed_top_up)
        lead = flights.lead(pause=pause)
        if lead is not None:
            return TopUpTurn("lead", spender, lead.token)
        current = flights.current
        assert current is not None
        try:
            await flights.wait(current, self._top_up_lease)
        except TimeoutError:
            flights.end(
                current,
                ok=False,
                message="the top-up leader did not report back in time; its payment may have "
                "been signed, so no further automatic top-up is made",
            )
            state.failed_top_up = current.message
        if current.ok:
            return TopUpTurn("retry", spender)
        return TopUpTurn("failed", spender, message=current.message)

    async def end_top_up(self, turn: TopUpTurn, *, ok: bool, message: str | None = None) -> None:
        """See :meth:`Coordinator.end_top_up`."""
        state = self._spenders.get(turn.spender)
        current = state.flights.current if state is not None else None
        if state is None or current is None or current.token != turn.token:
            return
        state.flights.end(current, ok=ok, message=message)

    def top_ups(self, spender: str) -> int:
        """Top-ups of ``spender`` completed through this coordinator."""
        state = self._spenders.get(spender)
        return 0 if state is None else state.flights.completed

    # -- the budget -------------------------------------------------------------------------------

    async def reserve(self, amount_usd: Decimal, *, budget_usd: Decimal) -> Reservation | None:
        """See :meth:`Coordinator.reserve`."""
        await self._open()
        return await self._budget.reserve(amount_usd, budget_usd=budget_usd)

    async def commit(self, reservation: Reservation, spent_usd: Decimal) -> None:
        """See :meth:`Coordinator.commit`."""
        self._budget.commit(reservation, spent_usd)

    async def release(self, reservation: Reservation) -> None:
        """See :meth:`Coordinator.release`."""
        self._budget.release(reservation)

    @property
    def spent_usd(self) -> Decimal:
        """What committed reservations (and, after a restart, this run's journal) spent."""
        return self._budget.spent_usd

    # -- the journal ------------------------------------------------------------------------------

    async def _open(self) -> None:
        if self._opened:
            return
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            if self._opened:
                return
            path = self.journal_path
            if path is not None:
                self._entries = await asyncio.to_thread(read_journal, path)
                if self.run_id is not None:
                    spent = await asyncio.to_thread(_run_spend, path, self.run_id)
                    self._budget.spent_usd = spent
                self._journal = Journal(path, fsync=self._fsync).open()
            self._opened = True

    async def claim(
        self,
        job_id: str,
        *,
        owner: str,
        rerun_unknown: bool = False,
        fields: Mapping[str, Any] | None = None,
    ) -> Claim:
        """See :meth:`Coordinator.claim`."""
        await self._open()
        prior = self._entries.get(job_id)
        if prior is not None and prior.state == "sent" and prior.record.get("owner") == owner:
            return Claim("run")  # the same claim, asked again (a retried call)
        decision, reason = resume_decision(prior, rerun_unknown=rerun_unknown)
        if decision != "run":
            return Claim(decision, reason)
        # Decided and recorded before the first await: no other claim can interleave.
        await self._write(job_id, "sent", **{**(fields or {}), "owner": owner})
        return Claim("run")

    async def record(self, job_id: str, state: JobState, **fields: Any) -> None:
        """See :meth:`Coordinator.record`."""
        await self._open()
        await self._write(job_id, state, **fields)

    async def _write(self, job_id: str, state: JobState, **fields: Any) -> None:
        if self.run_id is not None:
            fields.setdefault("run", self.run_id)
        record: dict[str, Any] = {"job": job_id, "state": state}
        record.update({k: v for k, v in fields.items() if v is not None})
        self._entries[job_id] = JournalEntry(job_id, state, record)
        journal = self._journal
        if journal is not None:
            await journal.append(job_id, state, **fields)

    def entry(self, job_id: str) -> JournalEntry | None:
        """The last state recorded for ``job_id``."""
        return self._entries.get(job_id)

    async def aclose(self) -> None:
        """Close the journal file."""
        journal, self._journal = self._journal, None
        if journal is not None:
            await journal.sync()
            journal.close()
        self._opened = False


def _run_spend(path: Path, run_id: str) -> Decimal:
    """The spend journalled by run ``run_id``: the cost of its succeeded and unknown jobs."""
    spent = Decimal(0)
    if not path.exists():
        return spent
    final: dict[str, dict[str, Any]] = {}
    for line in path.read_bytes().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("run") == run_id:
            final[str(record.get("job"))] = record
    for record in final.values():
        if record.get("state") in ("succeeded", "unknown") and record.get("cost_usd"):
            spent += Decimal(str(record["cost_usd"]))
    return spent


# -- the client side: the client's hooks over any coordinator ---------------------------------

# The slot of the task's last attempt (read by the 402 hook: was a top-up completed since?).
_last_slot: contextvars.ContextVar[Slot | None] = contextvars.ContextVar(
    "inpaint_async_coordinated_last_slot", default=None
)


def _rate_code(raw: RawResponse) -> str | None:
    if raw.status != 429 or not raw.content:
        return None
    try:
        body = json.loads(raw.content)
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


class CoordinatedHooks:
    """A client's request hooks with a coordinator (installed by ``InpaintClient(coordinator=)``).

    Each authenticated attempt holds one of the coordinator's slots (after its pauses and its rate
    window) and gives it back with the answer's status and rate-limit headers. A wallet's own
    hooks (:class:`~inpaint_async.spend._hooks.WalletHooks`: the spend ledger, its caps and the
    top-up procedure) still track the balance and perform a top-up; the coordinator decides
    *which* caller performs it, so one top-up runs at a time across every process.
    """

    def __init__(
        self,
        coordinator: Coordinator,
        spender: str,
        max_in_flight: int | None,
        wallet: WalletHooks | None,
    ) -> None:
        self._coordinator = coordinator
        self._spender = spender
        self._max_in_flight = max_in_flight
        self._wallet = wallet
        self._answers: dict[int, RawResponse] = {}

    def __getattr__(self, name: str) -> Any:
        # Everything else (the ledger, manual top-ups, the guard) is the wallet's own.
        wallet = self.__dict__.get("_wallet")
        if wallet is None:
            raise AttributeError(name)
        return getattr(wallet, name)

    @property
    def paused(self) -> bool:
        """Never: the coordinator holds new attempts back itself (``acquire_slot``)."""
        return False

    @property
    def edit_cap(self) -> Decimal | None:
        """The wallet's daily edit-spend cap (``None`` for an API key)."""
        return self._wallet.edit_cap if self._wallet is not None else None

    async def wait_resumed(self) -> None:
        """Nothing to wait for here: the coordinator's slots wait out its pauses."""

    @asynccontextmanager
    async def attempt(self, ticket: AttemptTicket) -> AsyncIterator[None]:
        """Around one authenticated attempt: one of the coordinator's slots."""
        coordinator = self._coordinator
        slot = await coordinator.acquire_slot(
            self._spender, max_in_flight=self._max_in_flight, during_top_up=ticket.internal
        )
        _last_slot.set(slot)
        ticket.sent_at = time.time()
        try:
            yield
        finally:
            raw = self._answers.pop(id(ticket), None)
            if raw is None:
                release = coordinator.release_slot(slot)
            else:
                headers = {
                    k.lower(): v
                    for k, v in raw.headers.items()
                    if k.lower().startswith(_WINDOW_HEADERS)
                }
                release = coordinator.release_slot(
                    slot, status=raw.status, headers=headers, code=_rate_code(raw)
                )
            # Shielded: a cancelled attempt must still give its slot back.
            await asyncio.shield(release)

    def observe(self, raw: RawResponse, ticket: AttemptTicket) -> None:
        """Keep the answer for the slot's release; the wallet tracks its balance."""
        self._answers[id(ticket)] = raw
        if self._wallet is not None:
            self._wallet.observe(raw, ticket)

    async def payment_required(
        self, exc: PaymentRequiredError, topped_up: int, ticket: AttemptTicket
    ) -> bool:
        """A 402: the coordinator picks one leader; the wallet's hooks perform its top-up."""
        wallet = self._wallet
        if wallet is None or not wallet.tops_up(exc, topped_up, ticket):
            return False
        slot = _last_slot.get()
        coordinator = self._coordinator
        turn = await coordinator.begin_top_up(
            self._spender,
            generation=slot.generation if slot is not None else -1,
            epoch=slot.epoch if slot is not None else "",
        )
        if turn.action == "retry":
            return True
        if turn.action == "failed":
            raise TopUpError(f"the wallet's top-up failed: {turn.message}") from exc
        try:
            # The spend ledger checks the caps and records the signature before it leaves.
            resend = await wallet.payment_required(exc, topped_up, ticket)
        except BaseException as err:
            message = f"{type(err).__name__}: {err}"
            await asyncio.shield(coordinator.end_top_up(turn, ok=False, message=message))
            raise
        await coordinator.end_top_up(
            turn, ok=resend, message=None if resend else "the wallet's policy did not top up"
        )
        return resend


def install(client: InpaintClient, coordinator: Coordinator, policy: TopUpPolicy | None) -> None:
    """Wire ``client`` to ``coordinator``: its request hooks (slots, and top-ups for a wallet)."""
    if not isinstance(coordinator, Coordinator):
        raise ConfigurationError(
            "coordinator must implement inpaint_async.coordination.Coordinator "
            f"(LocalCoordinator, RayCoordinator), not {type(coordinator).__name__}"
        )
    from .auth.wallet import WalletAuth
    from .spend._hooks import WalletHooks

    auth = client.auth
    wallet: WalletHooks | None = None
    if isinstance(auth, WalletAuth):
        wallet = WalletHooks(client, auth, policy, client._transport)
    cap = getattr(auth, "max_in_flight", None)
    client._wallet_hooks = CoordinatedHooks(  # type: ignore[assignment]
        coordinator, spender_of(auth), cap if isinstance(cap, int) else None, wallet
    )
