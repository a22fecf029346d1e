"""``inpaint-async mcp``: serve the image tools to an agent over MCP (stdio, or HTTP on 127.0.0.1).

Needs the ``mcp`` extra. Everything is printed to stderr: on stdio, stdout is the protocol.
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._exceptions import ConfigurationError, InpaintError, ValidationError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ..mcp import InpaintMCP, ServerOptions

__all__ = ["ENV_HTTP_TOKEN", "BearerTokenMiddleware", "add_parser", "check_http_host", "run"]

#: The environment variable holding the bearer token of the HTTP transport (never a flag).
ENV_HTTP_TOKEN = "INPAINT_MCP_TOKEN"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

Scope = dict[str, Any]


def _usd_or_none(text: str) -> Decimal | None:
    if text.strip().lower() in ("none", "off"):
        return None
    return _usd(text)


def _usd(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a USD amount: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"a USD amount is a number >= 0, not {text!r}")
    return value


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``inpaint-async mcp`` on the CLI's subparsers."""
    from ..mcp._options import (
        DEFAULT_CONFIRM_TIMEOUT,
        DEFAULT_MAX_PER_CALL_USD,
        DEFAULT_MAX_PER_DAY_USD,
        DEFAULT_MAX_PER_SESSION_USD,
    )

    p: argparse.ArgumentParser = sub.add_parser(
        "mcp",
        help="serve the image tools to AI agents over MCP, under spend caps",
        description="Serve edit, multi-edit, upscale and background removal to an MCP host "
        "(Claude Desktop/Code, Cursor, ...) with spend caps the agent cannot lift. stdio by "
        "default. Credentials come from the environment, as for every command. Caps: a USD "
        "amount, or 'none'. See docs/agents.md.",
    )
    p.add_argument("--in-dir", required=True, help="folder the tools may read images from")
    p.add_argument("--out-dir", required=True, help="folder the tools write results into")
    p.add_argument(
        "--models", help="comma-separated model ids the paid tools may use (default: all priced)"
    )
    p.add_argument("--max-per-call-usd", type=_usd_or_none, default=DEFAULT_MAX_PER_CALL_USD,
                   help=f"refuse a call priced above this (default {DEFAULT_MAX_PER_CALL_USD})")  # fmt: skip
    p.add_argument("--max-per-session-usd", type=_usd_or_none, default=DEFAULT_MAX_PER_SESSION_USD,
                   help="refuse calls once this server process has spent this much "
                   f"(default {DEFAULT_MAX_PER_SESSION_USD})")  # fmt: skip
    p.add_argument("--max-per-day-usd", type=_usd_or_none, default=DEFAULT_MAX_PER_DAY_USD,
                   help="refuse calls once the spend ledger counts this much in 24 hours, "
                   f"across restarts and the CLI (default {DEFAULT_MAX_PER_DAY_USD})")  # fmt: skip
    p.add_argument("--confirm-above-usd", type=_usd, default=Decimal(0),
                   help="ask the user (MCP elicitation) before any call priced above this; "
                   "0 (default) asks for every paid call")  # fmt: skip
    p.add_argument("--no-confirm", action="store_true",
                   help="never ask the user (unattended use; the caps still hold)")  # fmt: skip
    p.add_argument("--confirm-timeout", type=float, default=DEFAULT_CONFIRM_TIMEOUT,
                   help="seconds to wait for the user's answer before refusing")  # fmt: skip
    p.add_argument("--ledger", help="spend ledger file (default: the state-dir file of the "
                   "wallet or key, shared with the CLI; ':memory:' for none)")  # fmt: skip
    p.add_argument("--allow-top-up", action="store_true",
                   help="offer top_up_wallet (wallet only; always confirmed; capped)")  # fmt: skip
    p.add_argument("--max-top-up-usd", type=_usd, default=Decimal("10"),
                   help="largest single top-up top_up_wallet may sign (default 10)")  # fmt: skip
    p.add_argument("--max-top-up-per-day-usd", type=_usd, default=Decimal("20"),
                   help="what the wallet's top-ups may sign in 24 hours, counted by the ledger "
                   "across processes (default 20)")  # fmt: skip
    p.add_argument("--http", type=int, metavar="PORT",
                   help="serve streamable HTTP on PORT instead of stdio")  # fmt: skip
    p.add_argument("--host", default="127.0.0.1",
                   help=f"HTTP bind address (default 127.0.0.1; any other needs {ENV_HTTP_TOKEN})")  # fmt: skip
    return p


def options_from_args(args: argparse.Namespace) -> ServerOptions:
    """The server options of the parsed flags."""
    from ..mcp import ServerOptions

    models = None
    if args.models:
        models = frozenset(m.strip() for m in args.models.split(",") if m.strip())
        if not models:
            raise ValidationError("--models needs at least one model id", param="models")
    return ServerOptions(
        in_dir=Path(args.in_dir),
        out_dir=Path(args.out_dir),
        base_url=args.base_url,
        models=models,
        max_per_call_usd=args.max_per_call_usd,
        max_per_session_usd=args.max_per_session_usd,
        max_per_day_usd=args.max_per_day_usd,
        confirm_above_usd=args.confirm_above_usd,
        no_confirm=args.no_confirm,
        confirm_timeout=args.confirm_timeout,
        ledger_path=args.ledger,
        allow_top_up=args.allow_top_up,
        max_top_up_usd=args.max_top_up_usd,
        max_top_up_per_day_usd=args.max_top_up_per_day_usd,
    )


