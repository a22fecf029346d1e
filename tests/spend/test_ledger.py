"""The spend ledger: spender ids, memory and SQLite backends, caps, edit spend, the gate."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import pytest

import inpaint_async
from inpaint_async import BearerAuth, LedgerError, SpendCapError, TopUpLimitError, WalletAuth
from inpaint_async._exceptions import SettlementPendingError, TopUpError
from inpaint_async.spend import (
    AuthorizationRecord,
    SpendCaps,
    SpendLedger,
    default_ledger_path,
    forget_ledgers,
    open_ledger,
    spender_id,
)
from inpaint_async.spend._ledger import MemoryStore
from inpaint_async.spend._sqlite import SCHEMA_VERSION

KEY = "0x" + "11" * 32
SPENDER = "0x" + "ab" * 20
OTHER = "0x" + "cd" * 20


def record(nonce: int, amount: str = "5", *, kind: str = "auto", at: float | None = None,
           valid_for: int = 300) -> AuthorizationRecord:  # fmt: skip
    now = time.time() if at is None else at
    return AuthorizationRecord(
        nonce=f"0x{nonce:064x}",
        kind=kind,
        amount_usd=Decimal(amount),
        payee="0x" + "22" * 20,
        asset="0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
        network="base",
        valid_before=int(now) + valid_for,
        signed_at=now,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


# -- ids and paths --------------------------------------------------------------------------------


def test_spender_id_of_a_wallet_is_its_lower_case_address() -> None:
    """A wallet's spender id is its address in lower case, whatever object holds it."""
    auth = WalletAuth(KEY)
    assert spender_id(auth) == auth.address.lower()
    assert spender_id(WalletAuth(KEY)) == spender_id(auth)


def test_spender_id_of_an_api_key_is_a_short_hash_that_hides_the_key() -> None:
    """A Bearer key maps to key:<16 hex of its sha256>; the key itself is not in the id."""
    import hashlib

    sid = spender_id(BearerAuth("test-key-123"))
    assert sid == "key:" + hashlib.sha256(b"test-key-123").hexdigest()[:16]
    assert "test-key" not in sid
    assert spender_id(BearerAuth("other")) != sid


def test_spender_id_refuses_an_unknown_auth() -> None:
    """An auth that is neither a wallet nor a key has no spender id: a typed error."""
    with pytest.raises(inpaint_async.ConfigurationError):
        spender_id(object())


def test_open_ledger_refuses_a_malformed_spender() -> None:
    """Only ids spender_id produces are accepted (a checksummed address would split a wallet)."""
    with pytest.raises(inpaint_async.ConfigurationError):
        open_ledger("0x" + "AB" * 20)


