"""The batch progress bar: done / failed / unknown counts, rate, spend and ETA, drawn with rich."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from ..batch import BatchEvent

__all__ = ["BatchProgressBar"]


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
