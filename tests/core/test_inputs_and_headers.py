"""Pure units: magic-byte sniffing, header dimensions, input classification, header parsing."""

from __future__ import annotations

import base64
import io
import os
import struct
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inpaint_async import ValidationError
from inpaint_async._headers import (
    parse_bool,
    parse_decimal,
    parse_reset,
    parse_retry_after,
    rate_limit_state,
)
from inpaint_async._inputs import image_size, prepare_image, sniff_image_type

from .helpers import png_bytes


def jpeg_head(width: int, height: int, exif: int = 0) -> bytes:
    """A JPEG prefix: SOI, an APP1 segment of ``exif`` bytes, then a SOF0 with the size."""
    app1 = b"\xff\xe1" + struct.pack(">H", exif + 2) + b"\0" * exif
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\0" * 9
    return b"\xff\xd8" + app1 + sof + b"\xff\xda" + b"\0" * 64


def webp_vp8x(width: int, height: int) -> bytes:
    body = b"VP8X" + struct.pack("<I", 10) + b"\0\0\0\0" + (width - 1).to_bytes(3, "little")
    body += (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body + b"\0" * 32


def webp_vp8l(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    return b"RIFF\0\0\0\0WEBPVP8L" + b"\0\0\0\0" + b"\x2f" + bits.to_bytes(4, "little") + b"\0" * 16


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (png_bytes(), "image/png"),
        (jpeg_head(400, 300), "image/jpeg"),
        (webp_vp8x(400, 300), "image/webp"),
        (b"\0\0\0\x18ftypavif" + b"\0" * 16, "image/avif"),
        (b"\0\0\0\x18ftypheic" + b"\0" * 16, "image/heic"),
        (b"GIF89a" + b"\0" * 16, None),
        (b"<svg xmlns=", None),
        (b"", None),
    ],
)
def test_sniff(head: bytes, mime: str | None) -> None:
    """Magic bytes decide the type; GIF and SVG are not accepted by the API."""
    assert sniff_image_type(head) == mime


def test_dimensions_from_headers() -> None:
    """Sizes are read from PNG, JPEG (past an EXIF block) and both WebP flavours."""
    assert image_size(png_bytes(320, 200), "image/png") == (320, 200)
    assert image_size(jpeg_head(640, 480, exif=5000), "image/jpeg") == (640, 480)
    assert image_size(webp_vp8x(1000, 700), "image/webp") == (1000, 700)
    assert image_size(webp_vp8l(512, 256), "image/webp") == (512, 256)
    assert image_size(b"\xff\xd8\xff", "image/jpeg") is None


def test_jpeg_size_found_after_a_large_exif_block(tmp_path: Path) -> None:
    """A JPEG whose size marker sits beyond the first 4 KB is still checked."""
    p = tmp_path / "big-exif.jpg"
    p.write_bytes(jpeg_head(40, 40, exif=20_000))
    with pytest.raises(ValidationError, match="40×40"):
        prepare_image(p)


def test_webp_too_small_is_refused() -> None:
    """A 100×100 WebP has fewer than 65,536 pixels."""
    with pytest.raises(ValidationError, match="100×100"):
        prepare_image(webp_vp8x(100, 100))


def test_file_object_keeps_its_name_and_position() -> None:
    """A named file object keeps its file name; its start position is remembered for replay."""
    data = png_bytes()
    fh = io.BytesIO(b"junk" + data)
    fh.name = "/tmp/photo.png"  # type: ignore[attr-defined]
    fh.seek(4)
    prepared = prepare_image(fh)
    assert prepared.part is not None
    assert prepared.part.filename == "photo.png"
    assert (prepared.part.start, prepared.part.size) == (4, len(data))
    assert fh.tell() == 4


class Pipe(io.RawIOBase):
    """A readable stream that cannot seek (like a pipe)."""

    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        return self._buf.read(n)

    def tell(self) -> int:
        raise OSError("not seekable")


