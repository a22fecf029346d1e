"""Each `inpaint-async` subcommand end to end against the emulator, exit codes included."""

from __future__ import annotations

import asyncio
import signal
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from inpaint_async import WalletAuth
from inpaint_async.cli._errors import EXIT_AUTH, EXIT_PAYMENT, EXIT_USAGE

from .conftest import WALLET_KEY, clean_env, run_cli, write_png


async def test_edit_writes_the_output(make_emulator, tmp_path: Path) -> None:
    """`edit IMAGE PROMPT -o OUT`: exit 0, the file is written, the request id is printed."""
    emu = await make_emulator()
    image = write_png(tmp_path / "in.png")
    env = clean_env(VENICE_API_KEY=emu.api_key)
    run = await run_cli("--base-url", emu.base_url, "edit", str(image), "add a hat",
                        "-o", str(tmp_path / "out.png"), env=env)  # fmt: skip
    assert run.code == 0, run.err
    (charge,) = emu.charges_for(emu.api_key)
    assert charge.request_id in run.out
    assert (tmp_path / "out.png").read_bytes().startswith(b"\x89PNG")


async def test_edit_with_a_quality_bills_that_tier(make_emulator, tmp_path: Path) -> None:
    """`edit --quality low` on gpt-image-2-edit: sent as a one-image multi-edit, billed low."""
    emu = await make_emulator()
    image = write_png(tmp_path / "in.png")
    env = clean_env(VENICE_API_KEY=emu.api_key)
    run = await run_cli("--base-url", emu.base_url, "edit", str(image), "add a hat",
                        "--model", "gpt-image-2-edit", "--quality", "low",
                        "--aspect-ratio", "auto", "-o", str(tmp_path / "out.png"), env=env)  # fmt: skip
    assert run.code == 0, run.err
    (charge,) = emu.charges_for(emu.api_key)
    assert charge.amount_usd == Decimal("0.03")
    assert [r.path for r in emu.requests if r.method == "POST"] == ["/api/v1/image/multi-edit"]


async def test_a_bad_key_exits_3_with_the_request_id(make_emulator, tmp_path: Path) -> None:
    """A 401: exit code 3, the error and request id on stderr, the key nowhere."""
    emu = await make_emulator()
    image = write_png(tmp_path / "in.png")
    key = "VENICE_INFERENCE_KEY_wrong_canary_42"
    env = clean_env(VENICE_API_KEY=key, VENICE_BASE_URL=emu.base_url)
    run = await run_cli("edit", str(image), "x", "-o", str(tmp_path / "o.png"), env=env)
    assert run.code == EXIT_AUTH
    assert "AuthenticationError" in run.err
    assert emu.requests[-1].request_id in run.err
    assert key not in run.out + run.err


async def test_no_credit_exits_4(make_emulator, tmp_path: Path) -> None:
    """A 402 (API key out of funds): exit code 4."""
    emu = await make_emulator(api_keys={"VENICE_INFERENCE_KEY_poor": "0"})
    image = write_png(tmp_path / "in.png")
    env = clean_env(VENICE_API_KEY="VENICE_INFERENCE_KEY_poor", VENICE_BASE_URL=emu.base_url)
    run = await run_cli("edit", str(image), "x", "-o", str(tmp_path / "o.png"), env=env)
    assert run.code == EXIT_PAYMENT
    assert "402" in run.err


async def test_models_prints_a_price_table(make_emulator) -> None:
    """`models` works without credentials and lists the edit models with prices."""
    emu = await make_emulator()
    run = await run_cli("--base-url", emu.base_url, "models", env=clean_env())
    assert run.code == 0, run.err
    assert "firered-image-edit" in run.out
    assert "$0." in run.out


async def test_balance_and_top_up_of_a_wallet(make_emulator) -> None:
    """`balance` shows the wallet credit; `top-up` refuses without a tty or --yes, then pays."""
    wallet = WalletAuth(WALLET_KEY)
    emu = await make_emulator(wallets={wallet.address: "1.5"})
    env = clean_env(VENICE_WALLET_KEY=WALLET_KEY, VENICE_BASE_URL=emu.base_url)
    run = await run_cli("balance", env=env)
    assert run.code == 0, run.err
    assert "$1.5" in run.out
    refused = await run_cli("top-up", "5", env=env)
    assert refused.code == EXIT_USAGE
    assert emu.credits_for(wallet.address) == []
    paid = await run_cli("top-up", "5", "--yes", env=env)
    assert paid.code == 0, paid.err
    assert [c.amount_usd for c in emu.credits_for(wallet.address)] == [Decimal(5)]
    assert WALLET_KEY.removeprefix("0x") not in paid.out + paid.err + run.out


