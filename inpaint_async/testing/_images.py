"""Pillow work for the emulator: decode, size the output, draw a visible edit, encode.

Every function here is CPU-bound and synchronous; the app runs them in a thread executor.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps

from .. import _constants as C

__all__ = [
    "BadImage",
    "Decoded",
    "background_remove",
    "decode",
    "edit",
    "output_size",
    "sniff_content_type",
    "upscale",
]

TIER_LONG_SIDE = {"1K": 1024, "2K": 2048, "4K": 4096}
UPSCALE_MAX_PIXELS = 16_777_216
_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}


class BadImage(Exception):
    """An input the server rejects: `status` 400 or 422, with the API's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Decoded:
    image: Image.Image
    width: int
    height: int


def decode(data: bytes, *, too_large_status: int = 422) -> Decoded:
    """Open and fully decode an image, enforcing the API's pixel bounds."""
    if not data:
        raise BadImage(400, "Image is empty")
    if data.lstrip()[:5].lower() in (b"<?xml", b"<svg ") or b"<svg" in data[:256].lower():
        raise BadImage(400, "SVG images are not supported")
    try:
        img: Image.Image = Image.open(io.BytesIO(data))
        width, height = img.size
    except Image.DecompressionBombError:
        raise BadImage(too_large_status, "Image exceeds the maximum pixel count") from None
    except Exception:  # Pillow raises many types for garbage input
        raise BadImage(400, "Corrupted or unsupported image") from None
    if width * height > C.MAX_PIXELS:
        raise BadImage(too_large_status, "Image exceeds the maximum size of 7680x4320 pixels")
    if width * height < C.MIN_PIXELS or min(width, height) < C.MIN_SIDE:
        raise BadImage(
            400,
            f"Image is too small: at least {C.MIN_PIXELS} pixels and {C.MIN_SIDE} px a side",
        )
    try:
        img.load()
        img = ImageOps.exif_transpose(img)
    except Exception:  # truncated or corrupt pixel data
        raise BadImage(400, "Corrupted or unsupported image") from None
    return Decoded(img, width, height)


def _ratio(text: str) -> float:
    w, _, h = text.partition(":")
    return int(w) / int(h)


def output_size(
    input_size: tuple[int, int],
    *,
    aspect_ratio: str | None,
    supported: Sequence[str],
    tier: str,
    max_side: int | None,
) -> tuple[int, int]:
    """Output pixels for a tier and ratio; `auto` picks the supported ratio closest to the input."""
    in_w, in_h = input_size
    input_ratio = in_w / in_h
    if aspect_ratio and aspect_ratio != "auto":
        ratio = _ratio(aspect_ratio)
    else:
        fixed = [r for r in supported if r != "auto"]
        ratio = (
            min((_ratio(r) for r in fixed), key=lambda r: abs(math.log(r / input_ratio)))
            if fixed
            else input_ratio
        )
    long_side = TIER_LONG_SIDE.get(tier, 1024)
    if max_side is not None:
        long_side = min(long_side, max_side)
    if ratio >= 1:
        w, h = long_side, round(long_side / ratio)
    else:
        w, h = round(long_side * ratio), long_side
    return max(w, 8), max(h, 8)


def _colour(prompt: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(prompt.encode("utf-8")).digest()
    return digest[0], digest[1], digest[2]


def encode(img: Image.Image, fmt: str) -> bytes:
    name = _FORMATS[fmt]
    if name == "JPEG" and img.mode != "RGB":
        img = img.convert("RGB")
    buf = io.BytesIO()
    # Speed over size: the emulator's outputs are throwaway.
    if name == "PNG":
        img.save(buf, name, compress_level=1)
    elif name == "JPEG":
        img.save(buf, name, quality=85)
    else:
        img.save(buf, name, quality=80, method=0)
    return buf.getvalue()


def edit(
    base: Image.Image,
    layers: Sequence[Image.Image],
    *,
    prompt: str,
    size: tuple[int, int],
    fmt: str,
    blur: bool,
) -> bytes:
    """Fit the base to `size`, blend in extra layers, then draw a prompt-derived mark."""
    out = ImageOps.fit(base.convert("RGB"), size, Image.Resampling.BILINEAR)
    for layer in layers:
        fitted = ImageOps.fit(layer.convert("RGB"), size, Image.Resampling.BILINEAR)
        out = Image.blend(out, fitted, 0.3)
    w, h = size
    colour = _colour(prompt)
    tint = Image.new("RGB", size, colour)
    out = Image.blend(out, tint, 0.25)
    draw = ImageDraw.Draw(out)
    digest = hashlib.sha256(prompt.encode("utf-8")).digest()
    # A band whose place depends on the prompt: two prompts give visibly different outputs.
    x0 = digest[3] * w // 512
    y0 = digest[4] * h // 512
    draw.rectangle((x0, y0, x0 + w // 2, y0 + h // 2), outline=colour, width=max(2, w // 64))
    draw.rectangle((0, 0, w - 1, max(4, h // 32)), fill=colour)
    if blur:
        out = out.filter(ImageFilter.GaussianBlur(radius=max(4, w // 32)))
    return encode(out, fmt)


def upscale(img: Image.Image, *, scale: float, max_side: int | None) -> tuple[bytes, float]:
    """Upscale by `scale`, reduced so the output fits 16,777,216 px; returns (png, scale used)."""
    w, h = img.size
    effective = min(scale, math.sqrt(UPSCALE_MAX_PIXELS / (w * h)))
    if effective < 1.0:
        raise BadImage(400, "Image is too large to upscale")
    out_w, out_h = round(w * effective), round(h * effective)
    if max_side is not None and max(out_w, out_h) > max_side:
        shrink = max_side / max(out_w, out_h)
        out_w, out_h = max(1, round(out_w * shrink)), max(1, round(out_h * shrink))
    out = img.convert("RGB").resize((out_w, out_h), Image.Resampling.BILINEAR)
    return encode(out, "png"), effective


def background_remove(img: Image.Image, *, max_side: int | None) -> bytes:
    """PNG with alpha: pixels close to the corner colour become transparent."""
    rgb = img.convert("RGB")
    if max_side is not None and max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side))
    corner = rgb.getpixel((0, 0))
    assert isinstance(corner, tuple)
    background = Image.new("RGB", rgb.size, corner[:3])
    diff = ImageOps.grayscale(ImageChops.difference(rgb, background))
    alpha = diff.point(lambda v: 0 if v < 24 else 255)
    out = rgb.convert("RGBA")
    out.putalpha(alpha)
    return encode(out, "png")


def sniff_content_type(data: bytes) -> str:
    """The Content-Type of encoded output, from its magic bytes."""
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"
