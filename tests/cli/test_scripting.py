"""The CLI in scripts: --json documents, --version, stdout for results only, full model ids,
the output format from the file extension, and model typos caught before any paid request."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from inpaint_async import WalletAuth, __version__
from inpaint_async.cli._errors import EXIT_USAGE

from .conftest import WALLET_KEY, clean_env, run_cli, write_png


def test_version_prints_the_package_version() -> None:
    """`--version` prints `inpaint-async X.Y.Z` and exits 0."""
    proc = subprocess.run(
        [sys.executable, "-m", "inpaint_async.cli", "--version"],
        capture_output=True, text=True, env=clean_env(), check=False,
    )  # fmt: skip
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"inpaint-async {__version__}"


async def test_models_json_is_one_document_for_json_tool(make_emulator) -> None:
    """`models --json | python -m json.tool` works and lists every catalogue id."""
    emu = await make_emulator()
    run = await run_cli("--base-url", emu.base_url, "models", "--json", env=clean_env())
    assert run.code == 0, run.err
    tool = subprocess.run(
        [sys.executable, "-m", "json.tool"], input=run.out, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert tool.returncode == 0, tool.stderr
    doc = json.loads(run.out)
    ids = [m["id"] for m in emu.catalogue if m.get("type") == "inpaint"]
    assert [m["id"] for m in doc["models"]] == ids
    assert doc["default"] in ids


async def test_models_piped_shows_every_full_id(make_emulator) -> None:
    """Piped at 80 columns, the table keeps every model id whole."""
    emu = await make_emulator()
    run = await run_cli("--base-url", emu.base_url, "models", env=clean_env(COLUMNS="80"))
    assert run.code == 0, run.err
    ids = [m["id"] for m in emu.catalogue if m.get("type") == "inpaint"]
    words = set(run.out.replace("│", " ").split())
    assert [i for i in ids if i not in words] == []
    assert "\x1b" not in run.out


async def test_edit_json_and_the_extension_chooses_the_format(
    make_emulator, tmp_path: Path
) -> None:
    """`edit -o y.jpg --json`: JPEG bytes in y.jpg and one JSON document naming the request id."""
    emu = await make_emulator()
    image = write_png(tmp_path / "in.png")
    env = clean_env(VENICE_API_KEY=emu.api_key)
    run = await run_cli("--base-url", emu.base_url, "edit", str(image), "hat",
                        "-o", str(tmp_path / "y.jpg"), "--json", env=env)  # fmt: skip
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    (charge,) = emu.charges_for(emu.api_key)
    assert doc["request_id"] == charge.request_id
    assert doc["content_type"] == "image/jpeg"
    assert (tmp_path / "y.jpg").read_bytes().startswith(b"\xff\xd8")


async def test_a_format_that_contradicts_the_extension_is_refused(
    make_emulator, tmp_path: Path
) -> None:
    """`-o y.jpg --format png`: exit 2 before anything is sent."""
    emu = await make_emulator()
    image = write_png(tmp_path / "in.png")
    env = clean_env(VENICE_API_KEY=emu.api_key)
    run = await run_cli("--base-url", emu.base_url, "edit", str(image), "hat",
                        "-o", str(tmp_path / "y.jpg"), "--format", "png", env=env)  # fmt: skip
    assert run.code == EXIT_USAGE
    assert "y.jpg names a JPEG file but the format is png" in run.err
    assert emu.requests == []


async def test_a_model_typo_is_caught_before_any_paid_request(
    make_emulator, tmp_path: Path
) -> None:
    """An unknown model: exit 2 with close matches; only the free catalogue was fetched."""
    emu = await make_emulator()
    image = write_png(tmp_path / "in.png")
    env = clean_env(VENICE_API_KEY=emu.api_key)
    run = await run_cli("--base-url", emu.base_url, "edit", str(image), "hat", "--json",
                        "-o", str(tmp_path / "o.png"), "--model", "firered-image-edti",
                        env=env)  # fmt: skip
    assert run.code == EXIT_USAGE
    assert [r.path for r in emu.requests] == ["/api/v1/models"]
    assert "firered-image-edit" in run.err
    assert json.loads(run.out)["error"]["param"] == "model"


async def test_a_long_error_line_is_not_wrapped_when_piped(make_emulator, tmp_path: Path) -> None:
    """Errors go to stderr as one line even past 80 columns."""
    emu = await make_emulator()
    missing = tmp_path / ("a-rather-long-folder-name-" * 4) / "missing.png"
    env = clean_env(VENICE_API_KEY=emu.api_key, COLUMNS="80")
    run = await run_cli("--base-url", emu.base_url, "edit", str(missing), "hat",
                        "-o", str(tmp_path / "o.png"), env=env)  # fmt: skip
    assert run.code == EXIT_USAGE
    (line,) = run.err.splitlines()
    assert len(line) > 80
    assert line.startswith("error: ")


async def test_batch_json_lines_and_progress_on_stderr(make_emulator, tmp_path: Path) -> None:
    """`batch --json`: one JSON line per job then a summary on stdout; the bar is on stderr."""
    emu = await make_emulator()
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        write_png(folder / f"{i}.png", shade=i * 30)
    env = clean_env(VENICE_API_KEY=emu.api_key)
    run = await run_cli("--base-url", emu.base_url, "batch", str(folder), "--prompt", "x",
                        "--out", str(tmp_path / "out"), "--json", env=env)  # fmt: skip
    assert run.code == 0, run.err
    events = [json.loads(line) for line in run.out.splitlines()]
    assert [e["event"] for e in events] == ["job", "job", "job", "summary"]
    assert {e["status"] for e in events[:3]} == {"succeeded"}
    assert events[-1]["succeeded"] == 3
    assert events[-1]["exit_code"] == 0
    assert "3/3" in run.err


async def test_balance_and_top_up_json_of_a_wallet(make_emulator) -> None:
    """`balance --json` and `top-up --yes --json` are one document each, amounts as strings."""
    wallet = WalletAuth(WALLET_KEY)
    emu = await make_emulator(wallets={wallet.address: "1.5"})
    env = clean_env(VENICE_WALLET_KEY=WALLET_KEY, VENICE_BASE_URL=emu.base_url)
    run = await run_cli("balance", "--json", env=env)
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    assert (doc["kind"], doc["address"].lower(), Decimal(doc["balance_usd"])) == (
        "wallet",
        wallet.address.lower(),
        Decimal("1.5"),
    )
    paid = await run_cli("--json", "top-up", "5", "--yes", env=env)
    assert paid.code == 0, paid.err
    assert Decimal(json.loads(paid.out)["amount_credited_usd"]) == Decimal(5)


async def test_emulate_json_prints_one_line_to_connect() -> None:
    """`--json emulate --port 0`: the first stdout line is JSON with a working base URL and key."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "inpaint_async.cli", "--json", "emulate", "--port", "0",
        env=clean_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        doc = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
        env = clean_env(VENICE_API_KEY=doc["api_key"])
        run = await run_cli("--base-url", doc["base_url"], "balance", "--json", env=env)
        assert run.code == 3  # an emulator API key is not an admin key: a typed 401, as JSON
        assert json.loads(run.out)["error"]["status_code"] == 401
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
