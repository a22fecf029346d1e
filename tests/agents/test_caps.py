"""The spend guard: per-call, per-session and per-day caps, reservations and unknown outcomes."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from inpaint_async.auth import BearerAuth
from inpaint_async.spend import forget_ledgers, open_ledger, spender_id
from inpaint_async.testing import Emulator, FaultPlan

from .conftest import Answers, connect, edit_calls, error_of

EDIT = {"image": "a.png", "prompt": "add a red hat"}  # firered-image-edit, $0.04


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_fifty_concurrent_edits_under_a_session_cap(
    key_env: Emulator, make_app: Any, mode: str
) -> None:
    """50 concurrent $0.04 edits under a $0.20 session cap: at most 5 charged (the emulator's
    ledger says so), every other call a tool error naming the cap."""
    app = make_app(max_per_session_usd=Decimal("0.20"), max_per_day_usd=None)
    async with connect(app, Answers(), mode=mode) as client:
        results = await asyncio.gather(*(client.call_tool("edit_image", EDIT) for _ in range(50)))
    charges = key_env.charges_for(key_env.api_key)
    ok = [r for r in results if not r.is_error]
    refused = [error_of(r) for r in results if r.is_error]
    assert len(charges) <= 5
    assert len(ok) == len(charges) == 5
    assert sum(c.amount_usd for c in charges) <= Decimal("0.20")
    assert len(refused) == 45
    for err in refused:
        assert err["code"] == "per_session_cap_exceeded"
        assert "per-session spend cap of $0.20" in err["message"]
        assert err["may_have_been_charged"] is False
    assert edit_calls(key_env) == 5
    assert app.guard.session_spent_usd == Decimal("0.20")
    assert app.guard.session_reserved_usd == 0


async def test_per_call_cap_refuses_before_asking(key_env: Emulator, make_app: Any) -> None:
    """A $0.12 model under a $0.10 per-call cap: refused, the user is not even asked."""
    app = make_app(max_per_call_usd=Decimal("0.10"))
    answers = Answers()
    async with connect(app, answers) as client:
        result = await client.call_tool("edit_image", {**EDIT, "model": "flux-2-max-edit"})
    err = error_of(result)
    assert err["code"] == "per_call_cap_exceeded"
    assert err["cap_usd"] == "0.10" and err["requested_usd"] == "0.12"
    assert answers.questions == []
    assert edit_calls(key_env) == 0


async def test_per_day_cap_survives_a_restart(
    key_env: Emulator, make_app: Any, tmp_path: Path
) -> None:
    """Spend $0.08 of a $0.10 day cap, restart the server on the same ledger file: the next
    $0.04 edit is refused by the day cap, though the new session has spent nothing."""
    ledger = tmp_path / "day.sqlite3"
    first = make_app(ledger_path=ledger, max_per_day_usd=Decimal("0.10"), no_confirm=True)
    async with connect(first) as client:
        for _ in range(2):
            assert not (await client.call_tool("edit_image", EDIT)).is_error
    await first.aclose()
    forget_ledgers()  # what a new process sees: only the file

    second = make_app(ledger_path=ledger, max_per_day_usd=Decimal("0.10"), no_confirm=True)
    assert second.ledger is not first.ledger
    async with connect(second) as client:
        status = (await client.call_tool("spend_status", {})).structured_content
        result = await client.call_tool("edit_image", EDIT)
    assert status is not None
    assert status["last_24h"]["spent_usd"] == "0.08"
    assert status["session"]["spent_usd"] == "0.00"
    assert status["remaining_usd"] == "0.02"
    err = error_of(result)
    assert err["code"] == "per_day_cap_exceeded"
    assert err["cap_usd"] == "0.10"
    assert edit_calls(key_env) == 2


async def test_the_day_cap_counts_spend_of_other_processes(
    key_env: Emulator, make_app: Any, tmp_path: Path
) -> None:
    """Edits the CLI (or any client) recorded in the same ledger file count against the cap."""
    ledger_file = tmp_path / "shared.sqlite3"
    other = open_ledger(spender_id(BearerAuth(key_env.api_key)), ledger_file)
    reservation = await other.reserve_edit(Decimal("0.09"), label="cli")
    await other.commit_edit(reservation, Decimal("0.09"))
    app = make_app(ledger_path=ledger_file, max_per_day_usd=Decimal("0.10"), no_confirm=True)
    async with connect(app) as client:
        result = await client.call_tool("edit_image", EDIT)
    assert error_of(result)["code"] == "per_day_cap_exceeded"
    assert edit_calls(key_env) == 0


async def test_an_unknown_outcome_counts_as_spent(
    make_emulator: Any, make_app: Any, monkeypatch: Any, dirs: tuple[Path, Path]
) -> None:
    """A 504 after the edit was charged: a tool error that says it may have been charged and not to
    retry automatically, and the $0.04 stays counted in the session and the day."""
    emu: Emulator = await make_emulator(
        faults=FaultPlan(script={"/image/edit": ["504_after_charge"]})
    )
    monkeypatch.setenv("VENICE_API_KEY", emu.api_key)
    monkeypatch.setenv("VENICE_BASE_URL", emu.base_url)
    app = make_app(no_confirm=True)
    async with connect(app) as client:
        result = await client.call_tool("edit_image", EDIT)
        status = (await client.call_tool("spend_status", {})).structured_content
    err = error_of(result)
    assert err["code"] == "outcome_unknown"
    assert err["may_have_been_charged"] is True
    assert err["retryable"] is False
    assert "do not retry automatically" in err["message"]
    assert err["request_id"]
    assert status is not None
    assert status["session"]["spent_usd"] == "0.04"
    assert status["last_24h"]["spent_usd"] == "0.04"


async def test_a_refused_request_is_released(
    key_env: Emulator, make_app: Any, monkeypatch: Any
) -> None:
    """A 402 (an empty key: nothing done, nothing charged): released, so the caps count
    nothing, and the error says it was not charged."""
    empty = "VENICE_INFERENCE_KEY_" + "cd" * 10
    key_env.add_api_key(empty, 0)
    monkeypatch.setenv("VENICE_API_KEY", empty)
    app = make_app(no_confirm=True)
    async with connect(app) as client:
        result = await client.call_tool("edit_image", EDIT)
        status = (await client.call_tool("spend_status", {})).structured_content
    err = error_of(result)
    assert err["code"] == "payment_required"
    assert err["may_have_been_charged"] is False
    assert status is not None
    assert status["session"]["spent_usd"] == "0.00"
    assert status["last_24h"]["spent_usd"] == "0.00"
    assert status["last_24h"]["reserved_usd"] == "0.00"


async def test_the_default_ledger_is_the_state_dir_file(
    key_env: Emulator, make_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --ledger the server uses the wallet's or key's file in $XDG_STATE_HOME, the one
    the CLI uses too."""
    from inpaint_async.spend import default_ledger_path

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    app = make_app(ledger_path=None)
    expected = default_ledger_path(spender_id(BearerAuth(key_env.api_key)))
    assert str(expected).startswith(str(tmp_path / "state"))
    assert app.ledger_label == str(expected)
    assert app.ledger.path == expected.resolve()


async def test_a_call_cancelled_in_flight_counts_as_spent(
    make_emulator: Any, make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host gives up while the edit is on the wire: the reservation is committed (it may have
    been charged), in the session and in the ledger."""
    from mcp.server.mcpserver import AcceptedElicitation

    from inpaint_async.mcp._server import Gate

    emu: Emulator = await make_emulator(faults=FaultPlan(script={"/image/edit": ["latency:5"]}))
    monkeypatch.setenv("VENICE_API_KEY", emu.api_key)
    monkeypatch.setenv("VENICE_BASE_URL", emu.base_url)
    app = make_app(no_confirm=True)
    outcome = AcceptedElicitation[Any].model_construct(data=Gate("not_needed"))
    task = asyncio.create_task(
        app.run_paid(
            outcome,
            lambda: app.plan_edit("a.png", "x", None, None, None, None, None, False, None),
        )
    )
    while not any(r.path.endswith("/image/edit") for r in emu.requests):
        await asyncio.sleep(0.02)
        if task.done():
            break
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert app.guard.session_spent_usd == Decimal("0.04")
    assert app.guard.session_reserved_usd == 0
    assert (await app.ledger.status()).edit_spent_24h_usd == Decimal("0.04")
