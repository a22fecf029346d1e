"""Fields the SDK does not know yet: extra_body / extra_headers / extra_query, sent as given."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from aiohttp import web

from inpaint_async import BearerAuth, InpaintClient, ValidationError
from inpaint_async._options import RequestOptions, merge_extra_body
from inpaint_async._wire import Body

from .conftest import Loopback
from .helpers import png_bytes

PNG = png_bytes(320, 240)
B64 = base64.b64encode(PNG).decode()


def _serve(box: Loopback) -> list[dict[str, Any]]:
    queries: list[dict[str, Any]] = []

    async def handler(request: web.Request) -> web.Response:
        queries.append(dict(request.query))
        return web.Response(body=PNG, headers={"content-type": "image/png"})

    box.handler = handler
    return queries


def _client(box: Loopback, **kw: Any) -> InpaintClient:
    return InpaintClient(auth=BearerAuth("test-key-" + "0" * 8), base_url=box.base_url, **kw)


async def test_extra_body_reaches_a_json_edit_unvalidated(loopback: Loopback) -> None:
    """An unknown field goes out in the JSON body exactly as given, with validation on."""
    _serve(loopback)
    async with _client(loopback) as c:
        await c.images.edit(
            B64, "a hat", model="m1", extra_body={"seed": 7, "style": {"x": [1, True]}}
        )
    sent = loopback.seen[0]["json"]
    assert sent["seed"] == 7 and sent["style"] == {"x": [1, True]}
    assert sent["prompt"] == "a hat" and sent["model"] == "m1"


async def test_extra_body_reaches_a_multipart_edit_as_text_parts(loopback: Loopback) -> None:
    """With a file upload, extra fields become text parts (booleans as true/false)."""
    _serve(loopback)
    async with _client(loopback, validate=False) as c:
        await c.images.edit(PNG, "a hat", extra_body={"seed": 7, "raw": False, "tags": ["a"]})
    fields = loopback.seen[0]["fields"]
    assert fields["seed"] == "7" and fields["raw"] == "false" and fields["tags"] == '["a"]'


async def test_extra_body_overrides_a_known_field(loopback: Loopback) -> None:
    """The caller's extra field wins over the SDK's own (the escape hatch is total)."""
    _serve(loopback)
    async with _client(loopback) as c:
        await c.images.multi_edit([B64], "x", model="m1", extra_body={"modelId": "m2"})
    assert loopback.seen[0]["json"]["modelId"] == "m2"


async def test_extra_headers_and_query_are_sent(loopback: Loopback) -> None:
    """extra_headers override the defaults but not auth; extra_query lands on the URL."""
    queries = _serve(loopback)
    async with _client(loopback, default_headers={"x-team": "a"}) as c:
        await c.images.upscale(
            PNG,
            extra_headers={"X-Team": "b", "x-beta": "on", "authorization": "Bearer nope"},
            extra_query={"trace": True, "n": 2},
        )
    headers = {k.lower(): v for k, v in loopback.seen[0]["headers"].items()}
    assert headers["x-team"] == "b" and headers["x-beta"] == "on"
    assert headers["authorization"] == "Bearer test-key-00000000"
    assert queries == [{"trace": "true", "n": "2"}]


async def test_background_remove_takes_extra_fields(loopback: Loopback) -> None:
    """Every image method takes the extra_* keywords."""
    _serve(loopback)
    async with _client(loopback) as c:
        await c.images.background_remove(image_url="https://example.com/a.png", extra_body={"k": 1})
    assert loopback.seen[0]["json"] == {"image_url": "https://example.com/a.png", "k": 1}


async def test_client_request_takes_extra_fields(loopback: Loopback) -> None:
    """The low-level request() merges extra_body into a body-less call as JSON."""
    queries = _serve(loopback)
    async with _client(loopback) as c:
        await c.request("POST", "/anything", extra_body={"a": 1}, extra_query={"q": "v"})
    assert loopback.seen[0]["json"] == {"a": 1} and queries == [{"q": "v"}]


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"extra_body": ["not", "a", "mapping"]}, "extra_body"),
        ({"extra_body": {"x": object()}}, "extra_body"),
        ({"extra_headers": {"x": 1}}, "extra_headers"),
        ({"extra_query": {"x": [1]}}, "extra_query"),
        ({"extra_query": "x=1"}, "extra_query"),
    ],
)
async def test_malformed_extras_fail_before_sending(
    loopback: Loopback, kwargs: dict[str, Any], param: str
) -> None:
    """A malformed extra_* argument is a ValidationError and nothing is sent."""
    _serve(loopback)
    async with _client(loopback) as c:
        with pytest.raises(ValidationError) as info:
            await c.images.edit(B64, "a hat", **kwargs)
    assert info.value.param == param
    assert loopback.seen == []


def test_options_fold_the_extras() -> None:
    """RequestOptions.build lower-cases headers, stringifies query values, merges the body."""
    opts = RequestOptions.build(
        "post",
        "/p",
        body=Body(json={"a": 1}),
        params={"p": "1"},
        extra_headers={"X-A": "1"},
        extra_query={"flag": False},
        extra_body={"b": None},
    )
    assert opts.method == "POST" and not opts.is_idempotent
    assert opts.headers == {"x-a": "1"}
    assert opts.params == {"p": "1", "flag": "false"}
    assert opts.body is not None and opts.body.json == {"a": 1, "b": None}
    assert opts.with_changes(idempotent=True).is_idempotent
    assert merge_extra_body(Body(fields=[("a", "1")], files=()), {"a": 2}).json == {"a": 2}


@pytest.mark.parametrize("validate", [True, False])
async def test_extra_fields_pass_with_or_without_validation(
    make_emulator: Any, validate: bool
) -> None:
    """With the catalogue loaded (validation on) or validation off, extra fields still go out
    (to a server that takes them: the emulator in its lenient mode)."""
    emu = await make_emulator(deviations={"lenient_unknown_fields"})
    async with InpaintClient(emu.api_key, base_url=emu.base_url, validate=validate) as c:
        await c.models.list()
        result = await c.images.edit(
            B64, "a hat", model="firered-image-edit", extra_body={"future_field": "x"}
        )
    assert result.data and [r.status for r in emu.requests if r.method == "POST"] == [200]
