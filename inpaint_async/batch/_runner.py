"""The batch runner: many edits at the account's pace, journaled, resumable, budgeted."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import math
import os
import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from .._exceptions import (
    APIConnectionError,
    AuthenticationError,
    ConfigurationError,
    OutcomeUnknownError,
    OutputWriteError,
    PaymentRequiredError,
    PriceError,
    RateLimitError,
    ServerError,
    TopUpError,
    UnexpectedResponseError,
    ValidationError,
)
from ..spend import to_usd
from ._budget import Budget, Reservation
from ._jobs import EditJob, aiter_jobs, job_id, job_identity
from ._journal import (
    Journal,
    JournalEntry,
    JournalMismatchError,
    read_journal,
    resume_decision,
)
from ._limiter import AdaptiveLimiter
from ._outputs import OutputFolders

if TYPE_CHECKING:
    from .._client import InpaintClient
    from .._wire import RawResponse
    from ..coordination import Coordinator
    from ..types.results import EditResult

__all__ = [
    "BatchEvent",
    "BatchProgress",
    "BatchRunner",
    "BatchSummary",
    "Estimator",
    "JobOutcome",
    "OutcomeStatus",
    "StopCause",
    "catalogue_estimate",
]

OutcomeStatus = Literal["succeeded", "failed", "outcome_unknown", "skipped"]
#: Why a batch stopped launching jobs: its budget, an error every job would hit, its job source.
StopCause = Literal["budget", "error", "input"]
#: Prices one job in USD before it is launched (may be a coroutine function).
Estimator = Callable[[EditJob], "Decimal | Awaitable[Decimal]"]

_DEFAULT_MAX_CONCURRENCY = 32
#: Below this a catalogue price cannot bound a budget (prices are cents; 1e-30 is a bug or a trap).
MIN_PLAUSIBLE_PRICE_USD = Decimal("0.001")


@dataclass(frozen=True)
class JobOutcome:
    """What became of one job.

    Attributes:
        job: The job.
        job_id: Its id (``job.id`` or the stable hash).
        status: ``succeeded``, ``failed`` (``error`` holds the typed error), ``outcome_unknown``
            (sent, no answer: it may have been charged) or ``skipped`` (``reason`` says why).
        result: The :class:`~inpaint_async.EditResult` of a success.
        error: The exception of a failure or an unknown outcome.
        reason: Why a job was skipped or its outcome is unknown.
        cost_usd: The estimated price of a succeeded or unknown job (``None`` without an
            estimator).
        request_id: The server's request id (CF-RAY), when one came back.
        elapsed: Seconds from launch to outcome.
    """

    job: EditJob
    job_id: str
    status: OutcomeStatus
    result: EditResult | None = None
    error: BaseException | None = None
    reason: str | None = None
    cost_usd: Decimal | None = None
    request_id: str | None = None
    elapsed: float = 0.0

    @property
    def output(self) -> Path:
        """Where the job writes its image."""
        return self.job.output


@dataclass(frozen=True)
class BatchProgress:
    """A snapshot of a running batch, handed to event callbacks."""

    succeeded: int
    failed: int
    outcome_unknown: int
    skipped: int
    in_flight: int
    queued: int
    concurrency: int
    spent_usd: Decimal
    budget_usd: Decimal | None
    elapsed: float
    input_done: bool
    paused: str | None

    @property
    def done(self) -> int:
        """Jobs with an outcome."""
        return self.succeeded + self.failed + self.outcome_unknown + self.skipped

    @property
    def rate(self) -> float:
        """Succeeded jobs per second so far."""
        return self.succeeded / self.elapsed if self.elapsed > 0 else 0.0


@dataclass(frozen=True)
class BatchEvent:
    """Something happened in a batch.

    ``kind``: ``started`` (a job was launched), ``finished`` (a job has an outcome, in
    ``outcome``), ``paused`` / ``resumed`` (launches held back: ``message`` says why),
    ``stopped`` (no more launches: ``message``), ``done`` (the run ended).
    """

    kind: Literal["started", "finished", "paused", "resumed", "stopped", "done"]
    progress: BatchProgress
    outcome: JobOutcome | None = None
    message: str | None = None


@dataclass
class BatchSummary:
    """The totals of a finished (or interrupted) batch run.

    ``skipped_unknown`` counts the skipped jobs whose journaled outcome is unknown (not re-run
    without ``rerun_unknown=True``); ``not_started`` is ``None`` for an open-ended job source.
    ``stopped_by`` says why launching stopped (``"budget"``, ``"error"``: one every job would hit,
    in ``stop_error``, or ``"input"``: the job source failed); ``stopped_reason`` says it in words.
    """

    succeeded: int = 0
    failed: int = 0
    outcome_unknown: int = 0
    skipped: int = 0
    skipped_unknown: int = 0
    not_started: int | None = 0
    spent_usd: Decimal = Decimal(0)
    budget_usd: Decimal | None = None
    elapsed: float = 0.0
    stopped_reason: str | None = None
    stopped_by: StopCause | None = None
    stop_error: BaseException | None = None
    cancelled: bool = False
    journal: Path | None = None
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every job succeeded (or was skipped as already done) and nothing stopped the run."""
        return (
            self.failed == 0
            and self.outcome_unknown == 0
            and self.skipped_unknown == 0
            and self.stopped_reason is None
            and not self.cancelled
        )

    def write_report(self, path: str | os.PathLike[str] | None = None, **options: Any) -> Path:
        """Write the run's report page (``inpaint_async.report.write_report``); return its path.

        ``path`` defaults to ``report.html`` beside the journal. Needs a journal and Pillow.
        """
        if self.journal is None:
            raise ConfigurationError("the report is made from the journal: run with journal=...")
        from ..report import write_report

        return write_report(self.journal, path, summary=self, **options)


