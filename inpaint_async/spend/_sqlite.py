"""The SQLite store of the spend ledger: durable, shared by every process on one host.

stdlib ``sqlite3`` in WAL mode with ``synchronous=FULL``; every ledger operation is one
``BEGIN IMMEDIATE`` transaction, so a cap check and the signature it allows are atomic across
processes. A file is used only if it is a ledger of the same spender and of a schema this code
knows; anything else is refused with :class:`~inpaint_async.LedgerError` and left untouched.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TypeVar, cast

from .._exceptions import LedgerError
from ._ledger import Transaction
from ._records import AuthorizationRecord, Outcome, TopUpGateState

__all__ = ["SCHEMA_VERSION", "SqliteStore"]

T = TypeVar("T")

#: The schema this code writes. A file with a higher number is refused, never migrated down.
SCHEMA_VERSION = 1
_KIND = "inpaint-async spend ledger"
_MAGIC = b"SQLite format 3\x00"
# How long a transaction waits for another process's write lock before giving up.
_BUSY_TIMEOUT = 30.0

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE authorizations (
    nonce TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    amount_usd TEXT NOT NULL,
    payee TEXT NOT NULL,
    asset TEXT NOT NULL,
    network TEXT NOT NULL,
    valid_before INTEGER NOT NULL,
    signed_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    outcome_at REAL
);
CREATE TABLE edits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    label TEXT NOT NULL,
    reserved_usd TEXT NOT NULL,
    spent_usd TEXT NOT NULL,
    state TEXT NOT NULL,
    reserved_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX edits_reserved_at ON edits (reserved_at);
CREATE TABLE gate (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT,
    expires_at REAL NOT NULL,
    generation INTEGER NOT NULL,
    completed_at REAL
);
INSERT INTO gate (id, holder, expires_at, generation, completed_at) VALUES (1, NULL, 0, 0, NULL);
"""


class _SqliteTransaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def authorizations(self) -> list[AuthorizationRecord]:
        rows = self._db.execute(
            "SELECT nonce, kind, amount_usd, payee, asset, network, valid_before, signed_at, "
            "outcome, outcome_at FROM authorizations ORDER BY signed_at, nonce"
        ).fetchall()
        return [
            AuthorizationRecord(
                nonce=r[0],
                kind=r[1],
                amount_usd=Decimal(r[2]),
                payee=r[3],
                asset=r[4],
                network=r[5],
                valid_before=int(r[6]),
                signed_at=float(r[7]),
                outcome=cast(Outcome, r[8]),
                outcome_at=r[9],
            )
            for r in rows
        ]

    def insert_authorization(self, record: AuthorizationRecord) -> None:
        try:
            self._db.execute(
                "INSERT INTO authorizations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.nonce,
                    record.kind,
                    str(record.amount_usd),
                    record.payee,
                    record.asset,
                    record.network,
                    record.valid_before,
                    record.signed_at,
                    record.outcome,
                    record.outcome_at,
                ),
            )
        except sqlite3.IntegrityError:
            raise LedgerError("this authorization nonce is already recorded") from None

    def set_outcome(self, nonce: str, outcome: Outcome, at: float) -> bool:
        cur = self._db.execute(
            "UPDATE authorizations SET outcome = ?, outcome_at = ? WHERE nonce = ?",
            (outcome, at, nonce),
        )
        return cur.rowcount == 1

    def edit_sums(self, since: float) -> tuple[Decimal, Decimal]:
        spent = reserved = Decimal(0)
        for state, reserved_usd, spent_usd in self._db.execute(
            "SELECT state, reserved_usd, spent_usd FROM edits "
            "WHERE reserved_at >= ? AND state != 'released'",
            (since,),
        ):
            if state == "committed":
                spent += Decimal(spent_usd)
            else:
                reserved += Decimal(reserved_usd)
        return spent, reserved

    def insert_edit(self, label: str, amount: Decimal, at: float) -> int:
        cur = self._db.execute(
            "INSERT INTO edits (label, reserved_usd, spent_usd, state, reserved_at) "
            "VALUES (?, ?, '0', 'reserved', ?)",
            (label, str(amount), at),
        )
        return int(cur.lastrowid or 0)

    def finish_edit(self, edit_id: int, state: str, spent: Decimal, at: float) -> bool:
        cur = self._db.execute(
            "UPDATE edits SET state = ?, spent_usd = ?, finished_at = ? "
            "WHERE id = ? AND state = 'reserved'",
            (state, str(spent), at, edit_id),
        )
        return cur.rowcount == 1

    def gate(self) -> TopUpGateState:
        row = self._db.execute(
            "SELECT holder, expires_at, generation, completed_at FROM gate WHERE id = 1"
        ).fetchone()
        if row is None:
            raise LedgerError("the ledger file has lost its top-up gate row")
        return TopUpGateState(
            holder=row[0], expires_at=float(row[1]), generation=int(row[2]), completed_at=row[3]
        )

    def set_gate(self, state: TopUpGateState) -> None:
        self._db.execute(
            "UPDATE gate SET holder = ?, expires_at = ?, generation = ?, completed_at = ? "
            "WHERE id = 1",
            (state.holder, state.expires_at, state.generation, state.completed_at),
        )


