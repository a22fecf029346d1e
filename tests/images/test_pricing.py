"""estimate_cost: the pricing rules on four pricing shapes, and agreement with the emulator's ledger."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from inpaint_async import Model, ValidationError
from inpaint_async._pricing import estimate_cost
from inpaint_async.testing import Emulator

from .conftest import PNG, emulator_client


def usd(v: str) -> dict[str, str]:
    return {"usd": v, "diem": v}


def model(model_id: str, pricing: dict[str, Any], **constraints: Any) -> Model:
    """A catalogue entry written for these tests (the shapes of the live catalogue)."""
    return Model.model_validate(
        {
            "id": model_id,
            "type": "inpaint",
            "model_spec": {
                "constraints": {"aspectRatios": ["auto"], "promptCharacterLimit": 1500,
                                "combineImages": True, "maxInputImages": 6, **constraints},
                "pricing": pricing,
            },
        }
    )  # fmt: skip


FLAT = model("flat", {"inpaint": usd("0.04")})
TIERED = model(
    "tiered",
    {
        "inpaint": usd("0.18"),
        "resolutions": {"1K": usd("0.18"), "2K": usd("0.23"), "4K": usd("0.35")},
    },
    resolutions=["1K", "2K", "4K"],
    defaultResolution="1K",
)
MATRIX = model(
    "matrix",
    {
        "inpaint": usd("0.34"),
        "resolutions": {"1K": usd("0.34"), "2K": usd("0.52")},
        "quality": {
            "1K": {"low": usd("0.03"), "medium": usd("0.08"), "high": usd("0.34")},
            "2K": {"low": usd("0.03"), "medium": usd("0.14"), "high": usd("0.52")},
        },
        "inputImages": {"included": 1, "additional": usd("0.0092")},
    },
    resolutions=["1K", "2K"],
    defaultResolution="1K",
    qualities=["low", "medium", "high"],
    defaultQuality="high",
)
MATRIX_MEDIUM = model(
    "matrix-medium",
    MATRIX.pricing.model_dump(by_alias=True),
    resolutions=["1K", "2K"],
    defaultResolution="1K",
    qualities=["low", "medium", "high"],
    defaultQuality="medium",
)
INCLUDED_ZERO = model(
    "included-zero",
    {
        "inpaint": usd("0.03"),
        "resolutions": {"1K": usd("0.03"), "2K": usd("0.04")},
        "inputImages": {"included": 0, "additional": usd("0.0023")},
    },
    resolutions=["1K", "2K"],
    defaultResolution="1K",
)


@pytest.mark.parametrize(
    ("entry", "kwargs", "expected"),
    [
        # flat base: the inpaint price, whatever else
        (FLAT, {}, "0.04"),
        (FLAT, {"endpoint": "multi_edit", "images": 3, "resolution": "2K"}, "0.04"),
        (FLAT, {"enhance_prompt": True}, "0.08"),
        # per resolution: the request's tier, else the default tier
        (TIERED, {}, "0.18"),
        (TIERED, {"resolution": "2K"}, "0.23"),
        (TIERED, {"resolution": "4K", "enhance_prompt": True}, "0.39"),
        # quality matrix: edit bills defaultQuality; multi-edit the asked quality at the tier
        (MATRIX, {}, "0.34"),
        (MATRIX, {"resolution": "2K"}, "0.52"),
        (MATRIX, {"endpoint": "multi_edit", "quality": "low", "resolution": "2K"}, "0.03"),
        (MATRIX, {"endpoint": "multi_edit", "quality": "medium"}, "0.08"),
        (MATRIX, {"endpoint": "multi_edit", "images": 3}, "0.3584"),
        (MATRIX_MEDIUM, {}, "0.08"),
        (MATRIX_MEDIUM, {"resolution": "2K"}, "0.14"),
        (MATRIX_MEDIUM, {"endpoint": "multi_edit", "quality": "high"}, "0.34"),
        # inputImages.included == 0: even one image pays the surcharge
        (INCLUDED_ZERO, {}, "0.0323"),
        (INCLUDED_ZERO, {"endpoint": "multi_edit", "images": 4, "resolution": "2K"}, "0.0492"),
    ],
)
def test_pricing_rules(entry: Model, kwargs: dict[str, Any], expected: str) -> None:
    """Quality price, else resolution price, else base; plus extra images and enhancement."""
    cost = estimate_cost(entry, **kwargs)
    assert cost == Decimal(expected)
    assert entry.estimate_cost(**kwargs) == cost


@pytest.mark.parametrize(
    ("quality", "resolution", "cost"),
    [("low", None, "0.03"), ("medium", "2K", "0.14"), (None, "2K", "0.52")],
)
def test_an_edit_with_a_quality_is_priced_at_that_quality(
    quality: str | None, resolution: str | None, cost: str
) -> None:
    """images.edit(quality=...) is honoured, so estimate_cost prices an edit at that tier."""
    price = MATRIX.estimate_cost(quality=quality, resolution=resolution)  # type: ignore[arg-type]
    assert price == Decimal(cost)


def test_prices_are_exact_decimals_from_json_floats() -> None:
    """0.0345-style floats from JSON become exact Decimals, not binary approximations."""
    m = model("f", {"inpaint": {"usd": 0.12, "diem": 0.12},
                    "inputImages": {"included": 1, "additional": {"usd": 0.0345, "diem": 0.0345}}})  # fmt: skip
    assert m.estimate_cost(endpoint="multi_edit", images=3) == Decimal("0.189")


@pytest.mark.parametrize(
    ("entry", "kwargs", "message"),
    [
        (MATRIX, {"quality": "ultra"}, "allowed: low, medium, high"),
        (MATRIX, {"endpoint": "multi_edit", "quality": "ultra"}, "allowed: low, medium, high"),
        (TIERED, {"resolution": "8K"}, "allowed: 1K, 2K, 4K"),
        (FLAT, {"resolution": "2K"}, "no resolution tiers"),
        (FLAT, {"endpoint": "multi_edit", "images": 7}, "at most 6"),
        (FLAT, {"images": 0}, "at least 1"),
        (FLAT, {"endpoint": "generate"}, "'edit' or 'multi_edit'"),
    ],
)
def test_impossible_requests_have_no_price(
    entry: Model, kwargs: dict[str, Any], message: str
) -> None:
    """A request the model cannot take raises instead of returning a wrong number."""
    with pytest.raises(ValidationError, match=message):
        estimate_cost(entry, **kwargs)


CASES: list[tuple[str, dict[str, Any], int]] = [
    ("firered-image-edit", {}, 1),  # flat base
    ("firered-image-edit", {"enhance_prompt": True}, 1),  # + enhancement
    ("nano-banana-pro-edit", {"resolution": "2K"}, 1),  # per resolution
    ("gpt-image-2-edit", {}, 1),  # quality model on edit: defaultQuality
    ("gpt-image-2-edit", {"quality": "medium", "resolution": "4K"}, 3),  # matrix + extra images
    ("grok-imagine-edit", {}, 1),  # included 0, single image
    ("qwen-image-3-pro-edit", {"resolution": "2K"}, 4),  # included 0, several
    ("seedream-v5-pro-edit", {}, 2),  # included 1
]


@pytest.mark.parametrize(("model_id", "params", "images"), CASES)
async def test_estimate_matches_what_the_emulator_charges(
    emulator: Emulator, model_id: str, params: dict[str, Any], images: int
) -> None:
    """client.estimate_cost equals the ledger's charge for the same request."""
    multi = images > 1 or "quality" in params
    endpoint = "multi_edit" if multi else "edit"
    async with emulator_client(emulator) as c:
        estimate = await c.estimate_cost(model_id, images=images, endpoint=endpoint, **params)
        if multi:
            await c.images.multi_edit([PNG] * images, "x", model=model_id, **params)
        else:
            await c.images.edit(PNG, "x", model=model_id, **params)
    (charge,) = emulator.charges_for(emulator.api_key)
    assert charge.amount_usd == estimate


