"""Docs are tests: every python and bash block of README.md and docs/ runs, in document order,
against a fresh emulator per page, and the python blocks type-check under mypy --strict.

A block that must not run says so on the line above its fence (``<!-- not-run: reason -->``);
it is reported as skipped with its reason. See docs/testing.md, "Docs are tests".
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .blocks import ROOT, Block, all_blocks, blocks_of, pages
from .context import Page, open_page, typed_module

BLOCKS = all_blocks()
#: "Few": most are benchmarks that take minutes and servers that run until stopped (their own
#: tests cover them); raising this needs a reason in review.
MAX_NOT_RUN = 28


@pytest.fixture(scope="module")
def page_contexts() -> Iterator[dict[str, Page]]:
    """One context per page, opened by its first block, all closed at the end."""
    opened: dict[str, Page] = {}
    yield opened
    for page in reversed(opened.values()):
        page.close()


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_block_runs(block: Block, page_contexts: dict[str, Page]) -> None:
    """The block runs without error in its page's context, after the blocks above it."""
    if block.not_run is not None:
        pytest.skip(f"{block.id} not run: {block.not_run}")
    page = page_contexts.get(block.page)
    if page is None:
        # Close the previous page first: one emulator at a time.
        for other in list(page_contexts):
            page_contexts.pop(other).close()
        text = (ROOT / block.page).read_text(encoding="utf-8")
        page = page_contexts[block.page] = open_page(block.page, text)
    page.run(block)


def test_few_blocks_are_marked_not_run() -> None:
    """Skipping is the exception: each skip has a reason, and there are few of them."""
    skipped = [b for b in BLOCKS if b.not_run is not None]
    assert all(b.not_run for b in skipped), [b.id for b in skipped if not b.not_run]
    assert len(skipped) <= MAX_NOT_RUN, [f"{b.id}: {b.not_run}" for b in skipped]


def test_every_page_is_scanned() -> None:
    """New pages are picked up without registration, README.md included."""
    scanned = {p.relative_to(ROOT).as_posix() for p in pages()}
    on_disk = {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert on_disk <= scanned
    assert "README.md" in scanned


def test_the_readme_opens_with_the_two_ci_commands() -> None:
    """README's first block is the demo line and the test line, and .ci/run runs both."""
    first = blocks_of(ROOT / "README.md")[0]
    assert first.line == 4  # after the title and the not-run marker
    demo, tests = first.code.strip().splitlines()
    assert demo.endswith("inpaint-async demo")
    assert tests.startswith("pip install -e '.[dev]'")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "inpaint-async demo" in ci
    assert tests.split("&&", 1)[1].strip() in ci


def test_python_blocks_type_check_under_mypy_strict(tmp_path: Path) -> None:
    """Every page's python blocks, as one module per page, pass mypy --strict."""
    line_map: dict[str, list[str]] = {}
    files = []
    for path in pages():
        blocks = [b for b in blocks_of(path) if b.language == "python" and b.not_run is None]
        if not blocks:
            continue
        name = "docs_" + re.sub(r"\W", "_", path.relative_to(ROOT).with_suffix("").as_posix())
        source = typed_module(blocks)
        target = tmp_path / f"{name}.py"
        target.write_text(source, encoding="utf-8")
        files.append(str(target))
        line_map[target.name] = _origins(source)
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--allow-redefinition",
         "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(ROOT / ".mypy_cache"), "--no-error-summary", *files],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    errors = [_relocate(line, line_map) for line in proc.stdout.splitlines() if line.strip()]
    assert proc.returncode == 0, "\n".join(errors) + proc.stderr


def _origins(source: str) -> list[str]:
    """For each line of a generated module, the docs position it came from."""
    origins, current, offset = [], "", 0
    for line in source.splitlines():
        match = re.match(r"^    # (\S+\.md):(\d+)$", line)
        if match:
            current, offset = match[1], int(match[2])
            origins.append(f"{current}:{offset}")
            continue
        offset += 1 if current else 0
        origins.append(f"{current}:{offset}" if current else "(context)")
    return origins


def _relocate(line: str, line_map: dict[str, list[str]]) -> str:
    match = re.match(r"^.*?(docs_\w+\.py):(\d+): (.*)$", line)
    if not match:
        return line
    origins = line_map.get(match[1], [])
    number = int(match[2]) - 1
    where = origins[number] if 0 <= number < len(origins) else match[1]
    return f"{where}: {match[3]}"