class SqliteStore:
    """A ledger file. Opening it checks (or creates) it; see the module docstring."""

    def __init__(self, path: Path, spender: str) -> None:
        self.path: Path | None = path
        self._lock = threading.Lock()
        self._db = _open(path, spender)

    async def run(self, fn: Callable[[Transaction], T]) -> T:
        # A thread: BEGIN IMMEDIATE may wait for another process's transaction.
        return await asyncio.to_thread(self._run, fn)

    def _run(self, fn: Callable[[Transaction], T]) -> T:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise LedgerError(f"the ledger file {self.path} is unavailable: {exc}") from None
            try:
                result = fn(_SqliteTransaction(self._db))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                raise LedgerError(f"could not write the ledger file {self.path}: {exc}") from None
            return result

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _open(path: Path, spender: str) -> sqlite3.Connection:
    """Connect to a ledger file, creating it if it is new; refuse anything else."""
    try:
        with path.open("rb") as fh:
            head = fh.read(len(_MAGIC))
    except FileNotFoundError:
        head = b""
    except OSError as exc:
        raise LedgerError(f"cannot read the ledger file {path}: {exc.strerror}") from None
    if head and head != _MAGIC:
        raise LedgerError(f"{path} is not a spend ledger (not a SQLite file); it was left as is")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not head:
            # Owner-only from the first byte: the file lists the wallet's payments.
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        db = sqlite3.connect(
            path, timeout=_BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
    except (OSError, sqlite3.Error) as exc:
        raise LedgerError(f"cannot open the ledger file {path}: {exc}") from None
    try:
        _check_or_create(db, path, spender)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
    except LedgerError:
        db.close()
        raise
    except sqlite3.Error as exc:
        db.close()
        raise LedgerError(f"{path} is not a usable spend ledger: {exc}") from None
    return db


def _check_or_create(db: sqlite3.Connection, path: Path, spender: str) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            for statement in _SCHEMA.strip().split(";\n"):
                if statement.strip():
                    db.execute(statement)
            db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("kind", _KIND), ("schema", str(SCHEMA_VERSION)), ("spender", spender)],
            )
        else:
            if "meta" not in tables:
                raise LedgerError(f"{path} is a SQLite file but not a spend ledger; left as is")
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if meta.get("kind") != _KIND:
                raise LedgerError(f"{path} is a SQLite file but not a spend ledger; left as is")
            try:
                schema = int(meta.get("schema", ""))
            except ValueError:
                raise LedgerError(f"{path} has an unreadable schema version") from None
            if schema > SCHEMA_VERSION:
                raise LedgerError(
                    f"{path} was written by a newer inpaint-async (ledger schema {schema}, this "
                    f"version knows {SCHEMA_VERSION}); upgrade, or use another ledger file"
                )
            if meta.get("spender") != spender:
                raise LedgerError(
                    f"{path} is the ledger of another spender ({meta.get('spender')}), not "
                    f"{spender}; use that spender's ledger file"
                )
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
