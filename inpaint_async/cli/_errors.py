"""Exit codes of the ``inpaint-async`` command, one per error class, and how errors are printed."""

from __future__ import annotations

from typing import Any

from .._exceptions import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    ConfigurationError,
    LedgerError,
    OutcomeUnknownError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    SpendCapError,
    TopUpError,
)

__all__ = ["EXIT_CODES", "describe_error", "exit_code_for"]

EXIT_OK = 0
EXIT_OTHER = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_PAYMENT = 4
EXIT_RATE_LIMIT = 5
EXIT_SERVER = 6
EXIT_UNKNOWN = 7
EXIT_CONNECTION = 8
EXIT_BUDGET = 9
EXIT_INTERRUPTED = 130

#: Every exit code and what it means (docs/cli.md prints the same table).
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success (batch: every job succeeded or was already done)",
    EXIT_OTHER: "another error (batch: some jobs failed)",
    EXIT_USAGE: "usage or validation: bad arguments, files, parameters, credentials setup; "
    "the server's 400/404/413/415/422",
    EXIT_AUTH: "authentication or permission: 401, 403",
    EXIT_PAYMENT: "payment: 402, a top-up failed, or a spend cap was reached",
    EXIT_RATE_LIMIT: "rate limited: 429 after the retries",
    EXIT_SERVER: "server error: 5xx after the retries",
    EXIT_UNKNOWN: "outcome unknown: sent, no answer; it may have been charged",
    EXIT_CONNECTION: "connection: the server could not be reached",
    EXIT_BUDGET: "batch stopped at its budget before every job ran",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an error."""
    if isinstance(exc, AuthenticationError | PermissionDeniedError):
        return EXIT_AUTH
    if isinstance(exc, PaymentRequiredError | TopUpError | SpendCapError):
        return EXIT_PAYMENT
    if isinstance(exc, RateLimitError):
        return EXIT_RATE_LIMIT
    if isinstance(exc, ServerError):
        return EXIT_SERVER
    if isinstance(exc, OutcomeUnknownError):
        return EXIT_UNKNOWN
    if isinstance(exc, APIConnectionError):
        return EXIT_CONNECTION
    if isinstance(exc, ConfigurationError | APIStatusError | LedgerError):
        return EXIT_USAGE
    return EXIT_OTHER


def describe_error(exc: BaseException) -> str:
    """One line for stderr: the error's class and message, and the request id when there is one."""
    request_id: Any = getattr(exc, "request_id", None)
    text = f"{type(exc).__name__}: {exc}"
    if request_id and str(request_id) not in text:
        text += f" (request id {request_id})"
    return text
