"""What a request costs, from the catalogue's pricing: pure, synchronous, in ``Decimal`` USD.

The rules (the emulator bills the same way; docs/models.md explains them):

1. the quality price, when the model has a quality matrix: the caller's ``quality`` (edit and
   multi-edit alike; ``images.edit(quality=...)`` is sent where it is honoured) or else the
   model's ``defaultQuality``;
2. else the price of the resolution tier (the request's, else ``defaultResolution``);
3. else the base ``inpaint`` price;
4. plus ``inputImages.additional`` for each input image beyond ``inputImages.included`` (with
   ``included == 0`` even a single image pays it);
5. plus $0.04 when ``enhance_prompt`` is on (charged only when the rewrite applies, so this is an
   upper bound).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from ._checks import check_request
from ._exceptions import PriceError, ValidationError

if TYPE_CHECKING:
    from .types.catalogue import Model
    from .types.params import Endpoint

__all__ = ["ENHANCE_PROMPT_USD", "estimate_cost"]

ENHANCE_PROMPT_USD = Decimal("0.04")
_FALLBACK_TIER = "1K"


def estimate_cost(
    model: Model,
    *,
    resolution: str | None = None,
    quality: str | None = None,
    images: int = 1,
    enhance_prompt: bool = False,
    endpoint: Endpoint = "edit",
) -> Decimal:
    """The USD price of one edit or multi-edit request to ``model``.

    Args:
        model: The catalogue entry (``(await client.models.list()).get(id)``).
        resolution: The requested tier; ``None`` = the model's default.
        quality: The requested quality; ``None`` = the model's default.
        images: Input images (1 for edit).
        enhance_prompt: Whether the prompt rewrite is asked for (+$0.04 when applied).
        endpoint: ``"edit"`` or ``"multi_edit"``.

    Raises:
        ValidationError: the request is not possible (a tier or quality the model does not
            offer, fewer than one image, or too many for multi-edit).
    """
    if endpoint not in ("edit", "multi_edit"):
        raise ValidationError(
            f"endpoint must be 'edit' or 'multi_edit', not {endpoint!r}", param="endpoint"
        )
    if images < 1:
        raise ValidationError("images must be at least 1", param="images")
    check_request(model, endpoint=endpoint, resolution=resolution, quality=quality, images=images)
    c = model.constraints
    pricing = model.pricing
    tier = resolution if resolution in c.resolutions else None
    tier = tier or c.default_resolution or _FALLBACK_TIER
    q = quality if quality in c.qualities else None
    q = q or c.default_quality
    price: Decimal | None = None
    if q is not None:
        row = pricing.quality.get(tier, {})
        if q in row:
            price = row[q].usd
    if price is None and tier in pricing.resolutions:
        price = pricing.resolutions[tier].usd
    if price is None:
        if pricing.inpaint is None:
            raise PriceError(
                f"{model.id} has no inpaint price in the catalogue", model=model.id, price_usd=None
            )
        price = pricing.inpaint.usd
    extra = pricing.input_images
    if extra is not None:
        price += extra.additional.usd * max(0, images - extra.included)
    if enhance_prompt:
        price += ENHANCE_PROMPT_USD
    return price
