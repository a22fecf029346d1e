"""The emulator's model catalogue and pricing rules.

Written from the public pricing snapshot (2026-08-22) and the constraints captured from the live
API; models without captured constraints get the defaults the reference suggests.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

__all__ = [
    "ALL_ASPECT_RATIOS",
    "BG_REMOVER_ID",
    "DEFAULT_EDIT_MODEL",
    "MODEL_TYPES",
    "UPSCALER_ID",
    "build_catalogue",
    "edit_price",
]

DEFAULT_EDIT_MODEL = "firered-image-edit"
UPSCALER_ID = "upscaler"
BG_REMOVER_ID = "bria-bg-remover"
ALL_ASPECT_RATIOS = ["auto", "1:1", "3:2", "16:9", "21:9", "9:16", "2:3", "3:4", "4:5"]
MODEL_TYPES = frozenset(
    {
        "asr",
        "embedding",
        "image",
        "music",
        "text",
        "tts",
        "upscale",
        "inpaint",
        "video",
        "all",
        "code",
    }
)
_CREATED = 1_767_225_600  # 2026-01-01, a fixed date keeps responses deterministic

_Price = dict[str, float]


def _usd(value: float) -> _Price:
    return {"usd": value, "diem": value}


def _inpaint(
    model_id: str,
    name: str,
    base: float,
    *,
    privacy: str = "anonymized",
    uncensored: bool = False,
    resolutions: dict[str, float] | None = None,
    quality: dict[str, dict[str, float]] | None = None,
    extra_image: tuple[float, int] | None = None,
    aspect_ratios: list[str] | None = None,
    prompt_limit: int = 1500,
    combine: bool = True,
    max_images: int | None = 6,
    default_quality: str | None = None,
    deprecation: dict[str, Any] | None = None,
) -> dict[str, Any]:
    pricing: dict[str, Any] = {"inpaint": _usd(base)}
    constraints: dict[str, Any] = {
        "aspectRatios": list(aspect_ratios or ALL_ASPECT_RATIOS),
        "promptCharacterLimit": prompt_limit,
        "combineImages": combine,
        "singleImageAspectRatio": True,
    }
    if max_images is not None:
        constraints["maxInputImages"] = max_images
    if resolutions:
        pricing["resolutions"] = {tier: _usd(v) for tier, v in resolutions.items()}
        constraints["defaultResolution"] = "1K"
        constraints["resolutions"] = list(resolutions)
    if quality:
        pricing["quality"] = {
            tier: {q: _usd(v) for q, v in row.items()} for tier, row in quality.items()
        }
        qualities = list(next(iter(quality.values())))
        constraints["qualities"] = qualities
        constraints["defaultQuality"] = default_quality or qualities[-1]
    if extra_image:
        pricing["inputImages"] = {"included": extra_image[1], "additional": _usd(extra_image[0])}
    spec: dict[str, Any] = {
        "name": name,
        "privacy": privacy,
        "offline": False,
        "beta": False,
        "traits": ["default"] if model_id == DEFAULT_EDIT_MODEL else [],
        "constraints": constraints,
        "pricing": pricing,
        "supportsOptimizePromptThinking": False,
    }
    if uncensored:
        spec["uncensored"] = True
    if deprecation:
        spec["deprecation"] = deprecation
    return {
        "id": model_id,
        "object": "model",
        "owned_by": "venice.ai",
        "type": "inpaint",
        "created": _CREATED,
        "model_spec": spec,
    }


def build_catalogue() -> list[dict[str, Any]]:
    """A fresh copy of the catalogue (callers may mutate it)."""
    return copy.deepcopy(_CATALOGUE)


_CATALOGUE: list[dict[str, Any]] = [
    _inpaint("firered-image-edit", "FireRed Image Edit", 0.04, privacy="private"),
    _inpaint("flux-2-max-edit", "FLUX.2 Max Edit", 0.12, extra_image=(0.0345, 1)),
    _inpaint("gpt-image-1-5-edit", "GPT Image 1.5 Edit", 0.31, extra_image=(0.02806, 1)),
    _inpaint(
        "gpt-image-2-edit",
        "GPT Image 2 Edit",
        0.34,
        resolutions={"1K": 0.34, "2K": 0.52, "4K": 0.84},
        quality={
            "1K": {"low": 0.03, "medium": 0.08, "high": 0.34},
            "2K": {"low": 0.03, "medium": 0.14, "high": 0.52},
            "4K": {"low": 0.04, "medium": 0.22, "high": 0.84},
        },
        default_quality="high",
        extra_image=(0.0092, 1),
        aspect_ratios=["1:1", "3:2", "16:9"],
        prompt_limit=10000,
    ),
    _inpaint(
        "grok-imagine-edit",
        "Grok Imagine Edit",
        0.03,
        privacy="private",
        resolutions={"1K": 0.03, "2K": 0.04},
        extra_image=(0.0023, 0),
    ),
    _inpaint(
        "grok-imagine-image-2-0-edit",
        "Grok Imagine Image 2.0 Edit",
        0.07,
        privacy="private",
        resolutions={"1K": 0.07, "2K": 0.10},
        quality={"1K": {"low": 0.05, "medium": 0.07}, "2K": {"low": 0.07, "medium": 0.10}},
        default_quality="medium",
        extra_image=(0.0115, 0),
    ),
    _inpaint(
        "grok-imagine-quality-edit",
        "Grok Imagine Quality Edit",
        0.06,
        privacy="private",
        resolutions={"1K": 0.06, "2K": 0.09},
        extra_image=(0.0115, 0),
    ),
    _inpaint("luma-uni-1-edit", "Luma Uni 1 Edit", 0.06, combine=False, max_images=None),
    _inpaint("luma-uni-1-max-edit", "Luma Uni 1 Max Edit", 0.13, combine=False, max_images=None),
    _inpaint(
        "nano-banana-2-edit",
        "Nano Banana 2 Edit",
        0.10,
        resolutions={"1K": 0.10, "2K": 0.14, "4K": 0.19},
        prompt_limit=32768,
    ),
    _inpaint("nano-banana-2-lite-edit", "Nano Banana 2 Lite Edit", 0.06, prompt_limit=32768),
    _inpaint(
        "nano-banana-pro-edit",
        "Nano Banana Pro Edit",
        0.18,
        resolutions={"1K": 0.18, "2K": 0.23, "4K": 0.35},
        prompt_limit=32768,
    ),
    _inpaint(
        "qwen-edit-uncensored", "Qwen Edit Uncensored", 0.04, privacy="private", uncensored=True
    ),
    _inpaint("qwen-image-2-edit", "Qwen Image 2 Edit", 0.05),
    _inpaint("qwen-image-2-pro-edit", "Qwen Image 2 Pro Edit", 0.10),
    _inpaint(
        "qwen-image-3-edit",
        "Qwen Image 3 Edit",
        0.04,
        uncensored=True,
        resolutions={"1K": 0.04, "2K": 0.04},
        extra_image=(0.00345, 0),
    ),
    _inpaint(
        "qwen-image-3-pro-edit",
        "Qwen Image 3 Pro Edit",
        0.05,
        uncensored=True,
        resolutions={"1K": 0.05, "2K": 0.09},
        extra_image=(0.00345, 0),
    ),
    _inpaint(
        "seedream-v4-edit",
        "Seedream V4 Edit",
        0.05,
        uncensored=True,
        deprecation={
            "autoRemap": True,
            "date": "2026-12-31T00:00:00.000Z",
            "startsAt": "2026-12-01T00:00:00.000Z",
            "removesAt": "2026-12-31T00:00:00.000Z",
            "replacementModelId": "seedream-v5-lite-edit",
        },
    ),
    _inpaint("seedream-v5-lite-edit", "Seedream V5 Lite Edit", 0.05, uncensored=True),
    _inpaint(
        "seedream-v5-pro-edit",
        "Seedream V5 Pro Edit",
        0.06,
        uncensored=True,
        resolutions={"1K": 0.06, "2K": 0.11},
        extra_image=(0.00345, 1),
    ),
    _inpaint(
        "wan-2-7-pro-edit",
        "Wan 2.7 Pro Edit",
        0.094,
        aspect_ratios=["auto"],
        prompt_limit=5000,
    ),
    {
        "id": UPSCALER_ID,
        "object": "model",
        "owned_by": "venice.ai",
        "type": "upscale",
        "created": _CREATED,
        "model_spec": {
            "name": "Upscaler",
            "privacy": "private",
            "offline": False,
            "traits": [],
            "pricing": {
                "generation": _usd(0.01),
                "2x": _usd(0.02),
                "4x": _usd(0.08),
            },
        },
    },
    {
        "id": BG_REMOVER_ID,
        "object": "model",
        "owned_by": "venice.ai",
        "type": "image",
        "created": _CREATED,
        "model_spec": {
            "name": "Bria Background Remover",
            "privacy": "anonymized",
            "offline": False,
            "traits": [],
            "pricing": {"generation": _usd(0.03)},
        },
    },
]
# wan-2-7-pro-edit is priced flat but was captured with 1K/2K tiers.
_CATALOGUE[-3]["model_spec"]["constraints"].update(
    {"defaultResolution": "1K", "resolutions": ["1K", "2K"]}
)

ENHANCE_PROMPT_USD = Decimal("0.04")


def _d(price: dict[str, Any]) -> Decimal:
    return Decimal(str(price["usd"]))


def edit_price(
    model: dict[str, Any],
    *,
    resolution: str | None,
    quality: str | None,
    images: int,
    enhance_prompt: bool,
) -> Decimal:
    """Price one edit: quality price, else resolution price, else base; plus extras."""
    spec = model["model_spec"]
    pricing = spec.get("pricing", {})
    constraints = spec.get("constraints", {})
    tier = resolution or constraints.get("defaultResolution") or "1K"
    q = quality or constraints.get("defaultQuality")
    price: Decimal | None = None
    if q and "quality" in pricing:
        row = pricing["quality"].get(tier) or {}
        if q in row:
            price = _d(row[q])
    if price is None and tier in pricing.get("resolutions", {}):
        price = _d(pricing["resolutions"][tier])
    if price is None:
        price = _d(pricing["inpaint"])
    extra = pricing.get("inputImages")
    if extra:
        price += _d(extra["additional"]) * max(0, images - int(extra["included"]))
    if enhance_prompt:
        price += ENHANCE_PROMPT_USD
    return price
