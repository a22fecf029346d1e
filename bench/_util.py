"""Shared benchmark plumbing: start the loopback server process, generate input files."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def loopback_server(body_size: int) -> Iterator[str]:
    """Start ``bench._server`` in a subprocess; yield its base URL (``…/api/v1``)."""
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        root = Path(__file__).resolve().parent.parent
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench._server", str(port_file), str(body_size)],
            cwd=root,
        )
        try:
            deadline = time.monotonic() + 20
            while not port_file.exists() or not port_file.read_text():
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the loopback server did not start")
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port_file.read_text()}/api/v1"
        finally:
            proc.terminate()
            proc.wait(10)


def png_file(folder: Path, name: str, size: int) -> Path:
    """A file of ``size`` bytes that starts like a 512×512 PNG (enough for the local checks)."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 512, 512, 8, 2, 0, 0, 0)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    head = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + crc
    path = folder / name
    with open(path, "wb") as fh:
        fh.write(head)
        fh.write(os.urandom(size - len(head)))
    return path


def cpu_seconds() -> float:
    """User + system CPU time of this process, all its threads (``CLOCK_PROCESS_CPUTIME_ID``).

    Nanosecond resolution: ``os.times()`` counts clock ticks (10 ms), which quantised a run of
    2,000 edits (about 0.4 s) by 2.5 %.
    """
    return time.process_time()
