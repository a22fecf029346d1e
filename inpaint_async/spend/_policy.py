"""``TopUpPolicy``: when and how much the client may top a wallet up by itself, and its caps."""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .._constants import MAX_TOP_UP_USD
from .._exceptions import ValidationError
from ._records import SpendCaps

__all__ = ["USD", "TopUpPolicy", "TopUpTimings", "check_payees", "to_usd"]

_MAX_USD = Decimal(MAX_TOP_UP_USD)
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def to_usd(value: Decimal | int | str | float, name: str = "amount_usd") -> Decimal:
    """A USD amount as a finite Decimal (floats through their shortest repr, never binary noise).

    Raises:
        ValidationError: not a finite number.
    """
    if isinstance(value, bool):
        raise ValidationError(f"{name} must be a number, not a bool", param=name)
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, ValueError, TypeError):
        raise ValidationError(f"{name} is not a number: {value!r}", param=name) from None
    if not amount.is_finite():
        raise ValidationError(f"{name} must be finite", param=name)
    return amount


def _positive_usd(value: Decimal | int | str | float, name: str) -> Decimal:
    amount = to_usd(value, name)
    if amount <= 0:
        raise ValidationError(f"{name} must be positive", param=name)
    if amount != amount.quantize(Decimal("0.000001")):
        raise ValidationError(f"{name} has more than 6 decimal places", param=name)
    return amount


def check_payees(payees: object, name: str = "allowed_payees") -> frozenset[str]:
    """A non-empty set of 0x addresses (a single string is refused: it is not a collection).

    Raises:
        ValidationError: not a collection of 20-byte hex addresses.
    """
    if isinstance(payees, str):
        raise ValidationError(f"{name} is a collection of addresses, not one string", param=name)
    try:
        result: frozenset[str] = frozenset(payees)  # type: ignore[call-overload]
    except TypeError:
        raise ValidationError(f"{name} must be a collection of addresses", param=name) from None
    if not result or not all(isinstance(p, str) and _ADDRESS.fullmatch(p) for p in result):
        raise ValidationError(f"{name} must be 0x-prefixed 20-byte hex addresses", param=name)
    return result


USD = Decimal | int | str
"""A USD amount as callers may give it: exact types only (a ``float`` is accepted at run time
through its shortest repr, but the type checker steers you to ``Decimal``, ``int`` or ``str``)."""


@dataclass(frozen=True, slots=True)
class TopUpTimings:
    """The timeouts and intervals of one top-up: a policy's (:attr:`TopUpPolicy.timings`), or
    the defaults for a manual top-up without a policy. Seconds; see :class:`TopUpPolicy`."""

    settlement_timeout: float = 120.0
    poll_interval: float = 2.0
    in_progress_backoff: float = 2.0
    request_timeout: float = 30.0
    wait_timeout: float = 300.0

    @property
    def top_up_deadline(self) -> float:
        """The longest one top-up may take from start to end, every wait included (seconds)."""
        # discovery + balance read + settlement (resends and polls, each request bounded).
        return 2 * self.request_timeout + self.settlement_timeout + self.request_timeout


