"""Request parameter models: strict (unknown keys and wrong types are local errors)."""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .._constants import MAX_PROMPT_CHARS
from .._exceptions import ValidationError


class RequestModel(BaseModel):
    """Base of request models: unknown keys and wrong types are rejected."""

    model_config = ConfigDict(extra="forbid", strict=True)


Prompt = Annotated[str, Field(min_length=1, max_length=MAX_PROMPT_CHARS)]
OutputFormat = Literal["jpeg", "png", "webp"]

# The fixed choices, as the type checker sees them in the method signatures. At run time the
# catalogue (when loaded) and the server decide: a value added after this release still works
# through ``extra_body=``.
OutputFormatChoice = Literal["jpeg", "jpg", "png", "webp"]
"""``output_format=``: ``jpg`` is accepted and sent as ``jpeg``."""
AspectRatio = Literal["auto", "1:1", "3:2", "16:9", "21:9", "9:16", "2:3", "3:4", "4:5", "4:3"]
"""``aspect_ratio=``: ``auto`` (or omitting it) picks the ratio closest to the input."""
Resolution = Literal["1K", "2K", "4K"]
"""``resolution=``: the tiers models offer (``constraints.resolutions``)."""
Quality = Literal["low", "medium", "high"]
"""``quality=``: the tiers quality models offer (``constraints.qualities``)."""
Endpoint = Literal["edit", "multi_edit"]
"""``endpoint=`` of ``estimate_cost``: the image endpoints priced and checked by the catalogue."""


class EditParams(RequestModel):
    """The body fields of ``POST /image/edit`` (apart from the image)."""

    prompt: Prompt
    model: Annotated[str, Field(min_length=1)] | None = None
    aspect_ratio: Annotated[str, Field(min_length=1)] | None = None
    resolution: Annotated[str, Field(min_length=1, max_length=10)] | None = None
    output_format: OutputFormat | None = None
    safe_mode: bool | None = None
    enhance_prompt: bool | None = None
    disable_prompt_optimization_thinking: bool | None = None
    quality: Quality | None = None

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the prompt is blank")
        return value

    @field_validator("output_format", mode="before")
    @classmethod
    def _jpg_is_jpeg(cls, value: Any) -> Any:
        return "jpeg" if isinstance(value, str) and value.lower() == "jpg" else value


def build_params(model: type[RequestModel], values: dict[str, Any]) -> RequestModel:
    """Validate ``values`` (``None`` = not set) into ``model``; a mistake is a ValidationError."""
    given = {k: v for k, v in values.items() if v is not None}
    known = set(model.model_fields)
    for key in given:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValidationError(f"unknown parameter {key!r}{hint}", param=key)
    try:
        return model.model_validate(given)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "request"
        raise ValidationError(f"invalid {loc!r}: {err['msg']}", param=loc) from None


def wire_fields(params: RequestModel) -> dict[str, Any]:
    """The fields the caller set, as the API names them."""
    return params.model_dump(exclude_none=True, by_alias=True)


class MultiEditParams(EditParams):
    """The body fields of ``POST /image/multi-edit`` (apart from the images).

    The model travels as ``modelId``: this endpoint rejects ``model``.
    """

    model: Annotated[str, Field(min_length=1)] | None = Field(
        default=None, serialization_alias="modelId"
    )


class UpscaleParams(RequestModel):
    """The body fields of ``POST /image/upscale`` (apart from the image)."""

    scale: Annotated[float, Field(ge=2, le=4)] | None = None
    creativity: Annotated[float, Field(ge=0, le=0.02)] | None = None