async def test_batch_folder_then_resume(make_emulator, tmp_path: Path) -> None:
    """`batch DIR`: all edited; a second run needs --resume, and then skips everything."""
    emu = await make_emulator()
    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        write_png(src / f"img{i}.png", shade=i * 30)
    out = tmp_path / "out"
    env = clean_env(VENICE_API_KEY=emu.api_key, VENICE_BASE_URL=emu.base_url)
    args = ("batch", str(src), "--prompt", "add snow", "--out", str(out), "--quiet")
    first = await run_cli(*args, env=env)
    assert first.code == 0, first.err
    assert sorted(p.name for p in out.glob("*.png")) == [f"img{i}.png" for i in range(6)]
    again = await run_cli(*args, env=env)
    assert again.code == EXIT_USAGE
    assert "--resume" in again.err
    resumed = await run_cli(*args, "--resume", env=env)
    assert resumed.code == 0, resumed.err
    assert "6 skipped" in resumed.out
    assert len(emu.charges_for(emu.api_key)) == 6


async def test_batch_with_a_bad_key_exits_3(make_emulator, tmp_path: Path) -> None:
    """A run-stopping 401 in a batch: exit code 3."""
    emu = await make_emulator()
    manifest = tmp_path / "jobs.jsonl"
    write_png(tmp_path / "a.png")
    manifest.write_text('{"image": "a.png", "prompt": "x", "output": "a-out.png"}\n')
    env = clean_env(VENICE_API_KEY="VENICE_INFERENCE_KEY_nope", VENICE_BASE_URL=emu.base_url)
    run = await run_cli("batch", str(manifest), "--out", str(tmp_path / "o"), "--quiet", env=env)
    assert run.code == EXIT_AUTH
    assert "AuthenticationError" in run.out + run.err


async def test_emulate_serves_until_interrupted(tmp_path: Path) -> None:
    """`emulate --port 0` prints its base URL, answers `models`, and stops on SIGINT."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "inpaint_async.cli", "emulate", "--port", "0",
        env=clean_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    base_url = None
    while base_url is None:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert line, "the emulator exited early"
        if "base URL" in line:
            base_url = line.split()[-1]
    run = await run_cli("--base-url", base_url, "models", env=clean_env())
    assert run.code == 0, run.err
    proc.send_signal(signal.SIGINT)
    await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0


async def test_demo_quiet_completes(tmp_path: Path) -> None:
    """`demo --quiet`: a 402, one top-up, a dozen edits, exit 0."""
    run = await run_cli("demo", "--quiet", "--out", str(tmp_path / "demo"), env=clean_env(),
                        timeout=60)  # fmt: skip
    assert run.code == 0, run.out + run.err
    assert "402 Payment Required" in run.out
    assert "1 top-up" in run.out
    assert len(list((tmp_path / "demo" / "edited").glob("*.png"))) == 12


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_emulate_stops_on_a_signal_even_when_started_with_sigint_ignored(
    sig: signal.Signals,
) -> None:
    """A shell script's background job inherits an ignored SIGINT: `kill -INT` still stops it.

    SIGTERM (`docker stop`, a supervisor) stops it the same way: exit 0, "emulator stopped".
    """
    launcher = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
        "os.execv(sys.executable, [sys.executable, '-m', 'inpaint_async.cli', 'emulate', "
        "'--port', '0'])"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", launcher,
        env=clean_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        while b"base URL" not in (line := await asyncio.wait_for(proc.stdout.readline(), 30)):
            assert line, "the emulator exited early"
    finally:
        proc.send_signal(sig)
        try:
            _, err = await asyncio.wait_for(proc.communicate(), 30)
        except TimeoutError:
            proc.kill()  # do not leave it running for the next tests
            await proc.wait()
            raise
    assert proc.returncode == 0
    assert b"emulator stopped" in err
