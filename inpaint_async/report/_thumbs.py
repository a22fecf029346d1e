"""Thumbnails for the report, made with Pillow: bounded in size, cached by content, in parallel."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Thumb", "make_thumbnails", "prune_thumbnails"]

#: Pixels above which an image is not decoded for a thumbnail (Pillow's own bomb threshold).
MAX_PIXELS = 89_478_485


@dataclass(frozen=True, slots=True)
class Thumb:
    """A thumbnail file and the sizes a page needs to lay it out before it loads."""

    name: str
    width: int
    height: int
    source_width: int
    source_height: int


def _key(path: Path, size: int) -> str | None:
    try:
        st = path.stat()
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None  # a FIFO or a device would block the read
    # A path, its size and mtime identify the pixels well enough to reuse a thumbnail, so a
    # second report of the same 10,000 jobs only draws the new ones.
    ident = f"{os.path.abspath(path)}\0{st.st_size}\0{st.st_mtime_ns}\0{size}".encode()
    return hashlib.sha256(ident).hexdigest()[:24]


def _from_name(name: str) -> Thumb | None:
    """A thumbnail made earlier: its sizes are in its name (``KEY-WxH-SWxSH.fmt``)."""
    try:
        _, dims, source = name.rsplit(".", 1)[0].split("-")
        w, h = (int(n) for n in dims.split("x"))
        sw, sh = (int(n) for n in source.split("x"))
    except ValueError:
        return None
    return Thumb(name, w, h, sw, sh)


def _make_one(path: Path, folder: Path, size: int, fmt: str, made: dict[str, str]) -> Thumb | None:
    from PIL import Image

    key = _key(path, size)
    if key is None:
        return None
    if key in made and (thumb := _from_name(made[key])) is not None:
        return thumb  # reused without opening a file: a re-written report of 10,000 jobs is quick
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                source = img.size
                if source[0] * source[1] > MAX_PIXELS:
                    return None
                img.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, much faster
                frame = img.convert("RGBA" if "A" in img.getbands() or "transparency" in img.info
                                    else "RGB")  # fmt: skip
                frame.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=2.0)
                name = f"{key}-{frame.width}x{frame.height}-{source[0]}x{source[1]}.{fmt}"
                part = folder / f".{name}.{os.getpid()}.part"
                if fmt == "webp":
                    frame.save(part, format="WEBP", quality=72, method=2)
                else:
                    frame.save(part, format="PNG", optimize=True)
                os.replace(part, folder / name)
                return Thumb(name, frame.width, frame.height, *source)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning):  # fmt: skip
        return None


def make_thumbnails(
    paths: Iterable[Path], folder: Path, *, size: int = 256, workers: int | None = None
) -> dict[Path, Thumb | None]:
    """Make a thumbnail (at most ``size`` pixels a side) of each readable image into ``folder``.

    Returns each path's thumbnail, or ``None`` when the file is missing, not an image, or too
    large to decode safely. WebP (with alpha) when Pillow has it, else PNG. Threads: Pillow
    releases the GIL while it decodes and resizes.
    """
    from PIL import features

    folder.mkdir(parents=True, exist_ok=True)
    fmt = "webp" if features.check("webp") else "png"
    unique = list(dict.fromkeys(paths))
    if not unique:
        return {}
    made = {
        name.split("-", 1)[0]: name
        for name in os.listdir(folder)
        if name.endswith(f".{fmt}") and not name.startswith(".")
    }
    count = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=count) as pool:
        results = pool.map(lambda p: _make_one(p, folder, size, fmt, made), unique)
        return dict(zip(unique, results, strict=True))


_OURS = re.compile(r"[0-9a-f]{24}-\d+x\d+-\d+x\d+\.(?:webp|png)")


def prune_thumbnails(folder: Path, keep: Iterable[str]) -> int:
    """Delete the thumbnails in ``folder`` that the report no longer shows (images that changed or
    left the journal); return how many. Only files named like ours are touched."""
    wanted = set(keep)
    removed = 0
    for name in os.listdir(folder):
        if name not in wanted and _OURS.fullmatch(name):
            (folder / name).unlink(missing_ok=True)
            removed += 1
    return removed
