"""Money on the command line: `top-up` shows the offer before asking and honours a payee pin;
`edit`/`batch` top up under caps kept in a ledger file across runs."""

from __future__ import annotations

import asyncio
import os
import pty
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from inpaint_async import WalletAuth
from inpaint_async.cli._errors import EXIT_OK, EXIT_OTHER, EXIT_PAYMENT, EXIT_USAGE
from inpaint_async.spend import default_ledger_path, open_ledger, spender_id

from .conftest import WALLET_KEY, clean_env, run_cli, write_png

Serve = Callable[[web.Application], Awaitable[str]]
PINNED = "0x2670B922ef37C7Df47158725C0CC407b5382293F"
DECOY = "0x" + "de" * 20
USDC = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"


def offer(pay_to: str) -> dict[str, Any]:
    return {
        "scheme": "exact", "network": "eip155:8453", "amount": "5000000", "asset": USDC,
        "payTo": pay_to, "maxTimeoutSeconds": 300,
    }  # fmt: skip


class PayeeServer:
    """Lists ``payees`` as offers (in that order); credits every payment it gets."""

    def __init__(self, *payees: str) -> None:
        self.payees = payees
        self.paid_to: list[str] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/v1/x402/top-up", self.top_up)
        app.router.add_get("/api/v1/x402/balance/{wallet}", self.balance)
        return app

    async def balance(self, request: web.Request) -> web.Response:
        data = {"walletAddress": request.match_info["wallet"], "balanceUsd": 1}
        return web.json_response({"success": True, "data": data})

    async def top_up(self, request: web.Request) -> web.Response:
        header = request.headers.get("payment-signature")
        if header is None:
            body = {"x402Version": 2, "accepts": [offer(p) for p in self.payees]}
            return web.json_response(body, status=402)
        import base64
        import json

        payment = json.loads(base64.b64decode(header))
        self.paid_to.append(payment["payload"]["authorization"]["to"])
        data = {
            "walletAddress": payment["payload"]["authorization"]["from"],
            "amountCredited": 5, "newBalance": 6, "paymentId": f"p{len(self.paid_to)}",
        }  # fmt: skip
        return web.json_response({"success": True, "data": data})


async def top_up_cli(serve_app: Serve, server: PayeeServer, *args: str, **env: str) -> Any:
    base = await serve_app(server.app())
    environ = clean_env(VENICE_WALLET_KEY=WALLET_KEY, VENICE_BASE_URL=base + "/api/v1", **env)
    return await run_cli("top-up", "5", *args, env=environ)


async def test_a_pin_that_no_offer_matches_signs_nothing_even_with_yes(serve_app: Serve) -> None:
    """The server names another payee; --payee pins ours: refused, nothing signed."""
    server = PayeeServer(DECOY)
    run = await top_up_cli(serve_app, server, "--payee", PINNED, "--yes")
    assert run.code == EXIT_PAYMENT, run.err
    assert server.paid_to == []
    assert "PaymentRailError" in run.err and "pinned" in run.err


async def test_the_env_pin_holds_too(serve_app: Serve) -> None:
    """VENICE_PAYEE pins like --payee does."""
    server = PayeeServer(DECOY)
    run = await top_up_cli(serve_app, server, "--yes", VENICE_PAYEE=PINNED)
    assert run.code == EXIT_PAYMENT and server.paid_to == []


async def test_a_pinned_offer_is_chosen_wherever_it_is_listed(serve_app: Serve) -> None:
    """A decoy listed first changes nothing: the pinned offer is paid, and only it."""
    server = PayeeServer(DECOY, PINNED)
    run = await top_up_cli(serve_app, server, "--payee", PINNED.lower(), "--yes")
    assert run.code == EXIT_OK, run.err
    assert server.paid_to == [PINNED]


async def test_the_offer_is_printed_before_the_question(serve_app: Serve) -> None:
    """Without --yes on a terminal: payee, network, asset and amount, then the question; a
    'no' signs nothing."""
    server = PayeeServer(DECOY)
    base = await serve_app(server.app())
    env = clean_env(VENICE_WALLET_KEY=WALLET_KEY, VENICE_BASE_URL=base + "/api/v1")
    master, slave = pty.openpty()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "inpaint_async.cli", "top-up", "5",
        env=env, stdin=slave, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    os.close(slave)
    os.write(master, b"n\n")
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    os.close(master)
    text = err.decode()
    assert proc.returncode == EXIT_OTHER, text
    offer_at = text.index("top-up offer")
    question_at = text.index("Pay $5 of USDC")
    assert offer_at < question_at
    offer_line = text[offer_at:question_at]
    assert DECOY in offer_line and "NOT pinned" in offer_line
    assert "eip155:8453" in offer_line and USDC in offer_line and "$5" in offer_line
    assert server.paid_to == []


