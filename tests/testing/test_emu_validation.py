"""Validation like the real server: strict bodies, Content-Type rules, limits, model constraints."""

from __future__ import annotations

import base64
import io
from typing import Any

import aiohttp
import pytest

from inpaint_async.testing import Emulator

from .helpers import image_b64, image_bytes


def bearer(emu: Emulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {emu.api_key}"}


async def post_json(
    http: aiohttp.ClientSession, emu: Emulator, path: str, body: Any
) -> tuple[int, Any]:
    async with http.post(emu.base_url + path, json=body, headers=bearer(emu)) as r:
        if r.content_type == "application/json":
            return r.status, await r.json()
        return r.status, await r.read()


async def test_unknown_key_is_a_detailed_400(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    """Strict JSON: an unknown key gives 400 with `details` and Zod-style `issues`."""
    status, body = await post_json(
        http, emulator, "/image/edit", {"image": image_b64(), "prompt": "x", "safe": True}
    )
    assert status == 400
    assert body["error"] == "Invalid request parameters"
    assert body["issues"][0]["code"] == "unrecognized_keys"
    assert body["issues"][0]["keys"] == ["safe"]
    assert "Unrecognized key(s) in object: 'safe'" in body["details"]["_errors"]


async def test_missing_and_mistyped_fields(emulator: Emulator, http: aiohttp.ClientSession) -> None:
    """Required fields and types are checked, with the field path in `details`."""
    status, body = await post_json(http, emulator, "/image/edit", {"prompt": 3})
    assert status == 400
    assert body["details"]["image"]["_errors"] == ["Required"]
    assert body["details"]["prompt"]["_errors"] == ["Expected string, received number"]


async def test_quality_on_edit_is_rejected_unless_relaxed(http: aiohttp.ClientSession) -> None:
    """`quality` is not part of the strict edit schema; `strict_quality=False` tolerates it."""
    body = {"image": image_b64(), "prompt": "x", "model": "gpt-image-2-edit", "quality": "low"}
    async with Emulator(max_output_side=64) as emu:
        status, err = await post_json(http, emu, "/image/edit", body)
        assert status == 400
        assert err["issues"][0]["keys"] == ["quality"]
    async with Emulator(max_output_side=64, strict_quality=False) as emu:
        status, _ = await post_json(http, emu, "/image/edit", body)
        assert status == 200


@pytest.mark.parametrize(
    ("content_type", "status"), [("text/plain", 400), ("application/x-www-form-urlencoded", 400)]
)
async def test_content_type_rules(
    emulator: Emulator, http: aiohttp.ClientSession, content_type: str, status: int
) -> None:
    """Anything but JSON or multipart is a 400 naming application/json."""
    headers = {**bearer(emulator), "Content-Type": content_type}
    async with http.post(emulator.base_url + "/image/edit", data=b"a=b", headers=headers) as r:
        assert r.status == status
        assert (await r.json())["error"] == "'Content-Type' must be 'application/json'"


async def test_invalid_json_and_empty_multi_edit(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    """Broken JSON is 400 `Invalid JSON request`; an empty multi-edit body is 415."""
    headers = {**bearer(emulator), "Content-Type": "application/json"}
    async with http.post(emulator.base_url + "/image/edit", data=b"{nope", headers=headers) as r:
        assert r.status == 400
        assert (await r.json())["error"] == "Invalid JSON request"
    async with http.post(emulator.base_url + "/image/multi-edit", headers=bearer(emulator)) as r:
        assert r.status == 415


async def test_json_over_35_mb_is_413(emulator: Emulator, http: aiohttp.ClientSession) -> None:
    """A JSON body over 35 MB is refused with 413."""
    headers = {**bearer(emulator), "Content-Type": "application/json"}
    data = b'{"image": "' + b"A" * (35 * 1024 * 1024 + 16) + b'", "prompt": "x"}'
    async with http.post(
        emulator.base_url + "/image/edit", data=io.BytesIO(data), headers=headers
    ) as r:
        assert r.status == 413
        assert (await r.json())["error"] == "Request body exceeds the maximum allowed size."


async def test_file_over_25_mb_is_413(emulator: Emulator, http: aiohttp.ClientSession) -> None:
    """A multipart file over 25 MB is refused with 413 PAYLOAD_TOO_LARGE."""
    form = aiohttp.FormData()
    form.add_field(
        "image",
        io.BytesIO(b"\0" * (25 * 1024 * 1024 + 1)),
        filename="big.png",
        content_type="image/png",
    )
    form.add_field("prompt", "x")
    async with http.post(
        emulator.base_url + "/image/edit", data=form, headers=bearer(emulator)
    ) as r:
        assert r.status == 413
        assert await r.json() == {
            "code": "PAYLOAD_TOO_LARGE",
            "error": "File exceeds the maximum allowed size of 25 MB.",
        }


async def test_two_files_in_one_edit_is_400(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    """Edit multipart takes exactly one file."""
    form = aiohttp.FormData()
    form.add_field("image", image_bytes(), filename="a.png", content_type="image/png")
    form.add_field("image", image_bytes(), filename="b.png", content_type="image/png")
    form.add_field("prompt", "x")
    async with http.post(
        emulator.base_url + "/image/edit", data=form, headers=bearer(emulator)
    ) as r:
        assert r.status == 400
        assert (await r.json())["error"] == "Only one file is allowed"


async def test_multipart_edit_coerces_text_booleans(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    """Multipart text parts `true`/`false` are read as booleans."""
    form = aiohttp.FormData()
    form.add_field("image", image_bytes(), filename="a.png", content_type="image/png")
    form.add_field("prompt", "x")
    form.add_field("safe_mode", "false")
    form.add_field("enhance_prompt", "true")
    async with http.post(
        emulator.base_url + "/image/edit", data=form, headers=bearer(emulator)
    ) as r:
        assert r.status == 200
        assert r.headers["x-venice-enhanced-prompt"].startswith("x")


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"model": "no-such-model"}, "Invalid model id"),
        ({"model": "upscaler"}, "Invalid model id"),
        ({"model": "gpt-image-2-edit", "aspect_ratio": "9:16"}, "Aspect ratio 9:16"),
        ({"model": "gpt-image-2-edit", "resolution": "8K"}, "Resolution 8K"),
        ({"model": "firered-image-edit", "resolution": "1K"}, "resolution"),
        ({"aspect_ratio": "5:7"}, "Invalid request parameters"),
    ],
)
async def test_model_constraints(
    emulator: Emulator, http: aiohttp.ClientSession, extra: dict[str, str], fragment: str
) -> None:
    """Unknown or non-inpaint models and values outside the model's constraints are 400."""
    status, body = await post_json(
        http, emulator, "/image/edit", {"image": image_b64(), "prompt": "x", **extra}
    )
    assert status == 400
    assert fragment in body["error"]


async def test_prompt_limit_is_per_model(emulator: Emulator, http: aiohttp.ClientSession) -> None:
    """firered-image-edit caps prompts at 1500 characters; nano-banana-pro-edit accepts more."""
    long_prompt = "a" * 1501
    status, body = await post_json(
        http, emulator, "/image/edit", {"image": image_b64(), "prompt": long_prompt}
    )
    assert status == 400
    assert body["details"]["prompt"]["_errors"]
    status, _ = await post_json(
        http,
        emulator,
        "/image/edit",
        {"image": image_b64(), "prompt": long_prompt, "model": "nano-banana-pro-edit"},
    )
    assert status == 200


@pytest.mark.parametrize(
    ("image", "status"),
    [
        (base64.b64encode(b"not an image at all").decode(), 400),
        ("%%%not-base64%%%", 400),
        (image_b64(100, 100), 400),  # 10,000 px < 65,536
        (image_b64(1100, 60), 400),  # a side under 64 px
        ("https://example.invalid/cat.png", 404),
    ],
)
async def test_bad_images(
    emulator: Emulator, http: aiohttp.ClientSession, image: str, status: int
) -> None:
    """Corrupt, malformed, too-small or unfetchable images are rejected, never a 500."""
    got, body = await post_json(http, emulator, "/image/edit", {"image": image, "prompt": "x"})
    assert got == status
    assert isinstance(body["error"], str)


async def test_registered_url_images_are_fetched(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    """URLs given to `url_images` stand in for the server-side fetch."""
    emulator.url_images["https://example.test/cat.png"] = image_bytes()
    status, _ = await post_json(
        http, emulator, "/image/edit", {"image": "https://example.test/cat.png", "prompt": "x"}
    )
    assert status == 200


async def test_content_policy_phrase_is_422(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    """A prompt with the trigger phrase gets 422 and is not charged."""
    status, body = await post_json(
        http, emulator, "/image/edit", {"image": image_b64(), "prompt": "something FORBIDDEN"}
    )
    assert status == 422
    assert "content policy" in body["error"]
    assert emulator.charges_for() == []


async def test_multi_edit_rejects_model_and_too_many_images(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    """multi-edit takes `modelId` only, and at most the model's maxInputImages."""
    img = image_b64()
    status, body = await post_json(
        http, emulator, "/image/multi-edit", {"images": [img], "prompt": "x", "model": "m"}
    )
    assert status == 400
    assert body["issues"][0]["keys"] == ["model"]
    status, body = await post_json(
        http, emulator, "/image/multi-edit", {"images": [img] * 7, "prompt": "x"}
    )
    assert status == 400
    assert "at most 6" in body["error"]
    status, body = await post_json(
        http,
        emulator,
        "/image/multi-edit",
        {"images": [img], "prompt": "x", "modelId": "gpt-image-2-edit", "quality": "ultra"},
    )
    assert status == 400


async def test_upscale_body_is_lenient_but_base64_only(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    """Upscale ignores unknown keys, refuses data URIs and scales below 2."""
    img = image_b64(256, 256)
    status, _ = await post_json(
        http, emulator, "/image/upscale", {"image": img, "scale": 2, "replication": 0.3}
    )
    assert status == 200
    status, _ = await post_json(
        http, emulator, "/image/upscale", {"image": "data:image/png;base64," + img}
    )
    assert status == 400
    status, _ = await post_json(http, emulator, "/image/upscale", {"image": img, "scale": 1})
    assert status == 400


@pytest.mark.parametrize(
    "body",
    [{}, {"image": "x", "image_url": "https://example.test/a.png"}, {"image": "x", "model": "m"}],
)
async def test_background_remove_wants_exactly_one_source(
    emulator: Emulator, http: aiohttp.ClientSession, body: dict[str, str]
) -> None:
    """Exactly one of `image` / `image_url`; no `model`."""
    status, _ = await post_json(http, emulator, "/image/background-remove", body)
    assert status == 400


async def test_models_need_no_auth_and_check_type(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    """GET /models?type=inpaint works without a key; an unknown type is a 400."""
    async with http.get(emulator.base_url + "/models", params={"type": "inpaint"}) as r:
        assert r.status == 200
        body = await r.json()
    ids = {m["id"] for m in body["data"]}
    assert body["object"] == "list"
    assert len(ids) >= 8
    assert {"firered-image-edit", "gpt-image-2-edit", "wan-2-7-pro-edit"} <= ids
    assert all(m["type"] == "inpaint" for m in body["data"])
    gpt = next(m for m in body["data"] if m["id"] == "gpt-image-2-edit")
    assert gpt["model_spec"]["constraints"]["aspectRatios"] == ["1:1", "3:2", "16:9"]
    assert any("deprecation" in m["model_spec"] for m in body["data"])
    async with http.get(emulator.base_url + "/models", params={"type": "edit"}) as r:
        assert r.status == 400
    async with http.get(emulator.base_url + "/models", params={"type": "upscale"}) as r:
        assert [m["id"] for m in (await r.json())["data"]] == ["upscaler"]


async def test_wrong_method_and_path_are_json(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    """Wrong methods and unknown paths get JSON errors, not HTML tracebacks."""
    async with http.get(emulator.base_url + "/image/edit") as r:
        assert r.status == 405
        assert (await r.json())["error"]
    async with http.get(emulator.base_url + "/images/edits") as r:
        assert r.status == 404
        assert await r.json() == {"error": "Not found"}


async def test_garbage_auth_header_is_401(emulator: Emulator, http: aiohttp.ClientSession) -> None:
    """A malformed or unknown Bearer key is 401 Authentication failed."""
    for value in ("Bearer nope", "Basic abc", "Bearer", "Bearer \u00e9\u00e9"):
        async with http.post(
            emulator.base_url + "/image/edit",
            json={"image": image_b64(), "prompt": "x"},
            headers={"Authorization": value},
        ) as r:
            assert r.status == 401
            assert await r.json() == {"error": "Authentication failed"}
