"""The batch report: a before/after gallery, the failures and a spend page from a batch journal.

``write_report(journal, "report.html")`` writes one static HTML page and a folder of thumbnails
beside it (``report_files/``); the page links the full images relatively, so the folder of a
batch can be zipped and shared. It loads nothing from the network. The same page comes from
``inpaint-async report JOURNAL``, ``inpaint-async batch ... --report`` and
``BatchSummary.write_report()``. Thumbnails need Pillow (the ``cli`` extra).

The pieces are pure and usable alone: :func:`read_report_data` (journal to rows and totals) and
:func:`render_html` (rows to the page). See ``docs/batch.md``.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._exceptions import ConfigurationError
from ._data import JobRow, ReportData, RunInfo, parse_journal, read_report_data
from ._html import Picture, esc, render_html

__all__ = [
    "JobRow",
    "Picture",
    "ReportData",
    "RunInfo",
    "esc",
    "parse_journal",
    "read_report_data",
    "render_html",
    "write_report",
]


def _href(target: Path, base: Path) -> str:
    try:
        rel = os.path.relpath(target, base)
    except ValueError:  # pragma: no cover - another drive on Windows
        return target.resolve().as_uri()
    return urllib.parse.quote(Path(rel).as_posix())


def _locate(recorded: str, roots: Sequence[Path]) -> Path | None:
    """Find a file the journal recorded (a relative path is relative to where the batch ran)."""
    if recorded.lower().startswith(("http://", "https://", "data:")):
        return None  # never fetched: the report loads nothing from the network
    path = Path(recorded).expanduser()
    if path.is_absolute():
        return path if path.is_file() else None
    for root in roots:
        candidate = root / path
        if candidate.is_file():
            return candidate
    return None


def write_report(
    journal: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    summary: Any = None,
    title: str | None = None,
    rerun_command: Sequence[str] | None = None,
    thumb_size: int = 256,
    page_size: int = 48,
    workers: int | None = None,
) -> Path:
    """Write the report of a batch journal; return the page's path.

    Args:
        journal: The batch's JSONL journal.
        output: The HTML file (default: ``report.html`` beside the journal). Thumbnails go to
            the folder ``<stem>_files`` beside it; existing ones of unchanged images are reused.
        summary: The run's :class:`~inpaint_async.batch.BatchSummary`, for what only the run
            knows (skipped jobs, its wall time, why it stopped).
        title: The page's heading (default: ``Batch report``).
        rerun_command: The batch's command line, shown with ``--resume`` to re-run failures.
        thumb_size: The longest side of a thumbnail in pixels (32 to 1024).
        page_size: Cards per page.
        workers: Threads making thumbnails (default: the CPU count, at most 8).

    Raises:
        ConfigurationError: the journal does not exist or cannot be read, the page cannot be
            written, Pillow is missing, or a size is out of range.
    """
    source = Path(journal)
    if not source.is_file():
        raise ConfigurationError(f"no journal at {source}")
    if not 32 <= thumb_size <= 1024:
        raise ConfigurationError("thumb_size must be between 32 and 1024 pixels")
    if page_size < 1:
        raise ConfigurationError("page_size must be at least 1")
    try:
        import PIL  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the cli extra brings Pillow
        raise ConfigurationError(
            "the report makes thumbnails with Pillow: pip install 'inpaint-async[cli]'"
        ) from exc
    target = Path(output) if output is not None else source.parent / "report.html"
    try:
        data = read_report_data(source)
    except OSError as exc:
        raise ConfigurationError(f"cannot read the journal {source}: {exc}") from exc
    try:
        return _write(data, source, target, summary, title, rerun_command, thumb_size,
                      page_size, workers)  # fmt: skip
    except OSError as exc:
        raise ConfigurationError(f"cannot write the report {target}: {exc}") from exc


def _write(
    data: ReportData,
    source: Path,
    target: Path,
    summary: Any,
    title: str | None,
    rerun_command: Sequence[str] | None,
    thumb_size: int,
    page_size: int,
    workers: int | None,
) -> Path:
    from ._thumbs import make_thumbnails, prune_thumbnails

    target.parent.mkdir(parents=True, exist_ok=True)
    base = target.parent
    files = base / f"{target.stem}_files"
    if summary is not None:
        data.run = RunInfo.from_summary(summary)
    # Relative paths in the journal are relative to the batch's working directory: try here,
    # then the journal's folder and its parents (a journal usually lives in the output folder).
    roots = [Path.cwd(), source.parent.resolve(), *source.parent.resolve().parents[:2]]
    located: dict[str, Path] = {}
    for row in data.rows:
        for recorded in (row.input, row.output):
            if recorded and recorded not in located:
                found = _locate(recorded, roots)
                if found is not None:
                    located[recorded] = found
    thumbs = make_thumbnails(located.values(), files, size=thumb_size, workers=workers)
    prune_thumbnails(files, (t.name for t in thumbs.values() if t is not None))
    pictures: dict[str, Picture] = {}
    for recorded, path in located.items():
        thumb = thumbs.get(path)
        if thumb is None:
            continue
        pictures[recorded] = Picture(
            src=_href(files / thumb.name, base),
            width=thumb.width,
            height=thumb.height,
            href=_href(path, base),
            source_width=thumb.source_width,
            source_height=thumb.source_height,
        )
    page = render_html(
        data,
        pictures,
        title=title or "Batch report",
        rerun_command=rerun_command,
        page_size=page_size,
    )
    part = target.with_name(f".{target.name}.{os.getpid()}.part")
    part.write_text(page, encoding="utf-8")
    os.replace(part, target)
    return target
