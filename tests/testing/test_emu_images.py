"""Real output images and the response headers of a successful edit."""

from __future__ import annotations

import urllib.parse
from typing import Any

import aiohttp
import pytest

from inpaint_async.testing import Emulator

from .helpers import image_b64, image_bytes, open_image


async def post(
    http: aiohttp.ClientSession, emu: Emulator, path: str, body: dict[str, Any]
) -> tuple[int, bytes, Any]:
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    async with http.post(emu.base_url + path, json=body, headers=headers) as r:
        return r.status, await r.read(), r.headers


@pytest.fixture
async def full_size() -> Any:
    async with Emulator() as emu:
        yield emu


@pytest.mark.parametrize(
    ("extra", "size", "fmt"),
    [
        ({}, (1024, 683), "PNG"),  # 4:3 input, auto -> closest supported 3:2
        ({"aspect_ratio": "1:1"}, (1024, 1024), "PNG"),
        ({"aspect_ratio": "9:16", "output_format": "webp"}, (576, 1024), "WEBP"),
        ({"model": "nano-banana-pro-edit", "resolution": "2K"}, (2048, 1365), "JPEG"),
        ({"model": "gpt-image-2-edit"}, (1024, 683), "PNG"),
        ({"model": "wan-2-7-pro-edit"}, (1024, 768), "PNG"),  # only "auto": keeps input ratio
    ],
)
async def test_output_size_and_format(
    full_size: Emulator,
    http: aiohttp.ClientSession,
    extra: dict[str, str],
    size: tuple[int, int],
    fmt: str,
) -> None:
    """Tier x aspect ratio sets the pixels; PNG at 1K, JPEG at 2K/4K unless asked otherwise."""
    status, data, headers = await post(
        http, full_size, "/image/edit", {"image": image_b64(400, 300), "prompt": "x", **extra}
    )
    assert status == 200
    img = open_image(data)
    assert (img.size, img.format) == (size, fmt)
    assert headers["Content-Type"] == f"image/{fmt.lower()}"


async def test_edit_is_visible_and_deterministic(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    """The same prompt gives the same bytes; another prompt gives a different image."""
    body = {"image": image_b64(), "prompt": "paint it red"}
    first = (await post(http, emulator, "/image/edit", body))[1]
    second = (await post(http, emulator, "/image/edit", body))[1]
    other = (await post(http, emulator, "/image/edit", {**body, "prompt": "paint it blue"}))[1]
    assert first == second
    assert first != other
    original = open_image(image_bytes()).convert("RGB").resize(open_image(first).size)
    assert open_image(first).convert("RGB").tobytes() != original.tobytes()


async def test_success_headers(emulator: Emulator, http: aiohttp.ClientSession) -> None:
    """Model id/name, CF-RAY, version, flags, key balance and the enhanced prompt."""
    status, _, headers = await post(
        http,
        emulator,
        "/image/edit",
        {"image": image_b64(), "prompt": "a hat & a cat", "enhance_prompt": True},
    )
    assert status == 200
    assert headers["x-venice-model-id"] == "firered-image-edit"
    assert headers["x-venice-model-name"] == "FireRed Image Edit"
    assert headers["CF-RAY"] == emulator.requests[-1].request_id
    assert headers["CF-RAY"].endswith("-EMU")
    assert headers["x-venice-version"]
    assert headers["x-venice-is-blurred"] == "false"
    assert headers["x-venice-is-content-violation"] == "false"
    assert headers["x-venice-balance-usd"] == "100.000000"
    enhanced = urllib.parse.unquote(headers["x-venice-enhanced-prompt"])
    assert enhanced.startswith("a hat & a cat")
    assert "&" not in headers["x-venice-enhanced-prompt"]
    assert "X-Balance-Remaining" not in headers  # key callers get x-venice-balance-usd


async def test_deprecated_model_headers(emulator: Emulator, http: aiohttp.ClientSession) -> None:
    """A model in its deprecation period announces itself and its replacement."""
    status, _, headers = await post(
        http,
        emulator,
        "/image/edit",
        {"image": image_b64(), "prompt": "x", "model": "seedream-v4-edit"},
    )
    assert status == 200
    assert headers["x-venice-deprecated"] == "true"
    assert headers["x-venice-deprecated-replacement"] == "seedream-v5-lite-edit"
    assert headers["x-venice-model-deprecation-date"].startswith("2026-")
    assert "x-venice-model-deprecation-warning" in headers


async def test_safe_mode_blurs_flagged_prompts(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    """With safe_mode on, the blur phrase sets x-venice-is-blurred; off, it does not."""
    body = {"image": image_b64(), "prompt": "nsfw scene"}
    assert (await post(http, emulator, "/image/edit", body))[2]["x-venice-is-blurred"] == "true"
    body["safe_mode"] = False
    assert (await post(http, emulator, "/image/edit", body))[2]["x-venice-is-blurred"] == "false"


async def test_multi_edit_multipart_and_upscale_and_bg(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    """Multi-edit takes repeated `images` files; upscale doubles; bg-remove returns RGBA PNG."""
    form = aiohttp.FormData()
    for _ in range(2):
        form.add_field("images", image_bytes(), filename="a.png", content_type="image/png")
    form.add_field("prompt", "merge")
    form.add_field("modelId", "qwen-image-3-edit")
    async with http.post(
        emulator.base_url + "/image/multi-edit",
        data=form,
        headers={"Authorization": f"Bearer {emulator.api_key}"},
    ) as r:
        assert r.status == 200
        assert open_image(await r.read()).format == "PNG"
    async with Emulator() as big:
        status, data, headers = await post(
            http, big, "/image/upscale", {"image": image_b64(300, 250), "scale": 2}
        )
        assert status == 200
        assert open_image(data).size == (600, 500)
        assert headers["x-venice-model-id"] == "upscaler"
    status, data, headers = await post(
        http, emulator, "/image/background-remove", {"image": image_b64()}
    )
    assert status == 200
    out = open_image(data)
    assert out.mode == "RGBA"
    alpha = out.getchannel("A")
    assert alpha.getextrema() == (0, 255)
    assert headers["x-venice-model-id"] == "bria-bg-remover"
