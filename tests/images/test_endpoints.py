"""multi_edit, upscale and background_remove: on the wire, against the emulator, and local refusals."""

from __future__ import annotations

import base64
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from inpaint_async import (
    BackgroundRemoveResult,
    BadRequestError,
    EditResult,
    ImageResult,
    MultiEditResult,
    NotFoundError,
    UpscaleResult,
    ValidationError,
)
from inpaint_async.testing import Emulator

from .conftest import PNG, PNG_B, Recorder, emulator_client, image_posts

B64 = base64.b64encode(PNG).decode()
DATA_URI = "data:image/png;base64," + B64


# -- multi_edit --------------------------------------------------------------------------------


async def test_multi_edit_files_go_as_repeated_images_parts_in_order(
    recorder: Recorder, tmp_path: Path
) -> None:
    """Bytes, a path and a file object become three `images` file parts, in the order given."""
    src = tmp_path / "layer.png"
    src.write_bytes(PNG_B)
    async with recorder.client() as c:
        result = await c.images.multi_edit(
            [PNG, src, io.BytesIO(PNG)], "merge", model="gpt-image-2-edit", quality="low"
        )
    sent = recorder.seen[0]
    assert sent["path"] == "/api/v1/image/multi-edit"
    assert [name for name, _, _ in sent["files"]] == ["images", "images", "images"]
    assert [data for _, _, data in sent["files"]] == [PNG, PNG_B, PNG]
    assert sent["files"][1][1] == "layer.png"
    assert dict(sent["fields"]) == {
        "prompt": "merge",
        "modelId": "gpt-image-2-edit",
        "quality": "low",
    }
    assert isinstance(result, MultiEditResult)
    assert result.request_id == "ray-1"


async def test_multi_edit_strings_go_as_a_json_list_with_modelId(recorder: Recorder) -> None:
    """URLs, base64 and data URIs travel as a JSON `images` list; the model is `modelId`."""
    async with recorder.client() as c:
        await c.images.multi_edit(
            ["https://example.com/a.png", B64, DATA_URI], "merge", model="flux-2-max-edit"
        )
    body = recorder.seen[0]["json"]
    assert body == {
        "images": ["https://example.com/a.png", B64, DATA_URI],
        "prompt": "merge",
        "modelId": "flux-2-max-edit",
    }
    assert "model" not in body


async def test_multi_edit_refuses_files_mixed_with_strings(recorder: Recorder) -> None:
    """One file and one URL in a call is a local error naming the fix; nothing is sent."""
    async with recorder.client() as c:
        with pytest.raises(ValidationError, match="mixing files") as info:
            await c.images.multi_edit([PNG, "https://example.com/a.png"], "merge")
    assert info.value.param == "images"
    assert recorder.seen == []


@pytest.mark.parametrize(
    ("images", "message"),
    [
        ([], "at least one image"),
        (PNG, "must be a list"),
        ("https://example.com/a.png", "must be a list"),
    ],
)
async def test_multi_edit_needs_a_non_empty_list(
    recorder: Recorder, images: object, message: str
) -> None:
    """An empty list, or a single image not wrapped in a list, is refused locally."""
    async with recorder.client() as c:
        with pytest.raises(ValidationError, match=message):
            await c.images.multi_edit(images, "merge")  # type: ignore[arg-type]
    assert recorder.seen == []


async def test_multi_edit_names_the_bad_image_by_index(recorder: Recorder) -> None:
    """A bad second image is reported as images[1]."""
    async with recorder.client() as c:
        with pytest.raises(ValidationError, match=r"images\[1\]") as info:
            await c.images.multi_edit([PNG, b"not an image"], "merge")
    assert info.value.param == "images[1]"


async def test_multi_edit_over_ten_files_is_refused_locally(recorder: Recorder) -> None:
    """Multipart carries at most ten files, whatever the model allows."""
    async with recorder.client() as c:
        with pytest.raises(ValidationError, match="at most 10 files"):
            await c.images.multi_edit([PNG] * 11, "merge")
    assert recorder.seen == []


