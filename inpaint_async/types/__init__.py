"""Pydantic models users annotate with: results, request parameters and the model catalogue.

The 402 bodies live in :mod:`inpaint_async.x402.models`. The catalogue's models load on first use
(the edit path never needs them).
"""

from typing import TYPE_CHECKING, Any

from .params import AspectRatio, Endpoint, OutputFormatChoice, Quality, Resolution
from .results import (
    BackgroundRemoveResult,
    EditResult,
    ImageResult,
    ModelDeprecation,
    MultiEditResult,
    RateLimitState,
    ResponseModel,
    UpscaleResult,
)

if TYPE_CHECKING:
    from .catalogue import (
        CatalogueDeprecation,
        InputImagesPricing,
        Model,
        ModelCatalogue,
        ModelConstraints,
        ModelPricing,
        ModelSpec,
        Price,
    )

_CATALOGUE = frozenset(
    {"CatalogueDeprecation", "InputImagesPricing", "Model", "ModelCatalogue", "ModelConstraints",
     "ModelPricing", "ModelSpec", "Price"}
)  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _CATALOGUE:
        from . import catalogue

        return getattr(catalogue, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AspectRatio",
    "BackgroundRemoveResult",
    "CatalogueDeprecation",
    "EditResult",
    "Endpoint",
    "ImageResult",
    "InputImagesPricing",
    "Model",
    "ModelCatalogue",
    "ModelConstraints",
    "ModelDeprecation",
    "ModelPricing",
    "ModelSpec",
    "MultiEditResult",
    "OutputFormatChoice",
    "Price",
    "Quality",
    "RateLimitState",
    "Resolution",
    "ResponseModel",
    "UpscaleResult",
]
