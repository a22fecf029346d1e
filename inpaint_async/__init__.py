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
    PriceError,
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
from .auth import Auth, BearerAuth, Signer, WalletAuth

if _TYPE_CHECKING:
    from ._pricing import estimate_cost
    from ._sync import SyncInpaintClient
    from .batch import BatchRunner, BatchSummary, EditJob, JobOutcome
    from .spend import TopUpPolicy
    from .types.catalogue import Model, ModelCatalogue
    from .types.results import (
        BackgroundRemoveResult,
        EditResult,
        ImageResult,
        ModelDeprecation,
        MultiEditResult,
        RateLimitState,
        UpscaleResult,
    )
    from .x402.models import TopUpResult, WalletBalance
    from .x402.payment import PaymentRailError

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
    "PriceError",
    "RateLimitError",
    "RateLimitState",
    "ResponseTooLargeError",
    "RetryPolicy",
    "ServerError",
    "SettlementFailedError",
    "SettlementPendingError",
    "Signer",
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
    "estimate_cost",
]

# These load on first use: the result models (and pydantic) with the first result, the batch
# runner, the catalogue's models and the top-up machinery only for programs that use them.
_LAZY = {
    **dict.fromkeys(("BatchRunner", "BatchSummary", "EditJob", "JobOutcome"), ".batch"),
    **dict.fromkeys(("Model", "ModelCatalogue"), ".types.catalogue"),
    **dict.fromkeys(
        (
            "BackgroundRemoveResult",
            "EditResult",
            "ImageResult",
            "ModelDeprecation",
            "MultiEditResult",
            "RateLimitState",
            "UpscaleResult",
        ),
        ".types.results",
    ),
    **dict.fromkeys(("TopUpResult", "WalletBalance"), ".x402.models"),
    "PaymentRailError": ".x402.payment",
    "TopUpPolicy": ".spend",
    "SyncInpaintClient": "._sync",
    "estimate_cost": "._pricing",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'inpaint_async' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
