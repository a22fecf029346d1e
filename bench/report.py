"""The report of a 10,000-job journal: how long it takes to write, and to open in Chromium.

    python -m bench.report [--jobs 10000] [--side 256] [--page-size 48] [--keep DIR]

(``--keep DIR`` builds the batch there and keeps it; a second run with the same DIR measures the
same batch again, its thumbnails already made.)

Builds a batch folder with ``--jobs`` input and output PNGs (``--side`` pixels a side; the files
are copies of a few drawn images, so each still gets its own thumbnail), a journal with 97 %
successes, 2 % failures and 1 % unknown outcomes, then measures:

- ``render_s``: journal to HTML string, no thumbnails (``read_report_data`` + ``render_html``);
- ``write_first_s``: ``write_report`` from scratch, thumbnails included; ``write_again_s``: the
  same with every thumbnail already made (a report re-written after a resume);
- ``html_mb`` and ``thumbs_mb``: the page and its thumbnail folder;
- ``write_first_cpu_s``: the CPU seconds of that first write, all threads (on a busy machine the
  wall time says more about the neighbours than about the report);
- with Chromium (``INPAINT_TEST_CHROMIUM`` or ``chromium`` on the PATH, driven by playwright):
  ``first_paint_s`` (navigation start to the first contentful paint), ``open_dom_s`` (to
  DOMContentLoaded), ``open_load_s`` (to the load event), ``open_screen_s`` (until every image
  on the first screen has decoded: the page renders while it is still parsing), ``gallery_screen_s``
  (the "Before and after" link, until the gallery's first screen of images decoded),
  ``next_page_s`` (one click on "Next page", likewise), ``filter_s`` (a filter typed, until all
  10,000 cards are searched).

Prints one JSON object. Target (issue 17): the page opens in a few seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

CHROME_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
# performance.now() once every image on screen has decoded (lazy images off screen are not asked
# for), else 0.
SCREEN_LOADED = """() => {
  const imgs = Array.from(document.images).filter(i => {
    const r = i.getBoundingClientRect();
    return r.bottom > 0 && r.top < innerHeight && r.width > 0;
  });
  return imgs.every(i => i.complete && i.naturalWidth > 0) ? performance.now() : 0;
}"""


def _drawn(side: int, seed: int) -> bytes:
    import io

    rng = random.Random(seed)
    img = Image.new("RGB", (side, side), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x, y = rng.randrange(side), rng.randrange(side)
        r = rng.randrange(side // 8, side // 3)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in range(3)))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def build_batch(root: Path, jobs: int, side: int) -> Path:
    """Inputs, outputs and a journal laid out like ``inpaint-async batch`` leaves them."""
    rng = random.Random(17)
    sources = [_drawn(side, i) for i in range(16)]
    inputs, out = root / "inputs", root / "out"
    inputs.mkdir(parents=True)
    out.mkdir()
    lines = []
    t = 1_767_225_600.0
    for i in range(jobs):
        name = f"img-{i:05d}.png"
        (inputs / name).write_bytes(sources[i % 16])
        roll = rng.random()
        state = "succeeded" if roll < 0.97 else "failed" if roll < 0.99 else "unknown"
        if state == "succeeded":
            (out / name).write_bytes(sources[(i + 5) % 16])
        sent = {"v": 1, "ts": round(t, 3), "job": f"j{i:024x}", "state": "sent",
                "output": str(out / name), "input": str(inputs / name),
                "prompt": f"make picture {i} look like a watercolour", "params": {"model": "m"}}  # fmt: skip
        t += rng.uniform(0.02, 0.2)
        done: dict[str, Any] = {"v": 1, "ts": round(t + rng.lognormvariate(0.5, 0.4), 3),
                                "job": sent["job"], "state": state, "output": sent["output"],
                                "request_id": f"{i:016x}-EMU"}  # fmt: skip
        if state == "succeeded":
            done.update(cost_usd="0.04", model="firered-image-edit")
        elif state == "failed":
            done["error"] = {"type": "ServerError", "status": 503, "message": "at capacity",
                             "retryable": True}  # fmt: skip
        else:
            done.update(cost_usd="0.04", reason="OutcomeUnknownError: 504 after sending")
        lines += [json.dumps(sent), json.dumps(done)]
    journal = out / "inpaint-journal.jsonl"
    journal.write_text("\n".join(lines) + "\n")
    return journal


def _size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


async def open_in_chromium(url: str, chromium: str) -> dict[str, float]:
    from playwright.async_api import async_playwright

    async def until_screen_loaded(page: Any) -> float:
        start = time.perf_counter()
        await page.wait_for_function(SCREEN_LOADED, polling=20, timeout=120_000)
        return time.perf_counter() - start

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROME_FLAGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await page.goto(url, wait_until="commit", timeout=120_000)
            screen = await page.wait_for_function(SCREEN_LOADED, polling=20, timeout=120_000)
            screen_ms = await screen.json_value()
            await page.wait_for_load_state("load", timeout=120_000)
            figures: dict[str, float] = await page.evaluate(
                """() => { const n = performance.getEntriesByType('navigation')[0];
                const paint = performance.getEntriesByName('first-contentful-paint')[0];
                return {dom: n.domContentLoadedEventEnd / 1000, load: n.loadEventEnd / 1000,
                        paint: paint ? paint.startTime / 1000 : -1}; }"""
            )
            figures["screen"] = screen_ms / 1000
            start = time.perf_counter()
            await page.locator('.toc a[href="#gallery"]').click()
            gallery = time.perf_counter() - start + await until_screen_loaded(page)
            start = time.perf_counter()
            await page.locator("#gallery .pager .next").click()
            next_page = time.perf_counter() - start + await until_screen_loaded(page)
            start = time.perf_counter()
            await page.locator("#gallery .pager input").fill("picture 4242 ")
            await page.wait_for_function(
                "document.querySelector('#gallery .pager .status').textContent.includes('matching')"
            )
            filtered = time.perf_counter() - start
        finally:
            await browser.close()
    return {
        "first_paint_s": round(figures["paint"], 2),
        "open_dom_s": round(figures["dom"], 2),
        "open_load_s": round(figures["load"], 2),
        "open_screen_s": round(figures["screen"], 2),
        "gallery_screen_s": round(gallery, 2),
        "next_page_s": round(next_page, 2),
        "filter_s": round(filtered, 2),
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--side", type=int, default=256, help="image side in pixels")
    parser.add_argument("--page-size", type=int, default=48)
    parser.add_argument("--keep", type=Path, help="build the batch here and keep it")
    args = parser.parse_args()

    from inpaint_async.report import read_report_data, render_html, write_report

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-report-"))
    try:
        start = time.perf_counter()
        journal = root / "out" / "inpaint-journal.jsonl"
        if not journal.exists():  # --keep DIR of an earlier run: measure the same batch again
            journal = build_batch(root, args.jobs, args.side)
        result: dict[str, Any] = {
            "jobs": args.jobs, "side": args.side, "cpus": os.cpu_count(),
            "build_s": round(time.perf_counter() - start, 2),
        }  # fmt: skip
        start = time.perf_counter()
        html = render_html(read_report_data(journal), page_size=args.page_size)
        result["render_s"] = round(time.perf_counter() - start, 2)
        del html
        page = root / "report.html"
        start, cpu = time.perf_counter(), _cpu()
        write_report(journal, page, page_size=args.page_size)
        result["write_first_s"] = round(time.perf_counter() - start, 2)
        result["write_first_cpu_s"] = round(_cpu() - cpu, 2)
        start = time.perf_counter()
        write_report(journal, page, page_size=args.page_size)
        result["write_again_s"] = round(time.perf_counter() - start, 2)
        result["html_mb"] = round(_size_mb(page), 1)
        result["thumbs_mb"] = round(_size_mb(root / "report_files"), 1)
        chromium = os.environ.get("INPAINT_TEST_CHROMIUM") or shutil.which("chromium")
        if chromium:
            result.update(asyncio.run(open_in_chromium(page.resolve().as_uri(), chromium)))
        else:
            result["browser"] = "no chromium found: open figures not measured"
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
