"""Response models for Venice's x402 bodies: lenient (unknown keys kept), frozen, money in Decimal.

Attributes are snake_case; the wire's camelCase names are accepted as aliases, and the models
also build from snake_case names.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "Pagination",
    "PaymentRequiredBody",
    "PaymentRequirement",
    "PaymentResource",
    "SiwxChallenge",
    "SiwxChallengeInfo",
    "TopUpInstructions",
    "TopUpResult",
    "TransactionsPage",
    "WalletBalance",
    "WalletCreditRequired",
    "WalletTransaction",
]


class _Response(BaseModel):
    model_config = ConfigDict(
        extra="allow", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class PaymentRequirement(_Response):
    """One entry of ``accepts``: a rail the server will take payment on.

    ``amount`` (x402 v2) or ``max_amount_required`` (v1) is in the asset's base units; for
    top-ups it is the *minimum* the server accepts.
    """

    scheme: str
    network: str
    amount: int | None = None
    max_amount_required: int | None = None
    asset: str | None = None
    pay_to: str | None = None
    max_timeout_seconds: int | None = None
    extra: dict[str, Any] | None = None

    @property
    def minimum_base_units(self) -> int | None:
        """The amount the entry asks for, in base units (``amount``, else ``maxAmountRequired``)."""
        return self.amount if self.amount is not None else self.max_amount_required


class PaymentResource(_Response):
    """The ``resource`` member of an x402 v2 ``PaymentRequired``."""

    url: str | None = None
    description: str | None = None
    mime_type: str | None = None


class PaymentRequiredBody(_Response):
    """An x402 v2 ``PaymentRequired``: the 402 shape A body, and the ``PAYMENT-REQUIRED`` header."""

    x402_version: int
    error: str | None = None
    resource: PaymentResource | None = None
    accepts: tuple[PaymentRequirement, ...] = ()
    extensions: dict[str, Any] | None = None
    auth_options: dict[str, Any] | None = None


class TopUpInstructions(_Response):
    """Shape B's ``topUpInstructions``: human hints. Take ``payTo``/``asset`` from discovery."""

    step1: str | None = None
    step2: str | None = None
    step3: str | None = None
    receiver_wallet: str | None = None
    token_address: str | None = None
    token_decimals: int | None = None
    network: str | None = None
    minimum_amount_usd: Decimal | None = None


class SiwxChallengeInfo(_Response):
    """The server's suggested SIWE fields (its nonce may be ignored; the client uses its own)."""

    domain: str | None = None
    uri: str | None = None
    version: str | None = None
    nonce: str | None = None
    issued_at: str | None = None
    expiration_time: str | None = None
    statement: str | None = None


class SiwxChallenge(_Response):
    """Shape B's ``siwxChallenge`` (also ``extensions["sign-in-with-x"]`` in shape A)."""

    info: SiwxChallengeInfo | None = None
    supported_chains: tuple[Any, ...] = ()


class WalletCreditRequired(_Response):
    """402 shape B: a signed-in wallet whose credit is below the $0.10 minimum."""

    error: str | None = None
    code: str
    reason: str | None = None
    message: str | None = None
    description: str | None = None
    current_balance_usd: Decimal | None = None
    minimum_balance_usd: Decimal | None = None
    suggested_top_up_usd: Decimal | None = None
    minimum_top_up_usd: Decimal | None = None
    supported_tokens: tuple[str, ...] = ()
    supported_chains: tuple[str, ...] = ()
    top_up_instructions: TopUpInstructions | None = None
    siwx_challenge: SiwxChallenge | None = None


class WalletBalance(_Response):
    """``GET /x402/balance/{wallet}`` data. ``diem_balance_usd`` is set only in DIEM mode."""

    wallet_address: str
    balance_usd: Decimal
    can_consume: bool | None = None
    minimum_top_up_usd: Decimal | None = None
    suggested_top_up_usd: Decimal | None = None
    diem_balance_usd: Decimal | None = None


class WalletTransaction(_Response):
    """One ledger entry: ``amount`` is signed USD; ``type`` is TOP_UP, CHARGE or REFUND."""

    id: str
    amount: Decimal
    balance_after: Decimal | None = None
    type: str
    # left_to_right: parse a datetime when possible, keep an odd timestamp as text otherwise.
    created_at: datetime | str | None = Field(default=None, union_mode="left_to_right")
    request_id: str | None = None
    model_id: str | None = None


class Pagination(_Response):
    """``limit``/``offset`` paging state of the transactions list."""

    limit: int
    offset: int
    has_more: bool


class TransactionsPage(_Response):
    """``GET /x402/transactions/{wallet}`` data: one page, newest first."""

    wallet_address: str | None = None
    current_balance: Decimal | None = None
    transactions: tuple[WalletTransaction, ...] = ()
    pagination: Pagination | None = None


class TopUpResult(_Response):
    """A completed top-up: the ``data`` of the 200, plus the decoded ``PAYMENT-RESPONSE``."""

    wallet_address: str
    amount_credited: Decimal
    new_balance: Decimal | None = None
    payment_id: str
    transaction: str | None = None
    network: str | None = None
    payer: str | None = None

    @classmethod
    def from_response(
        cls, data: Mapping[str, Any], payment_response: Mapping[str, Any] | None = None
    ) -> TopUpResult:
        """Merge the 200's ``data`` with the decoded ``PAYMENT-RESPONSE`` header (if any)."""
        merged: dict[str, Any] = dict(data)
        if payment_response:
            for key in ("transaction", "network", "payer"):
                value = payment_response.get(key)
                if isinstance(value, str):
                    merged[key] = value
        return cls.model_validate(merged)