async def test_multi_edit_rejects_model_id_typos_and_unknown_quality(recorder: Recorder) -> None:
    """quality is low/medium/high; an unknown keyword gets a did-you-mean."""
    async with recorder.client() as c:
        with pytest.raises(ValidationError, match="quality"):
            await c.images.multi_edit([PNG], "merge", quality="ultra")
        with pytest.raises(ValidationError, match="did you mean 'aspect_ratio'"):
            await c.images.multi_edit([PNG], "merge", aspect_ration="1:1")
    assert recorder.seen == []


async def test_multi_edit_against_the_emulator_keeps_the_headers(emulator: Emulator) -> None:
    """Two images on the emulator: a MultiEditResult with model id, CF-RAY and balance, billed once."""
    async with emulator_client(emulator) as c:
        result = await c.images.multi_edit(
            [PNG, PNG_B], "put them side by side", model="flux-2-max-edit"
        )
    assert isinstance(result, MultiEditResult)
    assert isinstance(result, ImageResult)
    assert result.content_type == "image/png"
    assert result.model_id == "flux-2-max-edit"
    assert result.model_name == "FLUX.2 Max Edit"
    assert result.balance_usd == Decimal("100")
    assert result.rate_limit is not None and result.rate_limit.limit == 100_000
    (charge,) = emulator.charges_for(emulator.api_key)
    assert charge.request_id == result.request_id
    assert charge.amount_usd == Decimal("0.12") + Decimal("0.0345")
    assert result.headers["x-venice-model-id"] == "flux-2-max-edit"


