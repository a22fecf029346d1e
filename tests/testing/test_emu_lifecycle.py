"""Starting the emulator: in process, the pytest fixture, the CLI, and the admin API."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import aiohttp
import pytest

from inpaint_async.testing import Emulator, LedgerEntry
from inpaint_async.testing.__main__ import build_parser, main

from .helpers import WALLET, image_b64


async def test_fixture_gives_a_running_emulator(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    """The plugin's fixture binds 127.0.0.1 on an ephemeral port with a funded key."""
    assert emulator.base_url.startswith("http://127.0.0.1:")
    assert emulator.base_url.endswith("/api/v1")
    assert emulator.port != 0
    assert emulator.api_key.startswith("VENICE_INFERENCE_KEY_")
    assert emulator.balance_of(emulator.api_key) == Decimal(100)
    assert emulator.settings.rate_limit_rpm == 100_000
    async with http.get(emulator.base_url + "/models?type=inpaint") as r:
        assert r.status == 200


async def test_start_and_stop_without_context_manager(http: aiohttp.ClientSession) -> None:
    """`await start()` / `await stop()` work; two emulators get different ports."""
    first, second = Emulator(), Emulator()
    await first.start()
    await second.start()
    try:
        assert first.port != second.port
        with pytest.raises(RuntimeError):
            await first.start()
    finally:
        await first.stop()
        await second.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.get(first.base_url + "/models"):
            pass


async def test_keys_wallets_and_ledger_api(http: aiohttp.ClientSession) -> None:
    """add_api_key, fund_wallet, balance_of and the typed ledger entries."""
    async with Emulator(api_keys={"VENICE_INFERENCE_KEY_a": "1.5"}, max_output_side=64) as emu:
        assert emu.api_key == "VENICE_INFERENCE_KEY_a"
        emu.add_api_key("VENICE_INFERENCE_KEY_b", 2)
        emu.fund_wallet(WALLET.upper().replace("0X", "0x"), 3)
        assert emu.balance_of(WALLET.lower()) == 3
        async with http.post(
            emu.base_url + "/image/edit",
            json={"image": image_b64(), "prompt": "x"},
            headers={"Authorization": "Bearer VENICE_INFERENCE_KEY_b"},
        ) as r:
            assert r.status == 200
        (entry,) = emu.ledger
        assert isinstance(entry, LedgerEntry)
        assert (entry.kind, entry.payer, entry.request_id) == (
            "charge",
            "VENICE_INFERENCE_KEY_b",
            emu.requests[-1].request_id,
        )
        assert emu.charges_for("VENICE_INFERENCE_KEY_a") == []
        assert emu.credits_for() == []
        emu.reset()
        assert emu.ledger == []
        assert emu.requests == []


async def test_admin_api(http: aiohttp.ClientSession) -> None:
    """/_emulator/ exposes faults, ledger, balances, requests and reset when enabled."""
    async with Emulator(admin=True, max_output_side=64) as emu:
        root = emu.url + "/_emulator"
        async with http.put(root + "/faults", json={"script": {"/image/edit": ["503"]}}) as r:
            assert r.status == 200
        async with http.get(root + "/faults") as r:
            assert (await r.json())["script"] == {"/image/edit": ["503"]}
        async with http.put(root + "/faults", json={"rules": {"*": {"teapot": 1}}}) as r:
            assert r.status == 400
        async with http.put(root + "/balances", json={WALLET: "7.5"}) as r:
            assert (await r.json())[WALLET.lower()] == "7.5"
        headers = {"Authorization": f"Bearer {emu.api_key}"}
        body = {"image": image_b64(), "prompt": "x"}
        async with http.post(emu.base_url + "/image/edit", json=body, headers=headers) as r:
            assert r.status == 503
        async with http.post(emu.base_url + "/image/edit", json=body, headers=headers) as r:
            assert r.status == 200
        async with http.get(root + "/ledger") as r:
            ledger = await r.json()
        assert [(e["kind"], e["amount_usd"]) for e in ledger] == [("charge", "0.04")]
        async with http.get(root + "/requests") as r:
            seen = [q["status"] for q in await r.json() if q["path"].endswith("/image/edit")]
        assert seen == [503, 200]
        async with http.post(root + "/reset") as r:
            assert r.status == 200
        assert emu.ledger == []
        assert emu.balance_of(WALLET) == 0
        async with http.put(root + "/balances", data=b"[1]") as r:
            assert r.status == 400


async def test_admin_api_is_off_by_default(emulator: Emulator, http: aiohttp.ClientSession) -> None:
    """Without admin=True the admin routes do not exist."""
    async with http.get(emulator.url + "/_emulator/ledger") as r:
        assert r.status == 404


def test_cli_parser_and_bad_flags(capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI parses its flags and refuses malformed ones with exit status 2."""
    args = build_parser().parse_args(["--port", "0", "--fault", "503:0.1", "--admin"])
    assert (args.host, args.port, args.fault, args.admin) == ("127.0.0.1", 0, ["503:0.1"], True)
    with pytest.raises(SystemExit) as exc:
        main(["--fault", "teapot"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        main(["--fund-wallet", "nope"])
    assert "--fund-wallet" in capsys.readouterr().err


def test_plugin_import_is_light() -> None:
    """Loading the pytest plugin pulls in neither Pillow, aiohttp.web nor eth_account."""
    code = (
        "import sys, inpaint_async.testing.pytest_plugin, inpaint_async.testing;"
        "heavy = [m for m in ('PIL', 'aiohttp.web', 'eth_account') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_cli_serves_and_prints_connection_details() -> None:
    """`python -m inpaint_async.testing` prints the base URL and a key, then serves."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "inpaint_async.testing", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        assert "base URL   http://127.0.0.1:" in lines[1]
        assert "VENICE_INFERENCE_KEY_emulator_" in lines[2]
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