async def test_edit_on_a_quality_model_bills_its_default_quality(emulator: Emulator) -> None:
    """With defaultQuality low, an edit costs the low cell, not the resolution price."""
    gpt = emulator.model("gpt-image-2-edit")
    assert gpt is not None
    gpt["model_spec"]["constraints"]["defaultQuality"] = "low"
    async with emulator_client(emulator) as c:
        estimate = await c.estimate_cost("gpt-image-2-edit", resolution="2K")
        await c.images.edit(PNG, "x", model="gpt-image-2-edit", resolution="2K")
    assert estimate == Decimal("0.03")
    assert [e.amount_usd for e in emulator.charges_for()] == [estimate]


async def test_estimate_cost_loads_the_catalogue_once(emulator: Emulator) -> None:
    """The first estimate fetches GET /models; later ones reuse it; model=None is the default."""
    async with emulator_client(emulator) as c:
        assert c.models.cached() is None
        assert await c.estimate_cost() == Decimal("0.04")
        assert await c.estimate_cost("wan-2-7-pro-edit", resolution="2K") == Decimal("0.094")
    assert sum(1 for r in emulator.requests if r.path.endswith("/models")) == 1


async def test_estimate_cost_for_an_unknown_model(emulator: Emulator) -> None:
    """Unknown ids raise with close matches, as validation does."""
    async with emulator_client(emulator) as c:
        with pytest.raises(ValidationError, match="did you mean 'nano-banana-2-edit'"):
            await c.estimate_cost("nano-banana-2")