def test_unseekable_stream_is_read_into_memory() -> None:
    """A pipe cannot be replayed, so it is read (bounded by the size limit) into memory."""
    prepared = prepare_image(Pipe(png_bytes()))
    assert prepared.part is not None and isinstance(prepared.part.source, bytes)


def test_directory_is_refused(tmp_path: Path) -> None:
    """A folder is not an image file."""
    with pytest.raises(ValidationError, match="not a file"):
        prepare_image(tmp_path)


def test_url_refused_where_not_allowed() -> None:
    """Endpoints that do not fetch URLs refuse them locally."""
    with pytest.raises(ValidationError, match="URL"):
        prepare_image("https://example.org/a.png", allow_url=False)


def test_raw_base64_with_whitespace_is_normalised() -> None:
    """Line-wrapped base64 is accepted and sent without the whitespace."""
    b64 = base64.encodebytes(png_bytes()).decode()
    prepared = prepare_image(b64)
    assert prepared.json_value is not None and "\n" not in prepared.json_value


def test_base64_of_a_non_image_is_refused() -> None:
    """Base64 that decodes to text is not an image."""
    with pytest.raises(ValidationError, match="not a supported image"):
        prepare_image(base64.b64encode(b"hello world " * 20).decode())


def test_data_uri_must_be_base64() -> None:
    """A data URI without ;base64 is refused."""
    with pytest.raises(ValidationError, match="base64"):
        prepare_image("data:image/png,abc")


def test_long_garbage_string_is_refused() -> None:
    """A long string that is no path, URL or base64 gets a message listing what is accepted."""
    with pytest.raises(ValidationError, match="must be a path"):
        prepare_image("@" * 5000)


def test_unreadable_file(tmp_path: Path) -> None:
    """A file we may not read is a ValidationError, not an OSError."""
    p = tmp_path / "secret.png"
    p.write_bytes(png_bytes())
    p.chmod(0)
    if os.access(p, os.R_OK):  # running as root: permissions do not apply
        pytest.skip("root can read anything")
    with pytest.raises(ValidationError, match="cannot read"):
        prepare_image(p)


# --- headers -------------------------------------------------------------------------------------

NOW = 1_780_000_000.0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1780000010000", NOW + 10),  # Unix ms (live API)
        ("1780000010", NOW + 10),  # Unix s (docs)
        ("10", NOW + 10),  # relative seconds
        ("soon", None),
        ("nan", None),
        ("-5", None),
        (None, None),
    ],
)
def test_parse_reset(raw: str | None, expected: float | None) -> None:
    """Reset values are read by magnitude; garbage gives None."""
    got = parse_reset(raw, NOW)
    assert (got.timestamp() if got else None) == expected


def test_retry_after_forms() -> None:
    """retry-after-ms wins, then seconds, then an HTTP date; garbage is ignored."""
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}, NOW) == 1.5
    assert parse_retry_after({"retry-after": "3"}, NOW) == 3.0
    assert parse_retry_after({"retry-after": "whenever"}, NOW) is None
    assert parse_retry_after({"retry-after-ms": "x", "retry-after": "-1"}, NOW) is None
    when = datetime.fromtimestamp(NOW + 20, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after({"retry-after": when}, NOW) == pytest.approx(20, abs=1)
    assert parse_retry_after({}, NOW) is None


def test_rate_limit_state_and_scalars() -> None:
    """The trio is parsed leniently; absent headers give None; booleans and decimals are strict."""
    assert rate_limit_state({}, time.time()) is None
    state = rate_limit_state({"x-ratelimit-remaining-requests": "3.0"}, NOW)
    assert state is not None and state.remaining == 3 and state.limit is None
    assert parse_bool("TRUE") and not parse_bool("yes") and not parse_bool(None)
    assert str(parse_decimal(" 4.230000 ")) == "4.230000"
    assert parse_decimal("Infinity") is None and parse_decimal("abc") is None
