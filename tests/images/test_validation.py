"""Checks against the loaded catalogue: clear messages, nothing sent; off until loaded or when disabled."""

from __future__ import annotations

import pytest

from inpaint_async import BadRequestError, ValidationError
from inpaint_async.testing import Emulator

from .conftest import PNG, PNG_B, emulator_client, image_posts


async def edit_error(emulator: Emulator, **kwargs: object) -> ValidationError:
    """Load the catalogue, make the edit, return the ValidationError; assert nothing was posted."""
    async with emulator_client(emulator) as c:
        await c.models.list()
        with pytest.raises(ValidationError) as info:
            await c.images.edit(PNG, **{"prompt": "x", **kwargs})  # type: ignore[arg-type]
    assert image_posts(emulator) == []
    return info.value


async def multi_error(emulator: Emulator, images: list[bytes], **kwargs: object) -> ValidationError:
    async with emulator_client(emulator) as c:
        await c.models.list()
        with pytest.raises(ValidationError) as info:
            await c.images.multi_edit(images, **{"prompt": "x", **kwargs})  # type: ignore[arg-type]
    assert image_posts(emulator) == []
    return info.value


async def test_prompt_longer_than_the_models_limit(emulator: Emulator) -> None:
    """firered-image-edit takes 1,500 characters; 1,501 is refused with both numbers."""
    err = await edit_error(emulator, prompt="a" * 1501, model="firered-image-edit")
    assert str(err) == "prompt is 1,501 characters; firered-image-edit takes at most 1,500"
    assert err.param == "prompt"


async def test_the_default_model_is_checked_when_no_model_is_given(emulator: Emulator) -> None:
    """Without model=, the catalogue's default-trait model (firered) supplies the limits."""
    err = await edit_error(emulator, prompt="a" * 2000)
    assert "firered-image-edit takes at most 1,500" in str(err)


async def test_aspect_ratio_lists_the_allowed_values(emulator: Emulator) -> None:
    """gpt-image-2-edit takes 1:1, 3:2 and 16:9 only."""
    err = await edit_error(emulator, model="gpt-image-2-edit", aspect_ratio="9:16")
    assert str(err) == (
        "aspect_ratio '9:16' is not supported by gpt-image-2-edit; allowed: 1:1, 3:2, 16:9 "
        "(or auto)"
    )
    assert err.param == "aspect_ratio"


async def test_a_quality_the_model_does_not_offer_is_refused_on_edit(emulator: Emulator) -> None:
    """grok-imagine-image-2-0-edit takes low and medium only, on edit as on multi-edit."""
    err = await edit_error(emulator, model="grok-imagine-image-2-0-edit", quality="high")
    assert err.param == "quality" and "allowed: low, medium" in str(err)


async def test_any_resolution_on_edit_to_a_model_without_tiers(emulator: Emulator) -> None:
    """firered has no resolutions: even 1K is an error on edit (the server answers 400)."""
    err = await edit_error(emulator, model="firered-image-edit", resolution="1K")
    assert (
        str(err)
        == "firered-image-edit has no resolution tiers; omit resolution (the server answers 400)"
    )


async def test_resolution_outside_the_models_tiers(emulator: Emulator) -> None:
    """grok-imagine-edit has 1K and 2K; 4K is refused naming both."""
    err = await edit_error(emulator, model="grok-imagine-edit", resolution="4K")
    assert str(err) == "resolution '4K' is not supported by grok-imagine-edit; allowed: 1K, 2K"


async def test_quality_outside_the_models_list(emulator: Emulator) -> None:
    """grok-imagine-image-2-0-edit takes low and medium only."""
    err = await multi_error(emulator, [PNG], model="grok-imagine-image-2-0-edit", quality="high")
    assert (
        str(err)
        == "quality 'high' is not supported by grok-imagine-image-2-0-edit; allowed: low, medium"
    )
    assert err.param == "quality"


@pytest.mark.parametrize(
    ("model", "count", "limit"),
    [("luma-uni-1-edit", 2, 1), ("flux-2-max-edit", 7, 6)],
)
async def test_too_many_input_images(
    emulator: Emulator, model: str, count: int, limit: int
) -> None:
    """maxInputImages (or 1 without combineImages) caps multi-edit's image list."""
    err = await multi_error(emulator, [PNG] * count, model=model)
    assert str(err) == f"{model} takes at most {limit} input image(s) on multi-edit; got {count}"
    assert err.param == "images"


async def test_unknown_model_lists_close_matches(emulator: Emulator) -> None:
    """A typo'd id names the likely intended ones and how to skip the check."""
    err = await edit_error(emulator, model="gpt-image-2")
    assert "unknown model 'gpt-image-2'" in str(err)
    assert "did you mean 'gpt-image-2-edit'" in str(err)
    assert "validate=False" in str(err)
    assert err.param == "model"


async def test_multi_edit_tolerates_what_the_server_drops(emulator: Emulator) -> None:
    """resolution and quality on a model without them are dropped by multi-edit, so allowed."""
    async with emulator_client(emulator) as c:
        await c.models.list()
        result = await c.images.multi_edit(
            [PNG, PNG_B], "x", model="firered-image-edit", resolution="2K", quality="low"
        )
    assert result.model_id == "firered-image-edit"


async def test_nothing_is_checked_before_the_catalogue_is_loaded(emulator: Emulator) -> None:
    """Without list(), a bad ratio goes out and the server's 400 comes back."""
    async with emulator_client(emulator) as c:
        with pytest.raises(BadRequestError, match="not supported"):
            await c.images.edit(PNG, "x", model="gpt-image-2-edit", aspect_ratio="9:16")
    assert image_posts(emulator) == ["/api/v1/image/edit"]


async def test_validate_false_sends_it_unchecked(emulator: Emulator) -> None:
    """InpaintClient(validate=False) leaves the refusal to the server, even with the catalogue."""
    async with emulator_client(emulator, validate=False) as c:
        await c.models.list()
        with pytest.raises(BadRequestError):
            await c.images.multi_edit([PNG, PNG], "x", model="luma-uni-1-edit")
    assert image_posts(emulator) == ["/api/v1/image/multi-edit"]


async def test_with_options_switches_validation_per_derived_client(emulator: Emulator) -> None:
    """The parent still checks; its with_options(validate=False) child sends."""
    async with emulator_client(emulator) as root:
        await root.models.list()
        child = root.with_options(validate=False)
        assert (root.validate, child.validate) == (True, False)
        assert root.with_options(read_timeout=9).validate is True
        with pytest.raises(ValidationError):
            await root.images.multi_edit([PNG, PNG], "x", model="luma-uni-1-edit")
        with pytest.raises(BadRequestError):
            await child.images.multi_edit([PNG, PNG], "x", model="luma-uni-1-edit")
    assert image_posts(emulator) == ["/api/v1/image/multi-edit"]


async def test_a_valid_request_passes_the_checks(emulator: Emulator) -> None:
    """Within every constraint: sent and answered."""
    async with emulator_client(emulator) as c:
        await c.models.list()
        result = await c.images.edit(
            PNG, "a" * 9000, model="gpt-image-2-edit", aspect_ratio="16:9", resolution="2K"
        )
    assert result.model_id == "gpt-image-2-edit"
