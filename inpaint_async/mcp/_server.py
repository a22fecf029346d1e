"""The MCP server: the tools, their confirmations and the spend guard around every paid call.

No ``from __future__ import annotations`` here on purpose: the ``mcp`` package reads the tools'
and resolvers' annotations at registration, and the resolvers are closures it must see.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Literal

import anyio
from mcp.server.mcpserver import (
    AcceptedElicitation,
    CancelledElicitation,
    Context,
    DeclinedElicitation,
    Elicit,
    MCPServer,
)
from mcp.types import CallToolResult, ResourceLink, TextContent, ToolAnnotations
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, Field

from .._checks import resolve_model
from .._client import InpaintClient
from .._exceptions import (
    APIConnectionError,
    APIStatusError,
    ConfigurationError,
    ContentPolicyError,
    ValidationError,
)
from .._version import __version__
from ..types.catalogue import Model
from ..types.params import AspectRatio, Quality, Resolution
from ..types.params import OutputFormat as OutputFormat
from ..types.results import ImageResult
from ._errors import MISSING_CREDENTIALS, ToolFailure, failure_from
from ._guard import CapExceededError, SpendGuard, money
from ._options import ServerOptions
from ._sandbox import Sandbox

__all__ = ["InpaintMCP"]

log = logging.getLogger("inpaint_async.mcp")

UPSCALER_ID = "upscaler"
BG_REMOVER_ID = "bria-bg-remover"
_INPUT_REQUIRED_VERSION = "2026-07-28"

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)
LOCAL_READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
PAID = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)


class Confirm(BaseModel):
    """What the user answers when the server asks before spending."""

    confirm: bool = Field(description="Spend this amount?")


@dataclass(frozen=True)
class Gate:
    """The confirmation step's own verdicts (a real answer arrives as ``Confirm``)."""

    verdict: Literal["not_needed", "invalid", "capped", "accepted", "declined", "cancelled",
                     "no_capability", "timeout", "failed"]  # fmt: skip
    cost: Decimal = Decimal(0)
    #: What else the user was shown and approved (a top-up's payee).
    detail: str | None = None


@dataclass
class Plan:
    """A paid call, checked and priced, ready to send."""

    tool: str
    model: str
    cost: Decimal
    summary: str
    send: Callable[[], Awaitable[ImageResult]]
    output: Path
    files: list[IO[bytes]] = field(default_factory=list)


class _Anonymous:
    """No credentials: the public catalogue still loads."""

    async def headers(self, method: str, url: str) -> dict[str, str]:
        return {}


def _not_charged(exc: BaseException) -> bool:
    """True when ``exc`` proves the paid request was not charged (else it counts as spent)."""
    if isinstance(exc, ContentPolicyError):
        return False
    return isinstance(exc, ConfigurationError | APIConnectionError | APIStatusError)


