"""x402 response models: lenient, frozen, camelCase in, snake_case out, money as Decimal."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pydantic
import pytest

from inpaint_async.x402 import (
    PaymentRequirement,
    TopUpResult,
    TransactionsPage,
    WalletBalance,
)


def test_wallet_balance_parses_reference_example() -> None:
    """§4 balance data, with floats read as exact decimals and unknown keys kept."""
    balance = WalletBalance.model_validate(
        {
            "walletAddress": "0xabc",
            "balanceUsd": 12.5,
            "canConsume": True,
            "minimumTopUpUsd": 5,
            "suggestedTopUpUsd": 10,
            "diemBalanceUsd": 5.25,
            "futureField": 1,
        }
    )
    assert balance.balance_usd == Decimal("12.5")
    assert balance.diem_balance_usd == Decimal("5.25")
    assert balance.can_consume is True
    assert balance.model_extra == {"futureField": 1}
    with pytest.raises(pydantic.ValidationError):
        balance.balance_usd = Decimal(0)  # type: ignore[misc]


def test_transactions_page_parses_dates_and_pagination() -> None:
    """Transactions newest first; createdAt parsed when ISO, kept as text otherwise."""
    page = TransactionsPage.model_validate(
        {
            "walletAddress": "0xabc",
            "currentBalance": 7.1,
            "transactions": [
                {
                    "id": "t1",
                    "amount": -0.04,
                    "balanceAfter": 7.1,
                    "type": "CHARGE",
                    "createdAt": "2025-01-15T12:00:00.000Z",
                    "requestId": "r1",
                    "modelId": "qwen-edit",
                },
                {"id": "t2", "amount": 10, "type": "TOP_UP", "createdAt": "yesterday"},
            ],
            "pagination": {"limit": 50, "offset": 0, "hasMore": True},
        }
    )
    first, second = page.transactions
    assert first.amount == Decimal("-0.04")
    assert first.created_at == datetime(2025, 1, 15, 12, tzinfo=UTC)
    assert second.created_at == "yesterday"
    assert page.pagination is not None
    assert page.pagination.has_more is True


def test_top_up_result_merges_payment_response() -> None:
    """The 200's data plus the PAYMENT-RESPONSE transaction hash, network and payer."""
    result = TopUpResult.from_response(
        {"walletAddress": "0xabc", "amountCredited": 10, "newBalance": 22.5, "paymentId": "p1"},
        {"success": True, "network": "eip155:8453", "payer": "0xabc", "transaction": "0xdead"},
    )
    assert result.amount_credited == Decimal(10)
    assert result.new_balance == Decimal("22.5")
    assert (result.payment_id, result.transaction, result.network) == (
        "p1",
        "0xdead",
        "eip155:8453",
    )
    bare = TopUpResult.from_response(
        {"walletAddress": "0xabc", "amountCredited": "5", "paymentId": "p2"}, None
    )
    assert bare.transaction is None


def test_requirement_accepts_v1_max_amount_required_and_snake_case() -> None:
    """maxAmountRequired (v1) stands in for amount; models also build from snake_case names."""
    v1 = PaymentRequirement.model_validate(
        {"scheme": "exact", "network": "base", "maxAmountRequired": "5000000"}
    )
    assert v1.minimum_base_units == 5_000_000
    built = PaymentRequirement(scheme="exact", network="base", amount=1, pay_to="0x1")
    assert built.minimum_base_units == 1
    assert built.pay_to == "0x1"
