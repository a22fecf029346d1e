"""Fixtures of the spend-guard proofs: a test wallet and fast top-up timings."""

from __future__ import annotations

from typing import Any

from inpaint_async import RetryPolicy, TopUpPolicy

from .hostile import png_bytes

# A throwaway test key built at runtime, never funded anywhere real.
KEY = "0x" + "7c" * 32
PNG = png_bytes()
NO_RETRY = RetryPolicy.no_retry()


def policy(**overrides: Any) -> TopUpPolicy:
    """$5 top-ups under a $10 cap, with test-speed timings."""
    settings: dict[str, Any] = {
        "amount_usd": 5,
        "max_total_usd": 10,
        "poll_interval": 0.01,
        "in_progress_backoff": 0.01,
        "settlement_timeout": 1,
        "request_timeout": 5,
        "wait_timeout": 20,
        "balance_poll_interval": 0.001,
    }
    settings.update(overrides)
    return TopUpPolicy(**settings)
