"""Budget reservation: the one implementation behind a batch's ``budget_usd``.

A :class:`Budget` holds what was spent and what jobs in flight have reserved. A job's estimated
price is reserved before it is launched (:meth:`Budget.try_reserve`), committed when the job may
have been charged (succeeded or unknown) and released when it was not. A runner without a
coordinator keeps its own; :class:`~inpaint_async.coordination.LocalCoordinator` keeps one that
every runner sharing it (and, in a Ray actor, every worker) reserves from.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["Budget", "Reservation"]


@dataclass(frozen=True, slots=True)
class Reservation:
    """A budget reservation: ``amount_usd`` held until it is committed or released."""

    token: str
    amount_usd: Decimal


class Budget:
    """Spent and reserved USD against a budget (see the module docstring)."""

    def __init__(self, spent_usd: Decimal = Decimal(0)) -> None:
        self.spent_usd = spent_usd
        self._reservations: dict[str, Decimal] = {}
        self._changed = asyncio.Event()

    def try_reserve(self, amount_usd: Decimal, *, budget_usd: Decimal) -> Reservation | bool:
        """Reserve ``amount_usd`` now if it fits: the reservation. Otherwise ``True`` while
        reservations in flight could still be released (await :meth:`changed`, then try again),
        ``False`` when the budget is reached."""
        self._changed.clear()  # before the check: a change after it is not lost
        amount = Decimal(amount_usd)
        held = sum(self._reservations.values(), Decimal(0))
        if self.spent_usd + held + amount <= budget_usd:
            token = secrets.token_hex(8)
            self._reservations[token] = amount
            return Reservation(token, amount)
        return bool(self._reservations)

    async def changed(self) -> None:
        """Wait for a commit or a release after the last :meth:`try_reserve`."""
        await self._changed.wait()

    async def reserve(self, amount_usd: Decimal, *, budget_usd: Decimal) -> Reservation | None:
        """Reserve ``amount_usd``, waiting while reservations in flight could be released;
        ``None`` when the budget is reached."""
        while True:
            held = self.try_reserve(amount_usd, budget_usd=budget_usd)
            if isinstance(held, Reservation):
                return held
            if not held:
                return None
            await self.changed()

    def commit(self, reservation: Reservation, spent_usd: Decimal) -> None:
        """The job may have been charged: count ``spent_usd`` (once per reservation)."""
        if self._reservations.pop(reservation.token, None) is None:
            return
        self.spent_usd += Decimal(spent_usd)
        self._changed.set()

    def release(self, reservation: Reservation) -> None:
        """The job was not charged: give the reservation back (a no-op once settled)."""
        if self._reservations.pop(reservation.token, None) is not None:
            self._changed.set()
