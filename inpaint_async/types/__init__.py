"""Pydantic models users annotate with: results, parameters, catalogue and 402 bodies."""

from typing import TYPE_CHECKING, Any

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
    # The catalogue's models load on first use (the edit path never needs them).
    if name in _CATALOGUE:
        from . import catalogue

        return getattr(catalogue, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
