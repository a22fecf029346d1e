"""Fixtures for the wallet tests: a funded-or-drained emulator, a wallet, a small input image."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from inpaint_async import InpaintClient, RetryPolicy, TopUpPolicy, WalletAuth
from inpaint_async.testing import Emulator

# A throwaway test key, never funded anywhere real. The canary test looks for it in every output.
KEY = "0x" + "5a" * 32


def small_png() -> bytes:
    """A 256x256 PNG: the smallest image the local checks accept (65,536 pixels)."""
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (200, 40, 40)).save(buf, format="PNG")
    return buf.getvalue()


PNG = small_png()
FAST_RETRY = RetryPolicy(initial_wait=0.01, max_wait=0.05)


def fast_policy(**overrides: Any) -> TopUpPolicy:
    """A policy with test-speed timings (no assertion depends on them)."""
    settings: dict[str, Any] = {
        "amount_usd": 20,
        "max_total_usd": 20,
        "poll_interval": 0.05,
        "in_progress_backoff": 0.05,
        "settlement_timeout": 10,
    }
    settings.update(overrides)
    return TopUpPolicy(**settings)


@pytest.fixture
def wallet() -> WalletAuth:
    return WalletAuth(KEY)


EmuFactory = Callable[..., Any]


def client_for(emu: Emulator, auth: WalletAuth, **kwargs: Any) -> InpaintClient:
    kwargs.setdefault("retry", FAST_RETRY)
    return InpaintClient(auth=auth, base_url=emu.base_url, **kwargs)


def paths(emu: Emulator, prefix: str) -> list[Any]:
    return [r for r in emu.requests if r.path.startswith("/api/v1" + prefix)]
