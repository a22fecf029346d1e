"""Turn what a caller passes as an image into something replayable, checking it locally first.

Accepted: ``bytes``, a path (``str`` / ``os.PathLike``), a binary file object, an ``http(s)://`` URL,
a raw base64 string or a ``data:`` URI. Paths, file objects and bytes travel as multipart file parts
(never base64-encoded): a caller's bytes are sent without a copy, files over 256 KB are streamed in
chunks and never read whole, smaller files are read once when prepared; URLs, base64 and data URIs
travel as JSON strings. Every local mistake raises :class:`ValidationError` before anything is sent.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ._constants import MAX_IMAGE_BYTES, MAX_PIXELS, MIN_PIXELS, MIN_SIDE
from ._exceptions import ValidationError
from ._files import open_regular_fd, position_lock, read_fd
from ._wire import FilePart, JSONFragment

__all__ = [
    "ImageInput",
    "PreparedImage",
    "prepare_image",
    "pure_base64",
    "sniff_head",
    "sniff_image_type",
]

ImageInput = bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes]

_HEAD = 64 * 1024
_SMALL_HEAD = 4096
#: Files up to this size are read whole when prepared (the transport reads them inline anyway).
_READ_WHOLE = 256 * 1024
_B64_RE = re.compile(r"^[A-Za-z0-9+/\r\n]+={0,2}$")
_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/heic": "heic",
        "image/avif": "avif"}  # fmt: skip
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}


@dataclass(frozen=True, slots=True)
class PreparedImage:
    """An image ready to send: either a JSON string value or a multipart file part.

    ``json_raw`` is ``json_value`` as ASCII bytes when it was proven to need no JSON escaping
    (pure base64, or a data URI around it): the body splices it in as is.
    """

    json_value: str | None = None
    part: FilePart | None = None
    json_raw: bytes | None = None

    @property
    def json_item(self) -> str | JSONFragment | None:
        """The value to put in a JSON body: a spliceable fragment when proven safe."""
        if self.json_raw is not None:
            return JSONFragment(b'"' + self.json_raw + b'"')
        return self.json_value


def sniff_image_type(head: bytes) -> str | None:
    """The MIME type from an image's magic bytes, or ``None`` when it is not a supported image."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "image/avif"
        if brand in _HEIF_BRANDS:
            return "image/heic"
    return None


