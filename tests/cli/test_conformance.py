"""`inpaint-async conformance`: the contract suite against the emulator (never the real API)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from inpaint_async import InpaintClient, WalletAuth
from inpaint_async.cli import main
from inpaint_async.cli._conformance import Report, run_conformance
from inpaint_async.testing import Emulator

from .conftest import WALLET_KEY, clean_env, run_cli

PAID = ("edit", "quality-on-multi-edit", "quality-on-edit", "unknown-field")


def by_check(report: Report) -> dict[str, Any]:
    return {f.check: f for f in report.findings}


def charged(emu: Emulator) -> Decimal:
    return sum((e.amount_usd for e in emu.charges_for()), Decimal(0))


async def test_the_emulator_conforms_and_the_cap_holds(emulator: Emulator) -> None:
    """Every assumption holds on the emulator; charges stay within what the report counted."""
    async with InpaintClient(emulator.api_key, base_url=emulator.base_url) as client:
        report = await run_conformance(client)
    checks = by_check(report)
    assert report.differences == []
    assert {
        "catalogue",
        "402-shape",
        "error-shape",
        "siwx",
        "headers",
        "rate-limit-headers",
    } <= set(checks)
    assert all(checks[name].status in ("ok", "info") for name in PAID)
    assert checks["quality-on-edit"].observed.startswith("400")  # the strict (schema) emulator
    assert 0 < charged(emulator) <= report.spent_usd <= Decimal("0.20")
    assert report.spent_usd == sum((f.cost_usd for f in report.findings), Decimal(0))


@pytest.mark.parametrize("cap", ["0", "0.05"])
async def test_paid_checks_past_the_cap_are_skipped_unsent(emulator: Emulator, cap: str) -> None:
    """--max-usd is hard: a check that would pass it is skipped and never sent."""
    async with InpaintClient(emulator.api_key, base_url=emulator.base_url) as client:
        report = await run_conformance(client, max_usd=Decimal(cap))
    skipped = [f.check for f in report.findings if f.status == "skipped"]
    assert charged(emulator) <= report.spent_usd <= Decimal(cap)
    multi_edits = [r for r in emulator.requests if r.path.endswith("/multi-edit")]
    if cap == "0":
        assert skipped == list(PAID) and multi_edits == [] and charged(emulator) == 0
    else:  # room for the cheapest edit ($0.0323) and nothing more
        assert skipped == list(PAID[1:]) and multi_edits == []


async def test_a_deviating_server_shows_each_difference(make_emulator: Any) -> None:
    """The emulator's deviation mode: the report names every assumption it breaks."""
    emu = await make_emulator(
        deviations={"no_rate_limit_headers", "multi_edit_rejects_quality", "no_model_headers"}
    )
    async with InpaintClient(emu.api_key, base_url=emu.base_url) as client:
        report = await run_conformance(client)
    differs = {f.check for f in report.differences}
    assert differs == {"headers", "rate-limit-headers", "quality-on-multi-edit"}
    assert "x-venice-model-id" in by_check(report)["headers"].observed


async def test_wallet_auth_checks_its_own_sign_in_and_balance_header(make_emulator: Any) -> None:
    """With a wallet the suite signs in with it and reports X-Balance-Remaining."""
    wallet = WalletAuth(WALLET_KEY)
    emu = await make_emulator(wallets={wallet.address: "1"})
    async with InpaintClient(wallet, base_url=emu.base_url) as client:
        report = await run_conformance(client, max_usd=Decimal("0.04"))
    checks = by_check(report)
    assert checks["siwx"].status == "ok" and checks["balance-header"].status == "ok"
    assert wallet.address.lower() in {r.path.split("/")[-1].lower() for r in emu.requests}


async def test_command_prints_a_report_and_exits_by_its_verdict() -> None:
    """The command: 0 and a JSON report on a conforming emulator, 1 with a deviation."""
    env = clean_env()
    ok = await run_cli("conformance", "--json", env=env, timeout=60)
    assert ok.code == 0, ok.err
    document = json.loads(ok.out)
    assert document["live"] is False and document["differences"] == 0
    bad = await run_cli(
        "conformance", "--emulator-deviation", "no_rate_limit_headers", env=env, timeout=60
    )
    assert bad.code == 1
    assert "differs" in bad.out and "rate-limit-headers" in bad.out and "1 difference" in bad.out


def test_the_real_api_is_only_reached_with_live(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--base-url without --live is refused; --live without credentials fails before sending."""
    for name in ("VENICE_API_KEY", "VENICE_WALLET_KEY", "VENICE_WALLET_KEYSTORE"):
        monkeypatch.delenv(name, raising=False)
    assert main(["--base-url", "http://127.0.0.1:9/api/v1", "conformance"]) == 2
    assert "--live" in capsys.readouterr().err
    assert main(["--base-url", "http://127.0.0.1:9/api/v1", "conformance", "--live"]) == 2
    assert "no credentials" in capsys.readouterr().err
    assert main(["conformance", "--max-usd", "lots"]) == 2
    assert "--max-usd" in capsys.readouterr().err
    assert main(["conformance", "--live", "--emulator-deviation", "no_model_headers"]) == 2


async def test_live_mode_runs_against_the_given_server_with_env_credentials(
    emulator: Emulator,
) -> None:
    """--live with --base-url and VENICE_API_KEY: the same suite, marked live (here, loopback)."""
    env = clean_env(VENICE_API_KEY=emulator.api_key)
    run = await run_cli(
        "--base-url", emulator.base_url, "conformance", "--live", "--max-usd", "0.1",
        "--model", "firered-image-edit", "--json", env=env, timeout=60,
    )  # fmt: skip
    assert run.code == 0, run.err
    document = json.loads(run.out)
    assert document["live"] is True and document["target"] == emulator.base_url
    assert "firered-image-edit" in document["findings"][0]["observed"]
    assert Decimal(document["spent_usd"]) <= Decimal("0.1")


async def test_a_server_that_is_down_is_an_error_not_a_pass(emulator: Emulator) -> None:
    """An unreachable server yields an error finding (and no crash)."""
    async with InpaintClient(emulator.api_key, base_url="http://127.0.0.1:9/api/v1") as client:
        report = await run_conformance(client)
    assert [(f.check, f.status) for f in report.findings] == [("catalogue", "error")]


async def test_an_unknown_model_is_an_error_and_nothing_is_paid(emulator: Emulator) -> None:
    """--model that the catalogue does not price: an error finding, no paid call."""
    async with InpaintClient(emulator.api_key, base_url=emulator.base_url) as client:
        report = await run_conformance(client, model="no-such-edit-model")
    assert by_check(report)["catalogue"].status == "error"
    assert charged(emulator) == 0 and report.spent_usd == 0
