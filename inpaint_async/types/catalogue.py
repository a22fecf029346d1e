"""The model catalogue as ``GET /models`` returns it: typed, lenient, with prices as ``Decimal``.

Every model here is a response model: unknown keys are kept (``extra="allow"``) so a new field on
the live API never breaks parsing, and the fields the SDK relies on get snake_case names (the wire
uses camelCase inside ``model_spec``). Dispatch is on ``type``, never on the shape of
``constraints``: image and inpaint models share keys.
"""

from __future__ import annotations

import builtins
import difflib
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING

from pydantic import ConfigDict, Field

from .results import ResponseModel

if TYPE_CHECKING:
    from .params import Endpoint, Quality, Resolution

__all__ = [
    "CatalogueDeprecation",
    "InputImagesPricing",
    "Model",
    "ModelCatalogue",
    "ModelConstraints",
    "ModelPricing",
    "ModelSpec",
    "Price",
]

#: ``maxInputImages`` when the catalogue does not give it: 3, or 1 without ``combineImages``.
DEFAULT_MAX_INPUT_IMAGES = 3


class _CatalogueModel(ResponseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class Price(_CatalogueModel):
    """One price, in USD and DIEM (equal on every inpaint model today)."""

    usd: Decimal
    diem: Decimal | None = None


class InputImagesPricing(_CatalogueModel):
    """The base price covers ``included`` input images; each further image adds ``additional``."""

    included: int = 0
    additional: Price


class ModelPricing(_CatalogueModel):
    """``model_spec.pricing`` of an inpaint model."""

    inpaint: Price | None = None
    resolutions: dict[str, Price] = Field(default_factory=dict)
    quality: dict[str, dict[str, Price]] = Field(default_factory=dict)
    input_images: InputImagesPricing | None = Field(default=None, alias="inputImages")


class ModelConstraints(_CatalogueModel):
    """``model_spec.constraints``: what a request to this model may ask for."""

    aspect_ratios: list[str] = Field(default_factory=list, alias="aspectRatios")
    prompt_character_limit: int | None = Field(default=None, alias="promptCharacterLimit")
    combine_images: bool = Field(default=True, alias="combineImages")
    max_input_images_field: int | None = Field(default=None, alias="maxInputImages")
    single_image_aspect_ratio: bool = Field(default=True, alias="singleImageAspectRatio")
    default_resolution: str | None = Field(default=None, alias="defaultResolution")
    resolutions: list[str] = Field(default_factory=list)
    default_quality: str | None = Field(default=None, alias="defaultQuality")
    qualities: list[str] = Field(default_factory=list)

    @property
    def max_input_images(self) -> int:
        """The multi-edit maximum: ``maxInputImages``, else 3 (1 when images cannot combine)."""
        if self.max_input_images_field is not None:
            return self.max_input_images_field
        return DEFAULT_MAX_INPUT_IMAGES if self.combine_images else 1


class CatalogueDeprecation(_CatalogueModel):
    """``model_spec.deprecation``: present only when a retirement is scheduled."""

    auto_remap: bool | None = Field(default=None, alias="autoRemap")
    date: str | None = None
    starts_at: str | None = Field(default=None, alias="startsAt")
    removes_at: str | None = Field(default=None, alias="removesAt")
    replacement_model_id: str | None = Field(default=None, alias="replacementModelId")


class ModelSpec(_CatalogueModel):
    """``model_spec``: name, privacy, constraints, pricing and the optional flags."""

    name: str | None = None
    privacy: str | None = None
    offline: bool = False
    beta: bool | None = None
    traits: list[str] = Field(default_factory=list)
    uncensored: bool = False
    description: str | None = None
    constraints: ModelConstraints = ModelConstraints()
    pricing: ModelPricing = ModelPricing()
    deprecation: CatalogueDeprecation | None = None
    supports_optimize_prompt_thinking: bool | None = Field(
        default=None, alias="supportsOptimizePromptThinking"
    )


class Model(_CatalogueModel):
    """One catalogue entry (``GET /models`` ``data[]``)."""

    id: str
    type: str
    object: str = "model"
    owned_by: str | None = None
    created: int | None = None
    model_spec: ModelSpec = ModelSpec()

    @property
    def name(self) -> str:
        """The display name (the id when the catalogue gives none)."""
        return self.model_spec.name or self.id

    @property
    def constraints(self) -> ModelConstraints:
        """Shortcut for ``model_spec.constraints``."""
        return self.model_spec.constraints

    @property
    def pricing(self) -> ModelPricing:
        """Shortcut for ``model_spec.pricing``."""
        return self.model_spec.pricing

    @property
    def deprecation(self) -> CatalogueDeprecation | None:
        """The scheduled retirement, if any."""
        return self.model_spec.deprecation

    def estimate_cost(
        self,
        *,
        resolution: Resolution | None = None,
        quality: Quality | None = None,
        images: int = 1,
        enhance_prompt: bool = False,
        endpoint: Endpoint = "edit",
    ) -> Decimal:
        """The USD price of one request to this model (see :func:`inpaint_async.estimate_cost`)."""
        from .._pricing import estimate_cost

        return estimate_cost(
            self,
            resolution=resolution,
            quality=quality,
            images=images,
            enhance_prompt=enhance_prompt,
            endpoint=endpoint,
        )


class ModelCatalogue(_CatalogueModel):
    """The models of one ``type`` (``GET /models?type=...``), looked up by id.

    ``fetched_at`` is when the client received it (``time.monotonic()``), for the cache's TTL.
    """

    object: str = "list"
    type: str | None = None
    data: list[Model] = Field(default_factory=list)
    fetched_at: float = Field(default=0.0, exclude=True)

    def __iter__(self) -> Iterator[Model]:  # type: ignore[override]
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __contains__(self, model_id: builtins.object) -> bool:
        return any(m.id == model_id for m in self.data)

    @property
    def ids(self) -> list[str]:
        """Every model id, in catalogue order."""
        return [m.id for m in self.data]

    def get(self, model_id: str) -> Model | None:
        """The model with this id, or ``None``."""
        for model in self.data:
            if model.id == model_id:
                return model
        return None

    @property
    def default(self) -> Model | None:
        """The model tagged with the ``default`` trait (the server's default), if any."""
        for model in self.data:
            if "default" in model.model_spec.traits:
                return model
        return None

    def close_matches(self, model_id: str, n: int = 3) -> list[str]:
        """Ids that look like ``model_id`` (for "did you mean" messages)."""
        ids = self.ids
        found = difflib.get_close_matches(model_id, ids, n=n, cutoff=0.5)
        if not found:
            found = [i for i in ids if model_id.lower() in i.lower()][:n]
        return found
