"""Peak RSS for 64 concurrent 20 MB uploads streamed from disk, with ``output=`` to disk.

    python -m bench.memory [--uploads 64] [--mb 20] [--input path|bytes]

Each edit uploads its own 20 MB file and the loopback server (another process) answers with a 20 MB
body, which the client streams to disk with ``output=``. Prints the client's peak RSS and its RSS before
the run. Target: peak ≤ 150 MB.

With ``--input bytes`` the caller holds each image in memory as ``bytes`` (64 × 20 MB = 1,280 MB
of its own) and passes those: ``added_over_caller_mb`` is the peak RSS over the RSS once the
caller's bytes exist. Target: ≤ 150 MB (the client adds no copy of them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import tempfile
from pathlib import Path

from ._util import loopback_server, png_file


def _rss_mb() -> float:
    """Peak RSS since the start, or since the last ``_reset_peak()`` (Linux: VmHWM)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    """Start the peak over from the current RSS (Linux), so building the inputs is not counted."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


async def _run(base: str, files: list[Path] | list[bytes], out_dir: Path) -> None:
    from inpaint_async import BearerAuth, InpaintClient

    async with InpaintClient(auth=BearerAuth("bench-key"), base_url=base) as client:

        async def one(i: int, src: Path | bytes) -> None:
            result = await client.images.edit(
                src, "add a red hat", output=out_dir / f"out-{i}.png",
                extra_headers={"x-bench": "1"},
            )  # fmt: skip
            assert result.path is not None and result.path.stat().st_size > 0

        await asyncio.gather(*(one(i, f) for i, f in enumerate(files)))


def run(uploads: int = 64, mb: int = 20, input_kind: str = "path") -> dict[str, object]:
    size = mb * 1024 * 1024
    with tempfile.TemporaryDirectory() as tmp, loopback_server(size) as base:
        folder = Path(tmp)
        out_dir = folder / "out"
        out_dir.mkdir()
        import inpaint_async  # noqa: F401  (imports count in the baseline, not the peak)

        sources: list[Path] | list[bytes]
        if input_kind == "bytes":
            buf = bytearray(png_file(folder, "in.png", size - 1024).read_bytes())
            sources = []
            for i in range(uploads):  # 64 distinct 20 MB objects, as a caller would hold them
                buf[-1] = i % 256
                sources.append(bytes(buf))
            del buf
            _reset_peak()
        else:
            sources = [png_file(folder, f"in-{i}.png", size - 1024) for i in range(uploads)]
        before = _rss_mb()
        asyncio.run(_run(base, sources, out_dir))
        peak = _rss_mb()
        written = sum(p.stat().st_size for p in out_dir.iterdir())
    out: dict[str, object] = {
        "input": input_kind,
        "uploads": uploads,
        "upload_mb_each": mb,
        "bytes_streamed_to_disk_mb": round(written / 1_048_576, 1),
        "rss_before_mb": round(before, 1),
        "peak_rss_mb": round(peak, 1),
    }
    if input_kind == "bytes":
        out["added_over_caller_mb"] = round(peak - before, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=64)
    parser.add_argument("--mb", type=int, default=20)
    parser.add_argument("--input", choices=("path", "bytes"), default="path")
    args = parser.parse_args()
    print(json.dumps(run(args.uploads, args.mb, args.input), indent=2))


if __name__ == "__main__":
    main()
