"""Find the code blocks of README.md and docs/**/*.md that the docs tests run.

The convention (docs/testing.md, "Docs are tests"): every ```python and ```bash (or ```sh)
block runs; a block that must not run has, on the line right above its fence,
``<!-- not-run: the reason -->``. Other languages (``text``, ``json``, ``console``...) never run.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN_LANGUAGES = {"python": "python", "py": "python", "bash": "bash", "sh": "bash"}
NOT_RUN = re.compile(r"^\s*<!--\s*not-run:\s*(?P<reason>.*?)\s*-->\s*$")
_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^\n]*)$")


@dataclass(frozen=True)
class Block:
    """One fenced code block that the docs tests know about."""

    page: str  # path relative to the repository root
    line: int  # 1-based line of the opening fence
    language: str  # "python" or "bash"
    code: str
    not_run: str | None  # the reason, when marked not to run

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[Path]:
    """README.md and every Markdown page under docs/, in a stable order (new pages included)."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks_of(path: Path) -> list[Block]:
    """The python and bash blocks of one page, in document order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    page = path.relative_to(ROOT).as_posix()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        fence, indent = match["fence"], match["indent"]
        language = (match["info"].split() or [""])[0].lower().strip("{}.")
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            body.append(lines[j])
            j += 1
        if language in RUN_LANGUAGES:
            marker = NOT_RUN.match(lines[i - 1]) if i > 0 else None
            code = textwrap.dedent("\n".join(body)) if indent else "\n".join(body)
            found.append(
                Block(
                    page=page,
                    line=i + 1,
                    language=RUN_LANGUAGES[language],
                    code=code + "\n",
                    not_run=marker["reason"] if marker else None,
                )
            )
        i = j + 1
    return found


def all_blocks() -> list[Block]:
    """Every runnable block of every page."""
    return [block for path in pages() for block in blocks_of(path)]
