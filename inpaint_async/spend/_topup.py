"""The top-up procedure: discover, check, sign, record, settle; and its single flight.

One top-up, from the first request to the last, is :func:`execute_top_up`. It runs inside a
*flight* (:meth:`SpendGuard.fly`): in this process, one at a time per ledger (calls that meet a
402 meanwhile wait for it); across processes, one at a time per ledger file (the ledger's gate).

Rules this module keeps:

* **Signed before sent, counted for good.** The authorization is recorded in the ledger, with
  the cap check in the same transaction, before the payment leaves. Whatever the server answers
  later only sets its outcome; it never makes it count less.
* **A top-up's own requests are internal**: they never pass through the 402 hook (a top-up never
  waits for itself) and never wait for a paused wallet.
* **Every wait has a deadline**: each request (``request_timeout``), the settlement
  (``settlement_timeout``, and never past the authorization's ``validBefore``), the whole top-up
  (``TopUpPolicy.top_up_deadline``), and waiting for another call's or process's top-up
  (``wait_timeout``). Failures are typed (:class:`~inpaint_async.TopUpError` and subclasses) and
  always release the gate, so the next call works.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import secrets
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from weakref import WeakKeyDictionary

from .._constants import H_CF_RAY, H_PAYMENT_LEGACY, H_PAYMENT_RESPONSE, H_PAYMENT_SIGNATURE
from .._exceptions import (
    APIConnectionError,
    APIStatusError,
    ConfigurationError,
    ConflictError,
    InpaintError,
    OutcomeUnknownError,
    PaymentRequiredError,
    RateLimitError,
    ServerError,
    SettlementFailedError,
    SettlementPendingError,
    TopUpError,
    UnexpectedResponseError,
    X402DiscoveryError,
)
from .._logging import logger
from .._retry import RetryPolicy, server_wait
from ..x402.models import PaymentRequiredBody, PaymentRequirement, TopUpResult, WalletBalance
from ..x402.payment import (
    SignedPayment,
    decode_payment_response,
    new_payment_nonce,
    select_base_usdc,
    sign_payment,
    usd_to_base_units,
    validate_amount,
)
from ._ledger import SpendLedger
from ._policy import TopUpTimings
from ._records import KIND_AUTO, AuthorizationRecord, Outcome, SpendCaps, TopUpLease

if TYPE_CHECKING:
    from .._wire import RawResponse
    from ..auth import Signer, WalletAuth

    PaymentSigner = WalletAuth | Signer

__all__ = [
    "DEFAULT_TIMINGS",
    "Requester",
    "SpendGuard",
    "TopUpOrder",
    "execute_top_up",
    "guard_for",
    "parse_data",
    "read_balance",
]

T = TypeVar("T")

TOP_UP_PATH = "/x402/top-up"
#: Timings of manual top-ups made without a policy.
DEFAULT_TIMINGS = TopUpTimings()
# How often a call waiting for another process's top-up looks at the ledger's gate.
_GATE_POLL = 0.1
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class Requester(Protocol):
    """What the procedure needs of a client: its base URL and internal requests."""

    base_url: str

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = ...,
        timeout: float | None = ...,
        retry: RetryPolicy | None = ...,
        extra_headers: Mapping[str, str] | None = ...,
        idempotent: bool | None = ...,
        authenticate: bool = ...,
        _internal: bool = ...,
    ) -> RawResponse: ...


def parse_data(raw: RawResponse) -> Any:
    """The ``data`` member of a ``{"success": true, "data": …}`` body (or the body itself)."""
    try:
        body = json.loads(raw.content)
    except (ValueError, RecursionError):
        raise UnexpectedResponseError(
            "expected a JSON body from the wallet endpoint", request_id=raw.headers.get(H_CF_RAY)
        ) from None
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        return body["data"]
    return body


async def read_balance(
    client: Requester, address: str, *, internal: bool = False, timeout: float | None = None
) -> WalletBalance:
    """``GET /x402/balance/{address}``, parsed."""
    raw = await client.request(
        "GET", f"/x402/balance/{address}", timeout=timeout, _internal=internal
    )
    try:
        return WalletBalance.model_validate(parse_data(raw))
    except ValueError as exc:
        raise UnexpectedResponseError(
            f"the balance response did not parse: {exc.__class__.__name__}",
            request_id=raw.headers.get(H_CF_RAY),
        ) from None


# -- the in-process state of one ledger -------------------------------------------------------


class SpendGuard:
    """This process's view of one ledger: the flight in progress, pauses, the known balance.

    Shared by every client of the ledger's spender in the process (one per ledger). Money
    *limits* are not here: they are the ledger's.
    """

    def __init__(self, ledger: SpendLedger) -> None:
        self.ledger = ledger
        self.last_known_balance: Decimal | None = None
        self.diem_mode = False
        #: Wall-clock time of the latest top-up this process saw complete (any process's).
        self.completed_at = -math.inf
        self.signed_auto_usd = Decimal(0)
        self.last_poll = -math.inf
        self._flight: asyncio.Task[TopUpResult | None] | None = None
        self._pausing = False

    # -- flights ------------------------------------------------------------------------------

    def _running(self) -> asyncio.Task[TopUpResult | None] | None:
        task = self._flight
        if task is None or task.done():
            return None
        try:
            if task.get_loop() is not asyncio.get_running_loop():
                return None  # another loop's flight: the ledger's gate serializes us with it
        except RuntimeError:  # pragma: no cover - always called inside a loop
            return None
        return task

    @property
    def busy(self) -> bool:
        """Whether a top-up of this process runs on the current loop."""
        return self._running() is not None

    @property
    def paused(self) -> bool:
        """Whether new requests are held back (a top-up answering a 402 is running)."""
        return self._pausing and self.busy

    async def wait_resumed(self, timeout: float | None = None) -> None:
        """Wait while a 402-triggered top-up runs (it ends by its own deadline)."""
        while self.paused:
            task = self._running()
            assert task is not None
            done, _ = await asyncio.wait({task}, timeout=timeout)
            if not done:
                raise TopUpError(f"a wallet top-up did not end within {timeout:.0f} s")

    async def join(
        self,
        perform: Callable[[], Coroutine[Any, Any, TopUpResult | None]],
        *,
        pause: bool,
        timeout: float,
    ) -> TopUpResult | None:
        """Wait for the flight in progress, or start ``perform`` as the one; return its result.

        ``None`` means no top-up was needed (another process's completed first).
        """
        task = self._running()
        if task is None:
            task = self._start(perform)
            self._pausing = pause
        elif pause:
            self._pausing = True
        return await self._await(task, timeout)

    async def exclusive(
        self, perform: Callable[[], Coroutine[Any, Any, TopUpResult | None]], *, timeout: float
    ) -> TopUpResult | None:
        """Run ``perform`` as its own flight once the one in progress (if any) has ended."""
        deadline = time.monotonic() + timeout
        while (task := self._running()) is not None:
            await asyncio.wait({task}, timeout=max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                raise TopUpError(f"another top-up did not end within {timeout:.0f} s")
        task = self._start(perform)
        self._pausing = False
        return await self._await(task, max(0.0, deadline - time.monotonic()))

    async def _await(
        self, task: asyncio.Task[TopUpResult | None], timeout: float
    ) -> TopUpResult | None:
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            raise TopUpError(f"a wallet top-up did not end within {timeout:.0f} s")
        return task.result()

    def _start(
        self, perform: Callable[[], Coroutine[Any, Any, TopUpResult | None]]
    ) -> asyncio.Task[TopUpResult | None]:
        task = asyncio.get_running_loop().create_task(perform())
        # Every waiter may have given up: retrieve the outcome so it is never "unretrieved".
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        self._flight = task
        return task

    async def fly(
        self,
        top_up: Callable[[TopUpLease], Awaitable[TopUpResult]],
        *,
        sent_at: float | None,
        wait_timeout: float,
        hold_for: float,
    ) -> TopUpResult | None:
        """Take the ledger's gate (waiting up to ``wait_timeout``), then run ``top_up``.

        With ``sent_at`` (when the request that needs the top-up left), a top-up completed
        after that moment by anyone makes this one unnecessary: ``None`` is returned and nothing
        is signed. The gate is held for at most ``hold_for`` seconds (a process that dies holding
        it blocks the others no longer) and is always released.
        """
        ledger = self.ledger
        holder = f"{os.getpid()}:{secrets.token_hex(6)}"
        deadline = time.monotonic() + wait_timeout
        while True:
            lease = await ledger.try_acquire_top_up(holder, ttl=hold_for)
            if lease is not None:
                break
            if time.monotonic() + _GATE_POLL > deadline:
                raise TopUpError(
                    f"another process's top-up of this wallet did not end within "
                    f"{wait_timeout:.0f} s; nothing was signed"
                )
            await asyncio.sleep(_GATE_POLL)
        completed = False
        try:
            gate = await ledger.top_up_gate()
            if gate.completed_at is not None:
                self.completed_at = max(self.completed_at, gate.completed_at)
            if sent_at is not None and self.completed_at > sent_at:
                return None  # a top-up landed after the request left: send it again
            result = await top_up(lease)
            completed = True
            return result
        finally:
            # Shielded: a cancelled flight still frees the gate for the other processes.
            release = asyncio.ensure_future(ledger.release_top_up(lease, completed=completed))
            try:
                state = await asyncio.shield(release)
            except asyncio.CancelledError:
                raise
            except InpaintError as exc:
                logger.warning("could not release the ledger's top-up gate: %s", exc)
            else:
                if state.completed_at is not None:
                    self.completed_at = max(self.completed_at, state.completed_at)

    def note_balance(self, balance: WalletBalance) -> None:
        """Record a fresh balance reading."""
        self.last_known_balance = balance.balance_usd
        self.diem_mode = balance.diem_balance_usd is not None


_guards: WeakKeyDictionary[SpendLedger, SpendGuard] = WeakKeyDictionary()


def guard_for(ledger: SpendLedger) -> SpendGuard:
    """The process's guard of ``ledger`` (created once)."""
    guard = _guards.get(ledger)
    if guard is None:
        guard = _guards[ledger] = SpendGuard(ledger)
    return guard


# -- one top-up ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopUpOrder:
    """What one top-up may do.

    Attributes:
        amount: USD to add.
        kind: ``"auto"`` (policy) or ``"manual"``.
        cap: The largest single top-up allowed (``max_per_top_up_usd`` / ``max_usd``).
        payees: Pinned payees (``None``: any payee the server names passes the rail checks).
        legacy: Send ``X-402-Payment`` instead of ``PAYMENT-SIGNATURE``.
        caps: Caps counted by the ledger for this signature (besides the registered ones).
        timings: Timeouts and intervals (a policy's; :data:`DEFAULT_TIMINGS` for manual ones).
    """

    amount: Decimal
    kind: str
    cap: Decimal | None
    payees: Collection[str] | None
    legacy: bool
    caps: SpendCaps | None
    timings: TopUpTimings


def check_payment_origin(base_url: str) -> None:
    """Money is signed only for requirements fetched over https (or from a loopback emulator)."""
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme != "https" and (parts.hostname or "") not in _LOOPBACK_HOSTS:
        raise ConfigurationError(
            f"refusing to sign a payment for {parts.scheme}://{parts.hostname}: payment "
            "requirements must come over https (plain http is allowed only on loopback)"
        )


async def discover(client: Requester, timeout: float) -> tuple[PaymentRequirement, ...]:
    """``POST /x402/top-up`` with no payment and no auth: the 402 lists the payment options."""
    try:
        raw = await client.request(
            "POST",
            TOP_UP_PATH,
            authenticate=False,
            idempotent=True,
            timeout=timeout,
            _internal=True,
        )
    except PaymentRequiredError as exc:
        for candidate in (
            exc.info if isinstance(exc, X402DiscoveryError) else None,
            exc.payment_required,
        ):
            if isinstance(candidate, PaymentRequiredBody) and candidate.accepts:
                return candidate.accepts
        raise TopUpError("the top-up discovery 402 listed no payment options") from exc
    raise TopUpError(f"top-up discovery answered {raw.status}, expected a 402")


async def execute_top_up(
    client: Requester,
    signer: PaymentSigner,
    guard: SpendGuard,
    order: TopUpOrder,
    lease: TopUpLease | None,
) -> TopUpResult:
    """One top-up, start to end, within ``order.timings.top_up_deadline``.

    Raises:
        TopUpLimitError, SettlementPendingError: the ledger refuses; nothing is signed.
        PaymentRailError: no acceptable offer; nothing is signed.
        SettlementFailedError, TopUpError: signed, refused; the signature still counts.
        SettlementPendingError: signed, outcome unknown by the deadline.
    """
    timings = order.timings
    address = signer.address
    signed: list[SignedPayment] = []
    try:
        async with asyncio.timeout(timings.top_up_deadline):
            return await _top_up(client, signer, guard, order, lease, signed)
    except TimeoutError:
        if signed:
            payment = signed[0]
            raise SettlementPendingError(
                f"the top-up of ${order.amount} for {address} did not finish within "
                f"{timings.top_up_deadline:.0f} s after it was signed; it may still be credited "
                f"(authorization valid until {payment.valid_before})",
                amount_usd=order.amount,
                valid_before=payment.valid_before,
            ) from None
        raise TopUpError(
            f"the top-up did not get as far as signing within {timings.top_up_deadline:.0f} s; "
            "nothing was signed"
        ) from None


def _nonce(payment: SignedPayment) -> str:
    return payment.authorization["nonce"]


async def _top_up(
    client: Requester,
    signer: PaymentSigner,
    guard: SpendGuard,
    order: TopUpOrder,
    lease: TopUpLease | None,
    signed: list[SignedPayment],
) -> TopUpResult:
    ledger = guard.ledger
    timings = order.timings
    await ledger.check_authorization(order.kind, order.amount, caps=order.caps)
    check_payment_origin(client.base_url)
    offers = await discover(client, timings.request_timeout)
    requirement = select_base_usdc(offers, allowed_payees=order.payees)
    value = validate_amount(
        usd_to_base_units(order.amount), requirement, cap_usd=order.cap, allowed_payees=order.payees
    )
    baseline = guard.last_known_balance
    if baseline is None:
        # Known before paying, so an unclear settlement can be checked against it.
        try:
            balance = await read_balance(
                client, signer.address, internal=True, timeout=timings.request_timeout
            )
        except (APIStatusError, APIConnectionError, OutcomeUnknownError) as exc:
            raise TopUpError(
                f"could not read the balance before the top-up ({type(exc).__name__}); "
                "nothing was signed"
            ) from exc
        guard.note_balance(balance)
        baseline = balance.balance_usd
    try:
        # Any Signer, sync or async (a KMS, a hardware or remote signer); its time counts
        # against the top-up deadline like the rest.
        payment = await sign_payment(
            signer=signer,
            requirement=requirement,
            value=value,
            now=int(time.time()),
            nonce=new_payment_nonce(),
        )
    except InpaintError:
        raise
    except Exception as exc:
        # Nothing came back, so nothing can be sent: no authorization to record.
        raise TopUpError(
            f"the wallet's signer failed ({type(exc).__name__}); nothing was sent"
        ) from exc
    record = AuthorizationRecord(
        nonce=_nonce(payment),
        kind=order.kind,
        amount_usd=order.amount,
        payee=payment.pay_to,
        asset=requirement.asset or "",
        network=payment.network,
        valid_before=payment.valid_before,
        signed_at=time.time(),
    )
    # Recorded (and the caps checked) before it leaves: from here on it counts, whatever happens.
    await ledger.record_authorization(record, caps=order.caps, lease=lease)
    signed.append(payment)
    if order.kind == KIND_AUTO:
        guard.signed_auto_usd += order.amount
    logger.info(
        "top-up: signed $%s USDC on %s to %s for %s", order.amount, payment.network,
        payment.pay_to, signer.address,
    )  # fmt: skip
    outcome: Outcome = "unknown"
    try:
        result = await _settle(client, signer.address, guard, payment, order, baseline)
        outcome = "credited"
    except SettlementFailedError:
        outcome = "failed"
        raise
    except SettlementPendingError:
        outcome = "unknown"
        raise
    except TopUpError:
        outcome = "refused"
        raise
    finally:
        # Every outcome still counts against the caps; "unknown" also blocks the next
        # automatic signature until the authorization expires.
        try:
            await ledger.record_outcome(record.nonce, outcome)
        except InpaintError as exc:  # the signature is recorded; only its outcome is lost
            logger.warning("could not record the top-up outcome: %s", exc)
    if result.new_balance is not None:
        guard.last_known_balance = result.new_balance
    return result


async def _settle(
    client: Requester,
    address: str,
    guard: SpendGuard,
    payment: SignedPayment,
    order: TopUpOrder,
    baseline: Decimal,
) -> TopUpResult:
    """Send the signed payment; resend the *same* one while it is in progress."""
    timings = order.timings
    header = H_PAYMENT_LEGACY if order.legacy else H_PAYMENT_SIGNATURE
    deadline = min(
        time.monotonic() + timings.settlement_timeout, _monotonic_at(payment.valid_before)
    )
    wait = timings.in_progress_backoff
    while True:
        try:
            raw = await client.request(
                "POST",
                TOP_UP_PATH,
                authenticate=False,
                extra_headers={header: payment.header_value},
                retry=RetryPolicy.no_retry(),
                timeout=timings.request_timeout,
                _internal=True,
            )
            return _receipt(raw, address, order.amount)
        except ConflictError as exc:
            # 409 PAYMENT_IN_PROGRESS: the same payment is settling; a new one would pay twice.
            logger.info("top-up in progress (409); resending the same payment in %.1fs", wait)
            delay = wait
            wait = min(wait * 2, timings.in_progress_backoff * 4)
            cause: BaseException = exc
        except (RateLimitError, APIConnectionError) as exc:
            # Not processed: resending the same signed payment is safe.
            delay = server_wait(exc, time.time()) or wait
            cause = exc
        except PaymentRequiredError as exc:
            if exc.code == "SETTLEMENT_FAILED":
                raise SettlementFailedError(
                    f"the top-up settlement failed; no funds moved ({exc.message}). The signed "
                    "authorization still counts against the caps until it expires"
                ) from exc
            raise TopUpError(f"the top-up was refused: {exc}") from exc
        except OutcomeUnknownError as exc:
            return await _await_credit(
                client, address, guard, payment, order, baseline, deadline, exc
            )
        except ServerError as exc:
            if exc.status_code in (500, 502):
                return await _await_credit(
                    client, address, guard, payment, order, baseline, deadline, exc
                )
            raise TopUpError(f"top-ups are unavailable: {exc}") from exc
        except APIStatusError as exc:
            raise TopUpError(f"the server refused the top-up: {exc}") from exc
        if time.monotonic() + delay >= deadline:
            raise SettlementPendingError(
                "the top-up was still settling when the deadline passed; it may still be "
                f"credited (authorization valid until {payment.valid_before})",
                amount_usd=order.amount,
                valid_before=payment.valid_before,
            ) from cause
        await asyncio.sleep(delay)


async def _await_credit(
    client: Requester,
    address: str,
    guard: SpendGuard,
    payment: SignedPayment,
    order: TopUpOrder,
    baseline: Decimal,
    deadline: float,
    cause: BaseException,
) -> TopUpResult:
    """The outcome is unknown: poll the balance until the credit shows. Never sign again."""
    timings = order.timings
    logger.warning(
        "top-up settlement outcome unknown (%s); polling the balance, not paying again",
        type(cause).__name__,
    )
    # The credit has shown once the balance rose by at least half the top-up: edits running
    # meanwhile cost cents, a top-up is at least $5.
    threshold = baseline + order.amount / 2
    while True:
        try:
            balance = await read_balance(
                client, address, internal=True, timeout=timings.request_timeout
            )
        except (APIStatusError, APIConnectionError, OutcomeUnknownError) as exc:
            logger.info("balance poll failed (%s); polling again", type(exc).__name__)
        else:
            guard.note_balance(balance)
            if balance.balance_usd >= threshold:
                return TopUpResult(
                    wallet_address=address,
                    amount_credited=order.amount,
                    new_balance=balance.balance_usd,
                    payment_id="",
                    confirmed_by="balance",
                )
        if time.monotonic() + timings.poll_interval >= deadline:
            raise SettlementPendingError(
                "the top-up's settlement outcome is unknown and the credit did not show in "
                "the balance before the deadline; the payment may still land "
                f"(authorization valid until {payment.valid_before})",
                amount_usd=order.amount,
                valid_before=payment.valid_before,
            ) from cause
        await asyncio.sleep(timings.poll_interval)


def _receipt(raw: RawResponse, address: str, amount: Decimal) -> TopUpResult:
    receipt = decode_payment_response(raw.headers.get(H_PAYMENT_RESPONSE))
    try:
        data = parse_data(raw)
        if not isinstance(data, Mapping):
            raise TypeError("not an object")
        return TopUpResult.from_response(data, receipt)
    except (ValueError, TypeError, UnexpectedResponseError):
        # The money moved (a 200); keep what we know rather than report a failure.
        logger.warning("the top-up succeeded but its receipt did not parse")
        return TopUpResult(
            wallet_address=address,
            amount_credited=amount,
            payment_id="",
            transaction=(receipt or {}).get("transaction"),
        )


def _monotonic_at(unix_seconds: int) -> float:
    return time.monotonic() + (unix_seconds - time.time())
