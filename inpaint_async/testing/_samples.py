"""Sample images for tests: small, distinct, valid PNG / JPEG / WebP files drawn with Pillow."""

from __future__ import annotations

import io
import os
from pathlib import Path

__all__ = ["sample_image", "sample_images", "write_sample_image"]

_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}


def _pillow() -> object:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - depends on the install
        raise ImportError(
            "inpaint_async.testing needs Pillow to draw images: "
            "pip install 'inpaint-async[testing]'"
        ) from None
    return Image


def sample_image(
    width: int = 256, height: int = 256, *, seed: int = 0, format: str = "png"
) -> bytes:
    """The bytes of a small image that differs for each ``seed``.

    Args:
        width: Pixels (the API wants at least 65,536 pixels in all: 256 x 256 is the smallest square).
        height: Pixels.
        seed: Picks the colours and shapes, so two seeds give two different images.
        format: ``png`` (default), ``jpeg``/``jpg`` or ``webp``.
    """
    _pillow()
    from PIL import Image, ImageDraw

    fmt = _PIL_FORMATS.get(format.lower())
    if fmt is None:
        raise ValueError(f"format is png, jpeg or webp, not {format!r}")
    hue = (seed * 37) % 255
    image = Image.new("RGB", (width, height), (hue, 120, 255 - hue))
    draw = ImageDraw.Draw(image)
    inset = min(width, height) // 5
    shift = (seed * 3) % max(1, inset)
    draw.ellipse(
        (inset + shift, inset, width - inset, height - inset - shift), fill=(255 - hue, 220, hue)
    )
    draw.rectangle((0, height * 4 // 5, width, height), fill=(40, (90 + seed * 10) % 255, 40))
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def write_sample_image(
    path: str | os.PathLike[str], width: int = 256, height: int = 256, *, seed: int = 0
) -> Path:
    """Write :func:`sample_image` to ``path`` in the format its extension names; returns the path."""
    target = Path(path)
    fmt = target.suffix.lower().lstrip(".") or "png"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(sample_image(width, height, seed=seed, format=fmt))
    return target


def sample_images(
    folder: str | os.PathLike[str], count: int, *, suffix: str = ".png", size: int = 256
) -> list[Path]:
    """Write ``count`` distinct square images ``sample-01.png`` ... into ``folder``."""
    return [
        write_sample_image(Path(folder) / f"sample-{i + 1:02d}{suffix}", size, size, seed=i)
        for i in range(count)
    ]
