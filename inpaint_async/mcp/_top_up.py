"""``top_up_wallet``: USDC credit for the server's wallet, offered only with ``--allow-top-up``.

Always confirmed by the user (``--no-confirm`` does not apply), bounded by ``--max-top-up-usd``
for one top-up and by ``--max-top-up-per-day-usd`` plus any caps registered in the spend ledger
for every top-up the wallet signed in 24 hours, in any process sharing the ledger. The ledger's
caps are checked inside the ledger's single-flight top-up gate, just before signing, so two
processes cannot both pass the check; the signature is recorded in the ledger before it leaves.

No ``from __future__ import annotations``: the ``mcp`` package reads these annotations.
"""

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, MCPServer, Resolve
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from .._exceptions import SettlementFailedError, SettlementPendingError
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


def register_top_up(app: InpaintMCP, server: MCPServer[Any]) -> None:
    """Add ``top_up_wallet`` (the caller checked ``--allow-top-up`` and a wallet)."""

    async def ask_top_up(ctx: Context, amount_usd: str) -> Gate | Elicit[Confirm]:
        try:
            amount = _amount(amount_usd)
            await check_top_up(app, amount)
        except Exception:
            return Gate("invalid")
        address = getattr(app.client.auth, "address", "?")
        question = (
            f"Top up wallet {address} with ${amount} of USDC on Base? The payment is signed "
            "now and cannot be taken back."
        )
        return await app.ask(ctx, question, amount)

    @server.tool(annotations=TOP_UP)
    async def top_up_wallet(
        amount_usd: Annotated[str, Field(description="USD amount of USDC to add, e.g. '5'")],
        confirmation: Annotated[ElicitationResult[Confirm], Resolve(ask_top_up)],
    ) -> CallToolResult:
        """Add USDC credit on Base to the server's wallet. SPENDS MONEY: always confirmed by the
        user, capped per top-up and per day by the server and its spend ledger."""
        signed = False
        try:
            app._require_credentials()
            amount = _amount(amount_usd)
            await check_top_up(app, amount)
            app._check_confirmation(confirmation, amount, always=True)

            async def in_the_gate(offer: Any) -> None:
                # Inside the ledger's top-up gate, right before signing: no other top-up of
                # this wallet (in any process sharing the ledger) can pass this check meanwhile.
                nonlocal signed
                await check_top_up(app, amount)
                signed = True

            result = await app.client.wallet.top_up(
                amount, max_usd=app.options.max_top_up_usd, confirm=in_the_gate
            )
        except Exception as exc:
            failure = failure_from(exc, sent=signed)
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
            "transaction_hash": getattr(result, "transaction_hash", None),
        }
        return ok_result(f"topped up ${amount}; balance ${data['balance_usd']}", data)