def image_size(head: bytes, mime: str) -> tuple[int, int] | None:
    """Width and height read from the header bytes (PNG, JPEG, WebP), or ``None`` if unknown."""
    try:
        if mime == "image/png" and len(head) >= 24 and head[12:16] == b"IHDR":
            w, h = struct.unpack(">II", head[16:24])
            return int(w), int(h)
        if mime == "image/webp":
            return _webp_size(head)
        if mime == "image/jpeg":
            return _jpeg_size(head)
    except (struct.error, IndexError):
        return None
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8X" and len(head) >= 30:
        w = int.from_bytes(head[24:27], "little") + 1
        h = int.from_bytes(head[27:30], "little") + 1
        return w, h
    if chunk == b"VP8 " and len(head) >= 30:
        w, h = struct.unpack("<HH", head[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and len(head) >= 25:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(head):
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = struct.unpack(">H", head[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE):
            h, w = struct.unpack(">HH", head[i + 5 : i + 9])
            return int(w), int(h)
        i += 2 + length
    return None


def _check(head: bytes, size: int, what: str | Callable[[], str], param: str) -> str:
    """The image type of ``head``; a ValidationError naming ``what`` (built only then, when it is
    a callable) when the image cannot be sent."""
    mime = sniff_image_type(head)
    if mime is None:
        raise ValidationError(
            f"{_text(what)} is not a supported image (PNG, JPEG, WebP, HEIC or AVIF, by its first bytes)",
            param=param,
        )
    if size == 0:
        raise ValidationError(f"{_text(what)} is empty", param=param)
    if size >= MAX_IMAGE_BYTES:
        raise ValidationError(
            f"{_text(what)} is {size / 1_048_576:.1f} MB; the API takes images under 25 MB",
            param=param,
        )
    dims = image_size(head, mime)
    if dims is not None:
        w, h = dims
        if w < MIN_SIDE or h < MIN_SIDE or w * h < MIN_PIXELS:
            raise ValidationError(
                f"{_text(what)} is {w}×{h} px; the API needs at least 65,536 pixels and 64 px a side",
                param=param,
            )
        if w * h > MAX_PIXELS:
            raise ValidationError(
                f"{_text(what)} is {w}×{h} px; the API takes at most 33,177,600 pixels (7680×4320)",
                param=param,
            )
    return mime


def _text(what: str | Callable[[], str]) -> str:
    return what() if callable(what) else what


def _filename(stem: str, mime: str) -> str:
    return f"{stem}.{_EXT.get(mime, 'bin')}"


def wire_filename(name: str, mime: str) -> str:
    """The file name sent in the multipart part: the real one when a header can carry it, else
    ``image.<ext>``. A name that is not valid UTF-8 (undecodable bytes from the file system) or
    holds a control character or a quote cannot; the server only needs the extension."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return _filename("image", mime)
    if not name or len(name) > 255 or any(ord(c) < 32 or c in '"\\\x7f' for c in name):
        return _filename("image", mime)
    return name


def _display(path: Path) -> str:
    """A path for a message: undecodable bytes and control characters shown escaped."""
    return repr(str(path))[1:-1]


def _from_path(path: Path, field: str, param: str) -> PreparedImage:
    data: bytes | None = None
    try:
        # Never blocks (a FIFO is refused, not waited on) and refuses anything but a file.
        # Plain descriptor reads: no buffered file object to build for one read.
        fd, size = open_regular_fd(path)
        try:
            if size <= _READ_WHOLE:
                # One open and one read for the check and the upload: cheaper than opening the
                # file again for each attempt (the bytes are kept for the retries). The read asks
                # for the size fstat gave and reads to the end (a file that grew since is read
                # as it is now): asking a buffered reader for 256 KB made every read allocate,
                # fault in and shrink a 256 KB buffer.
                data = read_fd(fd, size + 1, _READ_WHOLE + 1)
                size = len(data)
                head = sniff_head(data)
            else:
                head = read_fd(fd, _SMALL_HEAD, _SMALL_HEAD)
                if head.startswith(b"\xff\xd8") and image_size(head, "image/jpeg") is None:
                    head += read_fd(fd, _HEAD - len(head), _HEAD - len(head))  # JPEG: after EXIF
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise ValidationError(f"{param}: no such file: {_display(path)}", param=param) from None
    except IsADirectoryError:
        raise ValidationError(f"{param}: {_display(path)} is not a file", param=param) from None
    except OSError as exc:
        if exc.errno == 22:
            raise ValidationError(
                f"{param}: {_display(path)} is not a regular file (a pipe, device or socket "
                "cannot be sent)",
                param=param,
            ) from None
        raise ValidationError(
            f"{param}: cannot read {_display(path)}: {exc.strerror}", param=param
        ) from None
    except ValueError:  # an embedded NUL byte
        raise ValidationError(
            f"{param}: {_display(path)} is not a valid path", param=param
        ) from None
    mime = _check(head, size, lambda: f"{param} file {_display(Path(path.name))!r}", param)
    source: Path | bytes = path if data is None else data
    return PreparedImage(part=FilePart(field, source, wire_filename(path.name, mime), mime, size))


def _from_fileobj(fh: IO[bytes], field: str, param: str) -> PreparedImage:
    name = getattr(fh, "name", None)
    stem = Path(name).name if isinstance(name, str) and name else None
    try:
        with position_lock(fh):  # an upload of the same object may be reading it in a thread
            start = fh.tell()
            head = fh.read(_HEAD)
            end = fh.seek(0, os.SEEK_END)
            fh.seek(start)
    except (OSError, AttributeError, ValueError):
        # Not seekable (a pipe, a socket): it cannot be replayed, so it is read into memory.
        data = fh.read(MAX_IMAGE_BYTES + 1)
        return _from_bytes(bytes(data), field, param)
    if not isinstance(head, bytes):
        raise ValidationError(
            f"{param}: the file object must be opened in binary mode", param=param
        )
    mime = _check(head, end - start, f"{param} file object", param)
    filename = wire_filename(
        stem if stem and "." in stem else _filename(stem or "image", mime), mime
    )
    return PreparedImage(part=FilePart(field, fh, filename, mime, end - start, start))


def sniff_head(data: bytes) -> bytes:
    """The first bytes of ``data`` the type and size checks need: 4 KB, or 64 KB for a JPEG
    whose size marker follows EXIF data (copying 64 KB of every image costs microseconds)."""
    head = data[:_SMALL_HEAD]
    if head.startswith(b"\xff\xd8") and image_size(head, "image/jpeg") is None:
        head = data[:_HEAD]
    return head


def _from_bytes(data: bytes, field: str, param: str) -> PreparedImage:
    head = sniff_head(data)
    mime = _check(head, len(data), f"{param} bytes", param)
    return PreparedImage(part=FilePart(field, data, _filename("image", mime), mime, len(data)))


# Base64's alphabet and its padding map to "A", every other byte to NUL: one translate and one
# memchr tell whether a string is pure base64 (about half the cost of JSON-escaping it).
_B64_TABLE = bytes(
    65 if chr(i).isascii() and (chr(i).isalnum() or chr(i) in "+/=") else 0 for i in range(256)
)


def pure_base64(text: str) -> bytes | None:
    """``text`` as ASCII bytes when it is pure base64 (the alphabet, then at most two ``=``).

    One pass over the string; whitespace, quotes or anything else give ``None``.
    """
    if not text.isascii():
        return None
    raw = text.encode("ascii")
    if b"\0" in raw.translate(_B64_TABLE):
        return None
    pad = 2 if raw.endswith(b"==") else 1 if raw.endswith(b"=") else 0
    if raw.find(b"=", 0, len(raw) - pad) != -1:
        return None
    return raw


def _json_safe_meta(meta: str) -> bool:
    """Whether a data URI's ``data:...;base64`` head can go into JSON unescaped."""
    return meta.isascii() and meta.isprintable() and '"' not in meta and "\\" not in meta


def _b64_head(text: str) -> bytes | None:
    sample = "".join(text[:4096].split())
    sample = sample[: len(sample) // 4 * 4]
    try:
        return base64.b64decode(sample, validate=True)
    except (binascii.Error, ValueError):
        return None


def _from_base64(text: str, param: str, what: str) -> None:
    head = _b64_head(text)
    if head is None:
        raise ValidationError(f"{what} is not valid base64", param=param)
    size = len(text) * 3 // 4
    _check(head, size, what, param)


def _is_existing_path(text: str) -> bool:
    try:
        return Path(text).exists()
    except (OSError, ValueError):  # name too long, NUL byte: not a path
        return False


def prepare_image(
    image: Any, *, field: str = "image", param: str = "image", allow_url: bool = True
) -> PreparedImage:
    """Classify and check one image argument; raise :class:`ValidationError` on a local mistake."""
    if isinstance(image, bytes | bytearray | memoryview):
        return _from_bytes(bytes(image), field, param)
    if isinstance(image, os.PathLike):
        return _from_path(Path(image), field, param)
    if isinstance(image, str):
        text = image.strip()
        lower = text[:16].lower()
        if lower.startswith(("http://", "https://")):
            if not allow_url:
                raise ValidationError(f"{param}: this endpoint does not take URLs", param=param)
            return PreparedImage(json_value=text)
        if lower.startswith("data:"):
            meta, sep, payload = text.partition(",")
            if not sep or ";base64" not in meta.lower():
                raise ValidationError(f"{param}: a data URI must be base64-encoded", param=param)
            _from_base64(payload, param, f"{param} data URI")
            raw = pure_base64(payload) if _json_safe_meta(meta) else None
            if raw is not None:
                return PreparedImage(json_value=text, json_raw=meta.encode() + b"," + raw)
            return PreparedImage(json_value=text)
        if len(text) < 4096 and not text.startswith("iVBOR") and _is_existing_path(text):
            return _from_path(Path(text), field, param)
        if len(text) >= 64 and _B64_RE.match(text[:8192]):
            _from_base64(text, param, f"{param} base64 string")
            raw = pure_base64(text)
            if raw is not None:  # the common case: no whitespace to strip, nothing to escape
                return PreparedImage(json_value=text, json_raw=raw)
            return PreparedImage(json_value="".join(text.split()))
        if len(text) < 4096:
            raise ValidationError(f"{param}: no such file: {text}", param=param)
        raise ValidationError(
            f"{param}: a string must be a path, an http(s) URL, base64 or a data URI", param=param
        )
    if hasattr(image, "read"):
        return _from_fileobj(image, field, param)
    raise ValidationError(
        f"{param}: expected bytes, a path, a binary file, a URL, base64 or a data URI; "
        f"got {type(image).__name__}",
        param=param,
    )
