"""inpaint_async: the async-first Python SDK for the Venice.ai image Edit (inpaint) API."""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._client import InpaintClient
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    ContentPolicyError,
    EventLoopMismatchError,
    GatewayTimeoutError,
    GoneError,
    InpaintError,
    InsufficientBalanceError,
    LedgerError,
    NotFoundError,
    OutcomeUnknownError,
    OutputWriteError,
    PayloadTooLargeError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ResponseTooLargeError,
    ServerError,
    SettlementFailedError,
    SettlementPendingError,
    SpendCapError,
    TopUpError,
    TopUpLimitError,
    UnexpectedResponseError,
    UnsupportedMediaTypeError,
    ValidationError,
    WalletCreditError,
    X402DiscoveryError,
)
from ._retry import RetryPolicy
from ._version import __version__
from .auth import Auth, BearerAuth, WalletAuth
from .types import (
    BackgroundRemoveResult,
    EditResult,
    ImageResult,
    Model,
    ModelCatalogue,
    ModelDeprecation,
    MultiEditResult,
    RateLimitState,
    UpscaleResult,
)
from .x402 import PaymentRailError, TopUpResult, WalletBalance
from .x402.topup import TopUpPolicy

if _TYPE_CHECKING:
    from ._sync import SyncInpaintClient
    from .batch import BatchRunner, BatchSummary, EditJob, JobOutcome

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "Auth",
    "AuthenticationError",
    "BackgroundRemoveResult",
    "BadRequestError",
    "BatchRunner",
    "BatchSummary",
    "BearerAuth",
    "ConfigurationError",
    "ConflictError",
    "ContentPolicyError",
    "EditJob",
    "EditResult",
    "EventLoopMismatchError",
    "GatewayTimeoutError",
    "GoneError",
    "ImageResult",
    "InpaintClient",
    "InpaintError",
    "InsufficientBalanceError",
    "JobOutcome",
    "LedgerError",
    "Model",
    "ModelCatalogue",
    "ModelDeprecation",
    "MultiEditResult",
    "NotFoundError",
    "OutcomeUnknownError",
    "OutputWriteError",
    "PayloadTooLargeError",
    "PaymentRailError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimitState",
    "ResponseTooLargeError",
    "RetryPolicy",
    "ServerError",
    "SettlementFailedError",
    "SettlementPendingError",
    "SpendCapError",
    "SyncInpaintClient",
    "TopUpError",
    "TopUpLimitError",
    "TopUpPolicy",
    "TopUpResult",
    "UnexpectedResponseError",
    "UnsupportedMediaTypeError",
    "UpscaleResult",
    "ValidationError",
    "WalletAuth",
    "WalletBalance",
    "WalletCreditError",
    "X402DiscoveryError",
    "__version__",
]

# The batch runner loads on first use: most programs never need it, and it is not free to import.
_LAZY = dict.fromkeys(("BatchRunner", "BatchSummary", "EditJob", "JobOutcome"), ".batch")
_LAZY["SyncInpaintClient"] = "._sync"


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'inpaint_async' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
