"""The report of an emulator batch, opened in a real headless Chromium (see docs/testing.md).

Skips, saying why, where no Chromium is installed (CI installs Debian's ``chromium``). The
screenshots are kept under ``.artifacts/`` (git-ignored) or ``$INPAINT_TEST_ARTIFACTS``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from inpaint_async.report import write_report

from .conftest import run_batch

CHROMIUM = os.environ.get("INPAINT_TEST_CHROMIUM") or next(
    (p for name in ("chromium", "chromium-browser") if (p := shutil.which(name))), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium found: apt-get install chromium (Debian), or set INPAINT_TEST_CHROMIUM "
    "to a Chromium or Chrome executable",
)
ARTIFACTS = Path(
    os.environ.get("INPAINT_TEST_ARTIFACTS") or Path(__file__).parents[2] / ".artifacts"
)
#: What the machine's closed network and a root user need (docs/testing.md).
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
HOSTILE = "<script>window.pwned=1</script> \"quoted\" <img src=x onerror='window.pwned=2'>"

# Lazy images load when scrolled to: bring the first one still loading into view, until none is.
ALL_IMAGES_LOADED = """() => {
  const imgs = Array.from(document.querySelectorAll('#gallery-pages .page.current img'));
  const loading = imgs.find(i => !(i.complete && i.naturalWidth > 0));
  if (loading) { loading.scrollIntoView(); return false; }
  return imgs.length > 0;
}"""


async def _open(
    browser: Any, url: str, width: int, height: int, *, dark: bool = False
) -> tuple[Any, list[str], list[str]]:
    """A fresh context and page at ``url``; every request and every console error is recorded,
    and anything that is not a file of the report is aborted."""
    context = await browser.new_context(
        viewport={"width": width, "height": height}, color_scheme="dark" if dark else "light"
    )
    requests: list[str] = []
    errors: list[str] = []

    async def only_files(route: Any) -> None:
        if route.request.url.startswith("file://"):
            await route.continue_()
        else:
            await route.abort()

    await context.route("**/*", only_files)
    page = await context.new_page()
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(url)
    return page, requests, errors


async def test_the_report_opens_in_chromium(make_emulator, tmp_path: Path) -> None:
    """Six before/after pairs over two pages whose images load, a working pager and filter,
    no accessibility violation (axe-core), no console error, no request beyond the report's own
    files, no horizontal scroll on a phone (dark theme); screenshots kept."""
    async_api = pytest.importorskip(
        "playwright.async_api", reason="the browser test drives Chromium with playwright"
    )
    axe = pytest.importorskip(
        "axe_playwright_python.async_playwright", reason="the accessibility audit needs axe-core"
    ).Axe()
    batch = await run_batch(make_emulator, tmp_path, ok=6, prompts={2: HOSTILE})
    report = write_report(batch.journal, summary=batch.summary, page_size=4)
    folder = report.parent.resolve()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    async with async_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page, requests, errors = await _open(browser, report.resolve().as_uri(), 1280, 900)
            assert await page.evaluate("document.documentElement.classList.contains('js')")
            assert await page.locator("#gallery-pages .page.current .pair").count() == 4
            assert await page.locator("#gallery .pager .status").inner_text() == "Page 1 of 2"
            await page.wait_for_function(ALL_IMAGES_LOADED, timeout=15_000)
            await page.evaluate("window.scrollTo(0, 0)")
            await page.screenshot(path=str(ARTIFACTS / "report-desktop.png"), full_page=True)
            # axe-core's WCAG rules (labels, alt texts, contrast, landmarks, headings): none broken.
            audit = await axe.run(page)
            assert audit.violations_count == 0, audit.generate_report()

            # Keyboard: focus "Next page" and press Enter.
            await page.locator("#gallery .pager .next").focus()
            await page.keyboard.press("Enter")
            assert await page.locator("#gallery .pager .status").inner_text() == "Page 2 of 2"
            assert await page.locator("#gallery-pages .page.current .pair").count() == 2
            await page.wait_for_function(ALL_IMAGES_LOADED, timeout=15_000)
            shown = await page.eval_on_selector_all(
                "#gallery-pages .pair img", "imgs => imgs.filter(i => i.naturalWidth > 0).length"
            )
            assert shown == 12  # six pairs across both pages

            # The filter searches every page.
            await page.locator("#gallery .pager input").fill("hat number 5")
            visible = page.locator("#gallery-pages .card:visible")
            assert await visible.count() == 1
            assert "1 matching" in await page.locator("#gallery .pager .status").inner_text()

            # The failures come first and are described; the hostile prompt stayed text.
            assert await page.locator("#attention .card").count() == 2
            assert "may have been charged" in await page.locator("#attention").inner_text()
            assert await page.evaluate("window.pwned === undefined")
            assert HOSTILE in (await page.locator("#gallery").text_content() or "")

            assert errors == []
            outside = [u for u in requests if not u.startswith(folder.as_uri() + "/")]
            assert outside == []
            assert any(u.endswith((".webp", ".png")) for u in requests)

            phone, phone_requests, phone_errors = await _open(
                browser, report.resolve().as_uri(), 390, 844, dark=True
            )
            width = await phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390
            await phone.wait_for_function(ALL_IMAGES_LOADED, timeout=15_000)
            await phone.evaluate("window.scrollTo(0, 0)")
            await phone.screenshot(path=str(ARTIFACTS / "report-phone.png"), full_page=True)
            audit = await axe.run(phone)
            assert audit.violations_count == 0, audit.generate_report()
            assert phone_errors == []
            assert [u for u in phone_requests if not u.startswith(folder.as_uri() + "/")] == []
        finally:
            await browser.close()
    assert (ARTIFACTS / "report-desktop.png").stat().st_size > 0
