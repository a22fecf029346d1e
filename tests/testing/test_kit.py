"""The testing kit: environment isolation, sample images and the opt-in aioresponses fix."""

from __future__ import annotations

import io
import os
from pathlib import Path

import aiohttp
import aioresponses.core as aioresponses_core
import pytest
from aioresponses import aioresponses
from PIL import Image

from inpaint_async import ConfigurationError, InpaintClient
from inpaint_async.testing import (
    Emulator,
    aioresponses_compat,
    sample_image,
    sample_images,
    write_sample_image,
)
from inpaint_async.testing._mocking import needs_aioresponses_compat


@pytest.fixture
def developer_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's shell: a real-looking key and the real base URL."""
    monkeypatch.setenv("VENICE_API_KEY", "VENICE_INFERENCE_KEY_real_canary")
    monkeypatch.setenv("VENICE_WALLET_KEY", "0x" + "33" * 32)
    monkeypatch.setenv("VENICE_BASE_URL", "https://api.venice.ai/api/v1")


@pytest.fixture
async def isolated(developer_credentials: None, emulator: Emulator) -> Emulator:
    return emulator


async def test_the_emulator_fixture_hides_the_developers_credentials(isolated: Emulator) -> None:
    """Inside a test no VENICE_* credential is visible and VENICE_BASE_URL is the emulator."""
    assert os.environ["VENICE_BASE_URL"] == isolated.base_url
    assert [k for k in os.environ if k.startswith("VENICE_")] == ["VENICE_BASE_URL"]
    with pytest.raises(ConfigurationError):
        InpaintClient()  # would have used the real key


async def test_a_client_without_base_url_reaches_the_emulator(isolated: Emulator) -> None:
    """A test that forgets base_url= talks to the emulator, not the real API."""
    async with InpaintClient(auth=isolated.api_key) as client:
        await client.images.edit(image=sample_image(), prompt="add a hat")
    assert len(isolated.charges_for(isolated.api_key)) == 1


def test_the_environment_comes_back_after_the_test(developer_credentials: None) -> None:
    """Outside the fixture the environment is untouched (monkeypatch restores it)."""
    assert os.environ["VENICE_API_KEY"] == "VENICE_INFERENCE_KEY_real_canary"


@pytest.mark.parametrize(
    ("fmt", "magic"), [("png", b"\x89PNG"), ("jpeg", b"\xff\xd8"), ("webp", b"RIFF")]
)
def test_sample_image_formats_and_sizes(fmt: str, magic: bytes) -> None:
    """sample_image draws a decodable image of the size and format asked for."""
    data = sample_image(300, 260, format=fmt)
    assert data.startswith(magic)
    assert Image.open(io.BytesIO(data)).size == (300, 260)


def test_sample_images_are_distinct_files(tmp_path: Path) -> None:
    """Each seed gives different bytes; the extension picks the format."""
    paths = sample_images(tmp_path / "in", 3)
    assert [p.name for p in paths] == ["sample-01.png", "sample-02.png", "sample-03.png"]
    assert len({p.read_bytes() for p in paths}) == 3
    assert write_sample_image(tmp_path / "x.jpg").read_bytes().startswith(b"\xff\xd8")
    with pytest.raises(ValueError, match="png, jpeg or webp"):
        sample_image(format="gif")


async def test_aioresponses_mock_fixture_mocks_the_sdk(aioresponses_mock: aioresponses) -> None:
    """The opt-in fixture: a mocked 200 image reaches the SDK as an EditResult."""
    aioresponses_mock.post(
        "http://api.test/api/v1/image/edit",
        body=sample_image(seed=9),
        headers={"Content-Type": "image/png", "CF-RAY": "ray-9"},
    )
    async with InpaintClient(auth="VENICE_INFERENCE_KEY_t", base_url="http://api.test/api/v1") as c:
        result = await c.images.edit(image=sample_image(), prompt="x")
    assert (result.data, result.request_id) == (sample_image(seed=9), "ray-9")


def test_the_compat_fix_is_scoped_and_only_applied_when_needed() -> None:
    """aioresponses_compat swaps aioresponses' response class only while active, only when this
    aiohttp requires stream_writer and aioresponses does not pass it."""
    before = aioresponses_core.ClientResponse
    with aioresponses_compat():
        inside = aioresponses_core.ClientResponse
    assert aioresponses_core.ClientResponse is before
    assert (inside is not before) == needs_aioresponses_compat()
    assert issubclass(inside, aiohttp.ClientResponse)