async def test_multi_edit_json_inputs_against_the_emulator(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Base64 and a data URI as JSON, streamed to output= on disk."""
    out = tmp_path / "out.png"
    async with emulator_client(emulator) as c:
        result = await c.images.multi_edit([B64, DATA_URI], "merge", output=out)
    assert result.path == out
    assert result.data is None
    assert out.read_bytes().startswith(b"\x89PNG")


async def test_multi_edit_quality_is_billed_at_the_requested_tier(emulator: Emulator) -> None:
    """quality=low at 2K on gpt-image-2-edit costs the low cell of the matrix."""
    async with emulator_client(emulator) as c:
        await c.images.multi_edit(
            [PNG], "x", model="gpt-image-2-edit", quality="low", resolution="2K"
        )
    assert [e.amount_usd for e in emulator.charges_for()] == [Decimal("0.03")]


# -- edit: the quality decision ------------------------------------------------------------------


async def test_quality_on_edit_goes_through_multi_edit_and_bills_the_tier(
    emulator: Emulator,
) -> None:
    """edit(quality=...) works on the strict server: sent as a one-image multi-edit, visibly."""
    async with emulator_client(emulator) as c:
        result = await c.images.edit(PNG, "x", model="gpt-image-2-edit", quality="low")
        plain = await c.images.edit(PNG, "x", model="gpt-image-2-edit")
    assert image_posts(emulator) == ["/api/v1/image/multi-edit", "/api/v1/image/edit"]
    assert isinstance(result, EditResult)
    assert (result.endpoint, result.quality) == ("/image/multi-edit", "low")
    assert (plain.endpoint, plain.quality) == ("/image/edit", None)
    assert [e.amount_usd for e in emulator.charges_for()] == [Decimal("0.03"), Decimal("0.34")]


async def test_quality_on_edit_sends_model_as_modelid_and_the_image_as_images(
    recorder: Recorder,
) -> None:
    """The multi-edit route speaks multi-edit: modelId, images[] (JSON) or images parts."""
    async with recorder.client() as c:
        await c.images.edit(
            B64, "x", model="gpt-image-2-edit", quality="medium", aspect_ratio="1:1"
        )
        await c.images.edit(PNG, "x", model="gpt-image-2-edit", quality="high")
    as_json, as_form = recorder.seen
    assert as_json["path"] == "/api/v1/image/multi-edit"
    assert as_json["json"] == {
        "images": [B64], "prompt": "x", "modelId": "gpt-image-2-edit", "quality": "medium",
        "aspect_ratio": "1:1",
    }  # fmt: skip
    assert [f[0] for f in as_form["files"]] == ["images"]
    assert ("quality", "high") in as_form["fields"] and ("modelId", "gpt-image-2-edit") in as_form[
        "fields"
    ]


async def test_edit_quality_route_edit_follows_the_documentation(
    make_emulator: Any,
) -> None:
    """edit_quality_route="edit" sends quality to /image/edit: billed by a lenient server, a 400
    from the strict (schema) one."""
    lenient = await make_emulator(strict_quality=False)
    async with emulator_client(lenient, edit_quality_route="edit") as c:
        result = await c.images.edit(PNG, "x", model="gpt-image-2-edit", quality="medium")
    assert (result.endpoint, result.quality) == ("/image/edit", "medium")
    assert [e.amount_usd for e in lenient.charges_for()] == [Decimal("0.08")]
    strict = await make_emulator()
    async with emulator_client(strict) as root:
        c = root.with_options(edit_quality_route="edit")
        with pytest.raises(BadRequestError):
            await c.images.edit(PNG, "x", model="gpt-image-2-edit", quality="medium")


async def test_quality_for_a_model_without_tiers_is_ignored_as_documented(
    emulator: Emulator,
) -> None:
    """With the catalogue loaded, a model without qualities ignores quality: a plain edit."""
    async with emulator_client(emulator) as c:
        await c.models.list()
        result = await c.images.edit(PNG, "x", model="firered-image-edit", quality="low")
    assert (result.endpoint, result.quality) == ("/image/edit", None)
    assert image_posts(emulator) == ["/api/v1/image/edit"]


async def test_aspect_ratio_auto_is_never_sent_on_edit(
    emulator: Emulator, recorder: Recorder
) -> None:
    """auto works on a model that does not list it (omitted = auto), catalogue loaded or not."""
    async with emulator_client(emulator) as c:
        await c.images.edit(PNG, "x", model="gpt-image-2-edit", aspect_ratio="auto")
        await c.models.list()
        await c.images.edit(PNG, "x", model="gpt-image-2-edit", aspect_ratio="auto")
        await c.images.edit(PNG, "x", model="gpt-image-2-edit", aspect_ratio="auto", quality="low")
    assert [r.status for r in emulator.requests if r.method == "POST"] == [200, 200, 200]
    async with recorder.client() as c:
        await c.images.edit(B64, "x", aspect_ratio="auto")
    assert "aspect_ratio" not in recorder.seen[0]["json"]


async def test_multi_edit_drops_auto_only_where_the_model_does_not_list_it(
    emulator: Emulator,
) -> None:
    """multi_edit keeps auto for models that list it and omits it for those that do not."""
    async with emulator_client(emulator) as c:
        await c.models.list()
        await c.images.multi_edit([PNG], "x", model="gpt-image-2-edit", aspect_ratio="auto")
    assert [r.status for r in emulator.requests if r.method == "POST"] == [200]


async def test_the_hint_works_a_single_image_multi_edit_picks_the_tier(emulator: Emulator) -> None:
    """The suggested call succeeds and bills the chosen tier rather than defaultQuality."""
    async with emulator_client(emulator) as c:
        await c.images.edit(PNG, "x", model="gpt-image-2-edit")
        await c.images.multi_edit([PNG], "x", model="gpt-image-2-edit", quality="medium")
    assert [e.amount_usd for e in emulator.charges_for()] == [Decimal("0.34"), Decimal("0.08")]


# -- upscale ----------------------------------------------------------------------------------


async def test_upscale_file_goes_multipart_with_scale_and_creativity(recorder: Recorder) -> None:
    """Bytes become an `image` file part; scale and creativity text parts."""
    async with recorder.client() as c:
        result = await c.images.upscale(PNG, scale=3, creativity=0.02)
    sent = recorder.seen[0]
    assert sent["path"] == "/api/v1/image/upscale"
    assert [(n, d) for n, _, d in sent["files"]] == [("image", PNG)]
    assert dict(sent["fields"]) == {"scale": "3.0", "creativity": "0.02"}
    assert isinstance(result, UpscaleResult)


async def test_upscale_sends_a_data_uri_as_raw_base64(recorder: Recorder) -> None:
    """The JSON body takes raw base64 only, so a data URI's prefix is stripped."""
    async with recorder.client() as c:
        await c.images.upscale(DATA_URI)
        await c.images.upscale(B64, scale=2)
    assert recorder.seen[0]["json"] == {"image": B64}
    assert recorder.seen[1]["json"] == {"image": B64, "scale": 2.0}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image": "https://example.com/a.png"}, "does not take URLs"),
        ({"image": PNG, "scale": 1}, "greater than or equal to 2"),
        ({"image": PNG, "scale": 5}, "less than or equal to 4"),
        ({"image": PNG, "creativity": 0.5}, "less than or equal to 0.02"),
        ({"image": b"GIF89a" + b"\0" * 100}, "not a supported image"),
    ],
)
async def test_upscale_local_refusals(
    recorder: Recorder, kwargs: dict[str, object], message: str
) -> None:
    """URLs, out-of-range scale or creativity and non-images are refused before sending."""
    async with recorder.client() as c:
        with pytest.raises(ValidationError, match=message):
            await c.images.upscale(**kwargs)  # type: ignore[arg-type]
    assert recorder.seen == []


