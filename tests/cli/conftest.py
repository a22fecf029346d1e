"""Helpers for the CLI tests: run `inpaint-async` in a subprocess against an in-process emulator."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

WALLET_KEY = "0x" + "7c" * 32


@dataclass
class Run:
    code: int
    out: str
    err: str


def write_png(path: Path, shade: int = 40) -> Path:
    """A 256x256 PNG at ``path``."""
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (shade, 80, 160)).save(buf, format="PNG")
    path.write_bytes(buf.getvalue())
    return path


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any Venice credentials, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENICE_")}
    env.update({"COLUMNS": "120", "NO_COLOR": "1", **extra})
    return env


async def run_cli(
    *args: str, env: Mapping[str, str], stdin: bytes | None = None, timeout: float = 30
) -> Run:
    """Run ``python -m inpaint_async.cli ARGS`` without blocking the emulator's event loop."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "inpaint_async.cli", *args,
        env=dict(env), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(stdin or b""), timeout)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


@pytest.fixture(autouse=True)
def _state_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI keeps a wallet's spend ledger in the state directory: a fresh one per test,
    never the real ~/.local/state (clean_env copies os.environ, so the CLI sees it)."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state
