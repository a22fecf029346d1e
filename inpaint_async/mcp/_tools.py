"""The tools of ``inpaint-async mcp``, registered on an ``MCPServer``.

No ``from __future__ import annotations`` on purpose: the ``mcp`` package reads these functions'
annotations (``Annotated[..., Resolve(closure)]``) at registration, closures included.

| tool               | annotations                        | money                                   |
|--------------------|------------------------------------|-----------------------------------------|
| list_models        | read-only, idempotent              | none                                    |
| estimate_cost      | read-only, idempotent              | none                                    |
| wallet_balance     | read-only, idempotent              | none                                    |
| spend_status       | read-only, idempotent, closed world| none                                    |
| edit_image         | paid, not idempotent               | priced, capped, confirmed, reserved     |
| multi_edit_images  | paid, not idempotent               | priced, capped, confirmed, reserved     |
| upscale_image      | paid, not idempotent               | priced, capped, confirmed, reserved     |
| remove_background  | paid, not idempotent               | priced, capped, confirmed, reserved     |
| top_up_wallet      | paid, not idempotent (opt-in flag) | ledger caps, always confirmed           |
"""

import json
from decimal import Decimal
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, MCPServer, Resolve
from mcp.types import CallToolResult
from pydantic import Field

from ..types.params import AspectRatio, Quality, Resolution
from ._errors import failure_from
from ._guard import CapExceededError
from ._options import ServerOptions
from ._server import (
    BG_REMOVER_ID,
    LOCAL_READ_ONLY,
    PAID,
    READ_ONLY,
    UPSCALER_ID,
    Confirm,
    Gate,
    InpaintMCP,
    OutputFormat,
    Plan,
    error_result,
    ok_result,
)

__all__ = ["build_server", "register_tools"]

Image = Annotated[
    str,
    Field(
        description="A file name inside the server's input folder (or a path inside it), an "
        "http(s) URL, or a small base64 image / data URI (up to 8 MB)."
    ),
]
OutputName = Annotated[
    str | None,
    Field(description="File name for the result inside the output folder (default: generated)."),
]
ModelId = Annotated[
    str | None, Field(description="An inpaint model id (see list_models); default: the server's.")
]


def build_server(options: ServerOptions) -> InpaintMCP:
    """Build the agent server for ``options``, tools included (``.server`` is the ``MCPServer``)."""
    app = InpaintMCP(options)
    register_tools(app, app.server)
    return app


def register_tools(app: InpaintMCP, server: MCPServer[Any]) -> None:
    """Add every tool of the agent server to ``server``."""
    _register_read_only(app, server)
    _register_paid(app, server)
    if app.options.allow_top_up and app.is_wallet and app.credential_error is None:
        from ._top_up import register_top_up

        register_top_up(app, server)


