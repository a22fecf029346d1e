"""`EmulatorSettings`: one object for every setting, usable beside the keywords."""

from __future__ import annotations

import dataclasses
import typing
from decimal import Decimal

import aiohttp
import pytest

from inpaint_async.testing import Emulator, EmulatorSettings
from inpaint_async.testing._settings import EmulatorOptions


def test_every_setting_is_a_keyword_of_the_emulator() -> None:
    """The keyword TypedDict and the settings dataclass name the same fields with the same types."""
    fields = {f.name: f.type for f in dataclasses.fields(EmulatorSettings)}
    hints = typing.get_type_hints(EmulatorSettings)
    options = typing.get_type_hints(EmulatorOptions)
    assert set(options) == set(fields)
    assert {name: hints[name] for name in fields} == options


def test_settings_are_frozen_and_normalise_siwx_domains() -> None:
    """A settings object cannot change under a running emulator; domains compare lower-case."""
    settings = EmulatorSettings(siwx_domains=["Example.COM"])
    assert settings.siwx_domains == frozenset({"example.com"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.latency = 1.0  # type: ignore[misc]


def test_keywords_override_a_settings_object() -> None:
    """`Emulator(settings=s, x=...)` takes `x` from the keyword and the rest from `s`."""
    shared = EmulatorSettings(rate_limit_rpm=7, max_output_side=32)
    emu = Emulator(settings=shared, max_output_side=16)
    assert emu.settings.rate_limit_rpm == 7
    assert emu.settings.max_output_side == 16
    assert shared.max_output_side == 32
    assert Emulator().settings == EmulatorSettings()


def test_unknown_keyword_is_refused() -> None:
    """A misspelt setting is a TypeError, not a silently ignored keyword."""
    with pytest.raises(TypeError):
        Emulator(rate_limit_rmp=5)  # type: ignore[call-arg]


async def test_a_settings_object_drives_a_running_emulator(http: aiohttp.ClientSession) -> None:
    """Keys and the rate limit given through `settings=` are what the server enforces."""
    key = "VENICE_INFERENCE_KEY_settings"
    settings = EmulatorSettings(api_keys={key: "2.5"}, rate_limit_rpm=3)
    async with Emulator(settings=settings) as emu:
        assert emu.api_key == key
        assert emu.balance_of(key) == Decimal("2.5")
        async with http.get(
            emu.base_url + "/api_keys/rate_limits", headers={"Authorization": f"Bearer {key}"}
        ) as r:
            body = await r.json()
        assert r.status == 200
        limits = body["data"]["rateLimits"][0]["rateLimits"]
        assert limits == [{"amount": 3, "type": "RPM"}]


def test_an_unknown_deviation_is_refused() -> None:
    """A misspelt deviation fails when the settings are built, naming the known ones."""
    from inpaint_async.testing import DEVIATIONS

    with pytest.raises(ValueError, match="no_model_headers"):
        EmulatorSettings(deviations={"no_model_header"})
    assert EmulatorSettings(deviations=list(DEVIATIONS)).deviations == frozenset(DEVIATIONS)