def _price(value: Any) -> Decimal | None:
    usd = value.get("usd") if isinstance(value, dict) else getattr(value, "usd", None)
    if usd is None:
        return None
    try:
        return Decimal(str(usd))
    except ArithmeticError:
        return None


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class InpaintMCP:
    """The agent server's state: one long-lived client, the sandbox, the spend guard.

    The client authenticates exactly like the CLI (``VENICE_API_KEY``, else the wallet variables),
    and a wallet signs a fresh SIWX message for every HTTP request. Without credentials the server
    still starts (the catalogue is public) and every paid tool answers with an error naming both
    fixes.

    Args:
        options: The flags of ``inpaint-async mcp``.
    """

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.sandbox = Sandbox(options.in_dir, options.out_dir)
        self.credential_error: str | None = None
        try:
            self.client = InpaintClient(base_url=options.base_url)
        except ConfigurationError as exc:
            self.credential_error = (
                MISSING_CREDENTIALS if str(exc).startswith("no credentials") else str(exc)
            )
            self.client = InpaintClient(auth=_Anonymous(), base_url=options.base_url)
        self.is_wallet = hasattr(self.client.auth, "address")
        self.ledger: Any = None
        self.ledger_label: str | None = None
        if self.credential_error is None:
            self.ledger, self.ledger_label = self._open_ledger()
        self.guard = SpendGuard(
            self.ledger,
            max_per_call_usd=options.max_per_call_usd,
            max_per_session_usd=options.max_per_session_usd,
            max_per_day_usd=options.max_per_day_usd,
            ledger_label=self.ledger_label,
        )
        self.server = self._build()

    def _open_ledger(self) -> tuple[Any, str]:
        """Bind the spender's ledger for this process, as the CLI does: the client's own wallet
        hooks (top-ups, signatures) then record into the same ledger the guard counts in."""
        from ..spend import bind_ledger, default_ledger_path, spender_id

        spender = spender_id(self.client.auth)
        path = self.options.ledger_path
        if path is not None and str(path) == ":memory:":
            return bind_ledger(spender, None), "memory (this process only)"
        file = Path(path) if path is not None else default_ledger_path(spender)
        file.parent.mkdir(parents=True, exist_ok=True)
        return bind_ledger(spender, file), str(file)

    async def aclose(self) -> None:
        """Close the HTTP session. The ledger stays open: it is the process's, shared by every
        client of the same wallet or key (``inpaint_async.spend.forget_ledgers`` closes it)."""
        await self.client.close()

    # -- building blocks ------------------------------------------------------------------------

    def _allowed(self, model_id: str) -> None:
        allow = self.options.models
        if allow is not None and model_id not in allow:
            raise ToolFailure(
                "model_not_allowed",
                f"model {model_id!r} is not in this server's allowlist (--models): "
                + ", ".join(sorted(allow)),
            )

    def _needs_confirmation(self, cost: Decimal) -> bool:
        """Above ``--confirm-above-usd`` (at 0, the default: every paid call), unless ``--no-confirm``."""
        if self.options.no_confirm:
            return False
        threshold = self.options.confirm_above_usd
        return threshold == 0 or cost > threshold

    async def _inpaint_model(self, model: str | None) -> Model:
        catalogue = await self.client.models.list("inpaint")
        entry = resolve_model(catalogue, model)
        if entry is None:
            raise ToolFailure("unknown_model", "the catalogue names no default model; pass model")
        self._allowed(entry.id)
        return entry

    async def _fixed_model(self, type_: str, model_id: str) -> Model:
        catalogue = await self.client.models.list(type_)
        entry = catalogue.get(model_id)
        if entry is None:
            raise ToolFailure(
                "no_price", f"the catalogue has no {model_id!r} model, so the price is unknown"
            )
        self._allowed(entry.id)
        return entry

    @staticmethod
    def _edit_price(entry: Model, **kwargs: Any) -> Decimal:
        try:
            return money(entry.estimate_cost(**kwargs))
        except ValidationError as exc:
            if "price" in str(exc):
                raise ToolFailure(
                    "no_price", f"{entry.id} has no price in the catalogue; refusing to spend"
                ) from None
            raise

    @staticmethod
    def _extra_price(entry: Model, key: str) -> Decimal:
        extra = entry.pricing.model_extra or {}
        price = _price(extra.get(key))
        if price is None:
            raise ToolFailure(
                "no_price", f"{entry.id} has no {key!r} price in the catalogue; refusing to spend"
            )
        return money(price)

    def _require_credentials(self) -> None:
        if self.credential_error is not None:
            code = (
                "missing_credentials"
                if self.credential_error == MISSING_CREDENTIALS
                else "bad_credentials"
            )
            raise ToolFailure(code, self.credential_error)

    # -- planning (checks and price; nothing is sent) -------------------------------------------

    async def plan_edit(
        self,
        image: str,
        prompt: str,
        model: str | None,
        aspect_ratio: AspectRatio | None,
        resolution: Resolution | None,
        output_format: OutputFormat | None,
        safe_mode: bool | None,
        enhance_prompt: bool,
        output_name: str | None,
    ) -> Plan:
        source = self.sandbox.image(image, param="image")
        entry = await self._inpaint_model(model)
        cost = self._edit_price(
            entry, resolution=resolution, images=1, enhance_prompt=enhance_prompt, endpoint="edit"
        )
        output = self.sandbox.output_path(output_name, stem="edit", output_format=output_format)
        plan = Plan("edit_image", entry.id, cost, f"edit {self.sandbox.describe(image)}: "
                    f"{_short(prompt)!r}", self._unsent, output)  # fmt: skip

        async def send() -> ImageResult:
            src = self.sandbox.materialize(source, plan.files)
            return await self.client.images.edit(
                src, prompt, model=entry.id, aspect_ratio=aspect_ratio, resolution=resolution,
                output_format=output_format, safe_mode=safe_mode,
                enhance_prompt=enhance_prompt or None, output=output,
            )  # fmt: skip

        plan.send = send
        return plan

    async def plan_multi_edit(
        self,
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
    ) -> Plan:
        if not images:
            raise ValidationError("images must hold at least one image", param="images")
        sources = [self.sandbox.image(img, param=f"images[{i}]") for i, img in enumerate(images)]
        entry = await self._inpaint_model(model)
        cost = self._edit_price(
            entry, resolution=resolution, quality=quality, images=len(images),
            enhance_prompt=enhance_prompt, endpoint="multi_edit",
        )  # fmt: skip
        output = self.sandbox.output_path(
            output_name, stem="multi-edit", output_format=output_format
        )
        names = ", ".join(self.sandbox.describe(i) for i in images)
        plan = Plan("multi_edit_images", entry.id, cost, f"multi-edit of {names}: "
                    f"{_short(prompt)!r}", self._unsent, output)  # fmt: skip

        async def send() -> ImageResult:
            srcs = [self.sandbox.materialize(s, plan.files) for s in sources]
            return await self.client.images.multi_edit(
                srcs, prompt, model=entry.id, quality=quality, aspect_ratio=aspect_ratio,
                resolution=resolution, output_format=output_format, safe_mode=safe_mode,
                enhance_prompt=enhance_prompt or None, output=output,
            )  # fmt: skip

        plan.send = send
        return plan

    async def plan_upscale(
        self, image: str, scale: float, creativity: float | None, output_name: str | None
    ) -> Plan:
        if not 2 <= scale <= 4:
            raise ValidationError("scale must be between 2 and 4", param="scale")
        source = self.sandbox.image(image, param="image")
        if isinstance(source, str):
            raise ValidationError(
                "image: upscaling does not take URLs; put the file in the input folder",
                param="image",
            )
        entry = await self._fixed_model("upscale", UPSCALER_ID)
        cost = self._extra_price(entry, "2x" if scale <= 2 else "4x")
        output = self.sandbox.output_path(output_name, stem="upscale", output_format="png")
        plan = Plan("upscale_image", entry.id, cost,
                    f"upscale {self.sandbox.describe(image)} {scale}x", self._unsent, output)  # fmt: skip

        async def send() -> ImageResult:
            src = self.sandbox.materialize(source, plan.files)
            return await self.client.images.upscale(
                src, scale=scale, creativity=creativity, output=output
            )

        plan.send = send
        return plan

    async def plan_background(self, image: str, output_name: str | None) -> Plan:
        source = self.sandbox.image(image, param="image")
        entry = await self._fixed_model("image", BG_REMOVER_ID)
        cost = self._extra_price(entry, "generation")
        output = self.sandbox.output_path(output_name, stem="cutout", output_format="png")
        plan = Plan("remove_background", entry.id, cost,
                    f"remove the background of {self.sandbox.describe(image)}", self._unsent,
                    output)  # fmt: skip

        async def send() -> ImageResult:
            src = self.sandbox.materialize(source, plan.files)
            if isinstance(src, str):
                return await self.client.images.background_remove(image_url=src, output=output)
            return await self.client.images.background_remove(src, output=output)

        plan.send = send
        return plan

    @staticmethod
    async def _unsent() -> ImageResult:  # pragma: no cover - replaced before use
        raise AssertionError("plan.send not set")

    # -- confirmation ---------------------------------------------------------------------------

    def _question(self, plan: Plan) -> str:
        return (
            f"Spend up to ${plan.cost} (USD) to {plan.summary} with model {plan.model}? "
            f"The result goes to {self.sandbox.out_dir}."
        )

    async def gate(
        self, ctx: Context, make_plan: Callable[[], Awaitable[Plan]]
    ) -> "Gate | Elicit[Confirm]":
        """Decide whether to ask the user, and ask (on handshake-era protocols) with a timeout.

        Runs before the tool body (as its resolver). Every failure here is a verdict, never an
        exception: the body turns verdicts into tool errors, and only a real "accept" lets a
        request leave.
        """
        try:
            plan = await make_plan()
        except Exception:
            # The body plans again and reports the real error.
            return Gate("invalid")
        if not self._needs_confirmation(plan.cost):
            return Gate("not_needed", plan.cost)
        try:
            await self.guard.precheck(plan.cost)
        except CapExceededError:
            return Gate("capped", plan.cost)
        except Exception:
            return Gate("invalid")
        return await self.ask(ctx, self._question(plan), plan.cost)

    async def ask(
        self, ctx: Context, question: str, cost: Decimal, *, detail: str | None = None
    ) -> "Gate | Elicit[Confirm]":
        """Ask the user ``question`` through MCP elicitation; every failure is a verdict.

        On 2026-07-28 sessions the SDK carries the question in an ``InputRequiredResult`` and
        runs the tool again with the answer; on handshake-era sessions the question is sent now
        and waited for at most ``--confirm-timeout`` seconds.
        """
        try:
            caps = ctx.client_capabilities
        except ValueError:  # no request: a direct call, nobody to ask
            caps = None
        elicitation = caps.elicitation if caps is not None else None
        if elicitation is None or (elicitation.form is None and elicitation.url is not None):
            return Gate("no_capability", cost)
        version = ctx.protocol_version
        if version is not None and is_version_at_least(version, _INPUT_REQUIRED_VERSION):
            # The SDK asks through InputRequiredResult and resumes when the client answers.
            return Elicit(question, Confirm)
        try:
            with anyio.fail_after(self.options.confirm_timeout):
                answer = await ctx.elicit(question, Confirm)
        except TimeoutError:
            return Gate("timeout", cost)
        except Exception:  # no back-channel, or an answer that does not fit the form
            return Gate("failed", cost)
        if isinstance(answer, AcceptedElicitation):
            return Gate("accepted" if answer.data.confirm else "declined", cost, detail)
        if isinstance(answer, DeclinedElicitation):
            return Gate("declined", cost)
        return Gate("cancelled", cost)

    def _check_confirmation(
        self, outcome: Any, cost: Decimal, *, always: bool = False, detail: str | None = None
    ) -> None:
        """Raise unless the call may go ahead: no confirmation needed (never when ``always``),
        or the user accepted."""
        if isinstance(outcome, DeclinedElicitation):
            raise ToolFailure(
                "confirmation_declined", "the user declined this spend; nothing was sent"
            )
        if isinstance(outcome, CancelledElicitation):
            raise ToolFailure("confirmation_cancelled", "the user cancelled; nothing was sent")
        data = outcome.data if isinstance(outcome, AcceptedElicitation) else None
        if isinstance(data, Confirm):
            if data.confirm:
                return
            raise ToolFailure(
                "confirmation_declined", "the user declined this spend; nothing was sent"
            )
        if isinstance(data, Gate):
            if data.verdict == "accepted" and cost <= data.cost and detail == data.detail:
                return
            if data.verdict == "declined":
                raise ToolFailure(
                    "confirmation_declined", "the user declined this spend; nothing was sent"
                )
            if data.verdict == "cancelled":
                raise ToolFailure("confirmation_cancelled", "the user cancelled; nothing was sent")
            if data.verdict == "timeout":
                raise ToolFailure(
                    "confirmation_timeout",
                    f"no answer to the confirmation within {self.options.confirm_timeout:g} s; "
                    "nothing was sent",
                )
            if data.verdict == "failed":
                raise ToolFailure(
                    "confirmation_failed",
                    "the confirmation could not be completed (no usable answer); nothing was sent",
                )
            if data.verdict == "no_capability":
                fix = (
                    "top-ups are always confirmed"
                    if always
                    else "the server's operator can raise --confirm-above-usd or pass --no-confirm"
                )
                raise ToolFailure(
                    "confirmation_unavailable",
                    f"this call costs ${cost} and needs the user's confirmation, but the MCP "
                    f"client cannot ask (no form elicitation support); nothing was sent ({fix})",
                )
        if not always and not self._needs_confirmation(cost):
            return
        raise ToolFailure(
            "confirmation_required",
            f"this call costs ${cost} and was not confirmed; nothing was sent",
        )

    # -- running a paid call --------------------------------------------------------------------

    async def run_paid(
        self, outcome: Any, make_plan: Callable[[], Awaitable[Plan]]
    ) -> CallToolResult:
        """Check, confirm, reserve, send, then commit or release: one paid tool call."""
        started = time.monotonic()
        plan: Plan | None = None
        charged = False
        try:
            self._require_credentials()
            plan = await make_plan()
            # A cap refusal says more than "not confirmed" (the gate does not ask then).
            await self.guard.precheck(plan.cost)
            self._check_confirmation(outcome, plan.cost)
            ticket = await self.guard.reserve(plan.cost, label=plan.tool)
            try:
                result = await plan.send()
            except BaseException as exc:
                # Shielded: a cancelled call (the host gave up) must still settle its reservation.
                if _not_charged(exc):
                    await asyncio.shield(self.guard.release(ticket))
                else:
                    charged = True
                    await asyncio.shield(self.guard.commit(ticket))
                raise
            charged = True
            await self.guard.commit(ticket)
        except Exception as exc:
            failure = failure_from(exc, sent=charged)
            log.info("%s refused or failed: %s", plan.tool if plan else "paid tool", failure.code)
            return error_result(failure)
        finally:
            if plan is not None:
                for fh in plan.files:
                    fh.close()
        log.info(
            "%s ok: $%s, %s, request %s, %.1fs", plan.tool, plan.cost, plan.model,
            result.request_id, time.monotonic() - started,
        )  # fmt: skip
        return self._success(plan, result)

    def _success(self, plan: Plan, result: ImageResult) -> CallToolResult:
        path = result.path or plan.output
        uri = path.as_uri()
        data: dict[str, Any] = {
            "path": str(path),
            "uri": uri,
            "cost_usd": str(plan.cost),
            "model": result.model_id or plan.model,
            "request_id": result.request_id,
            "content_type": result.content_type,
            "bytes": path.stat().st_size if path.exists() else None,
            "blurred": result.is_blurred,
            "balance_remaining_usd": (
                str(result.balance_remaining) if result.balance_remaining is not None else None
            ),
        }
        text = (
            f"Wrote {path.name} into the output folder ({data['bytes']} bytes, "
            f"{result.content_type}). Cost ${plan.cost} with {data['model']}; request id "
            f"{result.request_id}."
        )
        link = ResourceLink(
            type="resource_link", name=path.name, uri=uri, mime_type=result.content_type or None
        )
        return CallToolResult(
            content=[TextContent(type="text", text=text), link], structured_content=data
        )

    # -- the MCP server -------------------------------------------------------------------------

    def _build(self) -> MCPServer[Any]:
        # The tools are added by build_server (inpaint_async.mcp._tools), which imports this module.
        return MCPServer(
            "inpaint-async",
            title="Venice image editing (inpaint-async)",
            version=__version__,
            instructions=INSTRUCTIONS,
            log_level="WARNING",
        )


def error_result(failure: ToolFailure) -> CallToolResult:
    """A tool error: ``isError`` with the structured failure (and the same as text)."""
    return CallToolResult(
        content=[TextContent(type="text", text=f"{failure.code}: {failure.message}")],
        structured_content=failure.structured(),
        is_error=True,
    )


def ok_result(text: str, data: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


INSTRUCTIONS = (
    "Edits images with the Venice image API. Every paid tool has a price from the model "
    "catalogue, checked against spend caps the server enforces (per call, per session, per day); "
    "call estimate_cost or spend_status first when unsure. Inputs are file names inside the "
    "input folder (or http(s) URLs, or small base64 images); results are written into the output "
    "folder and returned as a path. A tool error with may_have_been_charged=true means the money "
    "may be gone: never retry it automatically."
)
