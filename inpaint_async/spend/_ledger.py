"""The spend ledger: one spender's signed authorizations, edit spend, caps and top-up gate.

The logic lives once, in :class:`SpendLedger`; where the rows live is a *store*: in memory
(:class:`MemoryStore`) or a SQLite file (:class:`~inpaint_async.spend._sqlite.SqliteStore`).
Every operation is one transaction of the store (``BEGIN IMMEDIATE`` for SQLite), so a check and
the write it allows can never interleave with another client's, in this process or another.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Protocol, TypeVar

from .._exceptions import (
    LedgerError,
    SettlementPendingError,
    SpendCapError,
    TopUpError,
    TopUpLimitError,
    ValidationError,
)
from ._records import (
    KIND_AUTO,
    AuthorizationRecord,
    EditReservation,
    Outcome,
    SpendCaps,
    SpendStatus,
    TopUpGateState,
    TopUpLease,
)

__all__ = ["DAY_SECONDS", "MemoryStore", "SpendLedger", "Store", "Transaction"]

T = TypeVar("T")

#: The rolling window of the per-day caps.
DAY_SECONDS = 86_400.0

_ZERO = Decimal(0)


class Transaction(Protocol):
    """What a store offers inside one transaction (synchronous, already serialized)."""

    def authorizations(self) -> list[AuthorizationRecord]:
        """Every recorded authorization, oldest first."""
        ...

    def insert_authorization(self, record: AuthorizationRecord) -> None:
        """Add a record; a nonce already present raises :class:`LedgerError`."""
        ...

    def set_outcome(self, nonce: str, outcome: Outcome, at: float) -> bool:
        """Set a record's outcome; ``False`` when the nonce is unknown."""
        ...

    def edit_sums(self, since: float) -> tuple[Decimal, Decimal]:
        """(committed spend, open reservations) of edits reserved at or after ``since``."""
        ...

    def insert_edit(self, label: str, amount: Decimal, at: float) -> int:
        """Add an open reservation; return its id."""
        ...

    def finish_edit(self, edit_id: int, state: str, spent: Decimal, at: float) -> bool:
        """Close an open reservation as ``committed``/``released``; ``False`` if not open."""
        ...

    def gate(self) -> TopUpGateState:
        """The top-up gate."""
        ...

    def set_gate(self, state: TopUpGateState) -> None:
        """Replace the top-up gate."""
        ...


class Store(Protocol):
    """Where a ledger's rows live."""

    path: Path | None

    async def run(self, fn: Callable[[Transaction], T]) -> T:
        """Run ``fn`` as one serialized transaction (rolled back if it raises)."""
        ...

    def close(self) -> None:
        """Release the store's resources."""
        ...


@dataclass
class _Edit:
    label: str
    amount: Decimal
    at: float
    state: str = "reserved"
    spent: Decimal = _ZERO


class _MemoryTransaction:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def authorizations(self) -> list[AuthorizationRecord]:
        return list(self._s.auths.values())

    def insert_authorization(self, record: AuthorizationRecord) -> None:
        if record.nonce in self._s.auths:
            raise LedgerError("this authorization nonce is already recorded")
        self._s.auths[record.nonce] = record

    def set_outcome(self, nonce: str, outcome: Outcome, at: float) -> bool:
        record = self._s.auths.get(nonce)
        if record is None:
            return False
        self._s.auths[nonce] = replace(record, outcome=outcome, outcome_at=at)
        return True

    def edit_sums(self, since: float) -> tuple[Decimal, Decimal]:
        spent = reserved = _ZERO
        for edit in self._s.edits.values():
            if edit.at < since:
                continue
            if edit.state == "committed":
                spent += edit.spent
            elif edit.state == "reserved":
                reserved += edit.amount
        return spent, reserved

    def insert_edit(self, label: str, amount: Decimal, at: float) -> int:
        self._s.next_edit += 1
        self._s.edits[self._s.next_edit] = _Edit(label, amount, at)
        return self._s.next_edit

    def finish_edit(self, edit_id: int, state: str, spent: Decimal, at: float) -> bool:
        edit = self._s.edits.get(edit_id)
        if edit is None or edit.state != "reserved":
            return False
        edit.state = state
        edit.spent = spent
        return True

    def gate(self) -> TopUpGateState:
        return self._s.gate_state

    def set_gate(self, state: TopUpGateState) -> None:
        self._s.gate_state = state