def is_run_stopping(exc: BaseException) -> bool:
    """Whether every further job would hit ``exc`` too (bad credentials, no money, top-up cap)."""
    return isinstance(exc, AuthenticationError | PaymentRequiredError | TopUpError)


def retryable_on_resume(exc: BaseException) -> bool:
    """Whether a job that failed with ``exc`` is re-run on resume: the server did no work and
    the cause may be gone (connection, 429, 5xx, 401, 402, a top-up failure, an output folder
    that could not be written before sending)."""
    if isinstance(exc, ValidationError) and exc.param == "output":
        return True  # refused locally before sending: nothing was paid, the folder may be fixed
    return isinstance(
        exc,
        APIConnectionError | RateLimitError | ServerError | AuthenticationError
        | PaymentRequiredError | TopUpError,
    )  # fmt: skip


def _error_record(exc: BaseException, *, retryable: bool | None = None) -> dict[str, Any]:
    return {
        "type": type(exc).__name__,
        "status": getattr(exc, "status_code", None),
        "code": getattr(exc, "code", None),
        "message": str(exc)[:500],
        "retryable": retryable_on_resume(exc) if retryable is None else retryable,
    }


class _Skip(NamedTuple):
    """Why a job is not run on resume; ``unknown``: its journaled outcome is unknown."""

    reason: str
    unknown: bool = False


def _path_key(path: str | os.PathLike[str]) -> str:
    """One spelling per file name: absolute, case-folded where the OS folds it."""
    return os.path.normcase(os.path.abspath(path))


class _Stopped(Exception):
    """Internal: the run stopped launching while the launcher waited."""


