"""Fixtures for the batch tests: a fast emulator, a small input image, journal readers."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image

from inpaint_async import RetryPolicy


def small_png(shade: int = 40) -> bytes:
    """A 256x256 PNG: the smallest image the local checks accept."""
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (200, shade, 40)).save(buf, format="PNG")
    return buf.getvalue()


PNG = small_png()
FAST_RETRY = RetryPolicy(initial_wait=0.01, max_wait=0.05)


def journal_records(path: Path) -> list[dict[str, Any]]:
    """Every record of a journal file, in order."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def decodes(path: Path) -> bool:
    """Whether a file is a complete image."""
    try:
        with Image.open(path) as img:
            img.load()
    except (OSError, ValueError):
        return False
    return True
