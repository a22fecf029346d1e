"""``inpaint-async report JOURNAL``: the batch report page, and ``batch --report``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import EXIT_OK
from ._output import Output, safe

if TYPE_CHECKING:
    from ..batch import BatchSummary

__all__ = ["add_batch_option", "add_parser", "batch_command", "run_report", "write_batch_report"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``report`` command to the subparsers of ``inpaint-async``."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "report",
        help="a before/after gallery, the failures and the spend of a batch, as an HTML page",
        description="Write a self-contained HTML page from a batch journal: a before/after "
        "gallery, the failed and unknown jobs with the command that re-runs them, spend and "
        "latency charts. Thumbnails go to a folder beside the page; nothing is loaded from "
        "the network.",
    )
    parser.add_argument("journal", help="the batch's JSONL journal")
    parser.add_argument(
        "-o", "--output", help="the HTML file (default: report.html beside the journal)"
    )
    parser.add_argument("--title", help="the page's heading")
    parser.add_argument(
        "--thumb-size", type=int, default=256, help="longest thumbnail side, px (default 256)"
    )
    parser.add_argument(
        "--page-size", type=int, default=48, help="cards per gallery page (default 48)"
    )
    return parser


def add_batch_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--report [PATH]`` to the ``batch`` command."""
    parser.add_argument(
        "--report",
        nargs="?",
        const=True,
        default=None,
        metavar="PATH",
        help="write the report page when the run ends (default PATH: OUT/report.html)",
    )


def run_report(args: argparse.Namespace, output: Output) -> int:
    """Run ``inpaint-async report``: the page's path is the result (``--json``: with the counts)."""
    from ..report import read_report_data, write_report

    path = write_report(
        args.journal,
        args.output,
        title=args.title,
        thumb_size=args.thumb_size,
        page_size=args.page_size,
    ).resolve()
    if output.json:
        counts = read_report_data(args.journal).counts
        output.emit({"report": path, "jobs": sum(counts.values()), **counts})
    else:
        output.say(f"report: {safe(path)}")
    return EXIT_OK


def batch_command(args: argparse.Namespace, journal: Path) -> list[str]:
    """The ``inpaint-async batch`` command line of this run, to show how to re-run failures."""
    command = ["inpaint-async"]
    if args.base_url:
        command += ["--base-url", args.base_url]
    command += ["batch", args.source, "--out", args.out, "--journal", str(journal)]
    options = (
        ("prompt", "--prompt"), ("model", "--model"), ("aspect_ratio", "--aspect-ratio"),
        ("resolution", "--resolution"), ("output_format", "--format"),
        ("budget_usd", "--budget-usd"),
    )  # fmt: skip
    for name, flag in options:
        value = getattr(args, name, None)
        if value is not None:
            command += [flag, str(value)]
    if args.safe_mode is not None:
        command.append("--safe-mode" if args.safe_mode else "--no-safe-mode")
    if args.enhance_prompt:
        command.append("--enhance-prompt")
    return command


def write_batch_report(
    args: argparse.Namespace, summary: BatchSummary, journal: Path, output: Output
) -> Path | None:
    """For ``batch --report``: write the page after the run and say where it is (on stderr
    under ``--json``, whose last stdout line stays the summary)."""
    if args.report is None:
        return None
    from ..report import write_report

    target = Path(args.out) / "report.html" if args.report is True else Path(args.report)
    path = write_report(
        journal, target, summary=summary, rerun_command=batch_command(args, journal)
    ).resolve()
    (output.note if output.json else output.say)(f"report: {safe(path)}")
    return path
