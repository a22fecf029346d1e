"""What the emulator's route modules share: request records, callers, jobs and small helpers."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, NoReturn

from aiohttp import web

from .. import _constants as C

API_PREFIX = "/api/v1"
VENICE_VERSION = "20260821.193530"
MIN_WALLET = Decimal(C.MIN_WALLET_BALANCE_USD)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class RequestRecord:
    """What the emulator saw of one request (for assertions)."""

    method: str
    path: str
    status: int
    request_id: str
    payer: str | None = None
    siwx_nonce: str | None = None
    at: float = 0.0
    fault: str | None = None


RECORD = web.RequestKey("inpaint_emulator_record", RequestRecord)
BUCKET = web.RequestKey("inpaint_emulator_bucket", str)
EXEMPT = web.RequestKey("inpaint_emulator_budget_exempt", bool)


@dataclass
class Caller:
    """Who sent an inference request: an API key or a wallet (with its SIWX nonce)."""

    payer: str
    kind: Literal["key", "wallet"]
    nonce: str | None = None


@dataclass
class Job:
    """A validated image request: what to render, which model ran it and what it costs."""

    model: dict[str, Any]
    price: Decimal
    render: Callable[[], bytes]
    blurred: bool = False
    enhanced_prompt: str | None = None

    @property
    def model_id(self) -> str:
        return str(self.model["id"])


class Dropped(Exception):
    """The connection was dropped on purpose (fault `reset`)."""


def drop(request: web.Request) -> NoReturn:
    """Abort the connection under `request` (fault `reset`, `truncate`)."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    raise Dropped


def iso_ms(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def b64json(obj: Any) -> str:
    return base64.b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode()


def money(value: Decimal) -> float:
    return float(value)
