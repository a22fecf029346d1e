"""Helpers for the report tests: a real emulator batch with every kind of outcome."""

from __future__ import annotations

import io
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image

from inpaint_async import InpaintClient, RetryPolicy
from inpaint_async.batch import BatchSummary, EditJob
from inpaint_async.testing import Emulator, FaultPlan

FAST_RETRY = RetryPolicy(initial_wait=0.01, max_wait=0.05)


def write_png(path: Path, index: int, size: int = 256) -> Path:
    """A distinct ``size`` x ``size`` PNG (a colour band per index) at ``path``."""
    image = Image.new("RGB", (size, size), ((index * 53) % 255, 90, (255 - index * 31) % 255))
    for x in range(0, size, 16):
        for y in range(index % 16, size, 32):
            image.putpixel((x, y), (255, 255, 255))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path


@dataclass
class Batch:
    """A finished emulator batch: where its files are and what it reported."""

    root: Path
    journal: Path
    summary: BatchSummary
    succeeded: int
    failed: int
    unknown: int


async def run_batch(
    make_emulator, root: Path, *, ok: int = 6, prompts: dict[int, str] | None = None
) -> Batch:  # type: ignore[no-untyped-def]
    """``ok`` succeeded jobs, one 422 (a content-policy prompt) and one unknown outcome (the edit
    is charged, then a 504), in a folder laid out like ``inpaint-async batch`` leaves it."""
    script: list[str | None] = [None] * ok + ["504_after_charge"]
    emu: Emulator = await make_emulator(faults=FaultPlan(script={"/image/edit": script}))
    inputs, out = root / "inputs", root / "out"
    jobs = [
        EditJob(
            image=write_png(inputs / f"photo-{i:02d}.png", i),
            prompt=(prompts or {}).get(i, f"add a hat number {i}"),
            output=out / f"photo-{i:02d}.png",
        )
        for i in range(ok + 1)
    ]
    jobs.append(
        EditJob(
            image=write_png(inputs / "rejected.png", 99),
            prompt="something forbidden",
            output=out / "rejected.png",
        )
    )
    journal = out / "inpaint-journal.jsonl"
    # One at a time, so the scripted fault meets the job it was written for.
    async with InpaintClient(emu.api_key, base_url=emu.base_url, retry=FAST_RETRY) as client:
        summary = await client.batch(jobs, journal=journal, concurrency=1).run()
    assert (summary.succeeded, summary.failed, summary.outcome_unknown) == (ok, 1, 1)
    return Batch(root, journal, summary, ok, 1, 1)


class Page(HTMLParser):
    """The parts of a report page the tests look at, read by a real HTML parser."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.stats: dict[str, str] = {}
        self.text: list[str] = []
        self._stack: list[tuple[str, dict[str, str]]] = []
        self._dt: str | None = None
        self._field: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append((tag, values))
        if tag in ("dt", "dd"):
            self._field = tag

    def handle_endtag(self, tag: str) -> None:
        if tag in ("dt", "dd"):
            self._field = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._field == "dt":
            self._dt = data
        elif self._field == "dd" and self._dt is not None:
            self.stats[self._dt] = data

    def with_class(self, tag: str, cls: str) -> list[dict[str, str]]:
        """Attributes of every ``tag`` whose class list holds ``cls``."""
        return [a for t, a in self.tags if t == tag and cls in a.get("class", "").split()]

    def all(self, tag: str) -> list[dict[str, str]]:
        """Attributes of every ``tag``."""
        return [a for t, a in self.tags if t == tag]

    @property
    def plain(self) -> str:
        """The page's text, entities decoded."""
        return "".join(self.text)
