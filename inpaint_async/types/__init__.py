"""Pydantic models users annotate with: results, parameters, catalogue and 402 bodies."""

from .results import EditResult, ImageResult, ModelDeprecation, RateLimitState, ResponseModel

__all__ = ["EditResult", "ImageResult", "ModelDeprecation", "RateLimitState", "ResponseModel"]
