"""Result models: what an edit returns, with the response's headers kept as data."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict


class ResponseModel(BaseModel):
    """Base of every response model: lenient to new fields, immutable."""

    model_config = ConfigDict(extra="allow", frozen=True)


class RateLimitState(ResponseModel):
    """The request rate limit as the last response reported it."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: datetime | None = None


class ModelDeprecation(ResponseModel):
    """A deprecation notice the server attached to the model that ran."""

    warning: str | None = None
    date: str | None = None
    deprecated: bool = False
    replacement: str | None = None


class ImageResult(ResponseModel):
    """An image returned by one of the image endpoints, with everything its headers said.

    Exactly one of ``data`` (the bytes) and ``path`` (where they were streamed with ``output=``)
    is set.
    """

    model_config = ConfigDict(extra="allow", frozen=True, arbitrary_types_allowed=True)

    data: bytes | None = None
    path: Path | None = None
    content_type: str
    model_id: str | None = None
    model_name: str | None = None
    request_id: str | None = None
    venice_version: str | None = None
    is_blurred: bool = False
    is_content_violation: bool = False
    enhanced_prompt: str | None = None
    balance_remaining: Decimal | None = None
    balance_usd: Decimal | None = None
    rate_limit: RateLimitState | None = None
    deprecation: ModelDeprecation | None = None
    headers: Mapping[str, str] = {}
    endpoint: str | None = None
    """The API path that produced the image, e.g. ``/image/edit``, or ``/image/multi-edit`` for
    an ``images.edit(quality=...)`` routed there (see the Images docs)."""
    quality: str | None = None
    """The quality tier the SDK sent (``None``: none sent, the model's default applied)."""

    @property
    def format(self) -> str:
        """The image format from the content type: ``png``, ``jpeg`` or ``webp``."""
        return self.content_type.split(";")[0].strip().removeprefix("image/")

    def read_bytes(self) -> bytes:
        """The image bytes, from memory or from the file they were streamed to."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()


class EditResult(ImageResult):
    """The result of ``images.edit``."""


class MultiEditResult(ImageResult):
    """The result of ``images.multi_edit``."""


class UpscaleResult(ImageResult):
    """The result of ``images.upscale``."""


class BackgroundRemoveResult(ImageResult):
    """The result of ``images.background_remove`` (a PNG with alpha)."""
