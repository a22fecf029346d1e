"""Reading a batch journal into what the report shows: one row per job, totals, series.

Pure: text in, data out. The reader is lenient where :func:`~inpaint_async.batch.read_journal`
is strict, because a report must show a damaged or newer journal rather than refuse it: a line
that does not parse is counted and skipped, fields it does not know are kept, and a state it does
not know is shown as written (and treated as possibly charged).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

__all__ = ["JobRow", "ReportData", "RunInfo", "parse_journal", "read_report_data"]

Group = Literal["succeeded", "failed", "unknown", "other"]

#: Fields of a ``sent`` record that describe the job rather than one attempt at it.
_JOB_FIELDS = ("input", "prompt", "params", "output")


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _usd(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() and amount >= 0 else None


@dataclass(slots=True)
class JobRow:
    """One job as the journal last recorded it.

    Attributes:
        job: The job id.
        state: The last recorded state, as written (``succeeded``, ``failed``, ``unknown``,
            ``sent``, or one a newer version wrote).
        record: The job's fields: those of its last ``sent`` record overlaid with those of the
            records after it (unknown fields included).
        sent_at: When the last attempt was sent (Unix time), if known.
        ended_at: When its outcome was recorded, if it has one.
        attempts: How many times the journal records it being sent.
    """

    job: str
    state: str
    record: dict[str, Any]
    sent_at: float | None = None
    ended_at: float | None = None
    attempts: int = 0

    @property
    def group(self) -> Group:
        """Where the report puts the job: a job last ``sent`` was interrupted, so unknown."""
        if self.state in ("succeeded", "failed"):
            return self.state  # type: ignore[return-value]
        if self.state in ("unknown", "sent"):
            return "unknown"
        return "other"

    @property
    def input(self) -> str | None:
        """The input image: a path or URL (``None`` for inline bytes or an older journal)."""
        return _text(self.record.get("input"))

    @property
    def output(self) -> str | None:
        """The output path."""
        return _text(self.record.get("output"))

    @property
    def prompt(self) -> str | None:
        """The prompt (``None`` in journals written before the report existed)."""
        return _text(self.record.get("prompt"))

    @property
    def params(self) -> dict[str, Any]:
        """The edit's parameters as the job gave them."""
        params = self.record.get("params")
        return dict(params) if isinstance(params, Mapping) else {}

    @property
    def model(self) -> str | None:
        """The model that ran (from the response), else the one asked for."""
        return _text(self.record.get("model")) or _text(
            self.params.get("model") or self.params.get("modelId")
        )

    @property
    def cost_usd(self) -> Decimal | None:
        """The estimated price recorded with the outcome."""
        return _usd(self.record.get("cost_usd"))

    @property
    def request_id(self) -> str | None:
        """The server's request id, when one came back."""
        return _text(self.record.get("request_id"))

    @property
    def error(self) -> dict[str, Any]:
        """The recorded error (``type``, ``status``, ``code``, ``message``, ``retryable``)."""
        error = self.record.get("error")
        if isinstance(error, Mapping):
            return dict(error)
        return {"message": _text(error)} if error is not None else {}

    @property
    def reason(self) -> str | None:
        """Why the outcome is unknown (or what a newer state recorded)."""
        if self.state == "sent":
            return "sent, and no outcome was recorded: the run was interrupted"
        return _text(self.record.get("reason"))

    @property
    def retryable(self) -> bool:
        """For a failure: whether ``--resume`` runs it again."""
        return bool(self.error.get("retryable"))

    @property
    def latency(self) -> float | None:
        """Seconds from sending to the outcome of the last attempt."""
        if self.sent_at is None or self.ended_at is None or self.ended_at < self.sent_at:
            return None
        return self.ended_at - self.sent_at


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What only the run itself knows (from its :class:`~inpaint_async.batch.BatchSummary`)."""

    skipped: int | None = None
    not_started: int | None = None
    elapsed: float | None = None
    stopped_reason: str | None = None
    budget_usd: Decimal | None = None

    @classmethod
    def from_summary(cls, summary: Any) -> RunInfo:
        """Take the fields of a :class:`~inpaint_async.batch.BatchSummary` (duck-typed)."""
        return cls(
            skipped=getattr(summary, "skipped", None),
            not_started=getattr(summary, "not_started", None),
            elapsed=getattr(summary, "elapsed", None),
            stopped_reason=getattr(summary, "stopped_reason", None),
            budget_usd=getattr(summary, "budget_usd", None),
        )


@dataclass
class ReportData:
    """Everything the page shows, computed once from a journal.

    Attributes:
        rows: Every job, in the order of its first record.
        bad_lines: Lines that were not journal records (skipped).
        first_ts: The earliest record's time, ``last_ts`` the latest.
        run: What the run reported of itself, when the report was written by the run.
    """

    rows: list[JobRow] = field(default_factory=list)
    bad_lines: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    run: RunInfo | None = None
    journal: str | None = None

    def by_group(self, group: Group) -> list[JobRow]:
        """The rows in one group, in journal order."""
        return [row for row in self.rows if row.group == group]

    @property
    def counts(self) -> Counter[str]:
        """Rows per group."""
        return Counter(row.group for row in self.rows)

    @property
    def charged_usd(self) -> Decimal:
        """The estimated price of the succeeded jobs: charged."""
        return sum((r.cost_usd or Decimal(0) for r in self.by_group("succeeded")), Decimal(0))

    @property
    def maybe_charged_usd(self) -> Decimal:
        """The estimated price of the unknown outcomes: they may have been charged."""
        return sum(
            (r.cost_usd or Decimal(0) for r in self.rows if r.group in ("unknown", "other")),
            Decimal(0),
        )

    @property
    def wall_time(self) -> float | None:
        """The run's own elapsed time when known, else first to last journal record."""
        if self.run is not None and self.run.elapsed is not None:
            return self.run.elapsed
        if self.first_ts is None or self.last_ts is None:
            return None
        return self.last_ts - self.first_ts

    @property
    def models(self) -> Counter[str]:
        """Succeeded jobs per model (``server default`` when neither side named one)."""
        return Counter(row.model or "server default" for row in self.by_group("succeeded"))

    def spend_series(self) -> list[tuple[float, Decimal]]:
        """Cumulative estimated spend (succeeded and unknown) at each outcome, oldest first."""
        points = sorted(
            (row.ended_at, row.cost_usd)
            for row in self.rows
            if row.group != "failed" and row.ended_at is not None and row.cost_usd is not None
        )
        total = Decimal(0)
        series = []
        for ts, cost in points:
            total += cost
            series.append((ts, total))
        return series

    def latencies(self) -> list[float]:
        """Send-to-answer seconds of the succeeded jobs."""
        return [
            latency for row in self.by_group("succeeded") if (latency := row.latency) is not None
        ]


