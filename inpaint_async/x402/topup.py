"""Automatic top-ups: :class:`TopUpPolicy` and the per-wallet single-flight coordinator.

Money is never spent implicitly: nothing here runs until a client is built with
``top_up=TopUpPolicy(...)``. Then, per wallet:

* **one top-up at a time.** The first call that meets a wallet 402 (shape B) starts a top-up;
  every other call that meets one meanwhile waits for that same top-up, and new requests are
  held back until it ends (a burst of 402s would spend the server's error budget). Then each
  waiting call is sent again, freshly signed.
* **at most one top-up per call.** A 402 that follows the call's own top-up (or the top-up it
  waited for) is raised, never answered with another top-up.
* **a hard total.** The policy never signs more than ``max_total_usd``; past it,
  :class:`~inpaint_async.TopUpLimitError` is raised and nothing is signed.
* **no second payment for one need.** A payment whose settlement outcome is unknown (504,
  500, a dropped connection) is resolved by polling the balance, never by signing again; if the
  credit does not show in time, :class:`SettlementPendingError` is raised and automatic top-ups
  stay off until the signed authorization has expired.

Which requests count as "sent before a top-up finished" is decided per attempt: the wallet's
in-flight gate records the coordinator's generation in a context variable when it lets an attempt
through, and the payment hook (same task) reads it back.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import re
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._constants import H_BALANCE_REMAINING, MAX_TOP_UP_USD
from .._exceptions import (
    PaymentRequiredError,
    SettlementPendingError,
    TopUpError,
    TopUpLimitError,
    ValidationError,
    WalletCreditError,
)
from .._headers import parse_decimal
from .._logging import logger
from .models import TopUpResult, WalletBalance

if TYPE_CHECKING:
    from .._client import InpaintClient
    from .._transport import RawResponse
    from ..auth.wallet import WalletAuth

__all__ = ["TopUpCoordinator", "TopUpPolicy", "to_usd"]

_MAX_USD = Decimal(MAX_TOP_UP_USD)
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")

# The coordinator and its generation when the current attempt was let through the gate (set
# while the attempt is in flight), and the same for the task's last attempt (read by the hook).
_current: contextvars.ContextVar[tuple[TopUpCoordinator, int] | None] = contextvars.ContextVar(
    "inpaint_async_wallet_attempt", default=None
)
_last_sent: contextvars.ContextVar[tuple[TopUpCoordinator, int] | None] = contextvars.ContextVar(
    "inpaint_async_wallet_last_attempt", default=None
)
# True inside a top-up task: its own balance polls must not wait for the top-up to end.
_inside_top_up: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "inpaint_async_inside_top_up", default=False
)
# True inside a background balance check: its own responses must not schedule another check.
_in_background: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "inpaint_async_wallet_background", default=False
)


def to_usd(value: Decimal | int | str | float, name: str = "amount_usd") -> Decimal:
    """A USD amount as a finite Decimal (floats through their shortest repr, never binary noise).

    Raises:
        ValidationError: not a finite number.
    """
    if isinstance(value, bool):
        raise ValidationError(f"{name} must be a number, not a bool", param=name)
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, ValueError, TypeError):
        raise ValidationError(f"{name} is not a number: {value!r}", param=name) from None
    if not amount.is_finite():
        raise ValidationError(f"{name} must be finite", param=name)
    return amount


def _positive_usd(value: Decimal | int | str | float, name: str) -> Decimal:
    amount = to_usd(value, name)
    if amount <= 0:
        raise ValidationError(f"{name} must be positive", param=name)
    if amount != amount.quantize(Decimal("0.000001")):
        raise ValidationError(f"{name} has more than 6 decimal places", param=name)
    return amount


USD = Decimal | int | str
"""A USD amount as callers may give it: exact types only (a ``float`` is accepted at run time
through its shortest repr, but the type checker steers you to ``Decimal``, ``int`` or ``str``)."""


@dataclass(frozen=True, slots=True, init=False)
class TopUpPolicy:
    """When and how much the client may top a wallet up by itself. Off unless given.

    Pass it as ``InpaintClient(auth=WalletAuth(...), top_up=TopUpPolicy(...))``. Amounts are
    USD (``Decimal``, ``int`` or ``str``; a ``float`` is read through its shortest repr).

    Attributes:
        amount_usd: How much each automatic top-up adds (at least the server's minimum, $5).
        max_total_usd: The most all automatic top-ups of this wallet may add together, across
            the client and every client derived from it. Past it: ``TopUpLimitError``, and
            nothing is signed.
        below_usd: Top up *before* a 402 when the tracked balance drops below this.
        max_per_top_up_usd: Refuse a single top-up above this (default: ``amount_usd``).
        allowed_payees: Only pay these addresses (the server's ``payTo`` is read live).
        legacy_header: Send the payment as ``X-402-Payment`` instead of ``PAYMENT-SIGNATURE``.
        balance_poll_interval: With ``below_usd`` and no ``X-Balance-Remaining`` header, poll
            the balance at most this often (seconds).
        settlement_timeout: How long to resolve an unclear settlement (409, 504, 500) by
            resending the same payment or polling the balance, in seconds.
        poll_interval: Seconds between balance polls after an unclear settlement.
        in_progress_backoff: First wait before resending a ``409 PAYMENT_IN_PROGRESS`` payment
            (doubles up to 4x).
    """

    amount_usd: Decimal
    max_total_usd: Decimal
    below_usd: Decimal | None = None
    max_per_top_up_usd: Decimal | None = None
    allowed_payees: frozenset[str] | None = None
    legacy_header: bool = False
    balance_poll_interval: float = 60.0
    settlement_timeout: float = 120.0
    poll_interval: float = 2.0
    in_progress_backoff: float = 2.0

    def __init__(
        self,
        amount_usd: USD,
        max_total_usd: USD,
        below_usd: USD | None = None,
        max_per_top_up_usd: USD | None = None,
        allowed_payees: Collection[str] | None = None,
        legacy_header: bool = False,
        balance_poll_interval: float = 60.0,
        settlement_timeout: float = 120.0,
        poll_interval: float = 2.0,
        in_progress_backoff: float = 2.0,
    ) -> None:
        given = dict(locals())
        del given["self"]
        for name, value in given.items():
            object.__setattr__(self, name, value)
        self.__post_init__()

    def __post_init__(self) -> None:
        amount = _positive_usd(self.amount_usd, "amount_usd")
        total = _positive_usd(self.max_total_usd, "max_total_usd")
        if amount > _MAX_USD:
            raise ValidationError("amount_usd is above the $10,000 maximum", param="amount_usd")
        if total < amount:
            raise ValidationError(
                "max_total_usd must be at least amount_usd", param="max_total_usd"
            )
        per: Decimal | None = None
        if self.max_per_top_up_usd is not None:
            per = _positive_usd(self.max_per_top_up_usd, "max_per_top_up_usd")
            if per < amount:
                raise ValidationError(
                    "max_per_top_up_usd must be at least amount_usd", param="max_per_top_up_usd"
                )
        below: Decimal | None = None
        if self.below_usd is not None:
            below = to_usd(self.below_usd, "below_usd")
            if below < 0:
                raise ValidationError("below_usd must not be negative", param="below_usd")
        payees: frozenset[str] | None = None
        if self.allowed_payees is not None:
            if isinstance(self.allowed_payees, str):
                raise ValidationError(
                    "allowed_payees is a collection of addresses, not one string",
                    param="allowed_payees",
                )
            payees = frozenset(self.allowed_payees)
            if not payees or not all(isinstance(p, str) and _ADDRESS.fullmatch(p) for p in payees):
                raise ValidationError(
                    "allowed_payees must be 0x-prefixed 20-byte hex addresses",
                    param="allowed_payees",
                )
        for name in (
            "balance_poll_interval",
            "settlement_timeout",
            "poll_interval",
            "in_progress_backoff",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValidationError(f"{name} must be a positive number of seconds", param=name)
        object.__setattr__(self, "amount_usd", amount)
        object.__setattr__(self, "max_total_usd", total)
        object.__setattr__(self, "max_per_top_up_usd", per)
        object.__setattr__(self, "below_usd", below)
        object.__setattr__(self, "allowed_payees", payees)

    @property
    def cap_per_top_up_usd(self) -> Decimal:
        """The largest single top-up this policy allows."""
        return self.max_per_top_up_usd if self.max_per_top_up_usd is not None else self.amount_usd


def _diem_mode(exc: PaymentRequiredError) -> bool:
    body = exc.body
    return isinstance(body, dict) and body.get("diemBalanceUsd") is not None


class TopUpCoordinator:
    """One wallet's top-up state, shared by a client and every client derived from it.

    Holds the single top-up in flight, the amount automatic top-ups have committed (signed and
    not known to have failed), the last known balance and the generation counter (bumped by
    every completed top-up).
    """

    def __init__(self, address: str) -> None:
        self.address = address
        self.generation = 0
        self.committed_usd = Decimal(0)
        self.last_known_balance: Decimal | None = None
        self.diem_mode = False
        self.pending_until: int | None = None
        self.proactive: tuple[InpaintClient, TopUpPolicy] | None = None
        self._task: asyncio.Task[TopUpResult] | None = None
        self._pausing = False
        self._last_poll = -math.inf
        self._background: set[asyncio.Task[Any]] = set()

    # -- the single flight ------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Whether a top-up is running."""
        return self._task is not None and not self._task.done()

    @property
    def paused(self) -> bool:
        """Whether new requests are held back (a top-up answering a 402 is running)."""
        return self._pausing and self.busy

    async def wait_resumed(self) -> None:
        """Wait while a 402-triggered top-up runs (top-up's own requests pass straight through)."""
        while self.paused and not _inside_top_up.get():
            assert self._task is not None
            await asyncio.wait({self._task})

    async def join(
        self, perform: Callable[[], Awaitable[TopUpResult]], *, pause: bool
    ) -> TopUpResult:
        """Wait for the top-up in flight, or start ``perform`` as the one; return its result."""
        task = self._task
        if task is None or task.done():
            task = self._start(perform)
            self._pausing = pause
        elif pause:
            self._pausing = True
        return await asyncio.shield(task)

    async def exclusive(self, perform: Callable[[], Awaitable[TopUpResult]]) -> TopUpResult:
        """Run ``perform`` as its own top-up once the one in flight (if any) has ended."""
        while self.busy:
            assert self._task is not None
            await asyncio.wait({self._task})
        task = self._start(perform)
        self._pausing = False
        return await asyncio.shield(task)

    def _start(self, perform: Callable[[], Awaitable[TopUpResult]]) -> asyncio.Task[TopUpResult]:
        async def run() -> TopUpResult:
            _inside_top_up.set(True)
            result = await perform()
            self.generation += 1
            return result

        task = asyncio.get_running_loop().create_task(run())
        # Every caller may have been cancelled: retrieve the outcome so it is never "unretrieved".
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        self._task = task
        return task

    async def wait_idle(self) -> None:
        """Wait until no top-up and no background balance check is running."""
        while self.busy or self._background:
            pending: set[asyncio.Task[Any]] = set(self._background)
            if self._task is not None and not self._task.done():
                pending.add(self._task)
            await asyncio.wait(pending)

    async def aclose(self) -> None:
        """Cancel background balance checks and proactive top-ups (the client is closing)."""
        tasks = set(self._background)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    # -- money ------------------------------------------------------------------------------------

    def check_can_sign(self, policy: TopUpPolicy) -> None:
        """Raise unless an automatic top-up of ``policy.amount_usd`` may be signed now."""
        if self.pending_until is not None:
            if time.time() < self.pending_until:
                raise SettlementPendingError(
                    "an earlier top-up's settlement is still unknown and its authorization is "
                    "valid until "
                    f"{self.pending_until}; refusing to sign a second payment for the same need",
                    amount_usd=policy.amount_usd,
                    valid_before=self.pending_until,
                )
            self.pending_until = None
        if self.committed_usd + policy.amount_usd > policy.max_total_usd:
            raise TopUpLimitError(
                f"an automatic top-up of ${policy.amount_usd} would bring this wallet's "
                f"automatic top-ups to ${self.committed_usd + policy.amount_usd}, above "
                f"max_total_usd=${policy.max_total_usd}; nothing was signed"
            )

    def note_balance(self, balance: WalletBalance) -> None:
        """Record a fresh balance reading."""
        self.last_known_balance = balance.balance_usd
        self.diem_mode = balance.diem_balance_usd is not None

    def note_top_up(self, result: TopUpResult) -> None:
        """Record a completed top-up's new balance."""
        if result.new_balance is not None:
            self.last_known_balance = result.new_balance
        self.pending_until = None

    # -- hooks the client calls -------------------------------------------------------------------

    def observe(self, raw: RawResponse) -> None:
        """Track ``X-Balance-Remaining`` and start a proactive top-up when it runs low."""
        current = _current.get()
        if current is None or current[0] is not self:
            return
        if _in_background.get():
            # A background check's own balance read: tracking it is fine (balance() records
            # it), but it must not schedule another check, or polls would chain forever.
            return
        fresh = current[1] == self.generation  # sent after the latest top-up completed
        value = parse_decimal(raw.headers.get(H_BALANCE_REMAINING))
        if value is not None and fresh:
            self.last_known_balance = value
        if not 200 <= raw.status < 300 or not fresh:
            return
        proactive = self.proactive
        if proactive is None or proactive[1].below_usd is None or self.busy:
            return
        client, policy = proactive
        if not self._may_top_up_proactively(policy):
            return
        if value is not None:
            if value < policy.below_usd:  # type: ignore[operator]
                self._background_task(lambda: self._proactive_top_up(client, policy))
            return
        now = time.monotonic()
        if now - self._last_poll >= policy.balance_poll_interval:
            self._last_poll = now
            self._background_task(lambda: self._poll_then_top_up(client, policy))

    def _may_top_up_proactively(self, policy: TopUpPolicy) -> bool:
        if self.diem_mode:
            return False
        if self.pending_until is not None and time.time() < self.pending_until:
            return False
        return self.committed_usd + policy.amount_usd <= policy.max_total_usd

    def _background_task(self, start: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            _in_background.set(True)
            try:
                await start()
            except Exception as exc:  # nobody awaits this task: report, never raise
                logger.warning("background wallet top-up check failed: %s", exc)

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _poll_then_top_up(self, client: InpaintClient, policy: TopUpPolicy) -> None:
        balance = await client.wallet.balance()
        assert policy.below_usd is not None
        low = balance.balance_usd < policy.below_usd
        if low and not self.busy and self._may_top_up_proactively(policy):
            await self._proactive_top_up(client, policy)

    async def _proactive_top_up(self, client: InpaintClient, policy: TopUpPolicy) -> None:
        if self.busy:
            return
        result = await self.join(lambda: client.wallet._auto_top_up(policy), pause=False)
        logger.info(
            "proactive top-up of $%s for %s done; balance %s",
            result.amount_credited,
            self.address,
            result.new_balance,
        )

    def payment_hook(
        self, client: InpaintClient, policy: TopUpPolicy
    ) -> Callable[[PaymentRequiredError, int], Awaitable[bool]]:
        """The client's 402 hook: top up once (single-flight) on a wallet 402, then retry."""

        async def hook(exc: PaymentRequiredError, topped_up: int) -> bool:
            if topped_up >= 1 or not isinstance(exc, WalletCreditError):
                return False
            if _diem_mode(exc) or self.diem_mode:
                return False  # DIEM is spent first: a USDC top-up would not fix this 402
            sent = _last_sent.get()
            if sent is not None and sent[0] is self and sent[1] < self.generation:
                return True  # a top-up finished after this attempt left: just send it again
            if exc.info is not None and exc.info.current_balance_usd is not None:
                self.last_known_balance = exc.info.current_balance_usd
            try:
                await self.join(lambda: client.wallet._auto_top_up(policy), pause=True)
            except TopUpError as err:
                if err.__cause__ is None:
                    err.__cause__ = exc
                raise
            return True

        return hook


class WalletGate:
    """The per-attempt limiter of a wallet client: waits out a 402 top-up, then takes one of
    the wallet's in-flight slots (``WalletAuth.in_flight``) for the attempt."""

    def __init__(self, auth: WalletAuth, coordinator: TopUpCoordinator) -> None:
        self._auth = auth
        self._coordinator = coordinator

    async def __aenter__(self) -> None:
        coordinator = self._coordinator
        while True:
            await coordinator.wait_resumed()
            semaphore = self._auth.in_flight
            await semaphore.acquire()
            if not coordinator.paused or _inside_top_up.get():
                break
            semaphore.release()  # a top-up started while we queued: let it finish first
        _current.set((coordinator, coordinator.generation))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._auth.in_flight.release()
        _last_sent.set(_current.get())
        _current.set(None)


def coordinator_for(client: InpaintClient, auth: WalletAuth) -> TopUpCoordinator:
    """The coordinator of ``auth``'s wallet in ``client``'s shared state (created once)."""
    coordinators: dict[str, TopUpCoordinator] = client._shared.setdefault("wallet_top_ups", {})
    key = auth.address.lower()
    coordinator = coordinators.get(key)
    if coordinator is None:
        coordinator = coordinators[key] = TopUpCoordinator(auth.address)
        observers: list[Callable[[RawResponse], None]] = client._shared.setdefault("observers", [])
        observers.append(coordinator.observe)
    return coordinator


def install(client: InpaintClient, auth: WalletAuth, policy: TopUpPolicy | None) -> None:
    """Wire a wallet client: the in-flight gate, balance tracking and (with a policy) top-ups."""
    coordinator = coordinator_for(client, auth)
    client._limiter = WalletGate(auth, coordinator)
    if policy is not None:
        client._payment_hook = coordinator.payment_hook(client, policy)
        if policy.below_usd is not None:
            coordinator.proactive = (client, policy)


def policy_payees(policy: TopUpPolicy | None) -> Collection[str] | None:
    """The policy's pinned payees, if any."""
    return policy.allowed_payees if policy is not None else None
