"""Every tool once, on the emulator, through an in-memory MCP client session."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mcp.types import ResourceLink

from inpaint_async.testing import Emulator

from .conftest import Answers, connect, edit_calls, error_of

EXPECTED_ANNOTATIONS = {
    # name: (readOnly, idempotent, destructive, openWorld)
    "list_models": (True, True, False, True),
    "estimate_cost": (True, True, False, True),
    "wallet_balance": (True, True, False, True),
    "spend_status": (True, True, False, False),
    "edit_image": (False, False, False, True),
    "multi_edit_images": (False, False, False, True),
    "upscale_image": (False, False, False, True),
    "remove_background": (False, False, False, True),
}


async def test_tools_are_listed_with_their_annotations(key_env: Emulator, make_app: Any) -> None:
    """Read-only tools say read-only and idempotent; paid tools say neither; no top-up tool."""
    app = make_app()
    async with connect(app) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == set(EXPECTED_ANNOTATIONS)
    for name, (read_only, idempotent, destructive, open_world) in EXPECTED_ANNOTATIONS.items():
        a = tools[name].annotations
        assert a is not None, name
        assert (a.read_only_hint, a.idempotent_hint, a.destructive_hint, a.open_world_hint) == (
            read_only, idempotent, destructive, open_world,
        ), name  # fmt: skip
    # The confirmation is the server's business, never an argument the agent could fill in.
    assert "confirmation" not in tools["edit_image"].input_schema["properties"]


async def test_list_models_estimate_and_status(key_env: Emulator, make_app: Any) -> None:
    """The catalogue with prices and the allowlist, a price, and the caps with nothing spent."""
    app = make_app(models=frozenset({"firered-image-edit"}))
    async with connect(app) as client:
        models = (await client.call_tool("list_models", {})).structured_content
        estimate = await client.call_tool(
            "estimate_cost", {"tool": "edit_image", "model": "firered-image-edit"}
        )
        upscale = await client.call_tool("estimate_cost", {"tool": "upscale_image", "scale": 4})
        status = (await client.call_tool("spend_status", {})).structured_content
    assert models is not None
    by_id = {m["id"]: m for m in models["models"]}
    assert by_id["firered-image-edit"]["price_usd"] == "0.04"
    assert by_id["firered-image-edit"]["allowed"] is True
    assert by_id["flux-2-max-edit"]["allowed"] is False
    assert estimate.structured_content == {
        "tool": "edit_image",
        "model": "firered-image-edit",
        "cost_usd": "0.04",
        "within_caps": True,
        "cap_refusal": None,
        "needs_confirmation": True,
    }
    # The upscaler is not on this server's allowlist.
    assert error_of(upscale)["code"] == "model_not_allowed"
    assert status is not None
    assert status["caps"] == {
        "per_call_usd": "0.50",
        "per_session_usd": "2.00",
        "per_day_usd": "5.00",
    }
    assert status["session"]["spent_usd"] == "0.00"
    assert status["remaining_usd"] == "2.00"
    assert edit_calls(key_env) == 0


async def test_wallet_balance_with_an_api_key(
    key_env: Emulator, make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An (admin) API key's balance comes from /billing/balance."""
    admin = "VENICE_ADMIN_KEY_" + "ab" * 8
    key_env.add_api_key(admin, "7.5")
    monkeypatch.setenv("VENICE_API_KEY", admin)
    app = make_app()
    async with connect(app) as client:
        result = await client.call_tool("wallet_balance", {})
    assert result.structured_content == {"kind": "api_key", "balance_usd": "7.5"}


async def test_each_paid_tool_writes_into_the_out_dir(
    key_env: Emulator, make_app: Any, dirs: tuple[Path, Path]
) -> None:
    """Edit, multi-edit, upscale and background removal: a file in --out-dir, a resource link,
    the catalogue price, the request id and the model; each charged exactly once."""
    app = make_app()
    answers = Answers()
    calls = [
        ("edit_image", {"image": "a.png", "prompt": "add a hat", "output_name": "hat"}, "0.04"),
        ("multi_edit_images", {"images": ["a.png", "b.png"], "prompt": "merge",
                               "model": "qwen-image-3-edit"}, "0.04690"),
        ("upscale_image", {"image": "a.png", "scale": 2}, "0.02"),
        ("remove_background", {"image": "b.png"}, "0.03"),
    ]  # fmt: skip
    results = []
    async with connect(app, answers) as client:
        for name, args, _ in calls:
            results.append(await client.call_tool(name, args))
    out_dir = dirs[1].resolve()
    for (name, _, price), result in zip(calls, results, strict=True):
        assert not result.is_error, (name, result.structured_content)
        data = result.structured_content
        assert data is not None
        path = Path(data["path"])
        assert path.parent == out_dir and path.is_file() and path.stat().st_size > 0
        assert Decimal(data["cost_usd"]) == Decimal(price), name
        assert data["request_id"] and data["model"]
        links = [c for c in result.content if isinstance(c, ResourceLink)]
        assert [str(link.uri) for link in links] == [path.as_uri()]
    assert results[0].structured_content["path"].endswith("hat.png")  # type: ignore[index]
    assert len(answers.questions) == 4
    charges = key_env.charges_for(key_env.api_key)
    assert [c.amount_usd for c in charges] == [Decimal(p) for _, _, p in calls]


async def test_the_same_output_name_twice_is_refused(key_env: Emulator, make_app: Any) -> None:
    """Results never overwrite a file: the second call is refused before anything is sent."""
    app = make_app(no_confirm=True)
    args = {"image": "a.png", "prompt": "x", "output_name": "same.png"}
    async with connect(app) as client:
        first = await client.call_tool("edit_image", args)
        second = await client.call_tool("edit_image", args)
    assert not first.is_error
    assert error_of(second)["code"] == "invalid_request"
    assert edit_calls(key_env) == 1


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_both_protocol_generations(key_env: Emulator, make_app: Any, mode: str) -> None:
    """Handshake-era (2025-11-25) and 2026-07-28 sessions both confirm and edit."""
    app = make_app()
    answers = Answers()
    async with connect(app, answers, mode=mode) as client:
        result = await client.call_tool("edit_image", {"image": "a.png", "prompt": "x"})
    assert not result.is_error, result.structured_content
    assert len(answers.questions) == 1 and "$0.04" in answers.questions[0]
    assert edit_calls(key_env) == 1


def test_the_skill_file_ships_and_names_every_tool() -> None:
    """The agent skill file is package data and describes every tool and the retry rule."""
    from importlib.resources import files

    skill = files("inpaint_async") / "skills" / "inpaint-async" / "SKILL.md"
    text = skill.read_text(encoding="utf-8")
    assert text.startswith("---\nname: inpaint-async\n")
    for name in [*EXPECTED_ANNOTATIONS, "top_up_wallet"]:
        assert f"`{name}`" in text, name
    assert "may_have_been_charged" in text
