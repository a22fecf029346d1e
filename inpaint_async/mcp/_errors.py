"""Errors as MCP tool errors: ``isError`` plus structured content an agent can act on.

Every failure of a tool becomes ``{"code", "message", "request_id", "retryable",
"may_have_been_charged"}`` (plus ``hint`` when there is a fix to name). Messages come from our own
exception texts, which never carry a key, a signature or a password; the structured content never
carries headers or response bodies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._exceptions import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    ConfigurationError,
    ContentPolicyError,
    GatewayTimeoutError,
    InpaintError,
    NotFoundError,
    OutcomeUnknownError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TopUpError,
    TopUpLimitError,
    UnexpectedResponseError,
    ValidationError,
)
from ._guard import CapExceededError
from ._sandbox import SandboxError

__all__ = ["MISSING_CREDENTIALS", "ToolFailure", "failure_from"]

#: The message of a paid tool called with no credentials in the server's environment.
MISSING_CREDENTIALS = (
    "no credentials: the server's environment has neither VENICE_API_KEY (an API key) nor a "
    "wallet (VENICE_WALLET_KEY, or VENICE_WALLET_KEYSTORE + VENICE_WALLET_PASSWORD). Set one of "
    "them in the MCP host's server configuration (its env block) and restart the server"
)

_UNKNOWN_HINT = (
    "do not retry automatically: the request was sent and may have been charged; tell the user, "
    "check the output folder and spend_status, and retry only if they say so"
)


@dataclass
class ToolFailure(Exception):
    """A tool's refusal or failure, ready to become a structured tool error."""

    code: str
    message: str
    request_id: str | None = None
    retryable: bool = False
    may_have_been_charged: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def structured(self) -> dict[str, Any]:
        """The ``structuredContent`` of the tool error."""
        return {
            "code": self.code,
            "message": self.message,
            "request_id": self.request_id,
            "retryable": self.retryable,
            "may_have_been_charged": self.may_have_been_charged,
            **self.extra,
        }


def failure_from(exc: BaseException, *, sent: bool) -> ToolFailure:
    """Classify an exception raised by a tool. ``sent``: whether a paid request may have left."""
    if isinstance(exc, ToolFailure):
        return exc
    request_id = getattr(exc, "request_id", None)
    text = str(exc)
    if isinstance(exc, CapExceededError):
        return ToolFailure(
            f"{exc.cap}_cap_exceeded",
            text,
            extra={
                "cap": exc.cap,
                "cap_usd": str(exc.cap_usd),
                "spent_usd": str(exc.spent_usd),
                "requested_usd": str(exc.requested_usd),
            },
        )
    if isinstance(exc, SandboxError):
        return ToolFailure("outside_sandbox", text)
    if isinstance(exc, ValidationError):
        code = (
            "unknown_model"
            if exc.param == "model" and "unknown model" in text
            else "invalid_request"
        )
        return ToolFailure(code, text)
    if isinstance(exc, ConfigurationError):
        return ToolFailure("configuration", text)
    if isinstance(exc, OutcomeUnknownError):
        return ToolFailure(
            "outcome_unknown",
            f"{text}. {_UNKNOWN_HINT}",
            request_id=request_id,
            retryable=False,
            may_have_been_charged=True,
        )
    if isinstance(exc, ContentPolicyError):
        # A block after generation is charged: counted as spent, and said so.
        return ToolFailure(
            "content_policy", text, request_id=request_id, may_have_been_charged=True
        )
    if isinstance(exc, UnexpectedResponseError):
        return ToolFailure(
            "unexpected_response", text, request_id=request_id, may_have_been_charged=True
        )
    if isinstance(exc, RateLimitError):
        return ToolFailure("rate_limited", text, request_id=request_id, retryable=True)
    if isinstance(exc, GatewayTimeoutError):
        return ToolFailure("server_error", text, request_id=request_id, retryable=True)
    if isinstance(exc, ServerError):
        return ToolFailure("server_error", text, request_id=request_id, retryable=True)
    if isinstance(exc, AuthenticationError | PermissionDeniedError):
        return ToolFailure("authentication_failed", text, request_id=request_id)
    if isinstance(exc, PaymentRequiredError):
        return ToolFailure("payment_required", text, request_id=request_id)
    if isinstance(exc, NotFoundError):
        return ToolFailure("not_found", text, request_id=request_id)
    if isinstance(exc, APIStatusError):
        return ToolFailure("rejected", text, request_id=request_id)
    if isinstance(exc, APIConnectionError):
        return ToolFailure("connection_error", text, request_id=request_id, retryable=True)
    if isinstance(exc, TopUpLimitError):
        return ToolFailure("top_up_cap_exceeded", text)
    if isinstance(exc, TopUpError):
        return ToolFailure("top_up_failed", text, may_have_been_charged=sent)
    if isinstance(exc, InpaintError):
        return ToolFailure("error", text, request_id=request_id, may_have_been_charged=sent)
    # Not one of ours: its text may hold anything, so it is not repeated.
    return ToolFailure(
        "internal_error",
        f"the server failed unexpectedly ({type(exc).__name__})"
        + ("; the request may have been sent and charged" if sent else "; nothing was sent"),
        may_have_been_charged=sent,
    )
