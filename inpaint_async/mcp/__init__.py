"""``inpaint-async mcp``: the image-edit tools for agents, with spend caps the agent cannot lift.

Needs the ``mcp`` extra (``pip install 'inpaint-async[mcp]'``, the official ``mcp`` package,
version 2). Run it with ``inpaint-async mcp --in-dir IN --out-dir OUT``; embed it with::

    from inpaint_async.mcp import ServerOptions, build_server

    app = build_server(ServerOptions(in_dir=Path("in"), out_dir=Path("out")))
    app.server.run()            # stdio; app.server is an mcp.server.mcpserver.MCPServer

What the server guarantees (docs/agents.md):

* every paid call is priced from the model catalogue before anything is sent (no price: refused),
  checked against ``--max-per-call-usd``, ``--max-per-session-usd`` and ``--max-per-day-usd``
  (the day cap lives in the spend ledger file, shared with the CLI and kept across restarts) and
  the ``--models`` allowlist; its amount is reserved, then committed, or released only when the
  server certainly did not charge. An unknown outcome counts as spent;
* above ``--confirm-above-usd`` (default 0: every paid call) the user is asked through MCP
  elicitation, and the call is refused when the client cannot ask, the user declines or cancels,
  or no answer comes in time;
* files are read from ``--in-dir`` and written to ``--out-dir`` only (``..`` and symlinks leading
  out are refused);
* errors are tool errors with ``code``, ``message``, ``request_id``, ``retryable`` and
  ``may_have_been_charged``; no key, signature or password is ever in a result or a log line.
"""

from typing import TYPE_CHECKING, Any

from ._guard import CapExceededError, SpendGuard
from ._options import ServerOptions
from ._sandbox import Sandbox, SandboxError

if TYPE_CHECKING:
    from ._server import InpaintMCP
    from ._tools import build_server

__all__ = [
    "CapExceededError",
    "InpaintMCP",
    "Sandbox",
    "SandboxError",
    "ServerOptions",
    "SpendGuard",
    "build_server",
]


def __getattr__(name: str) -> Any:
    # The server needs the ``mcp`` package; the options, sandbox and guard do not (the CLI's
    # parser reads the defaults without the extra installed).
    if name == "InpaintMCP":
        from ._server import InpaintMCP

        return InpaintMCP
    if name == "build_server":
        from ._tools import build_server

        return build_server
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
