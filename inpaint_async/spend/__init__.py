"""The spend guard: the one home of money state (signed top-ups, edit spend, caps).

A :class:`SpendLedger` belongs to one *spender*: the lower-case wallet address, or
``"key:" + sha256(api_key)[:16]`` for an API key (:func:`spender_id`). Every client of that
spender in a process shares one ledger object, whatever auth object or client it holds; a SQLite
ledger file extends that to every process on the host and across restarts.

Public entry points:

* :func:`spender_id` (auth → id), :func:`open_ledger` (id, optional path → ledger),
  :func:`default_ledger_path` (the state-directory file of the CLI and long-running servers),
  :func:`forget_ledgers` (drop this process's ledgers: a fresh start for tests).
* Edit spend: :meth:`SpendLedger.reserve_edit` / :meth:`~SpendLedger.commit_edit` /
  :meth:`~SpendLedger.release_edit`, checked against ``max_edit_spend_per_day_usd``.
* Top-ups: :meth:`SpendLedger.record_authorization` (before a payment leaves; the cap check),
  :meth:`~SpendLedger.record_outcome`, and the single-flight gate
  :meth:`~SpendLedger.try_acquire_top_up` / :meth:`~SpendLedger.release_top_up`.
* :meth:`SpendLedger.status` → :class:`SpendStatus`; :meth:`SpendLedger.register_caps`
  (caps only tighten).

Errors: :class:`~inpaint_async.SpendCapError` (a cap would be exceeded; nothing was sent or
signed; :class:`~inpaint_async.TopUpLimitError` is its top-up form) and
:class:`~inpaint_async.LedgerError` (a ledger file that cannot be used; never overwritten).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path

from .._constants import H_AUTHORIZATION
from .._exceptions import ConfigurationError, LedgerError, SpendCapError
from ._ledger import DAY_SECONDS, MemoryStore, SpendLedger
from ._records import (
    AuthorizationRecord,
    EditReservation,
    SpendCaps,
    SpendStatus,
    TopUpGateState,
    TopUpLease,
)

__all__ = [
    "DAY_SECONDS",
    "AuthorizationRecord",
    "EditReservation",
    "LedgerError",
    "SpendCapError",
    "SpendCaps",
    "SpendLedger",
    "SpendStatus",
    "TopUpGateState",
    "TopUpLease",
    "default_ledger_path",
    "forget_ledgers",
    "open_ledger",
    "spender_id",
]

_SPENDER = re.compile(r"0x[0-9a-f]{40}|key:[0-9a-f]{16}")
_registry: dict[tuple[str, str | None], SpendLedger] = {}
_registry_lock = threading.Lock()


def spender_id(auth: object) -> str:
    """The spender id of an auth: its lower-case wallet address, or ``key:<sha256[:16]>``.

    Raises:
        ConfigurationError: an auth that is neither a wallet nor an API key.
    """
    from ..auth import BearerAuth

    address = getattr(auth, "address", None)
    if isinstance(address, str) and re.fullmatch(r"0x[0-9a-fA-F]{40}", address):
        return address.lower()
    if isinstance(auth, BearerAuth):
        header = auth._header[H_AUTHORIZATION]
        key = header.removeprefix("Bearer ")
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
    raise ConfigurationError(
        f"no spender id for {type(auth).__name__}: the spend ledger needs a wallet or an API key"
    )


def _check_spender(spender: str) -> str:
    if not isinstance(spender, str) or not _SPENDER.fullmatch(spender):
        raise ConfigurationError(
            "a spender id is a lower-case 0x wallet address or 'key:' + 16 hex digits "
            "(see inpaint_async.spend.spender_id)"
        )
    return spender


def state_dir() -> Path:
    """``$XDG_STATE_HOME/inpaint-async`` (when absolute), else ``~/.local/state/inpaint-async``."""
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "inpaint-async"


def default_ledger_path(spender: str) -> Path:
    """The ledger file the CLI and long-running servers use for ``spender`` by default.

    ``<state dir>/ledger-<spender>.sqlite3`` (``key:`` written ``key-`` so that the name is
    valid on every file system); the state dir is :func:`state_dir`.
    """
    return state_dir() / f"ledger-{_check_spender(spender).replace(':', '-')}.sqlite3"


def open_ledger(spender: str, path: str | os.PathLike[str] | None = None) -> SpendLedger:
    """The ledger of ``spender``: in memory (``path=None``) or in a SQLite file.

    In one process the same (spender, path) always gives the same object, so that every client
    shares its caps and its top-up gate.

    Raises:
        LedgerError: the file belongs to another spender, has a newer schema, or is not a
            ledger (it is left untouched), or cannot be opened.
        ConfigurationError: a malformed spender id.
    """
    _check_spender(spender)
    where: str | None = None
    if path is not None:
        where = str(Path(os.fspath(path)).expanduser().resolve())
    key = (spender, where)
    with _registry_lock:
        ledger = _registry.get(key)
        if ledger is not None:
            return ledger
        if where is None:
            ledger = SpendLedger(spender, MemoryStore())
        else:
            for (other, other_where), _ in _registry.items():
                if other_where == where and other != spender:
                    raise LedgerError(f"{where} is the ledger of another spender ({other})")
            from ._sqlite import SqliteStore

            ledger = SpendLedger(spender, SqliteStore(Path(where), spender))
        _registry[key] = ledger
        return ledger


def forget_ledgers() -> None:
    """Drop this process's ledgers: in-memory ones start empty again, files are closed (not
    changed). For tests, and for a deliberate reset of the in-memory ledger; never call it to
    get around a cap."""
    with _registry_lock:
        ledgers = list(_registry.values())
        _registry.clear()
    for ledger in ledgers:
        ledger.close()
