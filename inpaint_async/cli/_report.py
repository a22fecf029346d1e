"""``inpaint-async report JOURNAL``: the batch report page, and ``batch --report``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import EXIT_OK

if TYPE_CHECKING:
    from rich.console import Console

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


def run_report(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Run ``inpaint-async report``; print the page's path (the thing to open)."""
    from ..report import write_report

    path = write_report(
        args.journal,
        args.output,
        title=args.title,
        thumb_size=args.thumb_size,
        page_size=args.page_size,
    )
    out.print(f"report: {path.resolve()}", markup=False, highlight=False, soft_wrap=True)
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
    args: argparse.Namespace, summary: Any, journal: Path, out: Console
) -> Path | None:
    """For ``batch --report``: write the page after the run and print its path."""
    if args.report is None:
        return None
    from ..report import write_report

    target = Path(args.out) / "report.html" if args.report is True else Path(args.report)
    path = write_report(
        journal, target, summary=summary, rerun_command=batch_command(args, journal)
    )
    out.print(f"report: {path.resolve()}", markup=False, highlight=False, soft_wrap=True)
    return path
