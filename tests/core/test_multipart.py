"""The multipart body: byte for byte what aiohttp's FormData sends, in a few socket writes."""

from __future__ import annotations

import bz2
import io
from collections.abc import Callable
from pathlib import Path
from typing import IO

import aiohttp
import pytest

from inpaint_async import BearerAuth, InpaintClient, ValidationError
from inpaint_async._transport import _MultipartBody
from inpaint_async._wire import Body, FilePart

from .conftest import Loopback
from .helpers import png_bytes
from .test_wire import client_for

PNG = png_bytes(64, 48)


class _Writer:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    async def write(self, chunk: bytes | memoryview) -> None:
        self.chunks.append(bytes(chunk))


async def _form_data_bytes(body: Body, boundary: str) -> bytes:
    """What aiohttp.FormData (the client's encoder before) sends for ``body``."""
    form = aiohttp.FormData(quote_fields=True)
    for name, value in body.fields:
        form.add_field(name, value)
    for part in body.files:
        source = part.source.read_bytes() if isinstance(part.source, Path) else part.source
        form.add_field(part.name, source, filename=part.filename, content_type=part.content_type)
    writer = form()
    writer._boundary = boundary.encode()
    out = _Writer()
    await writer.write(out)
    return b"".join(out.chunks)


@pytest.mark.parametrize(
    ("fields", "filenames"),
    [
        ([("prompt", "add a red hat")], ["input.png"]),
        ([("prompt", 'a "quoted" hat\r\nwith ü and 😀'), ("model", "m"), ("safe_mode", "false")],
         ['ph\u00f6to "1";\\.png']),
        ([("prompt", "two images")], ["a.png", "b c.png"]),
        ([], ["only.png"]),
    ],
)  # fmt: skip
async def test_body_is_byte_identical_to_form_data(
    fields: list[tuple[str, str]], filenames: list[str], tmp_path: Path
) -> None:
    """Same boundary, same bytes as FormData: quoting of names and file names included."""
    path = tmp_path / "in.png"
    path.write_bytes(PNG)
    sources: list[Path | bytes] = [PNG, path]
    files = [
        FilePart("images", sources[i % 2], name, "image/png", len(PNG))
        for i, name in enumerate(filenames)
    ]
    body = Body(fields=fields, files=files)
    ours = _MultipartBody(body, boundary="0123abcd")
    out = _Writer()
    await ours.write(out)
    expected = await _form_data_bytes(body, "0123abcd")
    assert b"".join(out.chunks) == expected
    assert ours.size == len(expected)
    assert ours.content_type == "multipart/form-data; boundary=0123abcd"


async def test_an_edit_goes_out_in_three_writes() -> None:
    """The text parts and the file's head in one write, the file, then the closing boundary."""
    body = Body(
        fields=[("prompt", "p"), ("model", "m")],
        files=[FilePart("image", PNG, "input.png", "image/png", len(PNG))],
    )
    out = _Writer()
    await _MultipartBody(body).write(out)
    assert len(out.chunks) == 3
    assert out.chunks[1] == PNG
    assert out.chunks[0].count(b"Content-Disposition") == 3
    assert out.chunks[2].endswith(b"--\r\n")


async def test_a_file_object_is_read_from_its_start_each_time() -> None:
    """A replayed body rewinds the caller's file object to where the part starts."""
    fh = io.BytesIO(b"junk" + PNG)
    body = Body(files=[FilePart("image", fh, "input.png", "image/png", len(PNG), start=4)])
    first, second = _Writer(), _Writer()
    await _MultipartBody(body, boundary="b").write(first)
    await _MultipartBody(body, boundary="b").write(second)
    assert first.chunks == second.chunks
    assert PNG in b"".join(first.chunks)


def test_each_body_has_its_own_boundary() -> None:
    """A random boundary per body (32 hex digits, as FormData's)."""
    body = Body(files=[FilePart("image", PNG, "input.png", "image/png", len(PNG))])
    a, b = _MultipartBody(body), _MultipartBody(body)
    assert a.content_type != b.content_type
    boundary = a.content_type.rpartition("=")[2]
    assert len(boundary) == 32 and int(boundary, 16) >= 0


