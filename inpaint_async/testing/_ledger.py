"""Money in the emulator: balances per payer and the ledger of every charge and credit."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

__all__ = ["Accounts", "LedgerEntry", "normalize_payer", "to_usd"]


def to_usd(value: Decimal | float | str | int) -> Decimal:
    """Turn a user-given amount into a Decimal (floats go through `str` to stay exact)."""
    amount = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"an amount must be a finite number >= 0, got {value!r}")
    return amount


def normalize_payer(payer: str) -> str:
    """Wallet addresses compare case-insensitively; API keys exactly."""
    return payer.lower() if payer.startswith(("0x", "0X")) else payer


@dataclass(frozen=True)
class LedgerEntry:
    """One movement of money: a charge for a request or a credit from a top-up."""

    kind: Literal["charge", "credit"]
    payer: str
    amount_usd: Decimal
    request_id: str | None
    model: str | None
    payment_id: str | None
    at: float
    balance_after: Decimal = Decimal(0)


class Accounts:
    """Balances and the ledger. Balances never go below zero."""

    def __init__(self) -> None:
        self._balances: dict[str, Decimal] = {}
        self.ledger: list[LedgerEntry] = []

    def set_balance(self, payer: str, usd: Decimal | float | str | int) -> None:
        self._balances[normalize_payer(payer)] = to_usd(usd)

    def balance_of(self, payer: str) -> Decimal:
        return self._balances.get(normalize_payer(payer), Decimal(0))

    def balances(self) -> dict[str, Decimal]:
        return dict(self._balances)

    def charge(
        self, payer: str, price: Decimal, *, request_id: str, model: str | None, at: float
    ) -> LedgerEntry:
        """Debit up to `price` (never below zero) and record it."""
        key = normalize_payer(payer)
        balance = self._balances.get(key, Decimal(0))
        amount = min(price, balance)
        self._balances[key] = balance - amount
        entry = LedgerEntry(
            "charge", key, amount, request_id, model, None, at, balance_after=self._balances[key]
        )
        self.ledger.append(entry)
        return entry

    def credit(self, payer: str, amount: Decimal, *, payment_id: str, at: float) -> LedgerEntry:
        key = normalize_payer(payer)
        self._balances[key] = self._balances.get(key, Decimal(0)) + amount
        entry = LedgerEntry(
            "credit", key, amount, None, None, payment_id, at, balance_after=self._balances[key]
        )
        self.ledger.append(entry)
        return entry

    def entries_for(self, payer: str) -> Iterator[LedgerEntry]:
        key = normalize_payer(payer)
        return (e for e in self.ledger if e.payer == key)