def test_default_ledger_path_follows_xdg_state_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """$XDG_STATE_HOME/inpaint-async/ledger-<spender>.sqlite3, else ~/.local/state/..."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_ledger_path(SPENDER) == tmp_path / "inpaint-async" / f"ledger-{SPENDER}.sqlite3"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = default_ledger_path("key:0123456789abcdef")
    assert path == tmp_path / "home/.local/state/inpaint-async/ledger-key-0123456789abcdef.sqlite3"


def test_memory_ledger_is_one_object_per_spender_per_process() -> None:
    """path=None: the same in-memory ledger every time for one spender, another for another."""
    assert open_ledger(SPENDER) is open_ledger(SPENDER)
    assert open_ledger(SPENDER) is not open_ledger(OTHER)
    assert open_ledger(SPENDER).path is None


def test_file_ledger_is_one_object_per_file(tmp_path: Path) -> None:
    """The same file through two spellings of its path is one ledger object (one gate)."""
    a = open_ledger(SPENDER, tmp_path / "l.sqlite3")
    b = open_ledger(SPENDER, str(tmp_path / "x" / ".." / "l.sqlite3"))
    assert a is b
    assert a.path == (tmp_path / "l.sqlite3").resolve()
    assert "memory" in repr(open_ledger(SPENDER)) and SPENDER in repr(a)


# -- files that are not ours ----------------------------------------------------------------------


def test_a_file_of_another_spender_is_refused_and_left_alone(tmp_path: Path) -> None:
    """A ledger of wallet A opened for wallet B: LedgerError, the file unchanged."""
    path = tmp_path / "l.sqlite3"
    open_ledger(SPENDER, path)
    forget_ledgers()
    before = path.read_bytes()
    with pytest.raises(LedgerError, match="another spender"):
        open_ledger(OTHER, path)
    assert path.read_bytes() == before


def test_the_same_file_for_two_spenders_in_one_process_is_refused(tmp_path: Path) -> None:
    """The registry refuses a second spender on an open file too."""
    open_ledger(SPENDER, tmp_path / "l.sqlite3")
    with pytest.raises(LedgerError, match="another spender"):
        open_ledger(OTHER, tmp_path / "l.sqlite3")


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    """A ledger written by a newer version is refused, never migrated down."""
    path = tmp_path / "l.sqlite3"
    open_ledger(SPENDER, path)
    forget_ledgers()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION + 1),))
    db.commit()
    db.close()
    with pytest.raises(LedgerError, match="newer"):
        open_ledger(SPENDER, path)


def test_a_file_that_is_not_a_ledger_is_refused_and_not_overwritten(tmp_path: Path) -> None:
    """A text file, or a SQLite database of something else: refused, byte for byte untouched."""
    text = tmp_path / "notes.txt"
    text.write_bytes(b"my precious notes\n")
    with pytest.raises(LedgerError, match="not a spend ledger"):
        open_ledger(SPENDER, text)
    assert text.read_bytes() == b"my precious notes\n"

    other = tmp_path / "app.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE users (name TEXT)")
    db.commit()
    db.close()
    before = other.read_bytes()
    with pytest.raises(LedgerError, match="not a spend ledger"):
        open_ledger(SPENDER, other)
    assert other.read_bytes() == before


def test_a_new_ledger_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    """A created file (and its missing parent directories) is owner-only; the journal is WAL."""
    path = tmp_path / "deep" / "dir" / "l.sqlite3"
    open_ledger(SPENDER, path)
    assert path.stat().st_mode & 0o077 == 0
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_an_unopenable_path_is_a_ledger_error(tmp_path: Path) -> None:
    """A directory where the file should be: LedgerError, not a raw OSError."""
    (tmp_path / "dir.sqlite3").mkdir()
    with pytest.raises(LedgerError):
        open_ledger(SPENDER, tmp_path / "dir.sqlite3")


# -- edit spend -----------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> SpendLedger:
    if request.param == "memory":
        return open_ledger(SPENDER)
    return open_ledger(SPENDER, tmp_path / "ledger.sqlite3")


async def test_edit_reservations_count_until_released(ledger: SpendLedger) -> None:
    """Open reservations and committed spend both count; a release gives its room back."""
    cap = Decimal("0.10")
    a = await ledger.reserve_edit(Decimal("0.04"), max_per_day_usd=cap, label="job-1")
    b = await ledger.reserve_edit(Decimal("0.04"), max_per_day_usd=cap)
    with pytest.raises(SpendCapError) as info:
        await ledger.reserve_edit(Decimal("0.04"), max_per_day_usd=cap)
    err = info.value
    assert (err.cap_name, err.cap_usd, err.spent_usd, err.requested_usd) == (
        "max_edit_spend_per_day_usd", cap, Decimal("0.08"), Decimal("0.04"),
    )  # fmt: skip
    await ledger.release_edit(b)
    c = await ledger.reserve_edit(Decimal("0.04"), max_per_day_usd=cap)
    await ledger.commit_edit(a, Decimal("0.04"))
    status = await ledger.status()
    assert status.edit_spent_24h_usd == Decimal("0.04")
    assert status.edit_reserved_usd == Decimal("0.04")
    await ledger.commit_edit(c, Decimal("0.05"))  # corrected by X-Balance-Remaining
    assert (await ledger.status()).edit_spent_24h_usd == Decimal("0.09")


async def test_a_release_after_a_commit_never_uncounts(ledger: SpendLedger) -> None:
    """Finishing a reservation twice changes nothing: committed spend stays counted."""
    r = await ledger.reserve_edit(Decimal("0.05"))
    await ledger.commit_edit(r, Decimal("0.05"))
    await ledger.release_edit(r)
    await ledger.commit_edit(r, Decimal("0"))
    assert (await ledger.status()).edit_spent_24h_usd == Decimal("0.05")


async def test_the_edit_cap_is_a_rolling_24_hours() -> None:
    """Spend older than 24 h leaves the window; an open reservation counts for 24 h too."""
    clock = Clock()
    ledger = SpendLedger(SPENDER, MemoryStore(), clock=clock)
    cap = Decimal("1")
    r = await ledger.reserve_edit(Decimal("0.6"), max_per_day_usd=cap)
    await ledger.commit_edit(r, Decimal("0.6"))
    await ledger.reserve_edit(Decimal("0.3"), max_per_day_usd=cap)  # never finished (crash)
    clock.now += 23 * 3600
    with pytest.raises(SpendCapError):
        await ledger.reserve_edit(Decimal("0.2"), max_per_day_usd=cap)
    clock.now += 3600 + 1
    await ledger.reserve_edit(Decimal("0.9"), max_per_day_usd=cap)


async def test_registered_caps_only_tighten(ledger: SpendLedger) -> None:
    """A wider cap registered later never widens; a call's own cap tightens further."""
    ledger.register_caps(SpendCaps(max_edit_spend_per_day_usd=Decimal("0.10")))
    ledger.register_caps(SpendCaps(max_edit_spend_per_day_usd=Decimal("5")))
    assert ledger.caps.max_edit_spend_per_day_usd == Decimal("0.10")
    await ledger.reserve_edit(Decimal("0.06"), max_per_day_usd=Decimal("100"))
    with pytest.raises(SpendCapError):
        await ledger.reserve_edit(Decimal("0.06"), max_per_day_usd=Decimal("100"))
    status = await ledger.status()
    assert status.max_edit_spend_per_day_usd == Decimal("0.10")
    assert status.spender == SPENDER


