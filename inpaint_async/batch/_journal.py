"""The batch journal: an append-only JSONL file, one record per state change of a job.

Each line is one JSON object::

    {"v": 1, "ts": 1767225600.123, "job": "j3f...", "state": "sent", "output": "out/a.png",
     "input": "in/a.png", "prompt": "add a hat", "params": {"model": "..."}}
    {"v": 1, "ts": 1767225601.456, "job": "j3f...", "state": "succeeded",
     "request_id": "8c1d...-EMU", "cost_usd": "0.04", "output": "out/a.png", "model": "..."}
    {"v": 1, "ts": ..., "job": "...", "state": "failed",
     "error": {"type": "BadRequestError", "status": 400, "code": null, "message": "...",
               "retryable": false}, "request_id": "..."}
    {"v": 1, "ts": ..., "job": "...", "state": "unknown", "reason": "OutcomeUnknownError: ..."}

``input`` (a path or URL; never inline bytes), ``prompt`` and ``params`` describe the job for the
report (``inpaint_async.report``); readers ignore fields they do not know.

``sent`` is written (and fsynced) *before* the request leaves, so a crash can never hide a request
that may have been paid: a job whose last record is ``sent`` is treated as ``unknown`` on resume.

Durability: every record is one ``write(2)`` on an ``O_APPEND`` descriptor (a crash of the process
keeps it: it is in the kernel's page cache) and is then fsynced. Concurrent jobs share fsyncs
(group commit): a record waits for the next ``fsync`` that starts after it was written, run in a
worker thread so the event loop keeps going. A crash mid-write leaves at most one torn last line:
reading ignores it, and opening for append cuts it off first.

A file that is not a journal is never touched: its first line must be a record of ours
(``"v": 1``, a string ``job``, a known ``state``), every later line too, and only a torn tail that
could be the start of a record (and no longer than a record can be) is ever cut off. Anything
else raises :class:`JournalCorruptError`, and the file keeps every byte. A journal must be a
regular file (a FIFO would block).

Each ``sent`` record carries the job's ``fingerprint`` (the input's content digest, the prompt
and the parameters): a resume compares it with the job it is asked to run, so a journal reused
for a different batch cannot answer for it (see ``docs/batch.md``).
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .._exceptions import ConfigurationError

__all__ = [
    "JobState",
    "Journal",
    "JournalCorruptError",
    "JournalEntry",
    "JournalMismatchError",
    "read_journal",
]

JobState = Literal["sent", "succeeded", "failed", "unknown"]
_STATES = frozenset({"sent", "succeeded", "failed", "unknown"})


#: A record is a few hundred bytes; an unterminated tail longer than this is not a torn record.
MAX_RECORD_BYTES = 64 * 1024
_RECORD_START = b'{"v":1,'


class JournalCorruptError(ConfigurationError):
    """The file is not a journal, or a line other than a torn last one is not a record.

    The file is left exactly as it was.
    """


class JournalMismatchError(ConfigurationError):
    """A job's id is in the journal, but recorded for a different input, prompt or parameters.

    The job is refused (nothing is sent, nothing is journalled): the record answers for another
    job, so neither skipping nor re-running it on that record's word would be right. Use a new
    journal, or give the changed job a new id.
    """


def is_record(obj: object) -> bool:
    """Whether ``obj`` (a parsed line) is a journal record of ours."""
    if not isinstance(obj, dict):
        return False
    state = obj.get("state")
    return (
        obj.get("v") == 1
        and isinstance(obj.get("job"), str)
        and isinstance(state, str)
        and state in _STATES
    )


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return obj if is_record(obj) else None


def _could_be_torn_record(tail: bytes) -> bool:
    """Whether an unterminated last line could be a record cut short by a crash."""
    n = min(len(tail), len(_RECORD_START))
    return len(tail) <= MAX_RECORD_BYTES and tail[:n] == _RECORD_START[:n]


def _not_a_journal(path: Path, why: str) -> JournalCorruptError:
    return JournalCorruptError(
        f"{path} is not a batch journal ({why}); it was left untouched. Pass another --journal "
        "path (or journal=) for this batch."
    )


def _check_regular(path: Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise _not_a_journal(path, "not a regular file")


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """The last state a journal recorded for one job."""

    job: str
    state: JobState
    record: Mapping[str, Any]
    fingerprint: str | None = None

    @property
    def output(self) -> Path | None:
        """The output path the job writes (or wrote)."""
        value = self.record.get("output")
        return Path(value) if value else None

    @property
    def retryable(self) -> bool:
        """For a ``failed`` job: whether re-running it may succeed (see ``docs/batch.md``)."""
        error = self.record.get("error") or {}
        return bool(error.get("retryable"))


def _records(path: Path) -> Iterator[dict[str, Any]]:
    data = path.read_bytes()
    lines = data.split(b"\n")
    torn = lines.pop()  # b"" when the file ends with a newline; else a torn last line
    first = True
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        record = _parse(line)
        if record is None:
            if first:
                raise _not_a_journal(path, f"line {number} is not a journal record")
            raise JournalCorruptError(f"{path}:{number}: not a journal record")
        first = False
        yield record
    if torn.strip():
        record = _parse(torn)
        if record is not None:
            yield record
        elif not _could_be_torn_record(torn):
            raise _not_a_journal(path, "its last line is neither a record nor a torn one")
        # else: written half when the process died; the change it recorded never completed


def read_journal(path: str | os.PathLike[str]) -> dict[str, JournalEntry]:
    """Replay a journal: each job id's last recorded state. A missing file is an empty journal.

    Raises:
        JournalCorruptError: a line before the last one does not parse.
    """
    p = Path(path)
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        return {}
    _check_regular(p, mode)
    state: dict[str, JournalEntry] = {}
    for record in _records(p):
        job = record["job"]
        fingerprint = record.get("fingerprint")
        if not isinstance(fingerprint, str):
            previous = state.get(job)
            fingerprint = previous.fingerprint if previous is not None else None
        state[job] = JournalEntry(job, record["state"], record, fingerprint)
    return state


class Journal:
    """An open journal file, appended to by one batch run at a time.

    Args:
        path: The JSONL file; created when missing.
        fsync: ``True`` (default) fsyncs every record (grouped across concurrent jobs);
            ``False`` only writes them (safe against a process crash, not a power loss).
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = Path(path)
        self._fsync = fsync
        self._fd: int | None = None
        self._written = 0  # records written
        self._synced = 0  # records known durable
        self._syncing: asyncio.Task[None] | None = None
        self.fsyncs = 0

    def open(self) -> Journal:
        """Open for appending (cutting a torn last line first) and lock it against other runs."""
        if self._fd is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_NONBLOCK", 0)
        fd = os.open(self.path, flags, 0o644)
        try:
            st = os.fstat(fd)
            _check_regular(self.path, st.st_mode)
            _lock(fd, self.path)
            _repair_tail(fd, self.path, st.st_size)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def close(self) -> None:
        """Sync and close the file."""
        fd, self._fd = self._fd, None
        if fd is not None:
            if self._fsync and self._synced < self._written:
                os.fsync(fd)
            os.close(fd)

    def __enter__(self) -> Journal:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------------

    def write(self, job: str, state: JobState, **fields: Any) -> int:
        """Append one record now (one ``write(2)``); return its sequence number. Not yet synced."""
        if self._fd is None:
            raise RuntimeError("the journal is not open")
        record: dict[str, Any] = {"v": 1, "ts": round(time.time(), 3), "job": job, "state": state}
        record.update({k: v for k, v in fields.items() if v is not None})
        line = (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode()
        written = 0
        while written < len(line):  # a regular file writes all at once; be correct regardless
            written += os.write(self._fd, line[written:])
        self._written += 1
        return self._written

    async def append(self, job: str, state: JobState, **fields: Any) -> None:
        """Append one record and return once it is durable (fsynced)."""
        seq = self.write(job, state, **fields)
        await self.sync(seq)

    def append_now(self, job: str, state: JobState, **fields: Any) -> None:
        """Append one record and fsync it in this thread (for cancellation paths)."""
        self.write(job, state, **fields)
        if self._fsync and self._fd is not None:
            os.fsync(self._fd)
            self._synced = self._written

    async def sync(self, seq: int | None = None) -> None:
        """Wait until record ``seq`` (default: every record written so far) is on disk."""
        target = self._written if seq is None else seq
        if not self._fsync:
            return
        while self._synced < target:
            task = self._syncing
            if task is None or task.done():
                task = self._syncing = asyncio.get_running_loop().create_task(self._sync_once())
            # Shielded: a cancelled job must not abort a sync other jobs are waiting for.
            await asyncio.shield(task)

    async def _sync_once(self) -> None:
        fd = self._fd
        if fd is None:
            return
        upto = self._written
        await asyncio.to_thread(os.fsync, fd)
        self.fsyncs += 1
        self._synced = max(self._synced, upto)


def _repair_tail(fd: int, path: Path, size: int) -> None:
    """Check the file is a journal, then cut off a torn last line (and nothing more)."""
    if not size:
        return
    first = os.pread(fd, MAX_RECORD_BYTES, 0)
    first_line = first.split(b"\n", 1)[0]
    if b"\n" in first and _parse(first_line) is None:
        raise _not_a_journal(path, "its first line is not a journal record")
    if b"\n" not in first and size > MAX_RECORD_BYTES:
        raise _not_a_journal(path, "its first line is longer than any record")
    tail = os.pread(fd, MAX_RECORD_BYTES + 1, max(0, size - MAX_RECORD_BYTES - 1))
    if tail.endswith(b"\n"):
        return
    cut = tail.rfind(b"\n")
    if cut < 0 and size > MAX_RECORD_BYTES:
        raise _not_a_journal(path, "its last line is longer than any record")
    torn = tail[cut + 1 :]
    if _parse(torn) is not None:
        os.write(fd, b"\n")  # a whole record that only lacks its newline: keep it
    elif _could_be_torn_record(torn):
        os.ftruncate(fd, size - len(torn))
    else:
        raise _not_a_journal(path, "its last line is neither a record nor a torn one")
    os.fsync(fd)


def _lock(fd: int, path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory lock
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise ConfigurationError(f"the journal {path} is in use by another batch run") from None
