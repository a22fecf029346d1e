"""The values the spend ledger stores and reports (plain frozen dataclasses, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

__all__ = [
    "AuthorizationRecord",
    "EditReservation",
    "Outcome",
    "SpendCaps",
    "SpendStatus",
    "TopUpGateState",
    "TopUpLease",
]

#: What is known of a signed authorization. ``sent`` is written *before* the payment leaves;
#: the others when an answer (or its absence) is known. Every one of them counts against the caps:
#: a signed EIP-3009 authorization stays valid until ``valid_before`` whatever a server said.
Outcome = Literal["sent", "credited", "failed", "refused", "unknown"]

KIND_AUTO = "auto"
KIND_MANUAL = "manual"


@dataclass(frozen=True, slots=True)
class AuthorizationRecord:
    """One signed EIP-3009 ``TransferWithAuthorization``, as recorded before it left.

    Attributes:
        nonce: The authorization's 32-byte nonce (0x hex): its identity on chain.
        kind: ``"auto"`` (a :class:`~inpaint_async.TopUpPolicy` top-up) or ``"manual"``
            (``client.wallet.top_up``, the CLI's ``top-up``).
        amount_usd: The signed value in USD.
        payee: The ``to`` address.
        asset: The token contract.
        network: The network name the server used (``base``, ``eip155:8453``).
        valid_before: Unix seconds after which the authorization can no longer settle.
        signed_at: Unix seconds when it was signed.
        outcome: What is known of it (see :data:`Outcome`).
        outcome_at: When the outcome was learned (Unix seconds), or ``None``.
    """

    nonce: str
    kind: str
    amount_usd: Decimal
    payee: str
    asset: str
    network: str
    valid_before: int
    signed_at: float
    outcome: Outcome = "sent"
    outcome_at: float | None = None

    def is_open(self, now: float) -> bool:
        """Whether it may still settle and nobody knows whether it did (sent or unknown)."""
        return self.outcome in ("sent", "unknown") and self.valid_before > now


@dataclass(frozen=True, slots=True)
class SpendCaps:
    """Caps in USD; ``None`` means no cap. Combining two keeps the stricter of each."""

    max_total_usd: Decimal | None = None
    max_per_day_usd: Decimal | None = None
    max_edit_spend_per_day_usd: Decimal | None = None

    def strictest(self, other: SpendCaps) -> SpendCaps:
        """The stricter of each cap of ``self`` and ``other``."""

        def low(a: Decimal | None, b: Decimal | None) -> Decimal | None:
            if a is None:
                return b
            if b is None:
                return a
            return min(a, b)

        return SpendCaps(
            max_total_usd=low(self.max_total_usd, other.max_total_usd),
            max_per_day_usd=low(self.max_per_day_usd, other.max_per_day_usd),
            max_edit_spend_per_day_usd=low(
                self.max_edit_spend_per_day_usd, other.max_edit_spend_per_day_usd
            ),
        )


@dataclass(frozen=True, slots=True)
class EditReservation:
    """Room held for one paid edit until it is committed (spent) or released (not charged).

    Attributes:
        id: The reservation's id inside its ledger.
        amount_usd: The amount held (the estimate at send).
        label: A free text (job id, tool name) kept with the row.
        reserved_at: Unix seconds.
    """

    id: int
    amount_usd: Decimal
    label: str
    reserved_at: float


@dataclass(frozen=True, slots=True)
class TopUpGateState:
    """The ledger's single-flight top-up gate.

    Attributes:
        holder: Who holds it (``pid:token``), or ``None`` when free.
        expires_at: Unix seconds after which a holder that died is presumed gone.
        generation: Bumped by every top-up that completed (credited).
        completed_at: Unix seconds of the latest completed top-up, or ``None``.
    """

    holder: str | None
    expires_at: float
    generation: int
    completed_at: float | None

    def is_held(self, now: float) -> bool:
        """Whether a live holder has it."""
        return self.holder is not None and self.expires_at > now


@dataclass(frozen=True, slots=True)
class TopUpLease:
    """Proof of holding the top-up gate (from :meth:`SpendLedger.try_acquire_top_up`)."""

    holder: str
    generation: int
    expires_at: float


@dataclass(frozen=True, slots=True)
class SpendStatus:
    """A snapshot of one spender's ledger.

    Attributes:
        spender: The spender id (lower-case wallet address, or ``key:<hash>``).
        path: The ledger file, or ``None`` for the in-memory ledger.
        signed_total_usd: Value of every authorization ever signed in this ledger.
        signed_24h_usd: The same over the last 24 hours.
        auto_signed_total_usd: Automatic (policy) top-ups only, over the ledger's life: what
            ``max_total_usd`` counts.
        auto_signed_24h_usd: Automatic top-ups of the last 24 hours: what ``max_per_day_usd``
            counts.
        open_authorizations_usd: Signed authorizations whose outcome is unknown and that may
            still settle (``valid_before`` in the future).
        edit_spent_24h_usd: Paid edits committed over the last 24 hours.
        edit_reserved_usd: Edits reserved and not yet committed or released (last 24 hours).
        max_total_usd: The strictest ``max_total_usd`` registered with this ledger, or ``None``.
        max_per_day_usd: The strictest ``max_per_day_usd``, or ``None``.
        max_edit_spend_per_day_usd: The strictest edit-spend cap per day, or ``None``.
        top_up_in_progress: Whether a top-up holds the gate (in any process).
        top_up_generation: How many top-ups completed through this ledger.
    """

    spender: str
    path: str | None
    signed_total_usd: Decimal
    signed_24h_usd: Decimal
    auto_signed_total_usd: Decimal
    auto_signed_24h_usd: Decimal
    open_authorizations_usd: Decimal
    edit_spent_24h_usd: Decimal
    edit_reserved_usd: Decimal
    max_total_usd: Decimal | None
    max_per_day_usd: Decimal | None
    max_edit_spend_per_day_usd: Decimal | None
    top_up_in_progress: bool
    top_up_generation: int
