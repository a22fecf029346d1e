"""Confirmation through MCP elicitation: only an explicit "accept" lets a paid request leave."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import anyio
import pytest
from mcp.types import ElicitResult

from inpaint_async.testing import Emulator

from .conftest import Answers, connect, edit_calls, error_of

EDIT = {"image": "a.png", "prompt": "add a red hat"}  # $0.04
MODES = ["legacy", "auto"]  # the 2025-11-25 handshake, and 2026-07-28 (InputRequiredResult)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("action", "confirm", "code"),
    [
        ("decline", True, "confirmation_declined"),
        ("cancel", True, "confirmation_cancelled"),
        ("accept", False, "confirmation_declined"),  # accepted the form, but said no
    ],
)
async def test_anything_but_accept_sends_nothing(
    key_env: Emulator, make_app: Any, mode: str, action: str, confirm: bool, code: str
) -> None:
    """Decline, cancel, or a form answered "no": a tool error, no request, nothing counted."""
    app = make_app()
    answers = Answers(action, confirm)
    async with connect(app, answers, mode=mode) as client:
        result = await client.call_tool("edit_image", EDIT)
    err = error_of(result)
    assert err["code"] == code
    assert err["may_have_been_charged"] is False
    assert len(answers.questions) == 1
    assert edit_calls(key_env) == 0
    assert app.guard.session_spent_usd == 0


@pytest.mark.parametrize("mode", MODES)
async def test_accept_sends_one_request(key_env: Emulator, make_app: Any, mode: str) -> None:
    """Accept: the question names the price and the model, and exactly one request is sent."""
    app = make_app()
    answers = Answers()
    async with connect(app, answers, mode=mode) as client:
        result = await client.call_tool("edit_image", EDIT)
    assert not result.is_error
    assert answers.questions == [
        f"Spend up to $0.04 (USD) to edit 'a.png': 'add a red hat' with model "
        f"firered-image-edit? The result goes to {app.sandbox.out_dir}."
    ]
    assert edit_calls(key_env) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_a_client_that_cannot_ask_fails_closed(
    key_env: Emulator, make_app: Any, mode: str
) -> None:
    """No elicitation capability: refused with a tool error that names the operator's options."""
    app = make_app()
    async with connect(app, None, mode=mode) as client:
        result = await client.call_tool("edit_image", EDIT)
    err = error_of(result)
    assert err["code"] == "confirmation_unavailable"
    assert "--confirm-above-usd" in err["message"]
    assert edit_calls(key_env) == 0


async def test_no_answer_in_time_fails_closed(key_env: Emulator, make_app: Any) -> None:
    """The user never answers: refused after --confirm-timeout, nothing sent."""
    app = make_app(confirm_timeout=0.2)

    async def never(context: Any, params: Any) -> ElicitResult:
        await anyio.sleep(30)
        raise AssertionError("unreachable")

    async with connect(app, never) as client:  # type: ignore[arg-type]
        with anyio.fail_after(10):
            result = await client.call_tool("edit_image", EDIT)
    err = error_of(result)
    assert err["code"] == "confirmation_timeout"
    assert edit_calls(key_env) == 0


async def test_a_broken_answer_fails_closed(key_env: Emulator, make_app: Any) -> None:
    """An "accept" without the confirm field: refused, nothing sent."""
    app = make_app()

    async def odd(context: Any, params: Any) -> ElicitResult:
        return ElicitResult(action="accept", content={"something": "else"})

    async with connect(app, odd) as client:  # type: ignore[arg-type]
        result = await client.call_tool("edit_image", EDIT)
    assert error_of(result)["code"] == "confirmation_failed"
    assert edit_calls(key_env) == 0


async def test_threshold_and_no_confirm(key_env: Emulator, make_app: Any) -> None:
    """Above --confirm-above-usd the user is asked; at or below it, and with --no-confirm,
    the call goes through unasked (the caps still apply)."""
    answers = Answers()
    app = make_app(confirm_above_usd=Decimal("0.05"))
    async with connect(app, answers) as client:
        cheap = await client.call_tool("edit_image", EDIT)
        dear = await client.call_tool("edit_image", {**EDIT, "model": "flux-2-max-edit"})
    assert not cheap.is_error and not dear.is_error
    assert len(answers.questions) == 1 and "$0.12" in answers.questions[0]

    unattended = make_app(no_confirm=True, ledger_path=":memory:")
    async with connect(unattended, None) as client:
        result = await client.call_tool("edit_image", EDIT)
    assert not result.is_error
    assert edit_calls(key_env) == 3
