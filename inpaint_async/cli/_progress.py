"""How a batch shows: the progress bar (done / failed / unknown counts, rate, spend and ETA, drawn
with rich), the per-outcome lines and the summary, shared by ``batch`` and ``demo``."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ._errors import EXIT_BUDGET, EXIT_OK, EXIT_OTHER, EXIT_UNKNOWN, describe_error, exit_code_for
from ._output import Output, error_document, safe

if TYPE_CHECKING:
    from ..batch import BatchEvent, BatchRunner, BatchSummary, JobOutcome

__all__ = [
    "BatchDisplay",
    "BatchProgressBar",
    "batch_exit_code",
    "outcome_event",
    "print_summary",
    "summary_document",
]


class BatchProgressBar:
    """Renders :class:`~inpaint_async.batch.BatchEvent` s as a live progress bar.

    Use it as a context manager and pass :meth:`on_event` as the runner's ``on_event``.
    """

    def __init__(self, console: Console, total: int | None, *, label: str = "editing") -> None:
        self.console = console
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "[green]✓ {task.fields[ok]}[/] [red]✗ {task.fields[failed]}[/] "
                "[yellow]? {task.fields[unknown]}[/] [dim]⤼ {task.fields[skipped]}[/]"
            ),
            TextColumn("{task.fields[rate]}/s"),
            TextColumn("${task.fields[spent]}"),
            TextColumn("[dim]x{task.fields[concurrency]}[/]"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task = self._progress.add_task(
            label,
            total=total,
            ok=0,
            failed=0,
            unknown=0,
            skipped=0,
            rate="0.0",
            spent="0.00",
            concurrency=0,
        )

    def __enter__(self) -> BatchProgressBar:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    @property
    def started(self) -> bool:
        """Whether the bar is being drawn (between ``__enter__`` and ``__exit__``)."""
        return self._progress.live.is_started

    def print(self, *objects: object) -> None:
        """Print above the bar."""
        self._progress.console.print(*objects)

    def on_event(self, event: BatchEvent) -> None:
        """Update the bar from one batch event."""
        p = event.progress
        self._progress.update(
            self._task,
            completed=p.done,
            ok=p.succeeded,
            failed=p.failed,
            unknown=p.outcome_unknown,
            skipped=p.skipped,
            rate=f"{p.rate:.1f}",
            spent=f"{p.spent_usd:.2f}",
            concurrency=p.concurrency,
        )
        if event.kind == "stopped" and event.message:
            self.print(f"[yellow]stopped launching new jobs:[/] {event.message}")
        elif event.kind == "paused" and event.message:
            self.print(f"[dim]paused: {event.message}[/]")


def outcome_event(outcome: JobOutcome) -> dict[str, Any]:
    """The ``--json`` line of one job's outcome."""
    event: dict[str, Any] = {
        "event": "job",
        "job_id": outcome.job_id,
        "status": outcome.status,
        "output": outcome.job.output,
        "request_id": outcome.request_id,
        "cost_usd": outcome.cost_usd,
        "elapsed": round(outcome.elapsed, 3),
    }
    if outcome.reason:
        event["reason"] = outcome.reason
    if outcome.error is not None:
        event.update(error_document(outcome.error, exit_code_for(outcome.error)))
    return event