def _register_read_only(app: InpaintMCP, server: MCPServer[Any]) -> None:
    @server.tool(annotations=READ_ONLY)
    async def list_models() -> CallToolResult:
        """List the image-edit models with their prices (USD) and whether this server allows them."""
        try:
            catalogue = await app.client.models.list("inpaint")
        except Exception as exc:
            return error_result(failure_from(exc, sent=False))
        allow = app.options.models
        default = catalogue.default
        rows = []
        for model in catalogue:
            pricing = model.pricing
            rows.append(
                {
                    "id": model.id,
                    "name": model.name,
                    "default": default is not None and model.id == default.id,
                    "allowed": allow is None or model.id in allow,
                    "price_usd": str(pricing.inpaint.usd) if pricing.inpaint else None,
                    "resolutions": {k: str(v.usd) for k, v in pricing.resolutions.items()},
                    "max_input_images": model.constraints.max_input_images,
                    "aspect_ratios": model.constraints.aspect_ratios,
                }
            )
        text = "\n".join(
            f"{r['id']}: ${r['price_usd']}" + ("" if r["allowed"] else " (not allowed here)")
            for r in rows
        )
        return ok_result(text, {"models": rows})

    @server.tool(annotations=READ_ONLY)
    async def estimate_cost(
        tool: Literal["edit_image", "multi_edit_images", "upscale_image", "remove_background"],
        model: ModelId = None,
        resolution: Resolution | None = None,
        quality: Quality | None = None,
        images: int = 1,
        enhance_prompt: bool = False,
        scale: float = 2,
    ) -> CallToolResult:
        """Price a paid call from the catalogue, and say whether the spend caps and the
        confirmation rule would let it through. Nothing is spent."""
        try:
            if tool in ("edit_image", "multi_edit_images"):
                entry = await app._inpaint_model(model)
                cost = app._edit_price(
                    entry, resolution=resolution, quality=quality, images=images,
                    enhance_prompt=enhance_prompt,
                    endpoint="edit" if tool == "edit_image" else "multi_edit",
                )  # fmt: skip
            elif tool == "upscale_image":
                entry = await app._fixed_model("upscale", UPSCALER_ID)
                cost = app._extra_price(entry, "2x" if scale <= 2 else "4x")
            else:
                entry = await app._fixed_model("image", BG_REMOVER_ID)
                cost = app._extra_price(entry, "generation")
        except Exception as exc:
            return error_result(failure_from(exc, sent=False))
        fits, refusal = True, None
        try:
            await app.guard.precheck(cost)
        except CapExceededError as exc:
            fits, refusal = False, str(exc)
        data = {
            "tool": tool,
            "model": entry.id,
            "cost_usd": str(cost),
            "within_caps": fits,
            "cap_refusal": refusal,
            "needs_confirmation": app._needs_confirmation(cost),
        }
        text = f"{tool} with {entry.id}: ${cost}" + ("" if fits else f" — refused: {refusal}")
        return ok_result(text, data)

    @server.tool(annotations=READ_ONLY)
    async def wallet_balance() -> CallToolResult:
        """The prepaid balance (USD) of the wallet or API key this server spends from."""
        try:
            app._require_credentials()
            if app.is_wallet:
                balance = await app.client.wallet.balance()
                data: dict[str, Any] = {
                    "kind": "wallet",
                    "address": balance.wallet_address,
                    "balance_usd": str(balance.balance_usd),
                    "minimum_top_up_usd": (
                        str(balance.minimum_top_up_usd)
                        if balance.minimum_top_up_usd is not None
                        else None
                    ),
                }
            else:
                raw = await app.client.request("GET", "/billing/balance")
                usd = (json.loads(raw.content).get("balances") or {}).get("usd")
                data = {"kind": "api_key", "balance_usd": None if usd is None else str(usd)}
        except Exception as exc:
            return error_result(failure_from(exc, sent=False))
        return ok_result(f"balance: ${data['balance_usd']}", data)

    @server.tool(annotations=LOCAL_READ_ONLY)
    async def spend_status() -> CallToolResult:
        """The spend caps, what this session and the last 24 hours have spent, and what remains."""
        try:
            st = await app.guard.status()
        except Exception as exc:
            return error_result(failure_from(exc, sent=False))

        def usd(value: Decimal | None) -> str | None:
            return None if value is None else str(value)

        remaining = st.remaining_usd()
        data = {
            "caps": {
                "per_call_usd": usd(st.max_per_call_usd),
                "per_session_usd": usd(st.max_per_session_usd),
                "per_day_usd": usd(st.max_per_day_usd),
            },
            "session": {
                "spent_usd": usd(st.session_spent_usd),
                "reserved_usd": usd(st.session_reserved_usd),
            },
            "last_24h": {
                "spent_usd": usd(st.day_spent_usd),
                "reserved_usd": usd(st.day_reserved_usd),
            },
            "remaining_usd": usd(remaining),
            "confirm_above_usd": None
            if app.options.no_confirm
            else str(app.options.confirm_above_usd),
            "models_allowed": sorted(app.options.models) if app.options.models else None,
            "ledger": st.ledger,
            "credentials": app.credential_error is None,
        }
        text = (
            f"session ${st.session_spent_usd} spent; last 24 h ${st.day_spent_usd}; remaining "
            f"${remaining if remaining is not None else 'unlimited'}"
        )
        return ok_result(text, data)