@dataclass(frozen=True, slots=True, init=False)
class TopUpPolicy:
    """When and how much the client may top a wallet up by itself. Off unless given.

    Pass it as ``InpaintClient(auth=WalletAuth(...), top_up=TopUpPolicy(...))``. Amounts are
    USD (``Decimal``, ``int`` or ``str``; a ``float`` is read through its shortest repr).

    The caps count **signed value**: every automatic top-up authorization the SDK signed for the
    wallet, recorded in its spend ledger before it left, whatever the server answered. They are
    the wallet's, not the client's: every client of the wallet in the process (root or derived,
    whatever ``WalletAuth`` object it holds) shares them, the strictest of the policies in use
    applies, and with a ledger file they also hold across processes and restarts.

    Attributes:
        amount_usd: How much each automatic top-up adds (at least the server's minimum, $5).
        max_total_usd: The most all automatic top-ups of this wallet may sign, over the ledger's
            life (the process for the in-memory ledger; the file's life for a ledger file).
            Past it: ``TopUpLimitError``, and nothing is signed.
        max_per_day_usd: The most automatic top-ups may sign in any rolling 24 hours.
        max_edit_spend_per_day_usd: The most paid edits may spend in any rolling 24 hours
            (checked before each edit is sent, from the catalogue estimate).
        below_usd: Top up *before* a 402 when the tracked balance drops below this.
        max_per_top_up_usd: Refuse a single top-up above this (default: ``amount_usd``).
        allowed_payees: Only pay these addresses (the server's ``payTo`` is read live; the
            matching offer is chosen wherever the server lists it).
        legacy_header: Send the payment as ``X-402-Payment`` instead of ``PAYMENT-SIGNATURE``.
        ledger: A ledger file (SQLite) that makes the caps durable and shared by every process
            on the host; default: ``$INPAINT_LEDGER`` if set, else the in-memory ledger.
        balance_poll_interval: With ``below_usd`` and no ``X-Balance-Remaining`` header, poll
            the balance at most this often (seconds).
        settlement_timeout: How long to resolve an unclear settlement (409, 504, 500) by
            resending the same payment or polling the balance, in seconds.
        poll_interval: Seconds between balance polls after an unclear settlement.
        in_progress_backoff: First wait before resending a ``409 PAYMENT_IN_PROGRESS`` payment
            (doubles up to 4x).
        request_timeout: The longest any single request of a top-up may take (seconds).
        wait_timeout: The longest a call waits for a top-up run by another call or another
            process before giving up with ``TopUpError`` (seconds).
    """

    amount_usd: Decimal
    max_total_usd: Decimal
    below_usd: Decimal | None = None
    max_per_top_up_usd: Decimal | None = None
    allowed_payees: frozenset[str] | None = None
    legacy_header: bool = False
    balance_poll_interval: float = 60.0
    settlement_timeout: float = 120.0
    poll_interval: float = 2.0
    in_progress_backoff: float = 2.0
    max_per_day_usd: Decimal | None = None
    max_edit_spend_per_day_usd: Decimal | None = None
    ledger: str | None = None
    request_timeout: float = 30.0
    wait_timeout: float = 300.0

    def __init__(
        self,
        amount_usd: USD,
        max_total_usd: USD,
        below_usd: USD | None = None,
        max_per_top_up_usd: USD | None = None,
        allowed_payees: Collection[str] | None = None,
        legacy_header: bool = False,
        balance_poll_interval: float = 60.0,
        settlement_timeout: float = 120.0,
        poll_interval: float = 2.0,
        in_progress_backoff: float = 2.0,
        *,
        max_per_day_usd: USD | None = None,
        max_edit_spend_per_day_usd: USD | None = None,
        ledger: str | os.PathLike[str] | None = None,
        request_timeout: float = 30.0,
        wait_timeout: float = 300.0,
    ) -> None:
        given = dict(locals())
        del given["self"]
        for name, value in given.items():
            object.__setattr__(self, name, value)
        self.__post_init__()

    def __post_init__(self) -> None:
        amount = _positive_usd(self.amount_usd, "amount_usd")
        total = _positive_usd(self.max_total_usd, "max_total_usd")
        if amount > _MAX_USD:
            raise ValidationError("amount_usd is above the $10,000 maximum", param="amount_usd")
        if total < amount:
            raise ValidationError(
                "max_total_usd must be at least amount_usd", param="max_total_usd"
            )
        per_day: Decimal | None = None
        if self.max_per_day_usd is not None:
            per_day = _positive_usd(self.max_per_day_usd, "max_per_day_usd")
            if per_day < amount:
                raise ValidationError(
                    "max_per_day_usd must be at least amount_usd", param="max_per_day_usd"
                )
        edit_cap: Decimal | None = None
        if self.max_edit_spend_per_day_usd is not None:
            edit_cap = _positive_usd(self.max_edit_spend_per_day_usd, "max_edit_spend_per_day_usd")
        per: Decimal | None = None
        if self.max_per_top_up_usd is not None:
            per = _positive_usd(self.max_per_top_up_usd, "max_per_top_up_usd")
            if per < amount:
                raise ValidationError(
                    "max_per_top_up_usd must be at least amount_usd", param="max_per_top_up_usd"
                )
        below: Decimal | None = None
        if self.below_usd is not None:
            below = to_usd(self.below_usd, "below_usd")
            if below < 0:
                raise ValidationError("below_usd must not be negative", param="below_usd")
        payees = None if self.allowed_payees is None else check_payees(self.allowed_payees)
        ledger: str | None = None
        if self.ledger is not None:
            given: object = self.ledger
            if not isinstance(given, str | os.PathLike) or not os.fspath(given):
                raise ValidationError("ledger must be a file path", param="ledger")
            ledger = str(Path(os.fspath(given)).expanduser())
        for name in (
            "balance_poll_interval",
            "settlement_timeout",
            "poll_interval",
            "in_progress_backoff",
            "request_timeout",
            "wait_timeout",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValidationError(f"{name} must be a positive number of seconds", param=name)
        object.__setattr__(self, "amount_usd", amount)
        object.__setattr__(self, "max_total_usd", total)
        object.__setattr__(self, "max_per_day_usd", per_day)
        object.__setattr__(self, "max_edit_spend_per_day_usd", edit_cap)
        object.__setattr__(self, "max_per_top_up_usd", per)
        object.__setattr__(self, "below_usd", below)
        object.__setattr__(self, "allowed_payees", payees)
        object.__setattr__(self, "ledger", ledger)

    @property
    def cap_per_top_up_usd(self) -> Decimal:
        """The largest single top-up this policy allows."""
        return self.max_per_top_up_usd if self.max_per_top_up_usd is not None else self.amount_usd

    @property
    def caps(self) -> SpendCaps:
        """The policy's caps, as the ledger counts them."""
        return SpendCaps(
            max_total_usd=self.max_total_usd,
            max_per_day_usd=self.max_per_day_usd,
            max_edit_spend_per_day_usd=self.max_edit_spend_per_day_usd,
        )

    @property
    def timings(self) -> TopUpTimings:
        """The policy's timeouts and intervals, as one top-up uses them."""
        return TopUpTimings(
            settlement_timeout=self.settlement_timeout,
            poll_interval=self.poll_interval,
            in_progress_backoff=self.in_progress_backoff,
            request_timeout=self.request_timeout,
            wait_timeout=self.wait_timeout,
        )

    @property
    def top_up_deadline(self) -> float:
        """The longest one top-up may take from start to end, every wait included (seconds)."""
        return self.timings.top_up_deadline
