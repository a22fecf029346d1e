"""Pydantic models users annotate with: results, parameters, catalogue and 402 bodies."""

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

__all__ = [
    "BackgroundRemoveResult",
    "CatalogueDeprecation",
    "EditResult",
    "ImageResult",
    "InputImagesPricing",
    "Model",
    "ModelCatalogue",
    "ModelConstraints",
    "ModelDeprecation",
    "ModelPricing",
    "ModelSpec",
    "MultiEditResult",
    "Price",
    "RateLimitState",
    "ResponseModel",
    "UpscaleResult",
]