class BatchDisplay:
    """How a batch shows on the terminal: a progress bar on stderr unless ``quiet``, failures
    printed above it, and under ``--json`` one JSON line per outcome on stdout.

    Pass :meth:`on_event` as the runner's ``on_event`` when building it, then :meth:`run` it::

        display = BatchDisplay(output, total=len(jobs), quiet=False)
        runner = BatchRunner(client, jobs, on_event=display.on_event)
        summary = await display.run(runner)
    """

    def __init__(
        self, output: Output, *, total: int | None, quiet: bool, label: str = "editing"
    ) -> None:
        self._output = output
        self._bar = None if quiet else BatchProgressBar(output.err, total, label=label)

    def say(self, markup: str) -> None:
        """A line of the result while the batch runs (what :meth:`Output.say` prints).

        While the bar is drawn and stdout is the same kind of terminal, the line goes above the
        bar: printed beside it, it would land on the bar's own line. Otherwise (piped stdout,
        ``--json``, ``--quiet``) it goes where ``Output.say`` puts it.
        """
        bar, output = self._bar, self._output
        if bar is not None and bar.started and not output.json and output.out.is_terminal:
            bar.print(markup)
        else:
            output.say(markup)

    def on_event(self, event: BatchEvent) -> None:
        """Draw one batch event (and, under ``--json``, report pauses and stops)."""
        if self._bar is not None:
            self._bar.on_event(event)
        if self._output.json and event.kind in ("paused", "resumed", "stopped"):
            self._output.event({"event": event.kind, "message": event.message})

    async def run(self, runner: BatchRunner) -> BatchSummary:
        """Iterate ``runner`` to the end, showing each outcome; return its summary."""
        output, bar = self._output, self._bar
        printer = bar.print if bar is not None else output.note
        if bar is not None:
            bar.__enter__()
        try:
            async for outcome in runner:
                if output.json:
                    output.event(outcome_event(outcome))
                elif outcome.status in ("failed", "outcome_unknown"):
                    detail = describe_error(outcome.error) if outcome.error else outcome.reason
                    name = safe(outcome.job.output.name)
                    printer(f"[red]{outcome.status}[/] {name}: {safe(detail)}")
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
        return runner.summary


def summary_document(summary: BatchSummary, *, outputs: Path) -> dict[str, Any]:
    """The last ``--json`` line of a batch: its totals."""
    return {
        "event": "summary",
        "ok": summary.ok,
        "succeeded": summary.succeeded,
        "failed": summary.failed,
        "outcome_unknown": summary.outcome_unknown,
        "skipped": summary.skipped,
        "skipped_unknown": summary.skipped_unknown,
        "not_started": summary.not_started,
        "spent_usd": summary.spent_usd,
        "elapsed": round(summary.elapsed, 3),
        "failures": summary.failures,
        "stopped_reason": summary.stopped_reason,
        "outputs": outputs.resolve(),
        "journal": summary.journal,
        "exit_code": batch_exit_code(summary),
    }


def print_summary(summary: BatchSummary, output: Output, *, outputs: Path) -> None:
    """The totals of a batch, and why it stopped (the last JSON line under ``--json``)."""
    if output.json:
        output.event(summary_document(summary, outputs=outputs))
    else:
        parts = [
            f"[green]{summary.succeeded} succeeded[/]",
            f"[red]{summary.failed} failed[/]",
            f"[yellow]{summary.outcome_unknown} unknown[/]",
            f"{summary.skipped} skipped",
        ]
        if summary.not_started:
            parts.append(f"{summary.not_started} not started")
        output.say(
            ", ".join(parts) + f" in {summary.elapsed:.1f}s; estimated spend ${summary.spent_usd}"
        )
        if summary.failures:
            output.say(
                "failures: " + ", ".join(f"{safe(k)} x{v}" for k, v in summary.failures.items())
            )
        output.say(f"outputs: {safe(outputs.resolve())}")
        if summary.journal is not None:
            output.say(f"journal: {safe(summary.journal)}")
    if summary.stopped_reason:
        output.note(f"[yellow]stopped:[/] {safe(summary.stopped_reason)}")
    if summary.skipped_unknown:
        output.note(
            f"{summary.skipped_unknown} job(s) skipped: their outcome is unknown in the journal "
            "(they may have been charged); --rerun-unknown runs them again"
        )
    if summary.outcome_unknown:
        output.note(
            "some outcomes are unknown: those edits may have been charged; --resume skips them, "
            "--resume --rerun-unknown runs them again"
        )


def batch_exit_code(summary: BatchSummary) -> int:
    """0 when all is done; the stopping error's code; 7 for unknown outcomes (new or skipped);
    1 when some jobs failed; 9 at the budget."""
    if summary.stop_error is not None:
        return exit_code_for(summary.stop_error)
    if summary.outcome_unknown or summary.skipped_unknown:
        return EXIT_UNKNOWN
    if summary.failed:
        return EXIT_OTHER
    if summary.stopped_reason:
        return EXIT_BUDGET if summary.stopped_by == "budget" else EXIT_OTHER
    return EXIT_OK