class BatchRunner:
    """Run many edits concurrently; yield each job's :class:`JobOutcome` as it completes.

    Build one with ``client.batch(jobs, ...)`` and iterate it, or ``await runner.run()``::

        async with InpaintClient() as client:
            runner = client.batch(jobs, budget_usd=5, journal="run.jsonl")
            async for outcome in runner:
                print(outcome.status, outcome.output)
            print(runner.summary)

    A runner runs once. Failures are data: one job's error never raises; errors every job would
    hit (401, a 402 without a usable top-up policy, a top-up cap) and the budget stop the
    launch of new jobs while the ones in flight finish.

    Args:
        client: The client (its auth, retry policy and top-up policy apply to every job).
        jobs: :class:`EditJob` s, from any iterable or async iterable.
        concurrency: ``"auto"`` (adaptive) or a fixed number of jobs in flight.
        max_concurrency: The ceiling of ``"auto"`` (default 32; the wallet's in-flight cap,
            5, for wallet auth).
        initial_concurrency: Where ``"auto"`` starts.
        budget_usd: Stop launching jobs once the next one's estimated price would take the
            spend (succeeded and unknown jobs, plus jobs in flight) above this.
        estimator: Prices a job before launch (USD ``Decimal``; may be async). Default:
            :func:`catalogue_estimate`, the catalogue price (``client.estimate_cost``).
        journal: A JSONL file recording every state change; an existing one is resumed.
        rerun_unknown: On resume, also re-run jobs whose outcome is unknown (they may have
            been charged already).
        job_timeout: Seconds per job covering its retries, waits and top-ups (``None``: none).
        allow_unpriced: With a budget, run jobs whose catalogue price is missing, zero,
            negative or below $0.001, counted at $0 (default: refuse them with
            :class:`~inpaint_async.PriceError`, naming the model, before anything is sent).
        fsync: fsync journal records (default ``True``).
        on_event: Called with a :class:`BatchEvent` on every launch, outcome, pause and stop.
        coordinator: A :class:`~inpaint_async.coordination.Coordinator` shared with other
            runners or processes: it becomes the journal (each job is claimed from it right
            before it is sent, and its outcome recorded there) and holds the budget (each
            job's price is reserved from it). Not combined with ``journal``.
    """

    def __init__(
        self,
        client: InpaintClient,
        jobs: Iterable[EditJob] | AsyncIterable[EditJob],
        *,
        concurrency: int | str = "auto",
        max_concurrency: int | None = None,
        initial_concurrency: int = 4,
        budget_usd: Decimal | int | str | float | None = None,
        estimator: Estimator | None = None,
        journal: str | os.PathLike[str] | Journal | None = None,
        rerun_unknown: bool = False,
        job_timeout: float | None = None,
        fsync: bool = True,
        on_event: Callable[[BatchEvent], None] | None = None,
        allow_unpriced: bool = False,
        coordinator: Coordinator | None = None,
    ) -> None:
        if coordinator is not None and journal is not None:
            raise ConfigurationError(
                "pass either journal= or coordinator= (the coordinator keeps the journal)"
            )
        self._coordinator = coordinator
        self._client = client
        self._jobs = jobs
        wallet_cap = getattr(client.auth, "max_in_flight", None)
        ceiling = max_concurrency or _DEFAULT_MAX_CONCURRENCY
        if isinstance(wallet_cap, int):
            ceiling = min(ceiling, wallet_cap)
        self.limiter = AdaptiveLimiter(
            concurrency,
            initial=initial_concurrency,
            maximum=ceiling,
            max_pause=client.retry.max_retry_after,
        )
        self.budget_usd = to_usd(budget_usd, "budget_usd") if budget_usd is not None else None
        if self.budget_usd is not None and self.budget_usd <= 0:
            raise ConfigurationError("budget_usd must be positive")
        self._estimator = estimator
        self.allow_unpriced = allow_unpriced
        if isinstance(journal, Journal):
            self._journal: Journal | None = journal
        elif journal is not None:
            self._journal = Journal(journal, fsync=fsync)
        else:
            self._journal = None
        self.rerun_unknown = rerun_unknown
        if job_timeout is not None and (
            isinstance(job_timeout, bool)
            or not isinstance(job_timeout, int | float)
            or not math.isfinite(job_timeout)
            or job_timeout <= 0
        ):
            raise ValidationError(
                f"job_timeout must be a finite number of seconds above 0, or None; got "
                f"{job_timeout!r}",
                param="job_timeout",
            )
        self.job_timeout = job_timeout
        self._on_event = on_event
        self.summary = BatchSummary(budget_usd=self.budget_usd)
        self._started = False
        self._t0 = 0.0
        self._spent = Decimal(0)
        # The budget of a run without a coordinator (the coordinator's otherwise): one mechanism.
        self._budget = Budget()
        self._queued = 0
        self._consumed = 0
        self._input_done = False
        self._stop = asyncio.Event()
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._paused: str | None = None
        self._prior: dict[str, JournalEntry] = {}
        self._claimed: set[str] = set()  # every output file claimed by a job of this run
        self._outputs = OutputFolders()

    # -- public -------------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[JobOutcome]:
        return self._run()

    async def run(self) -> BatchSummary:
        """Run every job to its outcome and return the summary."""
        async for _ in self:
            pass
        return self.summary

    def progress(self) -> BatchProgress:
        """A snapshot of the run now."""
        s = self.summary
        return BatchProgress(
            succeeded=s.succeeded,
            failed=s.failed,
            outcome_unknown=s.outcome_unknown,
            skipped=s.skipped,
            in_flight=self.limiter.in_flight,
            queued=self._queued,
            concurrency=self.limiter.limit,
            spent_usd=self._spent,
            budget_usd=self.budget_usd,
            elapsed=time.monotonic() - self._t0 if self._t0 else 0.0,
            input_done=self._input_done,
            paused=self._paused,
        )

    # -- the run ------------------------------------------------------------------------------

    async def _run(self) -> AsyncIterator[JobOutcome]:
        if self._started:
            raise RuntimeError("a BatchRunner runs once; build a new one")
        self._started = True
        self._t0 = time.monotonic()
        journal = self._journal
        if journal is not None:
            self._prior = await asyncio.to_thread(read_journal, journal.path)
            journal.open()
            self.summary.journal = journal.path
            self._claimed.add(_path_key(journal.path))  # no job may write over the journal
        observers: list[Callable[[RawResponse], None]] = self._client._shared.setdefault(
            "observers", []
        )
        observers.append(self._observe)
        outcomes: asyncio.Queue[JobOutcome | None] = asyncio.Queue()
        launcher = asyncio.get_running_loop().create_task(self._launch(outcomes))
        input_error: BaseException | None = None
        try:
            while True:
                item = await outcomes.get()
                if item is None:
                    break
                yield item
            input_error = launcher.exception() if launcher.done() else None
        except BaseException:
            self.summary.cancelled = True
            raise
        finally:
            launcher.cancel()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(launcher, *self._tasks, return_exceptions=True)
            if self._client._shared.get("observers") is observers and self._observe in observers:
                observers.remove(self._observe)
            if journal is not None:
                try:
                    await journal.sync()
                finally:
                    journal.close()
            self.summary.spent_usd = self._spent
            self.summary.elapsed = time.monotonic() - self._t0
            self._emit("done")
        if input_error is not None:
            raise input_error

    async def _launch(self, outcomes: asyncio.Queue[JobOutcome | None]) -> None:
        """Feed jobs through the gates (stop, resume, budget, top-up, limiter) into tasks."""
        source = aiter_jobs(self._jobs)
        try:
            async for job in source:
                if self._stop.is_set():
                    break
                jid, fingerprint = await self._job_id(job)
                # Refused unsent: the journal knows this id for another job, or another job
                # of this run writes its output (claimed here otherwise).
                refusal = self._mismatch(jid, fingerprint) or self._claim_output(job)
                if refusal is not None:
                    self._consumed += 1
                    refused = JobOutcome(job, jid, "failed", error=refusal, reason=str(refusal))
                    self._settle(refused, None)
                    self._finish(outcomes, refused)
                    continue
                skip = self._resume_decision(jid, job)
                if skip is not None:
                    self._consumed += 1
                    if skip.unknown:
                        self.summary.skipped_unknown += 1
                    self._finish(outcomes, JobOutcome(job, jid, "skipped", reason=skip.reason))
                    continue
                self._queued += 1
                reservation: Reservation | None = None
                try:
                    estimate = await self._estimate(job)
                    reservation = await self._reserve(estimate)
                    await self._wait_top_up()
                    if self._stop.is_set():
                        raise _Stopped
                    if not self.limiter.try_acquire():  # the common case costs no future
                        await self._until_stopped(self.limiter.acquire(), self.limiter.release)
                except _Stopped:
                    self._queued -= 1
                    if reservation is not None:
                        await self._release(reservation)
                    break
                self._queued -= 1
                self._consumed += 1
                task = asyncio.get_running_loop().create_task(
                    self._run_job(job, jid, estimate, outcomes, fingerprint, reservation)
                )
                self._tasks.add(task)
                task.add_done_callback(functools.partial(self._job_ended, reservation=reservation))
                self._emit("started")
            else:
                self._input_done = True
            if not self._input_done:
                self._count_rest()
        except Exception as exc:
            # The job source (a manifest line, a journal) failed: launch nothing more, let the
            # jobs in flight finish, and raise it at the end of the iteration.
            self._stop_run("input", f"input error: {exc}", None)
            while self._tasks:
                await asyncio.wait(set(self._tasks))
            outcomes.put_nowait(None)
            raise
        self._input_done = True
        while self._tasks:
            await asyncio.wait(set(self._tasks))
        outcomes.put_nowait(None)

    def _count_rest(self) -> None:
        jobs = self._jobs
        if isinstance(jobs, list | tuple):
            self.summary.not_started = max(0, len(jobs) - self._consumed)
        else:
            self.summary.not_started = None  # an open-ended source: not counted

    async def _job_id(self, job: EditJob) -> tuple[str, str | None]:
        """The job's id, and its fingerprint when a journal records it."""
        if self._journal is None:
            if job.id is not None:
                return job.id, None
            if isinstance(job.image, Path | str) and not _small_file(job.image):
                return await asyncio.to_thread(job_id, job), None  # reads the file to hash it
            return job_id(job), None
        if isinstance(job.image, Path | str) and not _small_file(job.image):
            return await asyncio.to_thread(job_identity, job)
        return job_identity(job)

    def _mismatch(self, jid: str, fingerprint: str | None) -> JournalMismatchError | None:
        """A refusal when the journal recorded this id for a different job (input, prompt,
        params); records written before fingerprints existed are trusted."""
        prior = self._prior.get(jid)
        if prior is None or fingerprint is None or prior.fingerprint is None:
            return None
        if prior.fingerprint == fingerprint:
            return None
        return JournalMismatchError(
            f"job {jid}: the journal recorded this id for a different input, prompt or "
            f"parameters (it says {prior.state}); refused, nothing sent. Use a new journal, "
            "or give the changed job a new id."
        )

    def _claim_output(self, job: EditJob) -> ValidationError | None:
        """A refusal when an earlier job of this run writes the same output file (each would
        be paid for, and the later image would replace the earlier); else claim it.

        A job skipped on resume claims its output too: its image is already there. Folder
        batches meet this with ``a.jpg`` and ``a.png`` (both ``a.png`` out), manifests with two
        lines naming one output or two inputs of the same name in different folders.
        """
        key = _path_key(job.output)
        if key in self._claimed:
            journal = self._journal
            if journal is not None and key == _path_key(journal.path):
                return ValidationError(
                    f"{job.output} is this batch's journal: the image would replace the record "
                    "that makes the batch resumable, so this job was not sent; give it another "
                    "output",
                    param="output",
                )
            return ValidationError(
                f"{job.output} is the output of an earlier job of this batch too: both would be "
                "paid for and the later image would replace the earlier, so this job was not "
                "sent; give each job its own output",
                param="output",
            )
        self._claimed.add(key)
        return None

    def _resume_decision(self, jid: str, job: EditJob) -> _Skip | None:
        """``None`` to run the job, else why it is skipped."""
        prior = self._prior.get(jid)
        if prior is None:
            return None
        decision, reason = resume_decision(
            prior, rerun_unknown=self.rerun_unknown, output=job.output
        )
        if decision == "run" or reason is None:
            return None
        return _Skip(reason, unknown=decision == "skip-unknown")

    async def _estimate(self, job: EditJob) -> Decimal | None:
        estimator = self._estimator
        if estimator is None:
            try:
                price = await catalogue_estimate(self._client, job)
            except PriceError as exc:
                if self.budget_usd is not None and not self.allow_unpriced:
                    raise PriceError(
                        f"{exc}: a budget cannot be enforced without a price, so the job was "
                        "not launched; pass allow_unpriced=True (CLI: --allow-unpriced) to run "
                        "it anyway, counted at $0",
                        model=exc.model,
                        price_usd=None,
                    ) from None
                return None if self.budget_usd is None else Decimal(0)
            except Exception:
                if self.budget_usd is not None:
                    raise  # a budget needs prices; without one the cost is only informative
                return None
            if price >= MIN_PLAUSIBLE_PRICE_USD:
                return price
            if self.budget_usd is None:
                return None  # never report a negative or absurd spend
            if self.allow_unpriced:
                return Decimal(0)
            model = await self._model_name(job)
            raise PriceError(
                f"the catalogue prices {model} at ${price}: a budget cannot be enforced with "
                "that price, so the job was not launched; pass allow_unpriced=True (CLI: "
                "--allow-unpriced) to run it anyway, counted at $0",
                model=model,
                price_usd=price,
            )
        value: Any = estimator(job)
        if inspect.isawaitable(value):
            value = await value
        return to_usd(value, "estimate")

    async def _model_name(self, job: EditJob) -> str:
        """The model a job runs on (the catalogue's default when it names none)."""
        from .._checks import resolve_model

        named = job.params.get("model") or job.params.get("modelId")
        if named:
            return str(named)
        catalogue = self._client.models.cached("inpaint")
        entry = resolve_model(catalogue, None) if catalogue is not None else None
        return entry.id if entry is not None else "the default model"

    async def _reserve(self, estimate: Decimal | None) -> Reservation | None:
        """Reserve the job's price from the budget: the run's own, or the coordinator's (shared
        by every runner that uses it). Stops the run when the budget is reached."""
        budget = self.budget_usd
        if budget is None or estimate is None:
            return None
        if self._stop.is_set():
            raise _Stopped
        coordinator = self._coordinator
        if coordinator is not None:
            reservation = await coordinator.reserve(estimate, budget_usd=budget)
            if reservation is None:
                self._stop_run(
                    "budget",
                    f"budget reached: the coordinator's spend leaves less than ${estimate} of "
                    f"${budget}",
                    None,
                )
                raise _Stopped
            return reservation
        own = self._budget
        while (held := own.try_reserve(estimate, budget_usd=budget)) is True:
            # Jobs in flight hold reservations; a failure gives its reservation back.
            self._set_paused("budget: waiting for jobs in flight")
            await self._until_stopped(own.changed())
        if held is False:
            self._stop_run(
                "budget",
                f"budget reached: ${self._spent} spent of ${budget}, the next job costs "
                f"${estimate}",
                None,
            )
            raise _Stopped
        self._set_paused(None)
        return held

    async def _release(self, reservation: Reservation) -> None:
        if self._coordinator is not None:
            await self._coordinator.release(reservation)
        else:
            self._budget.release(reservation)

    async def _wait_top_up(self) -> None:
        hooks = self._client._wallet_hooks
        if hooks is not None and hooks.paused:
            self._set_paused("a wallet top-up is in progress")
            await self._until_stopped(hooks.wait_resumed())
        self._set_paused(None)

    def _job_ended(
        self, task: asyncio.Task[None], *, reservation: Reservation | None = None
    ) -> None:
        # A job can settle well before its task ends (journalling); a launcher waiting on the
        # budget must see the task go, or with nothing left in flight it would wait forever.
        self._tasks.discard(task)
        if reservation is not None and self._coordinator is None:
            # A job that ended without an outcome (an error past the network) may have been
            # charged: its price stays counted (a no-op for a job already settled).
            self._budget.commit(reservation, reservation.amount_usd)
        self._changed.set()

    async def _until_stopped(
        self, awaitable: Awaitable[object], undo: Callable[[], None] | None = None
    ) -> None:
        """Await ``awaitable`` unless the run stops first (then raise ``_Stopped``).

        ``undo`` gives back what ``awaitable`` took when it completed just as the run stopped.
        """
        if self._stop.is_set():
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            raise _Stopped
        work = asyncio.ensure_future(awaitable)
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not work.done():
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
        if work.cancelled():
            raise _Stopped
        work.result()
        if self._stop.is_set():
            if undo is not None:
                undo()
            raise _Stopped

    def _set_paused(self, reason: str | None) -> None:
        if reason == self._paused:
            return
        self._paused = reason
        self._emit("paused" if reason else "resumed", message=reason)

    def _stop_run(self, cause: StopCause, reason: str, error: BaseException | None) -> None:
        if self._stop.is_set():
            return
        self.summary.stopped_by = cause
        self.summary.stopped_reason = reason
        self.summary.stop_error = error
        self._stop.set()
        self._emit("stopped", message=reason)

    # -- one job ------------------------------------------------------------------------------

    async def _run_job(
        self,
        job: EditJob,
        jid: str,
        estimate: Decimal | None,
        outcomes: asyncio.Queue[JobOutcome | None],
        fingerprint: str | None = None,
        reservation: Reservation | None = None,
    ) -> None:
        started = time.monotonic()
        journal: Journal | _CoordinatorJournal | None = self._journal
        coordinator = self._coordinator
        outcome: JobOutcome
        try:
            try:
                self._outputs.prepare(job.output)
                if coordinator is not None:
                    journal = _CoordinatorJournal(coordinator)
                    # Claimed right before sending: the claim journals `sent` (durably) unless
                    # the coordinator's journal says the job is done or may have been charged.
                    claim = await coordinator.claim(
                        jid,
                        owner=secrets.token_hex(8),
                        rerun_unknown=self.rerun_unknown,
                        fields={"output": str(job.output), **_job_fields(job)},
                    )
                    if not claim.run:
                        if claim.decision == "skip-unknown":
                            self.summary.skipped_unknown += 1
                        outcome = JobOutcome(job, jid, "skipped", reason=claim.reason)
                        self._settle(outcome, estimate)
                        await self._settle_reservation(reservation, outcome)
                        self._finish(outcomes, outcome)
                        return
                elif journal is not None:
                    # Durable before the request leaves: a crash can never hide a paid request.
                    await journal.append(
                        jid, "sent", output=str(job.output), fingerprint=fingerprint,
                        **_job_fields(job),
                    )  # fmt: skip
            except asyncio.CancelledError:
                # (With a coordinator, a claim already journalled stays `sent`: unknown.)
                if isinstance(journal, Journal):
                    journal.append_now(
                        jid, "failed", output=str(job.output),
                        error={"type": "Cancelled", "message": "cancelled before sending",
                               "retryable": True},
                    )  # fmt: skip
                raise
            except OSError as exc:
                outcome = JobOutcome(job, jid, "failed", error=exc, reason=str(exc))
                self._settle(outcome, estimate)
                await self._settle_reservation(reservation, outcome)
                self._finish(outcomes, outcome)
                return
            outcome = await self._edit(job, jid, estimate, started)
        finally:
            self.limiter.release()
        self._settle(outcome, estimate)
        await self._settle_reservation(reservation, outcome)
        if journal is not None:
            await self._journal_outcome(journal, outcome)
        self._finish(outcomes, outcome)

    async def _settle_reservation(
        self, reservation: Reservation | None, outcome: JobOutcome
    ) -> None:
        """Commit a job's reservation when it may have been charged, else release it."""
        if reservation is None:
            return
        coordinator = self._coordinator
        if outcome.status in ("succeeded", "outcome_unknown"):
            if coordinator is not None:
                await coordinator.commit(reservation, reservation.amount_usd)
            else:
                self._budget.commit(reservation, reservation.amount_usd)
        else:
            await self._release(reservation)

    async def _edit(
        self, job: EditJob, jid: str, estimate: Decimal | None, started: float
    ) -> JobOutcome:
        try:
            async with asyncio.timeout(self.job_timeout) as deadline:
                result = await self._client.images.edit(
                    job.image, job.prompt, output=job.output, **job.params
                )
        except asyncio.CancelledError:
            if self._journal is not None:
                self._journal.append_now(
                    jid, "unknown", output=str(job.output), cost_usd=estimate,
                    reason="cancelled while in flight",
                )  # fmt: skip
            raise
        except TimeoutError as exc:
            if not deadline.expired():
                raise
            return JobOutcome(
                job, jid, "outcome_unknown", error=exc, cost_usd=estimate,
                reason=f"the job's deadline ({self.job_timeout}s) passed while it was in flight",
                elapsed=time.monotonic() - started,
            )  # fmt: skip
        except (OutcomeUnknownError, UnexpectedResponseError, OutputWriteError) as exc:
            # A 2xx that was not a usable image (empty, garbage, too large) or could not be
            # written was most likely charged: recorded as unknown, so a resume does not pay
            # for it again unless asked to (rerun_unknown).
            return JobOutcome(
                job, jid, "outcome_unknown", error=exc, cost_usd=estimate,
                reason=f"{type(exc).__name__}: {exc}", request_id=exc.request_id,
                elapsed=time.monotonic() - started,
            )  # fmt: skip
        except Exception as exc:
            if is_run_stopping(exc):
                self._stop_run("error", f"{type(exc).__name__}: {exc}", exc)
            return JobOutcome(
                job, jid, "failed", error=exc, reason=f"{type(exc).__name__}: {exc}",
                request_id=getattr(exc, "request_id", None), elapsed=time.monotonic() - started,
            )  # fmt: skip
        if self.limiter.adaptive:
            self.limiter.observe_success()
        return JobOutcome(
            job, jid, "succeeded", result=result, cost_usd=estimate,
            request_id=result.request_id, elapsed=time.monotonic() - started,
        )  # fmt: skip

    def _settle(self, outcome: JobOutcome, estimate: Decimal | None) -> None:
        s = self.summary
        if outcome.status == "succeeded":
            s.succeeded += 1
        elif outcome.status == "outcome_unknown":
            s.outcome_unknown += 1
        elif outcome.status == "failed":
            s.failed += 1
            name = type(outcome.error).__name__
            s.failures[name] = s.failures.get(name, 0) + 1
        if outcome.status in ("succeeded", "outcome_unknown") and estimate is not None:
            self._spent += estimate
        self._changed.set()

    async def _journal_outcome(
        self, journal: Journal | _CoordinatorJournal, outcome: JobOutcome
    ) -> None:
        jid, output = outcome.job_id, str(outcome.job.output)
        if outcome.status == "succeeded":
            result = outcome.result
            await journal.append(
                jid, "succeeded", output=output, request_id=outcome.request_id,
                cost_usd=outcome.cost_usd, model=result.model_id if result else None,
                blurred=True if result is not None and result.is_blurred else None,
            )  # fmt: skip
        elif outcome.status == "outcome_unknown":
            await journal.append(
                jid, "unknown", output=output, request_id=outcome.request_id,
                cost_usd=outcome.cost_usd, reason=outcome.reason,
            )  # fmt: skip
        elif outcome.status == "failed" and outcome.error is not None:
            await journal.append(
                jid, "failed", output=output, request_id=outcome.request_id,
                error=_error_record(outcome.error),
            )  # fmt: skip

    def _finish(self, outcomes: asyncio.Queue[JobOutcome | None], outcome: JobOutcome) -> None:
        if outcome.status == "skipped":
            self.summary.skipped += 1
        outcomes.put_nowait(outcome)
        self._emit("finished", outcome=outcome)

    # -- feedback -----------------------------------------------------------------------------

    def _observe(self, raw: RawResponse) -> None:
        code = None
        if raw.status == 429 and raw.content:
            try:
                body = json.loads(raw.content)
                code = body.get("code") if isinstance(body, dict) else None
            except (ValueError, RecursionError):
                pass
        self.limiter.observe(raw.status, raw.headers, code=code)

    def _emit(
        self,
        kind: Literal["started", "finished", "paused", "resumed", "stopped", "done"],
        *,
        outcome: JobOutcome | None = None,
        message: str | None = None,
    ) -> None:
        if self._on_event is not None:
            self._on_event(BatchEvent(kind, self.progress(), outcome=outcome, message=message))


