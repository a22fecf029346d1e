"""Local mistakes raise ValidationError before anything is sent (aioresponses would see it)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from aioresponses import aioresponses

from inpaint_async import (
    BearerAuth,
    ConfigurationError,
    InpaintClient,
    ValidationError,
)
from inpaint_async._constants import MAX_IMAGE_BYTES

from .helpers import png_bytes

BASE = "http://api.test/api/v1"
PNG = png_bytes()


async def edit_fails(tmp_path: Path, image: object, prompt: str = "hat", **kw: object) -> str:
    with aioresponses() as m:
        async with InpaintClient(auth=BearerAuth("k" * 16), base_url=BASE) as c:
            with pytest.raises(ValidationError) as info:
                await c.images.edit(image, prompt, **kw)  # type: ignore[arg-type]
        assert not m.requests, "nothing may be sent for a local mistake"
    return str(info.value)


async def test_missing_file(tmp_path: Path) -> None:
    """A path that does not exist names the path."""
    msg = await edit_fails(tmp_path, tmp_path / "nope.png")
    assert "no such file" in msg and "nope.png" in msg


async def test_missing_file_given_as_str(tmp_path: Path) -> None:
    """A str that is neither URL, base64 nor an existing path is a missing file."""
    assert "no such file" in await edit_fails(tmp_path, str(tmp_path / "nope.png"))


async def test_text_file_is_not_an_image(tmp_path: Path) -> None:
    """Magic bytes decide: a text file is refused."""
    p = tmp_path / "notes.png"
    p.write_text("hello, I am not a picture")
    assert "not a supported image" in await edit_fails(tmp_path, p)


async def test_zero_byte_file(tmp_path: Path) -> None:
    """An empty file is refused."""
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    assert await edit_fails(tmp_path, p)


async def test_file_of_25_mb_is_refused_without_reading_it(tmp_path: Path) -> None:
    """A file of 25 MB or more is refused from its size alone."""
    p = tmp_path / "huge.png"
    with open(p, "wb") as fh:
        fh.write(PNG)
        fh.truncate(MAX_IMAGE_BYTES)
    assert "25 MB" in await edit_fails(tmp_path, p)


async def test_tiny_image_is_refused(tmp_path: Path) -> None:
    """A 64×64 PNG has too few pixels (65,536 needed)."""
    assert "65,536" in await edit_fails(tmp_path, png_bytes(64, 64))


async def test_oversized_dimensions_in_header_are_refused(tmp_path: Path) -> None:
    """A PNG header claiming 10,000×10,000 is refused from the header alone."""
    head = bytearray(png_bytes(300, 300))
    head[16:24] = (10_000).to_bytes(4, "big") * 2
    assert "33,177,600" in await edit_fails(tmp_path, bytes(head))


@pytest.mark.parametrize("prompt", ["", "   ", "x" * 32_769])
async def test_prompt_bounds(tmp_path: Path, prompt: str) -> None:
    """Empty, blank and over-long prompts are refused."""
    assert "prompt" in await edit_fails(tmp_path, PNG, prompt)


async def test_unknown_parameter_suggests_the_right_one(tmp_path: Path) -> None:
    """A typo in a parameter name is a ValidationError with a suggestion."""
    msg = await edit_fails(tmp_path, PNG, aspect_ration="16:9")
    assert "unknown parameter 'aspect_ration'" in msg and "aspect_ratio" in msg


async def test_wrong_type_is_refused(tmp_path: Path) -> None:
    """safe_mode must be a bool, not the string 'no'."""
    assert "safe_mode" in await edit_fails(tmp_path, PNG, safe_mode="no")


async def test_quality_outside_low_medium_high_on_edit(tmp_path: Path) -> None:
    """quality on edit must be low, medium or high (checked before sending)."""
    assert "quality" in await edit_fails(tmp_path, PNG, quality="ultra")


async def test_bad_output_format(tmp_path: Path) -> None:
    """output_format must be jpeg, png or webp (jpg is accepted as jpeg)."""
    assert "output_format" in await edit_fails(tmp_path, PNG, output_format="gif")


async def test_output_folder_must_exist(tmp_path: Path) -> None:
    """output= into a folder that does not exist is refused before sending."""
    assert "does not exist" in await edit_fails(tmp_path, PNG, output=tmp_path / "no" / "o.png")


async def test_text_mode_file_object(tmp_path: Path) -> None:
    """A file opened in text mode is refused."""
    assert await edit_fails(tmp_path, io.StringIO("abc"))


async def test_bad_base64(tmp_path: Path) -> None:
    """A data URI whose payload is not base64 is refused."""
    assert "base64" in await edit_fails(tmp_path, "data:image/png;base64,@@@@")


async def test_unsupported_type(tmp_path: Path) -> None:
    """An int is not an image."""
    assert "expected bytes" in await edit_fails(tmp_path, 42)


def test_no_credentials_names_both_fixes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without auth or environment, the error says how to fix it both ways."""
    for var in ("VENICE_API_KEY", "VENICE_WALLET_KEY", "VENICE_WALLET_KEYSTORE"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigurationError) as info:
        InpaintClient()
    assert "VENICE_API_KEY" in str(info.value) and "WalletAuth" in str(info.value)


def test_api_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """VENICE_API_KEY is used when no auth is given."""
    monkeypatch.setenv("VENICE_API_KEY", "env-key-" + "9" * 8)
    client = InpaintClient(base_url=BASE)
    assert isinstance(client.auth, BearerAuth)


def test_base_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """VENICE_BASE_URL sets the base URL; a non-http URL is a ConfigurationError."""
    monkeypatch.setenv("VENICE_BASE_URL", "http://127.0.0.1:9/api/v1/")
    assert InpaintClient(auth="k" * 16).base_url == "http://127.0.0.1:9/api/v1"
    with pytest.raises(ConfigurationError):
        InpaintClient(auth="k" * 16, base_url="ftp://x")


def test_with_options_shares_the_session() -> None:
    """A derived client shares the transport and keeps other options."""
    parent = InpaintClient(auth="k" * 16, base_url=BASE, read_timeout=30)
    child = parent.with_options(read_timeout=600)
    assert child._transport is parent._transport
    assert child.timeouts.read == 600 and parent.timeouts.read == 30
    assert child.base_url == BASE
