"""Batches of edits: :class:`BatchRunner` (``client.batch(...)``), jobs, the journal, the limiter.

See ``docs/batch.md``.
"""

from ._jobs import EditJob, folder_jobs, job_fingerprint, job_id, manifest_jobs
from ._journal import Journal, JournalCorruptError, JournalEntry, JournalMismatchError, read_journal
from ._limiter import AdaptiveLimiter
from ._runner import (
    BatchEvent,
    BatchProgress,
    BatchRunner,
    BatchSummary,
    Estimator,
    JobOutcome,
    OutcomeStatus,
    StopCause,
    catalogue_estimate,
    is_run_stopping,
    retryable_on_resume,
)

__all__ = [
    "AdaptiveLimiter",
    "BatchEvent",
    "BatchProgress",
    "BatchRunner",
    "BatchSummary",
    "EditJob",
    "Estimator",
    "JobOutcome",
    "Journal",
    "JournalCorruptError",
    "JournalEntry",
    "JournalMismatchError",
    "OutcomeStatus",
    "StopCause",
    "catalogue_estimate",
    "folder_jobs",
    "is_run_stopping",
    "job_fingerprint",
    "job_id",
    "manifest_jobs",
    "read_journal",
    "retryable_on_resume",
]