def _register_paid(app: InpaintMCP, server: MCPServer[Any]) -> None:
    # One resolver per tool (it takes the tool's arguments by name): it prices the call and, when
    # the rules say so, asks the user before the tool body runs.

    async def ask_edit(
        ctx: Context,
        image: str,
        prompt: str,
        model: str | None,
        aspect_ratio: AspectRatio | None,
        resolution: Resolution | None,
        output_format: OutputFormat | None,
        safe_mode: bool | None,
        enhance_prompt: bool,
        output_name: str | None,
    ) -> Gate | Elicit[Confirm]:
        async def plan() -> Plan:
            return await app.plan_edit(image, prompt, model, aspect_ratio, resolution,
                                       output_format, safe_mode, enhance_prompt, output_name)  # fmt: skip

        return await app.gate(ctx, plan)

    @server.tool(annotations=PAID)
    async def edit_image(
        image: Image,
        prompt: Annotated[str, Field(description="What to change in the image.")],
        confirmation: Annotated[ElicitationResult[Confirm], Resolve(ask_edit)],
        model: ModelId = None,
        aspect_ratio: AspectRatio | None = None,
        resolution: Annotated[Resolution | None, Field(description="tier (tiered models)")] = None,
        output_format: OutputFormat | None = None,
        safe_mode: bool | None = None,
        enhance_prompt: bool = False,
        output_name: OutputName = None,
    ) -> CallToolResult:
        """Edit (inpaint) one image from a text prompt. PAID: priced from the catalogue, checked
        against the spend caps and, above the confirmation threshold, confirmed by the user."""
        return await app.run_paid(
            confirmation,
            lambda: app.plan_edit(image, prompt, model, aspect_ratio, resolution, output_format,
                                  safe_mode, enhance_prompt, output_name),
        )  # fmt: skip

    async def ask_multi_edit(
        ctx: Context,
        images: list[str],
        prompt: str,
        model: str | None,
        quality: Quality | None,
        aspect_ratio: AspectRatio | None,
        resolution: Resolution | None,
        output_format: OutputFormat | None,
        safe_mode: bool | None,
        enhance_prompt: bool,
        output_name: str | None,
    ) -> Gate | Elicit[Confirm]:
        async def plan() -> Plan:
            return await app.plan_multi_edit(images, prompt, model, quality, aspect_ratio,
                                             resolution, output_format, safe_mode,
                                             enhance_prompt, output_name)  # fmt: skip

        return await app.gate(ctx, plan)

    @server.tool(annotations=PAID)
    async def multi_edit_images(
        images: Annotated[list[Image], Field(description="The base image first, then layers.")],
        prompt: Annotated[str, Field(description="What to make of the images.")],
        confirmation: Annotated[ElicitationResult[Confirm], Resolve(ask_multi_edit)],
        model: ModelId = None,
        quality: Annotated[Quality | None, Field(description="tier (tiered models)")] = None,
        aspect_ratio: AspectRatio | None = None,
        resolution: Resolution | None = None,
        output_format: OutputFormat | None = None,
        safe_mode: bool | None = None,
        enhance_prompt: bool = False,
        output_name: OutputName = None,
    ) -> CallToolResult:
        """Edit from one or more images and a prompt (the first is the base). PAID: priced,
        capped and confirmed like edit_image."""
        return await app.run_paid(
            confirmation,
            lambda: app.plan_multi_edit(images, prompt, model, quality, aspect_ratio, resolution,
                                        output_format, safe_mode, enhance_prompt, output_name),
        )  # fmt: skip

    async def ask_upscale(
        ctx: Context, image: str, scale: float, creativity: float | None, output_name: str | None
    ) -> Gate | Elicit[Confirm]:
        async def plan() -> Plan:
            return await app.plan_upscale(image, scale, creativity, output_name)

        return await app.gate(ctx, plan)

    @server.tool(annotations=PAID)
    async def upscale_image(
        image: Image,
        confirmation: Annotated[ElicitationResult[Confirm], Resolve(ask_upscale)],
        scale: Annotated[
            float, Field(ge=2, le=4, description="2 to 4 (priced up to 2x, and above)")
        ] = 2,
        creativity: Annotated[float | None, Field(ge=0, le=0.02)] = None,
        output_name: OutputName = None,
    ) -> CallToolResult:
        """Upscale one image 2x to 4x (PNG). PAID: priced, capped and confirmed like edit_image."""
        return await app.run_paid(
            confirmation, lambda: app.plan_upscale(image, scale, creativity, output_name)
        )

    async def ask_background(
        ctx: Context, image: str, output_name: str | None
    ) -> Gate | Elicit[Confirm]:
        async def plan() -> Plan:
            return await app.plan_background(image, output_name)

        return await app.gate(ctx, plan)

    @server.tool(annotations=PAID)
    async def remove_background(
        image: Image,
        confirmation: Annotated[ElicitationResult[Confirm], Resolve(ask_background)],
        output_name: OutputName = None,
    ) -> CallToolResult:
        """Cut the subject out of an image (PNG with alpha). PAID: priced, capped and confirmed
        like edit_image."""
        return await app.run_paid(confirmation, lambda: app.plan_background(image, output_name))
