"""The bad-input corpus: every case ends in a typed error with a clear message.

Local faults (files, parameters, keys) must raise before anything is sent; server faults (odd
bodies) must surface as our typed errors, never as a traceback from inside the SDK.
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aioresponses import aioresponses
from PIL import Image

from inpaint_async import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ContentPolicyError,
    InpaintClient,
    InpaintError,
    PaymentRequiredError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    UnexpectedResponseError,
    ValidationError,
    WalletAuth,
)
from inpaint_async.testing import Emulator

BASE = "http://api.test/api/v1"
EDIT = BASE + "/image/edit"


def png(width: int = 400, height: int = 300) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(buf, "PNG")
    return buf.getvalue()


GOOD = png()


@dataclass
class Ctx:
    tmp: Path

    def file(self, name: str, data: bytes | str) -> Path:
        p = self.tmp / name
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        return p


Case = Callable[[InpaintClient, Ctx], Awaitable[Any]]


def edit(image: Any = None, prompt: str = "add a hat", **kw: Any) -> Case:
    async def run(c: InpaintClient, ctx: Ctx) -> Any:
        img = image(ctx) if callable(image) else (GOOD if image is None else image)
        return await c.images.edit(img, prompt, **kw)

    return run


def huge_sparse(ctx: Ctx) -> Path:
    p = ctx.file("huge.png", GOOD)
    with open(p, "r+b") as fh:
        fh.truncate(26 * 1024 * 1024)
    return p


def fifo(ctx: Ctx) -> Path:
    p = ctx.tmp / "pipe.png"
    os.mkfifo(p)
    return p


def header_10k(ctx: Ctx) -> bytes:
    data = bytearray(png(300, 300))
    data[16:24] = (10_000).to_bytes(4, "big") * 2
    return bytes(data)


LOCAL_CASES: dict[str, tuple[Case, type[InpaintError], str]] = {
    # files
    "zero-byte file": (
        edit(lambda ctx: ctx.file("z.png", b"")),
        ValidationError,
        "not a supported image",
    ),
    "text file named .png": (
        edit(lambda ctx: ctx.file("t.png", "hello")),
        ValidationError,
        "not a supported image",
    ),
    "25 MB+ file": (edit(huge_sparse), ValidationError, "25 MB"),
    "64x64 image": (edit(png(64, 64)), ValidationError, "65,536"),
    "10000x10000 header": (edit(header_10k), ValidationError, "33,177,600"),
    "1000x50 image (side < 64)": (edit(png(1400, 50)), ValidationError, "64 px"),
    "SVG file": (
        edit(lambda ctx: ctx.file("a.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>")),
        ValidationError,
        "not a supported image",
    ),
    "GIF file": (edit(b"GIF89a" + b"\0" * 100), ValidationError, "not a supported image"),
    "directory": (edit(lambda ctx: ctx.tmp), ValidationError, "not a file"),
    "missing path": (edit(lambda ctx: ctx.tmp / "missing.png"), ValidationError, "no such file"),
    "missing path as str": (
        edit(lambda ctx: str(ctx.tmp / "missing.png")),
        ValidationError,
        "no such file",
    ),
    "text-mode file object": (edit(io.StringIO("abc")), ValidationError, "binary"),
    "non-image bytes": (edit(b"\x00" * 5000), ValidationError, "not a supported image"),
    "image of wrong type (int)": (edit(12345), ValidationError, "expected bytes"),
    "data URI not base64": (edit("data:image/png,xyz"), ValidationError, "base64"),
    "data URI with garbage base64": (edit("data:image/png;base64,!!!!"), ValidationError, "base64"),
    "base64 of text": (
        edit(base64.b64encode(b"hello world " * 20).decode()),
        ValidationError,
        "not a supported image",
    ),
    # params
    "unknown key": (edit(aspect_ration="16:9"), ValidationError, "did you mean 'aspect_ratio'"),
    "safe_mode as string": (edit(safe_mode="yes"), ValidationError, "safe_mode"),
    "enhance_prompt as int": (edit(enhance_prompt=1), ValidationError, "enhance_prompt"),
    "model as int": (edit(model=123), ValidationError, "model"),
    "empty model": (edit(model=""), ValidationError, "model"),
    "resolution too long": (edit(resolution="ultra-mega-8K"), ValidationError, "resolution"),
    "output_format gif": (edit(output_format="gif"), ValidationError, "output_format"),
    "empty prompt": (edit(prompt=""), ValidationError, "prompt"),
    "blank prompt": (edit(prompt=" \n\t "), ValidationError, "prompt"),
    "over-long prompt": (edit(prompt="x" * 32_769), ValidationError, "prompt"),
    "unknown quality on edit": (edit(quality="ultra"), ValidationError, "quality"),
    "output folder missing": (
        edit(output="/nonexistent-folder-xyz/out.png"),
        ValidationError,
        "does not exist",
    ),
    "output is a directory": (edit(output="/"), ValidationError, "directory"),
    # issue 13: hostile local input
    "FIFO as the image path (would block the loop)": (
        edit(fifo),
        ValidationError,
        "not a regular file",
    ),
    "character device as the image path": (
        edit(Path("/dev/zero")),
        ValidationError,
        "not a regular file",
    ),
    "output folder where no file can be created": (
        edit(output="/proc/self/out.png"),
        ValidationError,
        "cannot write",
    ),
    "extra header with a line break": (
        edit(extra_headers={"x-tag": "a\r\nInjected: 1"}),
        ConfigurationError,
        "line break",
    ),
    "per-call timeout nan": (edit(timeout=float("nan")), ConfigurationError, "timeout"),
    "per-call timeout negative": (edit(timeout=-1), ConfigurationError, "timeout"),
}


@pytest.mark.parametrize("name", sorted(LOCAL_CASES))
async def test_local_fault_raises_before_sending(name: str, tmp_path: Path) -> None:
    """A local mistake: a typed error with a clear message, and not one byte sent."""
    case, cls, fragment = LOCAL_CASES[name]
    with aioresponses() as m:
        async with InpaintClient(auth="k" * 16, base_url=BASE) as c:
            with pytest.raises(cls) as info:
                await case(c, Ctx(tmp_path))
        assert not m.requests
    assert fragment in str(info.value)


# --- keys and configuration ------------------------------------------------------------------------

KEY = "0x" + "11" * 32


def keystore(tmp: Path) -> Path:
    from eth_account import Account

    data = Account.encrypt(KEY, "right password", kdf="pbkdf2", iterations=2)
    p = tmp / "keystore.json"
    p.write_text(json.dumps(data))
    return p


CONFIG_CASES: dict[str, Callable[[Path], Any]] = {
    "malformed hex key": lambda tmp: WalletAuth("0x" + "zz" * 32),
    "short hex key": lambda tmp: WalletAuth("0x1234"),
    "empty wallet key": lambda tmp: WalletAuth(""),
    "wrong keystore password": lambda tmp: WalletAuth.from_env(
        environ={"VENICE_WALLET_KEYSTORE": str(keystore(tmp)), "VENICE_WALLET_PASSWORD": "wrong"}
    ),
    "keystore is not JSON": lambda tmp: WalletAuth.from_env(
        environ={"VENICE_WALLET_KEYSTORE": "{not json", "VENICE_WALLET_PASSWORD": "x"}
    ),
    "empty API key": lambda tmp: InpaintClient(auth="   "),
    "API key with a space": lambda tmp: InpaintClient(auth="abc def"),
    "ftp base URL": lambda tmp: InpaintClient(auth="k" * 16, base_url="ftp://example.org"),
    "auth of the wrong type": lambda tmp: InpaintClient(auth=42),  # type: ignore[arg-type]
    # issue 13
    "base URL http://[::1": lambda tmp: InpaintClient(auth="k" * 16, base_url="http://[::1"),
    "read timeout nan": lambda tmp: InpaintClient(auth="k" * 16, read_timeout=float("nan")),
    "attempt timeout negative": lambda tmp: InpaintClient(auth="k" * 16, attempt_timeout=-5),
    "max_json_bytes zero": lambda tmp: InpaintClient(auth="k" * 16, max_json_bytes=0),
    "batch job_timeout nan": lambda tmp: InpaintClient(auth="k" * 16).batch(
        [], job_timeout=float("nan")
    ),
    "batch concurrency 0": lambda tmp: InpaintClient(auth="k" * 16).batch([], concurrency=0),
}


@pytest.mark.parametrize("name", sorted(CONFIG_CASES))
def test_bad_configuration_is_a_configuration_error(name: str, tmp_path: Path) -> None:
    """Keys and options: ConfigurationError, and the message never echoes the secret."""
    with pytest.raises(ConfigurationError) as info:
        CONFIG_CASES[name](tmp_path)
    text = str(info.value)
    assert text and "11" * 32 not in text and "right password" not in text


# --- server bodies ---------------------------------------------------------------------------------

SERVER_CASES: dict[str, tuple[dict[str, Any], type[InpaintError], str]] = {
    "HTML 502": (
        {
            "status": 502,
            "body": "<!DOCTYPE html><html>Bad gateway</html>",
            "content_type": "text/html",
        },
        ServerError,
        "non-JSON error page",
    ),
    "empty 200": (
        {"status": 200, "body": b"", "headers": {"content-type": "image/png"}},
        UnexpectedResponseError,
        "empty",
    ),
    "JSON 200 instead of an image": (
        {"status": 200, "payload": {"data": [{"b64_json": "..."}]}},
        UnexpectedResponseError,
        "expected an image",
    ),
    "402 with garbage body": (
        {"status": 402, "body": b"\xff\xfe garbage"},
        PaymentRequiredError,
        "402",
    ),
    "402 with a bad PAYMENT-REQUIRED header": (
        {
            "status": 402,
            "payload": {"x402Version": "two", "accepts": "none"},
            "headers": {"PAYMENT-REQUIRED": "%%%not-base64"},
        },
        PaymentRequiredError,
        "402",
    ),
    "401 plain text": ({"status": 401, "body": "nope"}, AuthenticationError, "nope"),
    "429 with garbage Retry-After": (
        {
            "status": 429,
            "payload": {"error": "Rate limit exceeded"},
            "headers": {"Retry-After": "tomorrow"},
        },
        RateLimitError,
        "Rate limit exceeded",
    ),
    "500 with a JSON list": ({"status": 500, "payload": [1, 2, 3]}, ServerError, "500"),
    # issue 13: a 200 that is not an image is never a success
    "garbage 200 image/png": (
        {"status": 200, "body": b"not an image, no!", "headers": {"content-type": "image/png"}},
        UnexpectedResponseError,
        "not a PNG",
    ),
    "200 HTML captive portal": (
        {"status": 200, "body": "<html>hotel wifi</html>", "content_type": "text/html"},
        UnexpectedResponseError,
        "expected an image",
    ),
    "200 flagged as a content violation": (
        {
            "status": 200,
            "body": GOOD,
            "headers": {"content-type": "image/png", "x-venice-is-content-violation": "true"},
        },
        ContentPolicyError,
        "content violation",
    ),
    "400 body nested 30,000 deep": (
        {"status": 400, "body": "[" * 30_000 + "]" * 30_000, "content_type": "application/json"},
        BadRequestError,
        "400",
    ),
    "400 with details as a string": (
        {"status": 400, "payload": {"error": "Invalid", "details": "image: corrupt"}},
        BadRequestError,
        "Invalid",
    ),
}


@pytest.mark.parametrize("name", sorted(SERVER_CASES))
async def test_odd_server_answers_become_typed_errors(name: str) -> None:
    """Whatever the server sends, the caller gets one of our errors with a readable message."""
    response, cls, fragment = SERVER_CASES[name]
    with aioresponses() as m:
        m.post(EDIT, repeat=True, **response)
        async with InpaintClient(auth="k" * 16, base_url=BASE, retry=RetryPolicy.no_retry()) as c:
            with pytest.raises(cls) as info:
                await c.images.edit(GOOD, "add a hat")
    assert fragment in str(info.value)
    assert len(str(info.value)) < 1000, "messages stay readable even for huge bodies"


async def test_huge_error_body_is_capped(
    serve_app: Callable[[web.Application], Awaitable[str]],
) -> None:
    """A 10 MB error body is read only up to a cap and summarised in a short message."""

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=400, text="x" * (10 * 1024 * 1024))

    app = web.Application(client_max_size=1 << 26)
    app.router.add_post("/api/v1/image/edit", handler)
    base = await serve_app(app)
    async with InpaintClient(auth="k" * 16, base_url=base + "/api/v1") as c:
        with pytest.raises(BadRequestError) as info:
            await c.images.edit(GOOD, "add a hat")
    assert len(str(info.value)) < 1000
    assert isinstance(info.value.body, str) and len(info.value.body) <= 64 * 1024


# --- server-side validation, end to end --------------------------------------------------------------


def truncated_png(ctx: Ctx) -> bytes:
    return png(600, 400)[:300]


EMULATOR_CASES: dict[str, tuple[Case, str]] = {
    "truncated PNG": (edit(truncated_png), "image"),
    "prompt over the model's limit": (edit(prompt="y" * 2000), "prompt"),
    "unsupported aspect ratio for the model": (
        edit(model="gpt-image-2-edit", aspect_ratio="9:16"),
        "aspect",
    ),
    "resolution on a model without tiers": (edit(resolution="2K"), "resolution"),
    "unknown model": (edit(model="no-such-model"), "Invalid model id"),
}


@pytest.mark.parametrize("name", sorted(EMULATOR_CASES))
async def test_server_validation_is_a_typed_400(
    name: str, emulator: Emulator, tmp_path: Path
) -> None:
    """Faults only the server can see come back as BadRequestError, sent once, not charged."""
    case, fragment = EMULATOR_CASES[name]
    async with InpaintClient(auth=emulator.api_key, base_url=emulator.base_url) as c:
        with pytest.raises(BadRequestError) as info:
            await case(c, Ctx(tmp_path))
    assert fragment.lower() in str(info.value).lower() + json.dumps(info.value.body).lower()
    assert len(emulator.requests) == 1 and emulator.charges_for() == []


def test_corpus_size() -> None:
    """The corpus keeps at least 40 cases."""
    total = len(LOCAL_CASES) + len(CONFIG_CASES) + len(SERVER_CASES) + len(EMULATOR_CASES) + 1
    assert total >= 40, total
    assert os.environ.get("PYTEST_CURRENT_TEST")
