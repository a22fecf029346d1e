"""Small builders shared by the core tests: valid images made at runtime, a recording auth."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Mapping


def png_bytes(width: int = 300, height: int = 300, extra: int = 0) -> bytes:
    """A valid PNG of the given size (solid colour), optionally padded with a tEXt chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + b"\x80\x40\x20" * width for _ in range(height))
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 1))
    if extra:
        body += chunk(b"tEXt", b"pad\x00" + b"x" * extra)
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")


class RecordingAuth:
    """An Auth that counts how often it was asked and hands out a distinct token each time."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def headers(self, method: str, url: str) -> Mapping[str, str]:
        self.calls.append((method, url))
        return {"authorization": f"Bearer token-{len(self.calls)}"}


def file_like(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)