async def test_without_a_terminal_the_offer_shows_and_nothing_is_paid(serve_app: Serve) -> None:
    """No tty, no --yes: the offer is shown, then the refusal; nothing signed."""
    server = PayeeServer(PINNED)
    run = await top_up_cli(serve_app, server)
    assert run.code == EXIT_USAGE
    assert run.err.index(PINNED) < run.err.index("refusing to spend")
    assert server.paid_to == []


async def test_edit_tops_up_under_caps_that_survive_runs(
    make_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three `edit` runs on a drained wallet, $5 top-ups, $10 cap: the third is refused (the
    cap is in the default ledger file, not in the process)."""
    wallet = WalletAuth(WALLET_KEY)
    emu = await make_emulator()
    env = clean_env(VENICE_WALLET_KEY=WALLET_KEY, VENICE_BASE_URL=emu.base_url)
    image = write_png(tmp_path / "in.png")
    codes = []
    for i in range(3):
        emu.fund_wallet(wallet.address, 0)
        run = await run_cli(
            "edit", str(image), "add a hat", "-o", str(tmp_path / f"out{i}.png"),
            "--top-up-amount", "5", "--max-top-up-total", "10", env=env,
        )  # fmt: skip
        codes.append(run.code)
    assert codes == [EXIT_OK, EXIT_OK, EXIT_PAYMENT], run.err
    assert "TopUpLimitError" in run.err
    assert len(emu.credits_for(wallet.address)) == 2
    ledger = default_ledger_path(spender_id(wallet))
    assert ledger.exists() and str(ledger).startswith(os.environ["XDG_STATE_HOME"])
    status = await open_ledger(spender_id(wallet), ledger).status()
    assert status.auto_signed_total_usd == Decimal(10)


async def test_batch_uses_the_given_ledger_and_per_day_cap(
    make_emulator: Any, tmp_path: Path
) -> None:
    """`batch --ledger PATH --max-top-up-per-day`: one top-up, recorded in that file."""
    wallet = WalletAuth(WALLET_KEY)
    emu = await make_emulator()
    emu.fund_wallet(wallet.address, 0)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        write_png(src / f"img{i}.png", shade=i * 40)
    ledger = tmp_path / "my-ledger.sqlite3"
    env = clean_env(VENICE_WALLET_KEY=WALLET_KEY, VENICE_BASE_URL=emu.base_url)
    run = await run_cli(
        "batch", str(src), "--prompt", "hat", "--out", str(tmp_path / "out"), "--quiet",
        "--top-up-amount", "5", "--max-top-up-total", "50", "--max-top-up-per-day", "5",
        "--ledger", str(ledger), env=env,
    )  # fmt: skip
    assert run.code == EXIT_OK, run.err
    assert len(emu.credits_for(wallet.address)) == 1
    status = await open_ledger(spender_id(wallet), ledger).status()
    assert status.auto_signed_total_usd == Decimal(5)


async def test_half_a_policy_is_a_usage_error(make_emulator: Any, tmp_path: Path) -> None:
    """--top-up-amount without --max-top-up-total (or the reverse): exit 2, nothing sent."""
    emu = await make_emulator()
    env = clean_env(VENICE_WALLET_KEY=WALLET_KEY, VENICE_BASE_URL=emu.base_url)
    image = write_png(tmp_path / "in.png")
    for flags in (("--top-up-amount", "5"), ("--max-top-up-total", "10")):
        run = await run_cli(
            "edit", str(image), "hat", "-o", str(tmp_path / "o.png"), *flags, env=env
        )
        assert run.code == EXIT_USAGE, run.err
        assert "--top-up-amount and --max-top-up-total" in run.err
    assert not [r for r in emu.requests if r.path.endswith("/image/edit")]


async def test_top_up_flags_with_an_api_key_are_refused(make_emulator: Any, tmp_path: Path) -> None:
    """Automatic top-ups need a wallet: with an API key the flags are a usage error."""
    emu = await make_emulator()
    env = clean_env(VENICE_API_KEY="test-key", VENICE_BASE_URL=emu.base_url)
    image = write_png(tmp_path / "in.png")
    run = await run_cli(
        "edit", str(image), "hat", "-o", str(tmp_path / "o.png"),
        "--top-up-amount", "5", "--max-top-up-total", "10", env=env,
    )  # fmt: skip
    assert run.code == EXIT_USAGE and "need a wallet" in run.err