async def test_amounts_must_be_finite_and_not_negative(ledger: SpendLedger) -> None:
    """A negative, NaN or float amount is a ValidationError before anything is recorded."""
    for bad in (Decimal("-0.01"), Decimal("NaN"), 0.1, "abc", True):
        with pytest.raises(inpaint_async.ValidationError):
            await ledger.reserve_edit(bad)  # type: ignore[arg-type]
    assert (await ledger.status()).edit_reserved_usd == 0


async def test_concurrent_reservations_never_overshoot_the_cap(ledger: SpendLedger) -> None:
    """200 concurrent reservations of $0.05 under a $1 cap: exactly 20 are granted."""
    cap = Decimal("1")

    async def one() -> bool:
        try:
            await ledger.reserve_edit(Decimal("0.05"), max_per_day_usd=cap)
        except SpendCapError:
            return False
        return True

    granted = await asyncio.gather(*(one() for _ in range(200)))
    assert sum(granted) == 20


# -- signed authorizations ------------------------------------------------------------------------


async def test_every_signature_counts_whatever_its_outcome(ledger: SpendLedger) -> None:
    """Refused, failed, credited, unknown: each signed authorization counts against the cap."""
    caps = SpendCaps(max_total_usd=Decimal("20"))
    for i, outcome in enumerate(("refused", "failed", "credited")):
        await ledger.record_authorization(record(i), caps=caps)
        await ledger.record_outcome(record(i).nonce, outcome)  # type: ignore[arg-type]
    await ledger.record_authorization(record(9), caps=caps)
    with pytest.raises(TopUpLimitError) as info:
        await ledger.record_authorization(record(10), caps=caps)
    assert isinstance(info.value, SpendCapError) and isinstance(info.value, TopUpError)
    assert info.value.cap_name == "max_total_usd"
    assert info.value.spent_usd == Decimal("20")
    status = await ledger.status()
    assert status.signed_total_usd == status.auto_signed_total_usd == Decimal("20")
    assert [r.outcome for r in await ledger.authorizations()] == [
        "refused", "failed", "credited", "sent",
    ]  # fmt: skip


async def test_an_open_authorization_blocks_the_next_automatic_one(ledger: SpendLedger) -> None:
    """A sent or unknown authorization that may still settle: no second automatic payment."""
    await ledger.record_authorization(record(1))
    with pytest.raises(SettlementPendingError):
        await ledger.record_authorization(record(2))
    await ledger.record_outcome(record(1).nonce, "unknown")
    with pytest.raises(SettlementPendingError):
        await ledger.record_authorization(record(2))
    assert (await ledger.status()).open_authorizations_usd == Decimal("5")
    await ledger.record_outcome(record(1).nonce, "credited")
    await ledger.record_authorization(record(2))


async def test_an_expired_open_authorization_no_longer_blocks(ledger: SpendLedger) -> None:
    """Past validBefore it cannot settle: the next top-up may be signed (and both still count)."""
    await ledger.record_authorization(record(1, at=time.time() - 600, valid_for=300))
    await ledger.record_authorization(record(2))
    assert (await ledger.status()).signed_total_usd == Decimal("10")


async def test_a_duplicate_nonce_is_refused(ledger: SpendLedger) -> None:
    """One nonce is one authorization: recording it twice is a LedgerError."""
    await ledger.record_authorization(record(1, kind="manual"))
    with pytest.raises(LedgerError):
        await ledger.record_authorization(record(1, kind="manual"))


async def test_manual_signatures_are_recorded_but_do_not_use_the_policy_caps(
    ledger: SpendLedger,
) -> None:
    """Manual top-ups count in signed totals, not against the automatic caps (unless passed)."""
    ledger.register_caps(SpendCaps(max_total_usd=Decimal("10")))
    await ledger.record_authorization(record(1, "50", kind="manual"))
    await ledger.record_authorization(record(2, "10"))
    with pytest.raises(TopUpLimitError):
        await ledger.record_authorization(record(3, "5"))
    with pytest.raises(TopUpLimitError):
        await ledger.record_authorization(
            record(4, "5", kind="manual"), caps=SpendCaps(max_total_usd=Decimal("60"))
        )
    status = await ledger.status()
    assert (status.signed_total_usd, status.auto_signed_total_usd) == (Decimal(60), Decimal(10))
    assert status.max_total_usd == Decimal("10")