@pytest.mark.parametrize(
    ("name", "value"), [("na\u00efve", "x"), ("line\nbreak", "x"), ("prompt", "lone \ud800")]
)
def test_a_field_it_cannot_encode_is_a_local_error(name: str, value: str) -> None:
    """A non-ASCII field name (FormData trips on it) or a lone surrogate: refused, unsent."""
    body = Body(fields=[(name, value)], files=[FilePart("image", PNG, "a.png", "image/png", 9)])
    with pytest.raises(ValidationError) as info:
        _MultipartBody(body)
    assert "nothing was sent" in str(info.value)


async def test_extra_body_with_a_bad_field_name_sends_nothing(loopback: Loopback) -> None:
    """Through the client: a ValidationError, and the server saw no request."""
    async with client_for(loopback) as client:
        with pytest.raises(ValidationError):
            await client.images.edit(PNG, "p", extra_body={"caf\u00e9": "1"})
    assert loopback.seen == []


async def test_a_file_name_with_a_line_break_cannot_inject_a_header() -> None:
    """The client sends such a name as ``image.<ext>`` (wire_filename); if one reached the
    encoder anyway, it would be percent-encoded, never a raw line break (FormData refuses it)."""
    evil = "evil\r\nX-Injected: 1.png"
    body = Body(files=[FilePart("image", PNG, evil, "image/png", len(PNG))])
    out = _Writer()
    await _MultipartBody(body, boundary="b").write(out)
    head = out.chunks[0]
    assert head.count(b"\r\n") == 4  # boundary, Content-Type, Content-Disposition, blank line
    assert b'filename="evil%0D%0AX-Injected%3A%201.png"' in head


async def test_a_file_whose_size_changed_stops_the_body_before_its_first_byte(
    tmp_path: Path,
) -> None:
    """Every file is opened and its size compared before the body starts: nothing is written,
    and ``failure`` holds the error the transport raises."""
    path = tmp_path / "in.png"
    path.write_bytes(PNG)
    body = Body(files=[FilePart("image", path, "in.png", "image/png", len(PNG) + 1)])
    payload = _MultipartBody(body)
    out = _Writer()
    with pytest.raises(ValidationError, match="when it was checked") as info:
        await payload.write(out)
    assert out.chunks == [] and payload.failure is info.value


BIG = png_bytes(300, 300, extra=400_000)  # over 256 KB: read in chunks on a worker thread


@pytest.mark.parametrize("kind", ["open file", "BytesIO", "bz2 file"])
async def test_one_file_object_uploads_to_many_edits_at_once(
    loopback: Loopback, tmp_path: Path, kind: str
) -> None:
    """One image, many prompts, one open file object: every upload is the whole file, byte for
    byte (they used to share its position: each read where another had moved it, bodies came
    out short and hung until the read timeout). An open file's position is left alone."""
    import asyncio
    import hashlib

    from aiohttp import web

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    loopback.handler = answer
    path = tmp_path / "big.png"
    path.write_bytes(BIG)
    if kind == "bz2 file":  # its fileno() is the compressed file's: never read from that
        path = tmp_path / "big.png.bz2"
        path.write_bytes(bz2.compress(BIG))
    opened: dict[str, Callable[[], IO[bytes]]] = {
        "open file": lambda: open(path, "rb"),  # noqa: SIM115
        "BytesIO": lambda: io.BytesIO(BIG),
        "bz2 file": lambda: bz2.open(path, "rb"),  # noqa: SIM115
    }
    with opened[kind]() as fh:
        fh.seek(0)
        # A short read timeout: the old failure was a hang until it.
        client = InpaintClient(
            auth=BearerAuth("k" * 16), base_url=loopback.base_url, read_timeout=5
        )
        async with client:
            await asyncio.gather(*(client.images.edit(fh, f"prompt {i}") for i in range(6)))
        if kind == "open file":
            assert fh.tell() == 0
    uploads = [seen["files"]["image"] for seen in loopback.seen]
    assert len(uploads) == 6
    assert {(u["size"], u["sha256"]) for u in uploads} == {
        (len(BIG), hashlib.sha256(BIG).hexdigest())
    }


async def test_a_file_object_closed_before_an_attempt_is_a_local_error(tmp_path: Path) -> None:
    """Closed between the check and the send: a ValidationError naming it, nothing written."""
    fh = io.BytesIO(BIG)
    body = Body(files=[FilePart("image", fh, "big.png", "image/png", len(BIG))])
    fh.close()
    out = _Writer()
    with pytest.raises(ValidationError, match="cannot be read any more"):
        await _MultipartBody(body).write(out)
    assert out.chunks == []
