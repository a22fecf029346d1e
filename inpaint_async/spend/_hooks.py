"""The hooks a wallet client installs in its own request pipeline.

:class:`WalletHooks` is built by the client for itself (``InpaintClient(auth=WalletAuth(...))``)
and holds nothing but references: the money state is the spender's ledger (bound once per
process, see :func:`~inpaint_async.spend.bind_ledger`) and its :class:`SpendGuard`. The client
calls it at three points of each request:

* :meth:`WalletHooks.attempt` around signing and sending an authenticated attempt: waits out a
  402 top-up (unless the request belongs to a top-up), takes one of the wallet's in-flight slots
  and stamps the attempt's :class:`AttemptTicket` with the moment it left;
* :meth:`WalletHooks.observe` with each answer: balance tracking, the proactive top-up;
* :meth:`WalletHooks.payment_required` with a 402: the policy's single-flight top-up, then
  ``True`` to send the call again.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Awaitable, Callable, Collection
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar
from weakref import WeakKeyDictionary

from .._constants import ENV_LEDGER, H_BALANCE_REMAINING
from .._exceptions import (
    APIConnectionError,
    APIStatusError,
    ConfigurationError,
    InpaintError,
    PaymentRequiredError,
    TopUpError,
    WalletCreditError,
)
from .._headers import parse_decimal
from .._logging import logger
from . import bind_ledger, spender_id
from ._ledger import SpendLedger
from ._policy import TopUpPolicy, TopUpTimings
from ._records import KIND_AUTO, KIND_MANUAL, SpendCaps, SpendStatus
from ._topup import (
    DEFAULT_TIMINGS,
    Requester,
    SpendGuard,
    TopUpOrder,
    execute_top_up,
    guard_for,
    read_balance,
)

if TYPE_CHECKING:
    from .._wire import RawResponse
    from ..auth.wallet import WalletAuth
    from ..x402.models import TopUpResult

__all__ = ["AttemptTicket", "WalletHooks", "cancel_background"]

T = TypeVar("T")

# Background balance checks and proactive top-ups, per HTTP transport (a root client and the
# clients derived from it): the root's close() cancels them.
_background: WeakKeyDictionary[Any, set[asyncio.Task[None]]] = WeakKeyDictionary()


class AttemptTicket:
    """One request's record of its latest attempt: when it left, and whether it is internal."""

    __slots__ = ("internal", "sent_at")

    def __init__(self, *, internal: bool = False) -> None:
        self.internal = internal
        self.sent_at: float | None = None


def _diem_mode(exc: PaymentRequiredError) -> bool:
    body = exc.body
    return isinstance(body, dict) and body.get("diemBalanceUsd") is not None


def _flight_timeout(timings: TopUpTimings) -> float:
    """How long a call waits for a flight: the gate wait plus one whole top-up, plus slack."""
    return timings.wait_timeout + timings.top_up_deadline + 5.0