def check_http_host(host: str, token: str | None) -> None:
    """Refuse to serve HTTP beyond the loopback interface without a bearer token."""
    if host not in LOOPBACK_HOSTS and not token:
        raise ConfigurationError(
            f"refusing to serve on {host}: only 127.0.0.1 is served without a bearer token; set "
            f"{ENV_HTTP_TOKEN} in the environment (clients then send 'Authorization: Bearer ...')"
        )


class BearerTokenMiddleware:
    """ASGI middleware: every HTTP request must carry ``Authorization: Bearer <token>``."""

    def __init__(self, app: Callable[..., Awaitable[None]], token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope.get("type") == "http":
            given = b""
            for name, value in scope.get("headers", ()):
                if name.lower() == b"authorization":
                    given = value
            if not hmac.compare_digest(given, self._expected):
                body = json.dumps({"error": "missing or wrong bearer token"}).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b"Bearer"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def http_app(app: InpaintMCP, host: str, token: str | None) -> Any:
    """The streamable-HTTP ASGI app of the server, behind the bearer token when one is set."""
    check_http_host(host, token)
    asgi = app.server.streamable_http_app(host=host)
    return BearerTokenMiddleware(asgi, token) if token else asgi


def banner(app: InpaintMCP, transport: str) -> list[str]:
    """The start-up lines printed to stderr (never a secret: the address or 'API key' only)."""
    o = app.options

    def cap(value: Decimal | None) -> str:
        return "none" if value is None else f"${value}"

    if app.credential_error is not None:
        who = "NO CREDENTIALS: paid tools refuse (set VENICE_API_KEY, or VENICE_WALLET_KEY / " \
              "VENICE_WALLET_KEYSTORE + VENICE_WALLET_PASSWORD)"  # fmt: skip
    elif app.is_wallet:
        who = f"wallet {getattr(app.client.auth, 'address', '?')} (fresh SIWX per request)"
    else:
        who = "API key"
    lines = [
        f"inpaint-async mcp: serving on {transport}",
        f"  auth: {who}; API {app.client.base_url}",
        f"  input folder: {app.sandbox.in_dir}",
        f"  output folder: {app.sandbox.out_dir}",
        f"  caps: per call {cap(o.max_per_call_usd)}, per session {cap(o.max_per_session_usd)}, "
        f"per day {cap(o.max_per_day_usd)} (ledger: {app.ledger_label or 'none'})",
        "  models: " + (", ".join(sorted(o.models)) if o.models else "every priced model"),
    ]
    if o.no_confirm:
        lines += [
            "  " + "!" * 76,
            "  !! WARNING: --no-confirm: paid calls run WITHOUT asking the user.",
            "  !! Only the spend caps above limit what the agent can spend.",
            "  " + "!" * 76,
        ]
    elif o.confirm_above_usd == 0:
        lines.append("  confirmation: every paid call is confirmed by the user (MCP elicitation)")
    else:
        lines.append(
            f"  confirmation: calls above ${o.confirm_above_usd} are confirmed by the user"
        )
    if o.allow_top_up:
        state = "offered" if "top_up_wallet" in _tool_names(app) else "NOT offered (needs a wallet)"
        lines.append(
            f"  top_up_wallet: {state}; at most ${o.max_top_up_usd} each, "
            f"${o.max_top_up_per_day_usd} per 24 hours; always confirmed"
        )
    return lines


def _tool_names(app: InpaintMCP) -> set[str]:
    return {t.name for t in app.server._tool_manager.list_tools()}


def run(args: argparse.Namespace) -> int:
    """Run ``inpaint-async mcp`` until the host disconnects (stdio) or Ctrl-C (HTTP)."""
    try:
        from ..mcp import build_server
    except ImportError as exc:
        print(
            f"inpaint-async mcp needs the mcp extra ({exc.name} is missing): "
            "pip install 'inpaint-async[mcp]'",
            file=sys.stderr,
        )
        return 1
    import anyio

    try:
        options = options_from_args(args)
        token = os.environ.get(ENV_HTTP_TOKEN) or None
        if args.http is not None:
            check_http_host(args.host, token)
        app = build_server(options)
    except InpaintError as exc:
        from ._output import clean

        print(f"error: {clean(exc)}", file=sys.stderr)
        return 2
    transport = "stdio" if args.http is None else f"http://{args.host}:{args.http}/mcp"
    if args.http is not None and token:
        transport += f" (bearer token from {ENV_HTTP_TOKEN})"
    from ._output import clean

    for line in banner(app, transport):
        print(clean(line), file=sys.stderr)
    sys.stderr.flush()

    async def serve() -> None:
        try:
            if args.http is None:
                await app.server.run_stdio_async()
            else:
                import uvicorn

                config = uvicorn.Config(
                    http_app(app, args.host, token), host=args.host, port=args.http,
                    log_level="warning",
                )  # fmt: skip
                await uvicorn.Server(config).serve()
        finally:
            await app.aclose()

    try:
        anyio.run(serve)
    except KeyboardInterrupt:
        return 130
    return 0