async def test_the_per_day_top_up_cap_is_rolling() -> None:
    """max_per_day_usd counts the last 24 h of signatures; max_total_usd the ledger's life."""
    clock = Clock()
    ledger = SpendLedger(SPENDER, MemoryStore(), clock=clock)
    caps = SpendCaps(max_total_usd=Decimal("15"), max_per_day_usd=Decimal("5"))
    await ledger.record_authorization(record(1, at=clock.now), caps=caps)
    await ledger.record_outcome(record(1).nonce, "credited")
    clock.now += 3600
    with pytest.raises(TopUpLimitError) as info:
        await ledger.record_authorization(record(2, at=clock.now), caps=caps)
    assert info.value.cap_name == "max_per_day_usd"
    clock.now += DAY
    await ledger.record_authorization(record(2, at=clock.now), caps=caps)
    await ledger.record_outcome(record(2).nonce, "credited")
    clock.now += DAY + 1
    await ledger.record_authorization(record(3, at=clock.now), caps=caps)
    await ledger.record_outcome(record(3).nonce, "credited")
    clock.now += DAY + 1
    with pytest.raises(TopUpLimitError) as info:
        await ledger.record_authorization(record(4, at=clock.now), caps=caps)
    assert info.value.cap_name == "max_total_usd"


DAY = 86_400.0


# -- the gate -------------------------------------------------------------------------------------


async def test_the_gate_has_one_holder_and_a_dead_holder_expires() -> None:
    """One holder at a time; release bumps the generation when completed; ttl frees a dead one."""
    clock = Clock()
    ledger = SpendLedger(SPENDER, MemoryStore(), clock=clock)
    lease = await ledger.try_acquire_top_up("a", ttl=60)
    assert lease is not None and lease.generation == 0
    assert await ledger.try_acquire_top_up("b", ttl=60) is None
    assert (await ledger.status()).top_up_in_progress
    gate = await ledger.release_top_up(lease, completed=True)
    assert gate.generation == 1 and gate.holder is None and gate.completed_at == clock.now
    dead = await ledger.try_acquire_top_up("dead", ttl=60)
    assert dead is not None
    clock.now += 61
    taken = await ledger.try_acquire_top_up("c", ttl=60)
    assert taken is not None and taken.generation == 1
    # The dead holder, back, has lost the gate: it may not sign.
    with pytest.raises(TopUpError, match="lost"):
        await ledger.record_authorization(record(1, at=clock.now), lease=dead)
    await ledger.release_top_up(dead, completed=False)
    assert (await ledger.top_up_gate()).holder == "c"
    await ledger.record_authorization(record(1, at=clock.now), lease=taken)


async def test_the_sqlite_gate_is_shared_by_two_opens_of_the_file(tmp_path: Path) -> None:
    """Two stores on one file (two processes' view): one holder, one set of totals."""
    from inpaint_async.spend._sqlite import SqliteStore

    path = tmp_path / "l.sqlite3"
    a = SpendLedger(SPENDER, SqliteStore(path, SPENDER))
    b = SpendLedger(SPENDER, SqliteStore(path, SPENDER))
    lease = await a.try_acquire_top_up("pa", ttl=60)
    assert lease is not None
    assert await b.try_acquire_top_up("pb", ttl=60) is None
    caps = SpendCaps(max_total_usd=Decimal("5"))
    await a.record_authorization(record(1), caps=caps, lease=lease)
    await a.record_outcome(record(1).nonce, "credited")
    await a.release_top_up(lease, completed=True)
    lease_b = await b.try_acquire_top_up("pb", ttl=60)
    assert lease_b is not None and lease_b.generation == 1
    with pytest.raises(TopUpLimitError):
        await b.record_authorization(record(2), caps=caps, lease=lease_b)
    a.close()
    b.close()


async def test_a_sqlite_ledger_survives_a_restart(tmp_path: Path) -> None:
    """Forget every ledger (a new process) and reopen: signatures and edit spend are there."""
    path = tmp_path / "l.sqlite3"
    ledger = open_ledger(SPENDER, path)
    await ledger.record_authorization(record(1, "7", kind="manual"))
    await ledger.record_outcome(record(1).nonce, "refused")
    r = await ledger.reserve_edit(Decimal("0.25"), label="x")
    await ledger.commit_edit(r, Decimal("0.25"))
    forget_ledgers()
    again = open_ledger(SPENDER, path)
    assert again is not ledger
    status = await again.status()
    assert status.signed_total_usd == Decimal("7")
    assert status.edit_spent_24h_usd == Decimal("0.25")
    [rec] = await again.authorizations()
    assert rec.outcome == "refused" and rec.kind == "manual" and rec.outcome_at is not None
