"""Base64 inputs: proven pure in one pass and spliced into the JSON body unescaped."""

from __future__ import annotations

import base64
import json

import pytest
from aiohttp import web

from inpaint_async._inputs import prepare_image, pure_base64
from inpaint_async._wire import JSONFragment, encode_json

from .conftest import Loopback
from .helpers import png_bytes
from .test_wire import client_for, image_response

PNG = png_bytes(320, 240)
B64 = base64.b64encode(PNG).decode()


@pytest.mark.parametrize("text", [B64, B64.rstrip("=") + "==", "QUJD", "QUI=", "QQ=="])
def test_pure_base64_is_recognised(text: str) -> None:
    """The alphabet, then at most two padding characters, is pure."""
    assert pure_base64(text) == text.encode()


@pytest.mark.parametrize(
    "text",
    [B64[:40] + "\n" + B64[40:], B64[:9] + '"' + B64[9:], B64[:9] + "\\" + B64[9:],
     "QQ=A", "Q===", "QUJDé", B64[:9] + "\x00" + B64[9:], B64[:9] + "-_" + B64[9:]],
)  # fmt: skip
def test_anything_else_is_not_pure(text: str) -> None:
    """Whitespace, quotes, backslashes, inner padding, non-ASCII, url-safe base64: not pure."""
    assert pure_base64(text) is None


def test_spliced_body_is_byte_identical_to_json_dumps() -> None:
    """The splice gives exactly the bytes json.dumps (aiohttp's default) would have sent."""
    plain = {"image": B64, "prompt": 'a "quoted" hat', "images": ["https://x/y.png", B64]}
    spliced = {
        "image": JSONFragment(b'"' + B64.encode() + b'"'),
        "prompt": plain["prompt"],
        "images": ["https://x/y.png", JSONFragment(b'"' + B64.encode() + b'"')],
    }
    assert encode_json(spliced) == json.dumps(plain).encode()
    assert encode_json([1, "a"]) == b'[1, "a"]'


def test_prepared_base64_and_data_uri_carry_a_fragment_and_dirty_ones_do_not() -> None:
    """A clean string is spliced; one with line breaks is cleaned and escaped the usual way."""
    assert prepare_image(B64).json_item == JSONFragment(b'"' + B64.encode() + b'"')
    uri = "data:image/png;base64," + B64
    assert prepare_image(uri).json_item == JSONFragment(b'"' + uri.encode() + b'"')
    wrapped = "\n".join(B64[i : i + 76] for i in range(0, len(B64), 76))
    assert prepare_image(wrapped).json_item == B64


async def test_a_wrapped_base64_string_arrives_without_its_line_breaks(loopback: Loopback) -> None:
    """MIME-wrapped base64 still reaches the server as one clean JSON string."""
    wrapped = "\n".join(B64[i : i + 76] for i in range(0, len(B64), 76))

    async def handler(request: web.Request) -> web.Response:
        return image_response()

    loopback.handler = handler
    async with client_for(loopback) as c:
        await c.images.edit(wrapped, "add a hat")
        await c.images.multi_edit([B64, wrapped], "add a hat")
    assert loopback.seen[0]["json"] == {"image": B64, "prompt": "add a hat"}
    assert loopback.seen[1]["json"]["images"] == [B64, B64]


class _Writer:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    async def write(self, chunk: bytes | memoryview) -> None:
        self.chunks.append(bytes(chunk))


@pytest.mark.parametrize("length", [None, 700_000])
async def test_bytes_are_written_in_slices_of_a_view_not_copied(length: int | None) -> None:
    """A caller's bytes are not copied at prepare and go out in ≤ 256 KB slices of a view."""
    from inpaint_async._transport import _MultipartBody
    from inpaint_async._wire import Body

    data = PNG + bytes(1_000_000)
    part = prepare_image(data).part
    assert part is not None and part.source is data  # no copy of the caller's bytes
    writer = _Writer()
    body = _MultipartBody(Body(files=[part]), boundary="b")
    await body.write_with_length(writer, length)
    head = b"--b\r\n" + body._heads[0][len(b"--b\r\n") :]
    assert writer.chunks[0] == head
    image_chunks = writer.chunks[1:-1] if length is None else writer.chunks[1:]
    assert max(len(c) for c in image_chunks) <= 256 * 1024
    sent = b"".join(writer.chunks)
    whole = head + data + b"\r\n--b--\r\n"
    assert sent == whole[:length]
