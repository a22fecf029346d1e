"""Contract test: emulator responses validated against Venice's published OpenAPI schemas.

Runs only when `VENICE_OPENAPI_SPEC` names the spec file. The spec is loaded with ruamel.yaml
(YAML 1.2): a YAML 1.1 loader such as PyYAML reads the unquoted ratio `16:9` as the integer 969.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from inpaint_async.testing import Emulator, FaultPlan

from .helpers import WALLET, FakeClock, image_b64, payment_header, siwx_header

SPEC_PATH = os.environ.get("VENICE_OPENAPI_SPEC")
pytestmark = pytest.mark.skipif(
    not SPEC_PATH or not Path(SPEC_PATH).is_file(), reason="VENICE_OPENAPI_SPEC not set"
)


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0 -> JSON Schema: `nullable: true` becomes a null type, `oneOf` an `anyOf`.

    The spec's 402 is `oneOf: [StandardError, X402InferencePaymentRequired]`, and StandardError is
    open (any object with an `error` string), so every x402 body matches both branches and a
    strict `oneOf` could never pass.
    """
    if isinstance(node, dict):
        out = {
            ("anyOf" if k == "oneOf" else k): _nullable(v)
            for k, v in node.items()
            if k != "nullable"
        }
        if node.get("nullable") is True:
            if isinstance(out.get("type"), str):
                out["type"] = [out["type"], "null"]
            else:
                out = {"anyOf": [out, {"type": "null"}]}
        return out
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    return node


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    from ruamel.yaml import YAML

    assert SPEC_PATH is not None
    with open(SPEC_PATH, encoding="utf-8") as fh:
        loaded = YAML(typ="safe", pure=True).load(fh)
    # Plain JSON types (dates and other YAML scalars become strings).
    plain: dict[str, Any] = json.loads(json.dumps(loaded, default=str))
    return plain


def validate(spec: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    """Validate `body` against the response schema, resolving `#/components/...` refs."""
    import jsonschema

    response = spec["paths"][path][method]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    root = _nullable({**schema, "components": spec["components"]})
    jsonschema.Draft4Validator(root).validate(body)


def test_spec_keeps_ratios_as_strings(spec: dict[str, Any]) -> None:
    """YAML 1.2 loading keeps `16:9` a string (PyYAML would give 969)."""
    ratios = spec["components"]["schemas"]["EditImageRequest"]["properties"]["aspect_ratio"]
    assert "16:9" in ratios["enum"]
    assert all(isinstance(r, str) for r in ratios["enum"])


async def _json(
    http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, Any]:
    async with http.request(method, url, **kwargs) as r:
        return r.status, await r.json()


async def test_error_and_402_bodies_match(spec: dict[str, Any]) -> None:
    """400 DetailedError, 401, the three 402 shapes and a 429 fit the edit route's schemas."""
    clock = FakeClock()
    async with (
        Emulator(
            clock=clock,
            rate_limit_rpm=1,
            max_output_side=64,
            wallets={WALLET: "0.05"},
            api_keys={"VENICE_INFERENCE_KEY_a": 10, "VENICE_INFERENCE_KEY_b": 0},
        ) as emu,
        aiohttp.ClientSession() as http,
    ):
        url = emu.base_url + "/image/edit"
        good = {"image": image_b64(), "prompt": "x"}
        key_a = {"Authorization": "Bearer VENICE_INFERENCE_KEY_a"}
        cases = [
            ({"json": {**good, "bogus": 1}, "headers": key_a}, 400),
            ({"json": good, "headers": {"Authorization": "Bearer nope"}}, 401),
            ({"json": good, "headers": {"SIGN-IN-WITH-X": "garbage"}}, 401),
            ({"json": good}, 402),
            ({"json": good, "headers": {"SIGN-IN-WITH-X": siwx_header(clock.now)}}, 402),
            ({"json": good, "headers": {"Authorization": "Bearer VENICE_INFERENCE_KEY_b"}}, 402),
        ]
        for kwargs, expected in cases:
            status, body = await _json(http, "POST", url, **kwargs)
            assert status == expected
            validate(spec, "/image/edit", "post", status, body)
        async with http.post(url, json=good, headers=key_a) as r:
            assert r.status == 200
        status, body = await _json(http, "POST", url, json=good, headers=key_a)
        assert status == 429
        validate(spec, "/image/edit", "post", 429, body)
        emu.faults = FaultPlan(script={"/image/multi-edit": ["503"]})
        status, body = await _json(
            http,
            "POST",
            emu.base_url + "/image/multi-edit",
            json={"images": [image_b64()], "prompt": "x", "modelId": "qwen-image-2-edit"},
            headers=key_a,
        )
        assert status == 503
        validate(spec, "/image/multi-edit", "post", 503, body)


async def test_models_list_matches(spec: dict[str, Any]) -> None:
    """GET /models?type=inpaint (and upscale) fit the ModelResponse schema."""
    async with Emulator() as emu, aiohttp.ClientSession() as http:
        for type_ in ("inpaint", "upscale", "image"):
            status, body = await _json(http, "GET", emu.base_url + f"/models?type={type_}")
            assert status == 200
            validate(spec, "/models", "get", 200, body)


async def test_wallet_and_account_routes_match(spec: dict[str, Any]) -> None:
    """Top-up (402, 200, 400), balance, transactions, billing balance and rate limits."""
    clock = FakeClock()
    admin = "VENICE_ADMIN_KEY_contract"
    async with (
        Emulator(clock=clock, max_output_side=64, api_keys={admin: 5}) as emu,
        aiohttp.ClientSession() as http,
    ):
        top_up = emu.base_url + "/x402/top-up"
        status, body = await _json(http, "POST", top_up)
        validate(spec, "/x402/top-up", "post", status, body)
        status, body = await _json(
            http, "POST", top_up, headers={"PAYMENT-SIGNATURE": payment_header(clock.now)}
        )
        assert status == 200
        validate(spec, "/x402/top-up", "post", 200, body)
        status, body = await _json(
            http, "POST", top_up, headers={"PAYMENT-SIGNATURE": payment_header(clock.now, usd=1)}
        )
        assert status == 400
        validate(spec, "/x402/top-up", "post", 400, body)
        async with http.post(
            emu.base_url + "/image/edit",
            json={"image": image_b64(), "prompt": "x"},
            headers={"SIGN-IN-WITH-X": siwx_header(clock.now)},
        ) as r:
            assert r.status == 200
        for route, spec_path in (
            (f"/x402/balance/{WALLET}", "/x402/balance/{walletAddress}"),
            (f"/x402/transactions/{WALLET}", "/x402/transactions/{walletAddress}"),
        ):
            status, body = await _json(
                http,
                "GET",
                emu.base_url + route,
                headers={"SIGN-IN-WITH-X": siwx_header(clock.now)},
            )
            assert status == 200
            validate(spec, spec_path, "get", 200, body)
        status, body = await _json(
            http,
            "GET",
            emu.base_url + f"/x402/balance/0x{'ab' * 20}",
            headers={"SIGN-IN-WITH-X": siwx_header(clock.now)},
        )
        assert status == 403
        validate(spec, "/x402/balance/{walletAddress}", "get", 403, body)
        for route in ("/billing/balance", "/api_keys/rate_limits"):
            status, body = await _json(
                http, "GET", emu.base_url + route, headers={"Authorization": f"Bearer {admin}"}
            )
            assert status == 200
            validate(spec, route, "get", 200, body)
