"""The settings of the agent server, as ``inpaint-async mcp`` takes them from its flags."""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

__all__ = [
    "DEFAULT_CONFIRM_TIMEOUT",
    "DEFAULT_MAX_PER_CALL_USD",
    "DEFAULT_MAX_PER_DAY_USD",
    "DEFAULT_MAX_PER_SESSION_USD",
    "ServerOptions",
]

#: Default caps: small enough that a runaway agent costs little, large enough for real work.
DEFAULT_MAX_PER_CALL_USD = Decimal("0.50")
DEFAULT_MAX_PER_SESSION_USD = Decimal("2.00")
DEFAULT_MAX_PER_DAY_USD = Decimal("5.00")
#: Seconds the server waits for the user's answer to a confirmation before refusing.
DEFAULT_CONFIRM_TIMEOUT = 120.0


@dataclass
class ServerOptions:
    """What the agent server may do, and how much it may spend.

    Attributes:
        in_dir: Folder the tools may read images from.
        out_dir: Folder the tools write results into (created when missing).
        base_url: API root (default ``VENICE_BASE_URL`` or the public API).
        models: Model ids the paid tools may use (``None``: every priced model).
        max_per_call_usd: Refuse a call priced above this (``None``: no cap).
        max_per_session_usd: Refuse calls once this server process has counted this much.
        max_per_day_usd: Refuse calls once the spend ledger counts this much in 24 hours.
        confirm_above_usd: Ask the user (MCP elicitation) for any call priced above this;
            ``0`` asks for every paid call.
        no_confirm: Never ask (unattended use; the caps still hold).
        confirm_timeout: Seconds to wait for the user's answer before refusing.
        ledger_path: The spend ledger file (``None``: the state-dir default for the wallet or
            key; ``":memory:"``: a ledger that lives only as long as the process).
        allow_top_up: Offer the ``top_up_wallet`` tool (wallet auth only, always confirmed).
        max_top_up_usd: The largest single top-up ``top_up_wallet`` may sign.
        max_top_up_per_day_usd: What all top-ups of this wallet may sign in 24 hours (the
            ledger counts them, across processes).
    """

    in_dir: Path
    out_dir: Path
    base_url: str | None = None
    models: frozenset[str] | None = None
    max_per_call_usd: Decimal | None = DEFAULT_MAX_PER_CALL_USD
    max_per_session_usd: Decimal | None = DEFAULT_MAX_PER_SESSION_USD
    max_per_day_usd: Decimal | None = DEFAULT_MAX_PER_DAY_USD
    confirm_above_usd: Decimal = Decimal(0)
    no_confirm: bool = False
    confirm_timeout: float = DEFAULT_CONFIRM_TIMEOUT
    ledger_path: str | os.PathLike[str] | None = None
    allow_top_up: bool = False
    max_top_up_usd: Decimal = Decimal("10")
    max_top_up_per_day_usd: Decimal = Decimal("20")
