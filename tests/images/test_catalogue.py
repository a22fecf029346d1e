"""client.models.list(): the typed catalogue, its leniency, and the TTL cache."""

from __future__ import annotations

import asyncio
import logging
import re
from decimal import Decimal
from typing import Any

import pytest
from aioresponses import aioresponses

from inpaint_async import (
    BearerAuth,
    InpaintClient,
    Model,
    ModelCatalogue,
    UnexpectedResponseError,
    ValidationError,
)
from inpaint_async.testing import Emulator

from .conftest import Recorder, emulator_client

BASE = "https://api.test.invalid/api/v1"
MODELS_URL = re.compile(r"^https://api\.test\.invalid/api/v1/models\?type=inpaint$")


def models_gets(emu: Emulator) -> int:
    return sum(1 for r in emu.requests if r.path.endswith("/models"))


def entry(model_id: str, **spec: Any) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "owned_by": "venice.ai", "type": "inpaint",
            "model_spec": {"privacy": "private", **spec}}  # fmt: skip


async def test_list_parses_constraints_pricing_and_deprecation(emulator: Emulator) -> None:
    """The emulator's 21 inpaint models arrive typed: constraints, Decimal prices, deprecation."""
    async with emulator_client(emulator) as c:
        cat = await c.models.list()
    assert isinstance(cat, ModelCatalogue)
    assert len(cat) == 21
    assert cat.type == "inpaint"
    gpt = cat.get("gpt-image-2-edit")
    assert isinstance(gpt, Model)
    assert gpt.name == "GPT Image 2 Edit"
    assert gpt.constraints.aspect_ratios == ["1:1", "3:2", "16:9"]
    assert gpt.constraints.prompt_character_limit == 10000
    assert gpt.constraints.qualities == ["low", "medium", "high"]
    assert gpt.constraints.default_quality == "high"
    assert gpt.constraints.resolutions == ["1K", "2K", "4K"]
    assert gpt.constraints.default_resolution == "1K"
    assert gpt.pricing.quality["4K"]["medium"].usd == Decimal("0.22")
    assert gpt.pricing.resolutions["2K"].usd == Decimal("0.52")
    assert gpt.pricing.input_images is not None
    assert gpt.pricing.input_images.included == 1
    assert gpt.pricing.input_images.additional.usd == Decimal("0.0092")
    assert cat.get("luma-uni-1-edit").constraints.max_input_images == 1  # type: ignore[union-attr]
    seedream = cat.get("seedream-v4-edit")
    assert seedream is not None and seedream.deprecation is not None
    assert seedream.deprecation.replacement_model_id == "seedream-v5-lite-edit"
    assert seedream.deprecation.auto_remap is True
    assert cat.default is not None and cat.default.id == "firered-image-edit"
    assert "wan-2-7-pro-edit" in cat
    assert "qwen-edit" not in cat


def test_max_input_images_defaults_to_three_or_one() -> None:
    """Without maxInputImages: 3 when images combine, 1 when they do not."""
    base = {"aspectRatios": ["auto"], "promptCharacterLimit": 100}
    combine = Model.model_validate(entry("a", constraints={**base, "combineImages": True}))
    single = Model.model_validate(entry("b", constraints={**base, "combineImages": False}))
    given = Model.model_validate(entry("c", constraints={**base, "maxInputImages": 8}))
    assert (combine.constraints.max_input_images, single.constraints.max_input_images) == (3, 1)
    assert given.constraints.max_input_images == 8


def test_unknown_fields_are_kept_not_rejected() -> None:
    """New keys at every level parse and stay readable (extra='allow')."""
    raw = entry(
        "m",
        newFlag=True,
        constraints={"aspectRatios": ["1:1"], "promptCharacterLimit": 9, "combineImages": True,
                     "futureKnob": 3},
        pricing={"inpaint": {"usd": 0.05, "diem": 0.05}, "video": {"usd": 1}},
    )  # fmt: skip
    raw["brandNew"] = {"x": 1}
    model = Model.model_validate(raw)
    assert model.model_extra == {"brandNew": {"x": 1}}
    assert model.model_spec.model_extra == {"newFlag": True}
    assert model.constraints.model_extra == {"futureKnob": 3}
    assert model.pricing.inpaint is not None and model.pricing.inpaint.usd == Decimal("0.05")


