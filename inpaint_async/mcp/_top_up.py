"""``top_up_wallet``: USDC credit for the server's wallet, offered only with ``--allow-top-up``.

Always confirmed by the user (``--no-confirm`` does not apply), bounded by ``--max-top-up-usd``
for one top-up and by ``--max-top-up-per-day-usd`` plus any caps registered in the spend ledger
for every top-up the wallet signed in 24 hours, in any process sharing the ledger (the ledger
records each signature before it leaves). The early check refuses before anything is asked; the
binding one is the ledger's, made atomically with the record of the signature (``caps=`` of
``wallet.top_up``), so two processes topping up the same wallet at the same instant cannot both
pass it. The payee the user was shown is
pinned: an offer to anyone else is never signed (``VENICE_PAYEE`` pins it beforehand).

No ``from __future__ import annotations``: the ``mcp`` package reads these annotations.
"""

import asyncio
import os
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, MCPServer, Resolve
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from .._constants import ENV_PAYEE
from .._exceptions import SettlementFailedError, SettlementPendingError
from ..spend import SpendCaps
from ._errors import ToolFailure, failure_from
from ._guard import money
from ._server import Confirm, Gate, InpaintMCP, error_result, ok_result

__all__ = ["TOP_UP", "register_top_up"]

TOP_UP = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise ToolFailure("invalid_request", f"amount_usd is not a number: {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise ToolFailure("invalid_request", "amount_usd must be a positive USD amount")
    return money(value)


async def check_top_up(app: InpaintMCP, amount: Decimal) -> None:
    """Refuse a top-up above the per-top-up cap or over the ledger's 24-hour and total caps."""
    o = app.options
    if amount > o.max_top_up_usd:
        raise ToolFailure(
            "top_up_cap_exceeded",
            f"a top-up of ${amount} is above this server's per-top-up cap of "
            f"${money(o.max_top_up_usd)}; nothing was signed",
        )
    status = await app.ledger.status()
    day = money(Decimal(str(status.signed_24h_usd)))
    total = money(Decimal(str(status.signed_total_usd)))
    limits = [("per-day top-up cap (--max-top-up-per-day-usd)", o.max_top_up_per_day_usd, day)]
    if status.max_per_day_usd is not None:
        limits.append(("ledger's max_per_day_usd", status.max_per_day_usd, day))
    if status.max_total_usd is not None:
        limits.append(("ledger's max_total_usd", status.max_total_usd, total))
    for name, cap, counted in limits:
        if counted + amount > cap:
            raise ToolFailure(
                "top_up_cap_exceeded",
                f"a top-up of ${amount} would bring what this wallet signed to "
                f"${money(counted + amount)}, above the {name} of ${money(cap)}; nothing was signed",
                extra={"cap_usd": str(money(cap)), "signed_usd": str(counted)},
            )


def _pins() -> list[str] | None:
    pin = os.environ.get(ENV_PAYEE, "").strip()
    return [pin] if pin else None


def register_top_up(app: InpaintMCP, server: MCPServer[Any]) -> None:
    """Add ``top_up_wallet`` (the caller checked ``--allow-top-up`` and a wallet)."""
    # One top-up at a time from this server: the cap check and the signature cannot interleave.
    lock = asyncio.Lock()

    async def ask_top_up(ctx: Context, amount_usd: str) -> Gate | Elicit[Confirm]:
        try:
            amount = _amount(amount_usd)
            await check_top_up(app, amount)
            offer = await app.client.wallet.top_up_offer(amount, allowed_payees=_pins())
        except Exception:
            return Gate("invalid")
        address = getattr(app.client.auth, "address", "?")
        question = (
            f"Top up wallet {address} with ${amount} of USDC: pay {offer.pay_to} on "
            f"{offer.network}? The payment is signed now and cannot be taken back."
        )
        return await app.ask(ctx, question, amount, detail=offer.pay_to)

    @server.tool(annotations=TOP_UP)
    async def top_up_wallet(
        amount_usd: Annotated[str, Field(description="USD amount of USDC to add, e.g. '5'")],
        confirmation: Annotated[ElicitationResult[Confirm], Resolve(ask_top_up)],
    ) -> CallToolResult:
        """Add USDC credit on Base to the server's wallet. SPENDS MONEY: always confirmed by the
        user, capped per top-up and per day by the server and its spend ledger."""
        signing = False
        try:
            app._require_credentials()
            amount = _amount(amount_usd)
            await check_top_up(app, amount)
            async with lock:
                offer = await app.client.wallet.top_up_offer(amount, allowed_payees=_pins())
                app._check_confirmation(confirmation, amount, always=True, detail=offer.pay_to)
                await check_top_up(app, amount)
                signing = True
                # Pinned to the payee the user was shown: a server that changes it gets nothing.
                assert offer.pay_to is not None
                result = await app.client.wallet.top_up(
                    amount,
                    max_usd=app.options.max_top_up_usd,
                    allowed_payees=[offer.pay_to],
                    # Checked by the ledger in the same transaction that records the signature.
                    caps=SpendCaps(max_per_day_usd=app.options.max_top_up_per_day_usd),
                )
        except Exception as exc:
            failure = failure_from(exc, sent=signing)
            if isinstance(exc, SettlementPendingError):
                failure.may_have_been_charged = True
                failure.message += (
                    "; do not top up again automatically: the signed payment may still land"
                )
            elif isinstance(exc, SettlementFailedError):
                failure.may_have_been_charged = False
                failure.retryable = True
            return error_result(failure)
        data = {
            "amount_usd": str(amount),
            "credited_usd": None if result.amount_credited is None else str(result.amount_credited),
            "balance_usd": None if result.new_balance is None else str(result.new_balance),
            "payment_id": result.payment_id,
            "payee": offer.pay_to,
            "network": offer.network,
        }
        return ok_result(f"topped up ${amount}; balance ${data['balance_usd']}", data)
