"""Peak RSS for 64 concurrent 20 MB uploads streamed from disk, with ``output=`` to disk.

    python -m bench.memory [--uploads 64] [--mb 20]

Each edit uploads its own 20 MB file and the loopback server (another process) answers with a 20 MB
body, which the client streams to disk with ``output=``. Prints the client's peak RSS and its RSS before
the run. Target: peak ≤ 150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
from pathlib import Path

from ._util import loopback_server, png_file


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _run(base: str, files: list[Path], out_dir: Path) -> None:
    from inpaint_async import BearerAuth, InpaintClient

    async with InpaintClient(auth=BearerAuth("bench-key"), base_url=base) as client:

        async def one(i: int, src: Path) -> None:
            result = await client.images.edit(
                src, "add a red hat", output=out_dir / f"out-{i}.png",
                extra_headers={"x-bench": "1"},
            )  # fmt: skip
            assert result.path is not None and result.path.stat().st_size > 0

        await asyncio.gather(*(one(i, f) for i, f in enumerate(files)))


def run(uploads: int = 64, mb: int = 20) -> dict[str, float]:
    size = mb * 1024 * 1024
    with tempfile.TemporaryDirectory() as tmp, loopback_server(size) as base:
        folder = Path(tmp)
        files = [png_file(folder, f"in-{i}.png", size - 1024) for i in range(uploads)]
        out_dir = folder / "out"
        out_dir.mkdir()
        import inpaint_async  # noqa: F401  (imports count in the baseline, not the peak)

        before = _rss_mb()
        asyncio.run(_run(base, files, out_dir))
        peak = _rss_mb()
        written = sum(p.stat().st_size for p in out_dir.iterdir())
    return {
        "uploads": uploads,
        "upload_mb_each": mb,
        "bytes_streamed_to_disk_mb": round(written / 1_048_576, 1),
        "rss_before_mb": round(before, 1),
        "peak_rss_mb": round(peak, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=64)
    parser.add_argument("--mb", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(run(args.uploads, args.mb), indent=2))


if __name__ == "__main__":
    main()
