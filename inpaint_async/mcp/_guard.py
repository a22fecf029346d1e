"""The spend guard of the agent server: per-call, per-session and per-day caps on paid tools.

Every paid call goes through :meth:`SpendGuard.reserve` before anything is sent, and through
:meth:`SpendGuard.commit` or :meth:`SpendGuard.release` afterwards:

* the **per-call** cap is checked against the catalogue price;
* the **per-session** cap is this server process's own: the check and the reservation happen in
  one synchronous step on the event loop, so 50 concurrent calls cannot all slip under it;
* the **per-day** cap (rolling 24 hours) is the spend ledger's (``inpaint_async.spend``): it lives
  in the ledger's SQLite file, so it survives a restart and is shared with the CLI and every other
  process using the same wallet or key.

Money first: an outcome that is not known to be free (sent without an answer, a content-policy
block after generation, a cancelled call) is committed as spent, and a server's answer never
un-counts a reservation.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from .._exceptions import InpaintError

if TYPE_CHECKING:
    from ..spend import EditReservation, SpendLedger

__all__ = ["CapExceededError", "EditLedger", "GuardTicket", "SpendGuard", "money"]

ZERO = Decimal(0)
_CENT = Decimal("0.01")


def money(value: Decimal) -> Decimal:
    """``value`` written plainly: no trailing zeros beyond the cents (0.1200 → 0.12, 2 → 2.00)."""
    plain = value.normalize()
    exponent = plain.as_tuple().exponent
    return plain.quantize(_CENT) if isinstance(exponent, int) and exponent > -2 else plain


class EditLedger(Protocol):
    """The part of the spend ledger (``inpaint_async.spend.SpendLedger``) the guard uses."""

    async def reserve_edit(
        self, amount_usd: Decimal, *, max_per_day_usd: Decimal | None = None, label: str = ""
    ) -> EditReservation: ...

    async def commit_edit(self, reservation: EditReservation, spent_usd: Decimal) -> None: ...

    async def release_edit(self, reservation: EditReservation) -> None: ...

    async def status(self) -> Any: ...


class CapExceededError(InpaintError):
    """A paid call would go over a spend cap; nothing was sent.

    Attributes:
        cap: ``"per_call"``, ``"per_session"`` or ``"per_day"``.
        cap_usd: The cap.
        spent_usd: What the cap had already counted (spent and reserved).
        requested_usd: The price of the refused call.
    """

    def __init__(
        self, cap: str, *, cap_usd: Decimal, spent_usd: Decimal, requested_usd: Decimal
    ) -> None:
        self.cap = cap
        self.cap_usd = cap_usd = money(cap_usd)
        self.spent_usd = spent_usd = money(spent_usd)
        self.requested_usd = requested_usd = money(requested_usd)
        label = cap.replace("_", "-")
        if cap == "per_call":
            text = f"this call costs ${requested_usd}, above the {label} cap of ${cap_usd}"
        else:
            text = (
                f"the {label} spend cap of ${cap_usd} would be exceeded: ${spent_usd} already "
                f"counted + ${requested_usd} for this call"
            )
        super().__init__(text + "; nothing was sent")


@dataclass
class GuardTicket:
    """One reservation held by the guard between reserve and commit/release."""

    amount_usd: Decimal
    reservation: Any = None
    settled: bool = False


@dataclass(frozen=True)
class GuardStatus:
    """The caps and what they have counted, for the ``spend_status`` tool."""

    max_per_call_usd: Decimal | None
    max_per_session_usd: Decimal | None
    max_per_day_usd: Decimal | None
    session_spent_usd: Decimal
    session_reserved_usd: Decimal
    day_spent_usd: Decimal | None
    day_reserved_usd: Decimal | None
    ledger: str | None

    def remaining_usd(self) -> Decimal | None:
        """The most the next calls may spend together, under every cap (``None``: no cap)."""
        left: list[Decimal] = []
        if self.max_per_session_usd is not None:
            left.append(
                self.max_per_session_usd - self.session_spent_usd - self.session_reserved_usd
            )
        if self.max_per_day_usd is not None:
            left.append(
                self.max_per_day_usd
                - (self.day_spent_usd or ZERO)
                - (self.day_reserved_usd or ZERO)
            )
        return money(max(ZERO, min(left))) if left else None


class SpendGuard:
    """Caps on the agent's paid calls, enforced in the server process.

    Args:
        ledger: The spend ledger of the wallet or key (``None`` only when nothing can be spent:
            no credentials).
        max_per_call_usd: Refuse any single call priced above this.
        max_per_session_usd: Refuse calls once this process has spent (or reserved) this much.
        max_per_day_usd: Refuse calls once the ledger counts this much in the last 24 hours.
        ledger_label: Where the ledger lives, for ``spend_status``.
    """

    def __init__(
        self,
        ledger: EditLedger | SpendLedger | None,
        *,
        max_per_call_usd: Decimal | None = None,
        max_per_session_usd: Decimal | None = None,
        max_per_day_usd: Decimal | None = None,
        ledger_label: str | None = None,
    ) -> None:
        self.ledger = ledger
        self.max_per_call_usd = max_per_call_usd
        self.max_per_session_usd = max_per_session_usd
        self.max_per_day_usd = max_per_day_usd
        self.ledger_label = ledger_label
        self.session_spent_usd = ZERO
        self.session_reserved_usd = ZERO

    async def precheck(self, amount: Decimal) -> None:
        """Raise :class:`CapExceededError` when ``amount`` cannot fit now (reserves nothing).

        Used before asking the user, so nobody is asked to approve a call the caps will refuse;
        :meth:`reserve` checks again, atomically.
        """
        self._check_local(amount)
        if self.ledger is not None and self.max_per_day_usd is not None:
            status = await self.ledger.status()
            counted = _dec(status.edit_spent_24h_usd) + _dec(status.edit_reserved_usd)
            if counted + amount > self.max_per_day_usd:
                raise CapExceededError(
                    "per_day", cap_usd=self.max_per_day_usd, spent_usd=counted, requested_usd=amount
                )

    def _check_local(self, amount: Decimal) -> None:
        if self.max_per_call_usd is not None and amount > self.max_per_call_usd:
            raise CapExceededError(
                "per_call", cap_usd=self.max_per_call_usd, spent_usd=ZERO, requested_usd=amount
            )
        if self.max_per_session_usd is not None:
            counted = self.session_spent_usd + self.session_reserved_usd
            if counted + amount > self.max_per_session_usd:
                raise CapExceededError(
                    "per_session",
                    cap_usd=self.max_per_session_usd,
                    spent_usd=counted,
                    requested_usd=amount,
                )

    async def reserve(self, amount: Decimal, *, label: str = "") -> GuardTicket:
        """Reserve ``amount`` under every cap, or raise :class:`CapExceededError`.

        The per-call and per-session checks and the session reservation happen with no await in
        between; the per-day reservation is the ledger's own atomic step.
        """
        self._check_local(amount)
        self.session_reserved_usd += amount
        ticket = GuardTicket(amount)
        if self.ledger is None:
            return ticket
        from ..spend import SpendCapError

        try:
            ticket.reservation = await self.ledger.reserve_edit(
                amount, max_per_day_usd=self.max_per_day_usd, label=label
            )
        except SpendCapError as exc:
            self.session_reserved_usd -= amount
            raise CapExceededError(
                "per_day",
                cap_usd=_dec(exc.cap_usd),
                spent_usd=_dec(exc.spent_usd),
                requested_usd=amount,
            ) from None
        except BaseException:
            self.session_reserved_usd -= amount
            raise
        return ticket

    async def commit(self, ticket: GuardTicket, spent_usd: Decimal | None = None) -> None:
        """Count the ticket as spent (``spent_usd`` defaults to the reserved amount)."""
        if ticket.settled:
            return
        ticket.settled = True
        spent = ticket.amount_usd if spent_usd is None else spent_usd
        self.session_reserved_usd -= ticket.amount_usd
        self.session_spent_usd += spent
        if self.ledger is not None and ticket.reservation is not None:
            await self.ledger.commit_edit(ticket.reservation, spent)

    async def release(self, ticket: GuardTicket) -> None:
        """Give the reservation back: nothing was sent, or the server certainly did not charge."""
        if ticket.settled:
            return
        ticket.settled = True
        self.session_reserved_usd -= ticket.amount_usd
        if self.ledger is not None and ticket.reservation is not None:
            await self.ledger.release_edit(ticket.reservation)

    async def status(self) -> GuardStatus:
        """The caps, this session's spend and the ledger's rolling 24 hours."""
        day_spent = day_reserved = None
        if self.ledger is not None:
            st = await self.ledger.status()
            day_spent = _dec(st.edit_spent_24h_usd)
            day_reserved = _dec(st.edit_reserved_usd)

        def opt(value: Decimal | None) -> Decimal | None:
            return None if value is None else money(value)

        return GuardStatus(
            max_per_call_usd=opt(self.max_per_call_usd),
            max_per_session_usd=opt(self.max_per_session_usd),
            max_per_day_usd=opt(self.max_per_day_usd),
            session_spent_usd=money(self.session_spent_usd),
            session_reserved_usd=money(self.session_reserved_usd),
            day_spent_usd=day_spent,
            day_reserved_usd=day_reserved,
            ledger=self.ledger_label,
        )


def _dec(value: Any) -> Decimal:
    return ZERO if value is None else money(Decimal(str(value)))