def parse_journal(lines: Iterable[bytes | str], *, journal: str | None = None) -> ReportData:
    """Replay journal lines into report rows; lines that are not records are counted, not fatal."""
    data = ReportData(journal=journal)
    rows: dict[str, JobRow] = {}
    for raw in lines:
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            data.bad_lines += 1
            continue
        if (
            not isinstance(record, dict)
            or not isinstance(record.get("state"), str)
            or not isinstance(record.get("job"), str | int)
        ):
            data.bad_lines += 1
            continue
        job, state = str(record["job"]), record["state"]
        ts = _float(record.get("ts"))
        if ts is not None:
            data.first_ts = ts if data.first_ts is None else min(data.first_ts, ts)
            data.last_ts = ts if data.last_ts is None else max(data.last_ts, ts)
        row = rows.get(job)
        if row is None:
            row = rows[job] = JobRow(job, state, {})
        if state == "sent":
            # A new attempt: the job's description carries over, the last outcome does not.
            kept = {k: row.record[k] for k in _JOB_FIELDS if k in row.record}
            row.record = {**kept, **record}
            row.sent_at, row.ended_at = ts, None
            row.attempts += 1
        else:
            row.record = {**row.record, **record}
            row.ended_at = ts
        row.state = state
    data.rows = list(rows.values())
    return data


def read_report_data(path: str | os.PathLike[str]) -> ReportData:
    """Read a journal file (a torn last line is ignored like any other bad line)."""
    p = Path(path)
    with p.open("rb") as fh:
        return parse_journal(fh, journal=str(p))