class WalletHooks:
    """A wallet client's money hooks (one per client; the state they use is the wallet's)."""

    def __init__(
        self,
        client: Requester,
        auth: WalletAuth,
        policy: TopUpPolicy | None,
        transport: object,
    ) -> None:
        self._client = client
        self._auth = auth
        self._policy = policy
        self._transport = transport
        self.spender = spender_id(auth)
        path = policy.ledger if policy is not None else None
        self._path = path or os.environ.get(ENV_LEDGER) or None
        # Bound now, so that a conflicting ledger is refused when the client is built. A file,
        # once bound, stays the spender's ledger (it holds state); the in-memory default is
        # looked up at each use, as a file bound later by another client replaces it.
        ledger = bind_ledger(self.spender, self._path)
        self._fixed: SpendLedger | None = ledger if self._path is not None else None
        if policy is not None:
            ledger.register_caps(policy.caps)
        self._refused_until = -math.inf

    @property
    def ledger(self) -> SpendLedger:
        """The wallet's ledger in this process."""
        return self._fixed or bind_ledger(self.spender)

    @property
    def guard(self) -> SpendGuard:
        """This process's state of the wallet's ledger."""
        return guard_for(self.ledger)

    @property
    def policy(self) -> TopUpPolicy | None:
        """The client's top-up policy."""
        return self._policy

    # -- the pipeline ---------------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        """Whether new requests are held back by a 402 top-up."""
        return self.guard.paused

    async def wait_resumed(self) -> None:
        """Wait while a 402-triggered top-up runs (it ends by its own deadline)."""
        await self.guard.wait_resumed(
            _flight_timeout(self._policy.timings if self._policy is not None else DEFAULT_TIMINGS)
        )

    def attempt(self, ticket: AttemptTicket) -> _AttemptSlot:
        """Around one authenticated attempt: wait out a 402 top-up, hold an in-flight slot."""
        return _AttemptSlot(self, ticket)

    async def _admit(self, ticket: AttemptTicket) -> asyncio.Semaphore:
        flights = self.guard.flights
        assert flights is not None
        semaphore = self._auth.in_flight
        await flights.admit(
            semaphore.acquire,
            semaphore.release,
            during_top_up=ticket.internal,
            timeout=_flight_timeout(
                self._policy.timings if self._policy is not None else DEFAULT_TIMINGS
            ),
        )
        ticket.sent_at = time.time()
        return semaphore

    def observe(self, raw: RawResponse, ticket: AttemptTicket) -> None:
        """Track ``X-Balance-Remaining``; start a proactive top-up when it runs low."""
        sent_at = ticket.sent_at
        if sent_at is None:
            return
        guard = self.guard
        fresh = sent_at >= guard.completed_at  # sent after the latest top-up completed
        value = parse_decimal(raw.headers.get(H_BALANCE_REMAINING))
        if value is not None and fresh:
            guard.last_known_balance = value
        policy = self._policy
        if (
            ticket.internal  # a top-up's or a background check's own request
            or not fresh
            or not 200 <= raw.status < 300
            or policy is None
            or policy.below_usd is None
            or guard.busy
            or guard.diem_mode
            or time.monotonic() < self._refused_until
        ):
            return
        if value is not None:
            if value < policy.below_usd:
                self._in_background(lambda: self._proactive(policy, sent_at))
            return
        now = time.monotonic()
        if now - guard.last_poll >= policy.balance_poll_interval:
            guard.last_poll = now
            self._in_background(lambda: self._poll_then_top_up(policy))

    async def payment_required(
        self, exc: PaymentRequiredError, topped_up: int, ticket: AttemptTicket
    ) -> bool:
        """A 402: top up once (single flight) if the policy allows, then ``True`` to resend."""
        policy = self._policy
        if policy is None or not self.tops_up(exc, topped_up, ticket):
            return False
        guard = self.guard
        sent_at = ticket.sent_at
        if sent_at is not None and sent_at < guard.completed_at:
            return True  # a top-up finished after this attempt left: just send it again
        if exc.info is not None and exc.info.current_balance_usd is not None:
            guard.last_known_balance = exc.info.current_balance_usd
        try:
            await guard.join(
                lambda: self._fly(policy, sent_at),
                pause=True,
                timeout=_flight_timeout(policy.timings),
            )
        except TopUpError as err:
            if err.__cause__ is None:
                err.__cause__ = exc
            raise
        return True

    def tops_up(self, exc: PaymentRequiredError, topped_up: int, ticket: AttemptTicket) -> bool:
        """Whether this 402 calls for the policy's top-up: a wallet-credit 402 of a caller's
        request (not a top-up's own), the first of its chain, with a policy, outside DIEM mode."""
        if self._policy is None or ticket.internal or topped_up >= 1:
            return False
        if not isinstance(exc, WalletCreditError):
            return False
        # DIEM is spent first: a USDC top-up would not fix this 402.
        return not (_diem_mode(exc) or self.guard.diem_mode)

    # -- top-ups --------------------------------------------------------------------------------

    def _order(self, policy: TopUpPolicy) -> TopUpOrder:
        return TopUpOrder(
            amount=policy.amount_usd,
            kind=KIND_AUTO,
            cap=policy.cap_per_top_up_usd,
            payees=policy.allowed_payees,
            legacy=policy.legacy_header,
            caps=policy.caps,
            timings=policy.timings,
        )

    async def _fly(self, policy: TopUpPolicy, sent_at: float | None) -> TopUpResult | None:
        guard = self.guard
        order = self._order(policy)
        return await guard.fly(
            lambda lease: execute_top_up(self._client, self._auth, guard, order, lease),
            sent_at=sent_at,
            wait_timeout=policy.wait_timeout,
            hold_for=policy.top_up_deadline + 30.0,
        )

    async def top_up(
        self,
        amount: Decimal,
        *,
        cap: Decimal | None,
        payees: Collection[str] | None,
        legacy: bool,
        caps: SpendCaps | None = None,
    ) -> TopUpResult:
        """A manual top-up: its own flight, after the one in progress (if any)."""
        timings = self._policy.timings if self._policy is not None else DEFAULT_TIMINGS
        guard = self.guard
        order = TopUpOrder(
            amount=amount,
            kind=KIND_MANUAL,
            cap=cap,
            payees=payees,
            legacy=legacy,
            caps=caps,
            timings=timings,
        )

        async def perform() -> TopUpResult | None:
            return await guard.fly(
                lambda lease: execute_top_up(self._client, self._auth, guard, order, lease),
                sent_at=None,
                wait_timeout=timings.wait_timeout,
                hold_for=timings.top_up_deadline + 30.0,
            )

        result = await guard.exclusive(perform, timeout=_flight_timeout(timings))
        assert result is not None  # sent_at=None: a flight always tops up or raises
        return result

    # -- edit spend -----------------------------------------------------------------------------

    @property
    def edit_cap(self) -> Decimal | None:
        """The strictest ``max_edit_spend_per_day_usd`` in force for this wallet, if any."""
        return self.ledger.caps.max_edit_spend_per_day_usd

    async def paid_call(
        self,
        price: Callable[[], Awaitable[Decimal]],
        call: Callable[[], Awaitable[T]],
        *,
        label: str = "",
    ) -> T:
        """Run one paid call under the daily edit-spend cap: reserve its estimate first
        (``SpendCapError``, nothing sent, when it does not fit), commit it once sent.

        A call that was refused, or never left, gives the room back; any other end (success,
        an unknown outcome, a cancellation in flight) counts the estimate as spent.
        """
        ledger = self.ledger
        estimate = await price()
        hold = await ledger.reserve_edit(estimate, label=label)
        try:
            result = await call()
        except (APIStatusError, APIConnectionError, ConfigurationError):
            await ledger.release_edit(hold)  # refused, or never sent: not charged
            raise
        except BaseException:
            await asyncio.shield(ledger.commit_edit(hold, estimate))  # may have been charged
            raise
        await ledger.commit_edit(hold, estimate)
        return result

    async def wait_idle(self) -> None:
        """Wait until no top-up and no background check of this client's family is running."""
        while True:
            pending: set[asyncio.Task[Any]] = set(_background.get(self._transport, ()))
            flight = self.guard._running()
            if flight is not None:
                pending.add(flight)
            if not pending:
                return
            await asyncio.wait(pending)

    async def status(self) -> SpendStatus:
        """The ledger's status."""
        return await self.ledger.status()

    # -- background -----------------------------------------------------------------------------

    def _in_background(self, start: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            try:
                await start()
            except InpaintError as exc:  # nobody awaits this task: report, never raise
                policy = self._policy
                if policy is not None:
                    self._refused_until = time.monotonic() + policy.balance_poll_interval
                logger.warning("background wallet top-up check failed: %s", exc)

        tasks = _background.setdefault(self._transport, set())
        task = asyncio.get_running_loop().create_task(run())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _poll_then_top_up(self, policy: TopUpPolicy) -> None:
        guard = self.guard
        balance = await read_balance(
            self._client, self._auth.address, internal=True, timeout=policy.request_timeout
        )
        guard.note_balance(balance)
        assert policy.below_usd is not None
        if balance.balance_usd < policy.below_usd and not guard.busy and not guard.diem_mode:
            await self._proactive(policy, time.time())

    async def _proactive(self, policy: TopUpPolicy, sent_at: float) -> None:
        guard = self.guard
        if guard.busy:
            return
        result = await guard.join(
            lambda: self._fly(policy, sent_at), pause=False, timeout=_flight_timeout(policy.timings)
        )
        if result is not None:
            logger.info(
                "proactive top-up of $%s for %s done; balance %s",
                result.amount_credited,
                self._auth.address,
                result.new_balance,
            )


async def cancel_background(transport: object) -> None:
    """Cancel the background wallet work of the clients on ``transport`` (a root's close)."""
    tasks = set(_background.get(transport, ()))
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks)


class _AttemptSlot:
    """The context of :meth:`WalletHooks.attempt` (a class: cheaper per request than a generator
    context manager): an in-flight slot from entry to exit."""

    __slots__ = ("_hooks", "_semaphore", "_ticket")

    def __init__(self, hooks: WalletHooks, ticket: AttemptTicket) -> None:
        self._hooks = hooks
        self._ticket = ticket
        self._semaphore: asyncio.Semaphore | None = None

    async def __aenter__(self) -> None:
        self._semaphore = await self._hooks._admit(self._ticket)

    async def __aexit__(self, *exc: object) -> None:
        if self._semaphore is not None:
            self._semaphore.release()
            self._semaphore = None
