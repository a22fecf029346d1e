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
from .params import AspectRatio, OutputFormatChoice, Quality, Resolution
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
    "AspectRatio",
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
    "OutputFormatChoice",
    "Price",
    "Quality",
    "RateLimitState",
    "Resolution",
    "ResponseModel",
    "UpscaleResult",
]