class MemoryStore:
    """Rows in this process's memory: gone when the process ends (the library's default)."""

    path: Path | None = None

    def __init__(self) -> None:
        self.auths: dict[str, AuthorizationRecord] = {}
        self.edits: dict[int, _Edit] = {}
        self.next_edit = 0
        self.gate_state = TopUpGateState(None, 0.0, 0, None)
        # A threading lock, not an asyncio one: the process-wide ledger may serve several loops.
        self._lock = threading.Lock()

    async def run(self, fn: Callable[[Transaction], T]) -> T:
        # Every transaction of the ledger checks before it writes, so a refusal leaves nothing
        # to roll back.
        with self._lock:
            return fn(_MemoryTransaction(self))

    def close(self) -> None:
        """Nothing to release."""


def _usd(value: Decimal | int | str, name: str) -> Decimal:
    if isinstance(value, bool | float):
        raise ValidationError(f"{name} must be a Decimal, int or str amount", param=name)
    try:
        amount = Decimal(value)
    except (InvalidOperation, ValueError, TypeError):
        raise ValidationError(f"{name} is not a number: {value!r}", param=name) from None
    if not amount.is_finite() or amount < 0:
        raise ValidationError(f"{name} must be a finite amount of at least 0", param=name)
    return amount


class SpendLedger:
    """One spender's money state: signed authorizations, edit spend, caps, the top-up gate.

    Get one with :func:`~inpaint_async.spend.open_ledger`; every client of one spender in a
    process shares the same object (and every process sharing its file shares its rows).

    Caps registered with :meth:`register_caps` only ever tighten (the strictest of every
    policy in use in this process applies); the caps a caller passes to a check tighten them
    further for that check. Caps count what was *signed* (top-ups) or *sent* (edits), never what
    a server answered.
    """

    def __init__(
        self, spender: str, store: Store, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._spender = spender
        self._store = store
        self._clock = clock
        self._caps = SpendCaps()
        self._caps_lock = threading.Lock()

    def __repr__(self) -> str:
        where = str(self._store.path) if self._store.path is not None else "memory"
        return f"SpendLedger(spender={self._spender!r}, at={where!r})"

    @property
    def spender(self) -> str:
        """The spender id this ledger belongs to."""
        return self._spender

    @property
    def path(self) -> Path | None:
        """The ledger file, or ``None`` for the in-memory ledger."""
        return self._store.path

    # -- caps -------------------------------------------------------------------------------------

    @property
    def caps(self) -> SpendCaps:
        """The strictest caps registered in this process."""
        return self._caps

    def register_caps(self, caps: SpendCaps) -> SpendCaps:
        """Add a policy's caps; the strictest of each applies from now on. Returns them."""
        with self._caps_lock:
            self._caps = self._caps.strictest(caps)
            return self._caps

    # -- edit spend -------------------------------------------------------------------------------

    async def reserve_edit(
        self,
        amount_usd: Decimal | int | str,
        *,
        max_per_day_usd: Decimal | int | str | None = None,
        label: str = "",
    ) -> EditReservation:
        """Hold ``amount_usd`` for one paid edit, or refuse before anything is sent.

        Raises:
            SpendCapError: rolling-24 h committed edit spend + open reservations + ``amount_usd``
                would exceed the cap (the stricter of ``max_per_day_usd`` and the registered
                ``max_edit_spend_per_day_usd``). Nothing is recorded.
            ValidationError: a negative or non-finite amount.
        """
        amount = _usd(amount_usd, "amount_usd")
        cap = self._caps.strictest(
            SpendCaps(
                max_edit_spend_per_day_usd=(
                    None if max_per_day_usd is None else _usd(max_per_day_usd, "max_per_day_usd")
                )
            )
        ).max_edit_spend_per_day_usd
        now = self._clock()

        def tx(t: Transaction) -> int:
            spent, reserved = t.edit_sums(now - DAY_SECONDS)
            if cap is not None and spent + reserved + amount > cap:
                raise SpendCapError(
                    f"this edit (${amount}) would bring the last 24 hours' edit spend to "
                    f"${spent + reserved + amount}, above max_edit_spend_per_day_usd=${cap}; "
                    "nothing was sent",
                    cap_name="max_edit_spend_per_day_usd",
                    cap_usd=cap,
                    spent_usd=spent + reserved,
                    requested_usd=amount,
                )
            return t.insert_edit(label, amount, now)

        edit_id = await self._store.run(tx)
        return EditReservation(id=edit_id, amount_usd=amount, label=label, reserved_at=now)

    async def commit_edit(
        self, reservation: EditReservation, spent_usd: Decimal | int | str
    ) -> None:
        """The edit was sent: count ``spent_usd`` (an unknown outcome is committed as spent).

        Committing or releasing a reservation a second time changes nothing.
        """
        spent = _usd(spent_usd, "spent_usd")
        now = self._clock()
        await self._store.run(lambda t: t.finish_edit(reservation.id, "committed", spent, now))

    async def release_edit(self, reservation: EditReservation) -> None:
        """Nothing was sent, or the edit was definitely not charged: free the room."""
        now = self._clock()
        await self._store.run(lambda t: t.finish_edit(reservation.id, "released", _ZERO, now))

    # -- signed authorizations --------------------------------------------------------------------

    async def check_authorization(
        self, kind: str, amount_usd: Decimal, *, caps: SpendCaps | None = None
    ) -> None:
        """Raise now what :meth:`record_authorization` would raise for such a payment.

        A top-up calls it before discovering anything, so that a refusal costs no request; the
        binding check is the one :meth:`record_authorization` makes atomically with the write.
        """
        now = self._clock()
        effective = self._effective(kind, caps)
        amount = _usd(amount_usd, "amount_usd")
        await self._store.run(lambda t: _check_signing(t, kind, amount, effective, now))

    async def record_authorization(
        self,
        record: AuthorizationRecord,
        *,
        caps: SpendCaps | None = None,
        lease: TopUpLease | None = None,
    ) -> None:
        """Record a signed authorization *before* it is sent, if the caps allow it.

        For an automatic top-up (``record.kind == "auto"``) the strictest of the registered caps
        and ``caps`` is checked against what automatic top-ups have already signed (all of it,
        whatever the server answered), and no earlier automatic authorization may still be open
        (sent, outcome unknown, not expired). A manual top-up is checked against ``caps`` only,
        counting every signature. With ``lease``, the caller must still hold the top-up gate.

        Raises:
            TopUpLimitError: a cap would be exceeded; the payment must not be sent.
            SettlementPendingError: an earlier automatic top-up may still settle.
            TopUpError: the lease was lost (it expired and another holder took the gate).
        """
        now = self._clock()
        effective = self._effective(record.kind, caps)

        def tx(t: Transaction) -> None:
            if lease is not None and t.gate().holder != lease.holder:
                raise TopUpError("this top-up lost the ledger's top-up gate; nothing was signed")
            _check_signing(t, record.kind, record.amount_usd, effective, now)
            t.insert_authorization(record)

        await self._store.run(tx)

    def _effective(self, kind: str, caps: SpendCaps | None) -> SpendCaps:
        base = self._caps if kind == KIND_AUTO else SpendCaps()
        return base.strictest(caps or SpendCaps())

    async def record_outcome(self, nonce: str, outcome: Outcome) -> None:
        """Note what became of a recorded authorization (it keeps counting against the caps)."""
        now = self._clock()
        await self._store.run(lambda t: t.set_outcome(nonce, outcome, now))

    async def authorizations(self) -> list[AuthorizationRecord]:
        """Every recorded authorization, oldest first."""
        return await self._store.run(lambda t: t.authorizations())

    # -- the top-up gate --------------------------------------------------------------------------

    async def top_up_gate(self) -> TopUpGateState:
        """The gate as it is now."""
        return await self._store.run(lambda t: t.gate())

    async def try_acquire_top_up(self, holder: str, *, ttl: float) -> TopUpLease | None:
        """Take the single-flight top-up gate for ``ttl`` seconds, or ``None`` if it is held.

        A holder that died is presumed gone once its ``ttl`` has passed.
        """
        now = self._clock()

        def tx(t: Transaction) -> TopUpLease | None:
            gate = t.gate()
            if gate.is_held(now) and gate.holder != holder:
                return None
            t.set_gate(replace(gate, holder=holder, expires_at=now + ttl))
            return TopUpLease(holder=holder, generation=gate.generation, expires_at=now + ttl)

        return await self._store.run(tx)

    async def release_top_up(self, lease: TopUpLease, *, completed: bool) -> TopUpGateState:
        """Free the gate; ``completed`` (the top-up was credited) bumps its generation."""
        now = self._clock()

        def tx(t: Transaction) -> TopUpGateState:
            gate = t.gate()
            if gate.holder == lease.holder:
                gate = replace(gate, holder=None, expires_at=0.0)
            if completed:
                gate = replace(gate, generation=gate.generation + 1, completed_at=now)
            t.set_gate(gate)
            return gate

        return await self._store.run(tx)

    # -- status -----------------------------------------------------------------------------------

    async def status(self) -> SpendStatus:
        """What has been signed and spent, and the caps in force."""
        now = self._clock()
        since = now - DAY_SECONDS

        def tx(
            t: Transaction,
        ) -> tuple[list[AuthorizationRecord], Decimal, Decimal, TopUpGateState]:
            spent, reserved = t.edit_sums(since)
            return t.authorizations(), spent, reserved, t.gate()

        records, spent, reserved, gate = await self._store.run(tx)
        auto = [r for r in records if r.kind == KIND_AUTO]
        caps = self._caps
        return SpendStatus(
            spender=self._spender,
            path=None if self._store.path is None else str(self._store.path),
            signed_total_usd=sum((r.amount_usd for r in records), _ZERO),
            signed_24h_usd=sum((r.amount_usd for r in records if r.signed_at >= since), _ZERO),
            auto_signed_total_usd=sum((r.amount_usd for r in auto), _ZERO),
            auto_signed_24h_usd=sum((r.amount_usd for r in auto if r.signed_at >= since), _ZERO),
            open_authorizations_usd=sum((r.amount_usd for r in records if r.is_open(now)), _ZERO),
            edit_spent_24h_usd=spent,
            edit_reserved_usd=reserved,
            max_total_usd=caps.max_total_usd,
            max_per_day_usd=caps.max_per_day_usd,
            max_edit_spend_per_day_usd=caps.max_edit_spend_per_day_usd,
            top_up_in_progress=gate.is_held(now),
            top_up_generation=gate.generation,
        )

    def holds_state(self) -> bool:
        """Whether anything was recorded or registered (a file always counts as holding some)."""
        store = self._store
        if isinstance(store, MemoryStore):
            return bool(store.auths or store.edits) or self._caps != SpendCaps()
        return True

    def close(self) -> None:
        """Release the store (the process-wide registry does this; rarely needed directly)."""
        self._store.close()


def _check_signing(t: Transaction, kind: str, amount: Decimal, caps: SpendCaps, now: float) -> None:
    """Refuse a signature the caps (or an open automatic authorization) do not allow."""
    auto = kind == KIND_AUTO
    records = [r for r in t.authorizations() if r.kind == kind or not auto]
    total = sum((r.amount_usd for r in records), _ZERO)
    day = sum((r.amount_usd for r in records if r.signed_at >= now - DAY_SECONDS), _ZERO)
    for name, cap, counted in (
        ("max_total_usd", caps.max_total_usd, total),
        ("max_per_day_usd", caps.max_per_day_usd, day),
    ):
        if cap is not None and counted + amount > cap:
            window = "" if name == "max_total_usd" else " in the last 24 hours"
            raise TopUpLimitError(
                f"a top-up of ${amount} would bring what this wallet's "
                f"{'automatic ' if auto else ''}top-ups signed{window} to "
                f"${counted + amount}, above {name}=${cap}; nothing was signed",
                cap_name=name,
                cap_usd=cap,
                spent_usd=counted,
                requested_usd=amount,
            )
    if auto:
        for r in records:
            if r.is_open(now):
                raise SettlementPendingError(
                    f"an earlier top-up of ${r.amount_usd} has an unknown outcome and can "
                    f"still settle until {r.valid_before}; refusing to sign a second payment "
                    "for the same need",
                    amount_usd=r.amount_usd,
                    valid_before=r.valid_before,
                )