async def test_list_is_cached_until_the_ttl_and_refresh_bypasses(emulator: Emulator) -> None:
    """Two lists, one GET; refresh=True fetches; ttl=0 fetches every time."""
    async with emulator_client(emulator) as c:
        first = await c.models.list()
        assert await c.models.list() is first
        assert models_gets(emulator) == 1
        assert await c.models.list(refresh=True) is not first
        assert models_gets(emulator) == 2
        c.models.ttl = 0
        await c.models.list()
        assert models_gets(emulator) == 3


async def test_concurrent_first_lists_share_one_fetch(emulator: Emulator) -> None:
    """Twenty tasks asking at once cause one GET /models."""
    async with emulator_client(emulator) as c:
        cats = await asyncio.gather(*(c.models.list() for _ in range(20)))
    assert models_gets(emulator) == 1
    assert all(cat is cats[0] for cat in cats)


async def test_derived_clients_share_the_cache(emulator: Emulator) -> None:
    """with_options() clients see the catalogue their parent loaded."""
    async with emulator_client(emulator) as c:
        await c.models.list()
        child = c.with_options(read_timeout=5)
        assert child.models.cached() is c.models.cached()
        await child.models.list()
    assert models_gets(emulator) == 1


async def test_type_edit_is_a_local_error_with_the_right_name() -> None:
    """There is no type=edit; the error says inpaint."""
    async with InpaintClient(auth=BearerAuth("k" * 20), base_url=BASE) as c:
        with pytest.raises(ValidationError, match="type='inpaint'"):
            await c.models.list("edit")


async def test_other_types_are_sent_as_given(emulator: Emulator) -> None:
    """type=upscale returns the upscaler, cached separately from inpaint."""
    async with emulator_client(emulator) as c:
        ups = await c.models.list("upscale")
        assert c.models.cached("inpaint") is None
    assert ups.ids == ["upscaler"]


async def test_bearer_key_is_sent_with_get_models(recorder: Recorder) -> None:
    """With an API key the catalogue request is authenticated (a privacy-restricted key sees its list)."""
    from aiohttp import web

    recorder.respond = lambda request: web.json_response({"object": "list", "data": []})
    async with recorder.client() as c:
        await c.models.list()
    sent = recorder.seen[0]
    assert sent["query"] == {"type": "inpaint"}
    assert sent["headers"]["Authorization"] == "Bearer rec-key-00000000"


async def test_an_unreadable_entry_is_skipped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    """One broken entry is dropped with a warning; the rest of the catalogue stays usable."""
    good = entry("good", constraints={"aspectRatios": ["1:1"], "promptCharacterLimit": 5,
                                      "combineImages": True})  # fmt: skip
    bad = {"id": "bad", "type": "inpaint", "model_spec": "not an object"}
    with aioresponses() as mock:
        mock.get(MODELS_URL, payload={"object": "list", "type": "inpaint", "data": [bad, good]})
        async with InpaintClient(auth=BearerAuth("k" * 20), base_url=BASE) as c:
            with caplog.at_level(logging.WARNING, logger="inpaint_async"):
                cat = await c.models.list()
    assert cat.ids == ["good"]
    assert "skipping catalogue entry 'bad'" in caplog.text


@pytest.mark.parametrize("body", [b"<html>oops</html>", b'{"object": "list"}'])
async def test_a_body_without_a_data_list_is_an_unexpected_response(body: bytes) -> None:
    """HTML or a JSON object without data raises UnexpectedResponseError, nothing is cached."""
    with aioresponses() as mock:
        mock.get(MODELS_URL, body=body, content_type="application/json")
        async with InpaintClient(auth=BearerAuth("k" * 20), base_url=BASE) as c:
            with pytest.raises(UnexpectedResponseError):
                await c.models.list()
            assert c.models.cached() is None


async def test_wallet_auth_is_not_spent_on_get_models(recorder: Recorder) -> None:
    """With a wallet, GET /models goes unsigned: no SIWX header, no in-flight slot taken."""
    from aiohttp import web

    from inpaint_async import WalletAuth

    recorder.respond = lambda request: web.json_response({"object": "list", "data": []})
    wallet = WalletAuth("0x" + "11" * 32)
    async with InpaintClient(auth=wallet, base_url=recorder.base_url) as c:
        await c.models.list()
    headers = {k.lower() for k in recorder.seen[0]["headers"]}
    assert not headers & {"sign-in-with-x", "x-sign-in-with-x", "authorization"}