async def test_upscale_against_the_emulator_bills_by_scale(emulator: Emulator) -> None:
    """2x costs $0.02, 4x $0.08; the result is a PNG from the upscaler with its headers."""
    async with emulator_client(emulator) as c:
        two = await c.images.upscale(PNG)
        four = await c.images.upscale(DATA_URI, scale=4)
    assert two.model_id == four.model_id == "upscaler"
    assert two.content_type == "image/png"
    assert [e.amount_usd for e in emulator.charges_for()] == [Decimal("0.02"), Decimal("0.08")]
    assert [e.request_id for e in emulator.charges_for()] == [two.request_id, four.request_id]


# -- background_remove ----------------------------------------------------------------------------


async def test_background_remove_wire_shapes(recorder: Recorder) -> None:
    """A file is multipart `image`; base64 is JSON `image`; a URL (either argument) is `image_url`."""
    async with recorder.client() as c:
        await c.images.background_remove(PNG)
        await c.images.background_remove(B64)
        await c.images.background_remove("https://example.com/a.png")
        await c.images.background_remove(image_url="https://example.com/b.png")
    files, b64, url_as_image, url = recorder.seen
    assert [(n, d) for n, _, d in files["files"]] == [("image", PNG)]
    assert files["fields"] == []
    assert b64["json"] == {"image": B64}
    assert url_as_image["json"] == {"image_url": "https://example.com/a.png"}
    assert url["json"] == {"image_url": "https://example.com/b.png"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of image= and image_url="),
        ({"image": PNG, "image_url": "https://example.com/a.png"}, "exactly one"),
        ({"image_url": "ftp://example.com/a.png"}, "must be an http"),
    ],
)
async def test_background_remove_needs_exactly_one_input(
    recorder: Recorder, kwargs: dict[str, object], message: str
) -> None:
    """Neither, both, or a non-http URL: a ValidationError and no request."""
    async with recorder.client() as c:
        with pytest.raises(ValidationError, match=message):
            await c.images.background_remove(**kwargs)  # type: ignore[arg-type]
    assert recorder.seen == []


async def test_background_remove_against_the_emulator(emulator: Emulator) -> None:
    """A file and a URL the server fetches: PNG results from bria-bg-remover at $0.03 each."""
    emulator.url_images["https://example.com/cat.png"] = PNG_B
    async with emulator_client(emulator) as c:
        a = await c.images.background_remove(PNG)
        b = await c.images.background_remove(image_url="https://example.com/cat.png")
    assert isinstance(a, BackgroundRemoveResult)
    assert a.model_id == b.model_id == "bria-bg-remover"
    assert a.format == "png"
    assert [e.amount_usd for e in emulator.charges_for()] == [Decimal("0.03")] * 2


async def test_server_errors_still_surface_on_the_siblings(emulator: Emulator) -> None:
    """A URL the server cannot fetch comes back as the server's 404, unbilled."""
    async with emulator_client(emulator) as c:
        with pytest.raises(NotFoundError):
            await c.images.background_remove(image_url="https://example.com/missing.png")
    assert emulator.charges_for() == []
