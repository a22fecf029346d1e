"""Wallet auth from the environment (a fresh SIWX per request) and secret canaries: no key,
wallet key or password in any tool result, log line or error."""

from __future__ import annotations

import json
import logging
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from inpaint_async.testing import Emulator, FaultPlan

from .conftest import Answers, connect, error_of


def keystore(key: str, password: str) -> str:
    """An encrypted keystore JSON (cheap KDF settings: this is a test)."""
    return json.dumps(Account.encrypt(key, password, kdf="pbkdf2", iterations=2))


def wallet_env(monkeypatch: pytest.MonkeyPatch, emu: Emulator, key: str, password: str) -> str:
    """The server's environment: a keystore wallet, funded on the emulator. Returns the address."""
    monkeypatch.delenv("VENICE_API_KEY", raising=False)
    monkeypatch.delenv("VENICE_WALLET_KEY", raising=False)
    monkeypatch.setenv("VENICE_WALLET_KEYSTORE", keystore(key, password))
    monkeypatch.setenv("VENICE_WALLET_PASSWORD", password)
    monkeypatch.setenv("VENICE_BASE_URL", emu.base_url)
    address: str = Account.from_key(key).address
    emu.fund_wallet(address, "5")
    return address


async def test_wallet_server_signs_every_request_afresh(
    emu: Emulator, make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A keystore wallet from the environment: two edits and a balance, three distinct SIWX
    nonces the emulator verified, charges on the wallet, and the ledger keyed by its address."""
    address = wallet_env(monkeypatch, emu, "0x" + "3c" * 32, "pw-" + secrets.token_hex(4))
    app = make_app(no_confirm=True)
    async with connect(app) as client:
        first = await client.call_tool("edit_image", {"image": "a.png", "prompt": "x"})
        second = await client.call_tool("edit_image", {"image": "b.png", "prompt": "y"})
        balance = await client.call_tool("wallet_balance", {})
        status = (await client.call_tool("spend_status", {})).structured_content
    assert not first.is_error and not second.is_error, (first, second)
    assert balance.structured_content is not None
    assert balance.structured_content["address"].lower() == address.lower()
    assert Decimal(balance.structured_content["balance_usd"]) == Decimal("4.92")
    signed = [r for r in emu.requests if r.payer == address.lower()]
    nonces = [r.siwx_nonce for r in signed]
    assert len(signed) == 3 and len(set(nonces)) == 3 and None not in nonces
    assert len(emu.charges_for(address)) == 2
    assert app.ledger.spender == address.lower()
    assert status is not None and status["last_24h"]["spent_usd"] == "0.08"


async def test_no_secret_in_results_logs_or_errors(
    make_emulator: Any,
    make_app: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """Canary API key, wallet key and password through successes, refusals, a 504 after the
    charge, a declined confirmation and a wrong password: none appears in any tool result (text
    or structured), any log record at DEBUG, or any error."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="inpaint_async")
    api_key = "VENICE_INFERENCE_KEY_canary" + secrets.token_hex(12)
    wallet_key = "0x" + secrets.token_hex(32)
    password = "canary-password-" + secrets.token_hex(6)
    canaries = [api_key, wallet_key, wallet_key[2:], password]
    emu: Emulator = await make_emulator(
        api_keys={api_key: 1},
        faults=FaultPlan(script={"/image/edit": [None, "504_after_charge"]}),
    )
    texts: list[str] = []
    calls: list[tuple[str, dict[str, Any]]] = [
        ("list_models", {}),
        ("estimate_cost", {"tool": "edit_image"}),
        ("wallet_balance", {}),
        ("spend_status", {}),
        ("edit_image", {"image": "a.png", "prompt": "ok"}),
        ("edit_image", {"image": "a.png", "prompt": "504 after the charge"}),
        ("edit_image", {"image": "../x.png", "prompt": "outside"}),
        ("edit_image", {"image": "a.png", "prompt": "x", "model": "nope"}),
        ("edit_image", {"image": "a.png", "prompt": "x", "model": "gpt-image-1-5-edit"}),
        ("upscale_image", {"image": "a.png"}),
    ]

    async def run(app: Any, answers: Answers | None) -> None:
        async with connect(app, answers) as client:
            for name, args in calls:
                result = await client.call_tool(name, args)
                texts.append(result.model_dump_json())

    # The API key.
    monkeypatch.setenv("VENICE_API_KEY", api_key)
    monkeypatch.setenv("VENICE_BASE_URL", emu.base_url)
    await run(make_app(ledger_path=tmp_path / "k.sqlite3"), Answers())
    # The wallet, from a keystore and its password; the user declines.
    wallet_env(monkeypatch, emu, wallet_key, password)
    emu.faults = FaultPlan()
    app = make_app(ledger_path=tmp_path / "w.sqlite3")
    await run(app, Answers("decline"))
    texts.append(repr(app.client))
    # A wrong password: the server starts, paid tools explain, nothing leaks.
    monkeypatch.setenv("VENICE_WALLET_PASSWORD", password + "x")
    broken = make_app(ledger_path=tmp_path / "b.sqlite3")
    async with connect(broken) as client:
        result = await client.call_tool("edit_image", {"image": "a.png", "prompt": "x"})
    assert error_of(result)["code"] == "bad_credentials"
    texts.append(result.model_dump_json())

    from inpaint_async.cli._mcp import banner

    texts.extend(banner(app, "stdio"))
    texts.extend(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert len(texts) > 20 and any("outcome_unknown" in t for t in texts)
    assert any("confirmation_declined" in t for t in texts)
    for text in texts:
        for canary in canaries:
            assert canary not in text, text[:300]
