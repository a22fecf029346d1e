"""The wire over loopback: streamed multipart uploads, JSON inputs, output= streaming, cut bodies."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from aiohttp import web

from inpaint_async import BearerAuth, InpaintClient, OutcomeUnknownError, RetryPolicy

from .conftest import Loopback
from .helpers import png_bytes

PNG = png_bytes(320, 240)


def image_response(body: bytes = PNG, **headers: str) -> web.Response:
    return web.Response(body=body, headers={"content-type": "image/png", **headers})


def client_for(box: Loopback) -> InpaintClient:
    return InpaintClient(auth=BearerAuth("test-key-" + "0" * 8), base_url=box.base_url)


async def test_path_goes_multipart_with_sniffed_name_and_type(
    loopback: Loopback, tmp_path: Path
) -> None:
    """A path is sent as a multipart file part with its file name and the sniffed MIME type."""
    src = tmp_path / "photo.bin"
    src.write_bytes(PNG)

    async def handler(request: web.Request) -> web.Response:
        return image_response()

    loopback.handler = handler
    async with client_for(loopback) as c:
        await c.images.edit(src, "add a hat", model="m1", safe_mode=False, output_format="jpg")
    sent = loopback.seen[0]
    assert sent["files"]["image"]["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert sent["files"]["image"]["filename"] == "photo.bin"
    assert sent["files"]["image"]["content_type"] == "image/png"
    assert sent["fields"] == {
        "prompt": "add a hat", "model": "m1", "safe_mode": "false", "output_format": "jpeg",
    }  # fmt: skip
    assert sent["headers"]["Authorization"].startswith("Bearer ")
    assert sent["headers"]["User-Agent"].startswith("inpaint-async/")


async def test_file_object_is_rewound_for_each_attempt(loopback: Loopback) -> None:
    """A file object is replayed from its start on a retry, not buffered, and not closed."""
    import io

    fh = io.BytesIO(PNG)
    calls = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return web.json_response({"error": "busy"}, status=503)
        return image_response()

    loopback.handler = handler
    c = InpaintClient(
        auth=BearerAuth("k" * 16), base_url=loopback.base_url, retry=RetryPolicy(initial_wait=0)
    )
    async with c:
        await c.images.edit(fh, "add a hat")
    digests = [s["files"]["image"]["sha256"] for s in loopback.seen]
    assert digests == [hashlib.sha256(PNG).hexdigest()] * 2
    assert not fh.closed


@pytest.mark.parametrize("kind", ["url", "base64", "data_uri"])
async def test_strings_go_as_json(loopback: Loopback, kind: str) -> None:
    """URLs, base64 and data URIs are sent as JSON with only the fields that were set."""
    b64 = base64.b64encode(PNG).decode()
    value = {
        "url": "https://example.org/cat.png",
        "base64": b64,
        "data_uri": "data:image/png;base64," + b64,
    }[kind]

    async def handler(request: web.Request) -> web.Response:
        return image_response()

    loopback.handler = handler
    async with client_for(loopback) as c:
        await c.images.edit(value, "add a hat", aspect_ratio="16:9")
    assert loopback.seen[0]["json"] == {
        "image": value,
        "prompt": "add a hat",
        "aspect_ratio": "16:9",
    }


async def test_result_keeps_the_headers(loopback: Loopback) -> None:
    """EditResult exposes model, request id, flags, balance, rate limit and enhanced prompt."""

    async def handler(request: web.Request) -> web.Response:
        return image_response(
            **{
                "x-venice-model-id": "firered-image-edit",
                "x-venice-model-name": "FireRed",
                "CF-RAY": "8f1e2d3c4b5a6978-AMS",
                "x-venice-is-blurred": "true",
                "x-venice-is-content-violation": "false",
                "x-venice-enhanced-prompt": "a%20red%20hat%2C%20detailed",
                "X-Balance-Remaining": "4.230000",
                "x-venice-balance-usd": "12.5",
                "x-ratelimit-limit-requests": "20",
                "x-ratelimit-remaining-requests": "19",
                "x-ratelimit-reset-requests": "1780580108941",
                "x-venice-version": "20260821.193530",
            }
        )

    loopback.handler = handler
    async with client_for(loopback) as c:
        r = await c.images.edit(PNG, "add a hat")
    assert (r.model_id, r.model_name, r.request_id) == (
        "firered-image-edit",
        "FireRed",
        "8f1e2d3c4b5a6978-AMS",
    )
    assert r.is_blurred and not r.is_content_violation
    assert r.enhanced_prompt == "a red hat, detailed"
    assert str(r.balance_remaining) == "4.230000" and str(r.balance_usd) == "12.5"
    assert r.rate_limit is not None and r.rate_limit.limit == 20 and r.rate_limit.remaining == 19
    assert r.rate_limit.reset_at is not None and r.rate_limit.reset_at.year == 2026
    assert r.format == "png" and r.data == PNG


async def test_deprecation_header_warns_once_and_is_on_the_result(loopback: Loopback) -> None:
    """A deprecated model surfaces one DeprecationWarning per model and the notice on the result."""

    async def handler(request: web.Request) -> web.Response:
        return image_response(
            **{
                "x-venice-model-id": "old-edit-model-xyz",
                "x-venice-model-deprecation-warning": "old-edit-model-xyz retires soon",
                "x-venice-model-deprecation-date": "2026-12-31T00:00:00Z",
                "x-venice-deprecated-replacement": "firered-image-edit",
            }
        )

    loopback.handler = handler
    async with client_for(loopback) as c:
        with pytest.warns(DeprecationWarning, match="retires soon"):
            r = await c.images.edit(PNG, "add a hat")
        assert r.deprecation is not None and r.deprecation.replacement == "firered-image-edit"
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            await c.images.edit(PNG, "add a hat")  # the second time: no warning


async def test_output_streams_to_disk_atomically(loopback: Loopback, tmp_path: Path) -> None:
    """output= writes the body to the path and keeps no bytes in memory."""
    big = png_bytes(300, 300, extra=3_000_000)

    async def handler(request: web.Request) -> web.Response:
        return image_response(big)

    loopback.handler = handler
    out = tmp_path / "out.png"
    async with client_for(loopback) as c:
        r = await c.images.edit(PNG, "add a hat", output=out)
    assert r.data is None and r.path == out
    assert out.read_bytes() == big
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


async def test_cut_mid_body_leaves_no_output_file(loopback: Loopback, tmp_path: Path) -> None:
    """A connection cut mid-body raises OutcomeUnknownError and leaves no file, partial or final."""

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "image/png", "content-length": "100000"})
        await resp.prepare(request)
        await resp.write(PNG[:1000])
        await asyncio.sleep(0.05)
        assert request.transport is not None
        request.transport.close()
        return resp

    loopback.handler = handler
    out = tmp_path / "out.png"
    async with client_for(loopback) as c:
        with pytest.raises(OutcomeUnknownError):
            await c.images.edit(PNG, "add a hat", output=out)
    assert list(tmp_path.iterdir()) == []


async def test_html_error_page_becomes_a_typed_error(loopback: Loopback) -> None:
    """A Cloudflare HTML 502 does not crash the parser; the body is kept as text."""
    from inpaint_async import ServerError

    async def handler(request: web.Request) -> web.Response:
        return web.Response(
            status=502, text="<!DOCTYPE html><html><body>Bad gateway</body></html>",
            content_type="text/html", headers={"CF-RAY": "abc-LHR"},
        )  # fmt: skip

    loopback.handler = handler
    c = InpaintClient(auth=BearerAuth("k" * 16), base_url=loopback.base_url,
                      retry=RetryPolicy(max_attempts=1))  # fmt: skip
    async with c:
        with pytest.raises(ServerError) as info:
            await c.images.edit(PNG, "add a hat")
    assert info.value.status_code == 502 and info.value.request_id == "abc-LHR"
    assert "non-JSON error page" in str(info.value)
    assert isinstance(info.value.body, str) and "Bad gateway" in info.value.body


async def test_json_200_where_an_image_was_expected(loopback: Loopback) -> None:
    """A 200 with JSON instead of an image raises UnexpectedResponseError."""
    from inpaint_async import UnexpectedResponseError

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"images": []})

    loopback.handler = handler
    async with client_for(loopback) as c:
        with pytest.raises(UnexpectedResponseError, match="expected an image"):
            await c.images.edit(PNG, "add a hat")


UPLOAD_SCRIPT = textwrap.dedent(
    """
    import asyncio, resource, sys
    from inpaint_async import InpaintClient, BearerAuth
    async def main():
        async with InpaintClient(auth=BearerAuth("k" * 16), base_url=sys.argv[1]) as c:
            await c.images.edit(sys.argv[2], "add a hat")  # warm up imports and the session
            base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            await c.images.edit(sys.argv[3], "add a hat")
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(base, peak)
    asyncio.run(main())
    """
)


async def test_20mb_upload_streams_byte_identical_with_low_rss(
    loopback: Loopback, tmp_path: Path
) -> None:
    """A 20 MB file arrives byte-identical while the client's RSS grows far less than 20 MB."""
    small = tmp_path / "small.png"
    small.write_bytes(PNG)
    big = tmp_path / "big.png"
    big.write_bytes(png_bytes(400, 400, extra=20 * 1024 * 1024))

    async def handler(request: web.Request) -> web.Response:
        return image_response()

    loopback.handler = handler
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", UPLOAD_SCRIPT, loopback.base_url, str(small), str(big),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "INPAINT_LOG": ""},
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    base_kb, peak_kb = map(int, out.split())
    assert (
        loopback.seen[1]["files"]["image"]["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()
    )
    assert (peak_kb - base_kb) < 8 * 1024, f"RSS grew {(peak_kb - base_kb) / 1024:.1f} MB"


async def test_model_id_alias_is_sent_as_model(loopback: Loopback) -> None:
    """The deprecated modelId= still works: a DeprecationWarning, and the body says model."""

    async def handler(request: web.Request) -> web.Response:
        return image_response()

    loopback.handler = handler
    async with client_for(loopback) as c:
        with pytest.warns(DeprecationWarning, match="modelId"):
            await c.images.edit("https://example.org/a.png", "hat", modelId="qwen-image-2-edit")
    assert loopback.seen[0]["json"] == {
        "image": "https://example.org/a.png", "prompt": "hat", "model": "qwen-image-2-edit",
    }  # fmt: skip
