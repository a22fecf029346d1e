"""Units: the error classification table and the spend guard on a ledger."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from inpaint_async import (
    APIConnectionError,
    ConfigurationError,
    InpaintError,
    OutcomeUnknownError,
    SettlementFailedError,
    TopUpError,
    TopUpLimitError,
    UnexpectedResponseError,
    ValidationError,
)
from inpaint_async._response import make_status_error
from inpaint_async.mcp import CapExceededError, SandboxError, SpendGuard
from inpaint_async.mcp._errors import ToolFailure, failure_from
from inpaint_async.mcp._guard import money
from inpaint_async.spend import open_ledger

RAY = {"cf-ray": "abc-EMU"}


@pytest.mark.parametrize(
    ("exc", "code", "retryable", "charged"),
    [
        (make_status_error(429, {"error": "slow down"}, RAY), "rate_limited", True, False),
        (make_status_error(503, {"error": "busy"}, RAY), "server_error", True, False),
        (make_status_error(504, {"error": "late"}, RAY), "server_error", True, False),
        (make_status_error(401, {"error": "who"}, RAY), "authentication_failed", False, False),
        (make_status_error(403, {"error": "no"}, RAY), "authentication_failed", False, False),
        (make_status_error(404, {"error": "gone"}, RAY), "not_found", False, False),
        (make_status_error(400, {"error": "bad"}, RAY), "rejected", False, False),
        (make_status_error(422, {"error": "blocked"}, RAY), "content_policy", False, True),
        (make_status_error(402, {"error": "pay"}, RAY), "payment_required", False, False),
        (OutcomeUnknownError("read timeout", request_id="r1"), "outcome_unknown", False, True),
        (UnexpectedResponseError("json", request_id="r2"), "unexpected_response", False, True),
        (APIConnectionError("refused"), "connection_error", True, False),
        (ValidationError("unknown model 'x'", param="model"), "unknown_model", False, False),
        (ValidationError("prompt too long", param="prompt"), "invalid_request", False, False),
        (SandboxError("out", param="image"), "outside_sandbox", False, False),
        (ConfigurationError("bad base url"), "configuration", False, False),
        (TopUpLimitError("too much"), "top_up_cap_exceeded", False, False),
        (TopUpError("refused"), "top_up_failed", False, True),
        (InpaintError("other"), "error", False, True),
        (RuntimeError("secret-ish detail"), "internal_error", False, True),
    ],
)
def test_failure_classification(
    exc: BaseException, code: str, retryable: bool, charged: bool
) -> None:
    """Each error becomes one code, with retryable and may-have-been-charged set as documented."""
    failure = failure_from(exc, sent=True)
    data = failure.structured()
    assert (data["code"], data["retryable"], data["may_have_been_charged"]) == (
        code, retryable, charged,
    )  # fmt: skip
    assert set(data) >= {"code", "message", "request_id", "retryable", "may_have_been_charged"}
    if code == "internal_error":
        assert "secret-ish" not in data["message"]
    if isinstance(exc, OutcomeUnknownError):
        assert "do not retry automatically" in data["message"] and data["request_id"] == "r1"


def test_failures_pass_through_and_caps_carry_their_numbers() -> None:
    """A ToolFailure is kept as is; a cap error carries the cap, the count and the request."""
    mine = ToolFailure("x", "y")
    assert failure_from(mine, sent=False) is mine
    cap = CapExceededError(
        "per_day", cap_usd=Decimal("1.000"), spent_usd=Decimal("0.9"), requested_usd=Decimal(".2")
    )
    data = failure_from(cap, sent=False).structured()
    assert data["code"] == "per_day_cap_exceeded"
    assert (data["cap_usd"], data["spent_usd"], data["requested_usd"]) == ("1.00", "0.90", "0.20")
    assert failure_from(SettlementFailedError("no"), sent=True).code == "top_up_failed"


def test_money_is_written_plainly() -> None:
    assert [str(money(Decimal(v))) for v in ("0.1200", "2", "0.0469", "0.040")] == [
        "0.12", "2.00", "0.0469", "0.04",
    ]  # fmt: skip


async def test_the_day_cap_is_atomic_in_the_ledger() -> None:
    """Two reservations racing past the pre-check: the ledger refuses the one over the day
    cap, and the session's count is rolled back for it."""
    ledger = open_ledger("key:" + "ab" * 8)
    guard = SpendGuard(ledger, max_per_day_usd=Decimal("0.10"), max_per_session_usd=None)
    first, second = await asyncio.gather(
        guard.reserve(Decimal("0.06")), guard.reserve(Decimal("0.06")), return_exceptions=True
    )
    tickets = [t for t in (first, second) if not isinstance(t, BaseException)]
    refused = [t for t in (first, second) if isinstance(t, CapExceededError)]
    assert len(tickets) == 1 and len(refused) == 1 and refused[0].cap == "per_day"
    assert guard.session_reserved_usd == Decimal("0.06")
    await guard.commit(tickets[0])  # type: ignore[arg-type]
    await guard.commit(tickets[0])  # type: ignore[arg-type]  # twice: no double count
    await guard.release(tickets[0])  # type: ignore[arg-type]  # after commit: changes nothing
    status = await guard.status()
    assert status.day_spent_usd == Decimal("0.06") and status.session_spent_usd == Decimal("0.06")
    assert status.remaining_usd() == Decimal("0.04")


async def test_release_frees_the_room_and_no_ledger_means_session_only() -> None:
    """A released reservation counts nowhere; without a ledger only the process caps apply."""
    ledger = open_ledger("key:" + "cd" * 8)
    guard = SpendGuard(ledger, max_per_day_usd=Decimal("0.10"))
    ticket = await guard.reserve(Decimal("0.08"))
    await guard.release(ticket)
    assert (await ledger.status()).edit_reserved_usd == 0
    assert guard.session_reserved_usd == 0
    await guard.commit(await guard.reserve(Decimal("0.08")))

    bare = SpendGuard(None, max_per_session_usd=Decimal("0.05"), max_per_call_usd=None)
    await bare.commit(await bare.reserve(Decimal("0.05")))
    with pytest.raises(CapExceededError, match=r"per-session spend cap of \$0\.05"):
        await bare.reserve(Decimal("0.01"))
    status = await bare.status()
    assert status.day_spent_usd is None and status.remaining_usd() == Decimal("0.00")
    assert (await SpendGuard(None, max_per_session_usd=None).status()).remaining_usd() is None
