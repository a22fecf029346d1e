"""The spend guard: the one home of money state (signed top-ups, edit spend, caps).

A :class:`SpendLedger` belongs to one *spender*: the lower-case wallet address, or
``"key:" + sha256(api_key)[:16]`` for an API key (:func:`spender_id`). Every client of that
spender in a process shares one ledger object, whatever auth object or client it holds; a SQLite
ledger file extends that to every process on the host and across restarts.

Public entry points:

* :func:`spender_id` (auth → id), :func:`open_ledger` (id, optional path → ledger),
  :func:`default_ledger_path` (the state-directory file of the CLI and long-running servers),
  :func:`bind_ledger` (the one ledger the clients of a spender use in this process: a file chosen
  first is joined by every client without a path; a second ledger with state is refused),
  :func:`forget_ledgers` (drop this process's ledgers: a fresh start for tests).
* Edit spend: :meth:`SpendLedger.reserve_edit` / :meth:`~SpendLedger.commit_edit` /
  :meth:`~SpendLedger.release_edit`, checked against ``max_edit_spend_per_day_usd``.
* Top-ups: :class:`TopUpPolicy` (what a client may do by itself);
  :meth:`SpendLedger.record_authorization` (before a payment leaves; the cap check, atomic with
  the write), :meth:`~SpendLedger.check_authorization` (the same check, earlier, writing nothing),
  :meth:`~SpendLedger.record_outcome`, and the single-flight gate
  :meth:`~SpendLedger.try_acquire_top_up` / :meth:`~SpendLedger.release_top_up` (a lease with a
  time limit, shared by every process using the file). The procedure that uses them is
  ``inpaint_async.spend._topup`` (``execute_top_up`` inside ``SpendGuard.fly``); clients reach it
  through the hooks they install (``inpaint_async.spend._hooks.WalletHooks``), users through
  ``client.wallet.top_up()`` and a ``TopUpPolicy``. Another coordinator (a cluster one) uses the
  same ledger methods: take the gate, check, record, send, record the outcome, release.
* :meth:`SpendLedger.status` → :class:`SpendStatus`; :meth:`SpendLedger.register_caps`
  (caps only tighten: the strictest of the policies in use applies).

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
from ._policy import TopUpPolicy, to_usd
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
    "TopUpPolicy",
    "bind_ledger",
    "default_ledger_path",
    "forget_ledgers",
    "open_ledger",
    "spender_id",
    "to_usd",
]

_SPENDER = re.compile(r"0x[0-9a-f]{40}|key:[0-9a-f]{16}")
_registry: dict[tuple[str, str | None], SpendLedger] = {}
# The ledger the clients of each spender use in this process (see bind_ledger).
_bound: dict[str, SpendLedger] = {}
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


def bind_ledger(spender: str, path: str | os.PathLike[str] | None = None) -> SpendLedger:
    """The one ledger the clients of ``spender`` use in this process, choosing it if needed.

    ``path=None`` takes the ledger already in use for the spender (the in-memory one if none
    is). A path takes that file, unless another ledger with recorded state is already in use
    for the spender: two ledgers would each allow the full caps, so that is refused.

    Raises:
        ConfigurationError: another ledger of this spender is already in use.
        LedgerError: the file cannot be used (see :func:`open_ledger`).
    """
    current = _bound.get(spender)
    if path is None:
        if current is None:
            current = open_ledger(spender)
            _bound.setdefault(spender, current)
        return _bound[spender]
    ledger = open_ledger(spender, path)
    with _registry_lock:
        current = _bound.get(spender)
        if current is None or current is ledger or not current.holds_state():
            _bound[spender] = ledger
            return ledger
    raise ConfigurationError(
        f"wallet {spender} already uses the ledger {current.path or 'in memory'} in this "
        f"process; refusing a second one ({ledger.path}): each would allow the full caps. Give "
        "every client the same ledger (TopUpPolicy(ledger=...) or INPAINT_LEDGER)"
    )


def forget_ledgers() -> None:
    """Drop this process's ledgers: in-memory ones start empty again, files are closed (not
    changed). For tests, and for a deliberate reset of the in-memory ledger; never call it to
    get around a cap."""
    with _registry_lock:
        ledgers = list(_registry.values())
        _registry.clear()
        _bound.clear()
    for ledger in ledgers:
        ledger.close()