class _CoordinatorJournal:
    """Outcome records go to the coordinator, the journal's single writer."""

    def __init__(self, coordinator: Coordinator) -> None:
        self._coordinator = coordinator

    async def append(self, job: str, state: Any, **fields: Any) -> None:
        await self._coordinator.record(job, state, **fields)


async def catalogue_estimate(client: InpaintClient, job: EditJob) -> Decimal:
    """The default estimator: the job's price from the model catalogue (``client.estimate_cost``).

    The catalogue is fetched once and cached by the client.
    """
    params = job.params
    model = params.get("model") or params.get("modelId")
    return await client.estimate_cost(
        model,
        resolution=params.get("resolution"),
        quality=params.get("quality"),
        enhance_prompt=bool(params.get("enhance_prompt", False)),
    )


def _job_fields(job: EditJob) -> dict[str, Any]:
    """What a report shows of a job besides its outcome: the prompt, the parameters, and the input
    when it is a path or a URL (never inline bytes or base64)."""
    fields: dict[str, Any] = {"prompt": job.prompt, "params": job.params or None}
    image = job.image
    if isinstance(image, Path):
        fields["input"] = str(image)
    elif (
        isinstance(image, str)
        and len(image) < 4096
        and (image.lower().startswith(("http://", "https://")) or os.path.isfile(image))
    ):
        fields["input"] = image
    return fields


#: Files up to this size are hashed for the job id on the event loop: reading one from the page
#: cache costs less than a hop to a worker thread and back.
_INLINE_HASH_BYTES = 256 * 1024


def _small_file(image: Path | str) -> bool:
    """Whether ``image`` names a file small enough to hash inline (URLs and base64 are not files)."""
    text = str(image)
    if not isinstance(image, Path) and (
        len(text) >= 4096 or text[:8].lower().startswith(("http://", "https://", "data:"))
    ):
        return True  # not a file: hashing the string is cheap
    try:
        return os.stat(text).st_size <= _INLINE_HASH_BYTES
    except (OSError, ValueError):
        return True  # missing: job_id records it as unreadable without reading anything
