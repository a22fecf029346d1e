"""``client.wallet``: balance, transactions and USDC top-ups of the signing wallet."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from collections.abc import AsyncIterator, Collection, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .._constants import H_PAYMENT_LEGACY, H_PAYMENT_RESPONSE, H_PAYMENT_SIGNATURE
from .._exceptions import (
    APIConnectionError,
    APIStatusError,
    ConfigurationError,
    ConflictError,
    OutcomeUnknownError,
    PaymentRequiredError,
    RateLimitError,
    ServerError,
    SettlementFailedError,
    SettlementPendingError,
    TopUpError,
    UnexpectedResponseError,
    ValidationError,
    X402DiscoveryError,
)
from .._logging import logger
from .._retry import RetryPolicy, server_wait
from .._transport import RawResponse
from ..x402.models import (
    PaymentRequiredBody,
    PaymentRequirement,
    TopUpResult,
    TransactionsPage,
    WalletBalance,
    WalletTransaction,
)
from ..x402.payment import (
    SignedPayment,
    build_payment_header,
    decode_payment_response,
    new_payment_nonce,
    select_base_usdc,
    usd_to_base_units,
    validate_amount,
)
from ..x402.topup import (
    TopUpCoordinator,
    TopUpPolicy,
    coordinator_for,
    to_usd,
)

if TYPE_CHECKING:
    from .._client import InpaintClient
    from ..auth.wallet import WalletAuth

__all__ = ["Wallet"]

_DEFAULT_TIMINGS = TopUpPolicy(amount_usd=Decimal(5), max_total_usd=Decimal(5))
_TOP_UP = "/x402/top-up"


def _data(raw: RawResponse) -> Any:
    """The ``data`` member of a ``{"success": true, "data": …}`` body (or the body itself)."""
    try:
        body = json.loads(raw.content)
    except (ValueError, RecursionError):
        raise UnexpectedResponseError(
            "expected a JSON body from the wallet endpoint", request_id=raw.headers.get("cf-ray")
        ) from None
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        return body["data"]
    return body


class Wallet:
    """The signing wallet's account. Reached as ``client.wallet`` (needs ``WalletAuth``)."""

    def __init__(self, client: InpaintClient) -> None:
        from ..auth.wallet import WalletAuth

        auth = client.auth
        if not isinstance(auth, WalletAuth):
            raise ConfigurationError(
                "client.wallet needs a wallet: build the client with auth=WalletAuth(...)"
            )
        self._client = client
        self._auth: WalletAuth = auth
        self._coordinator: TopUpCoordinator = coordinator_for(client, auth)

    def __repr__(self) -> str:
        return f"Wallet(address={self.address!r}, last_known_balance={self.last_known_balance!r})"

    @property
    def address(self) -> str:
        """The wallet's checksummed address."""
        return self._auth.address

    @property
    def last_known_balance(self) -> Decimal | None:
        """The latest balance seen, in USD, or ``None`` when unknown (never a made-up 0).

        Updated from ``X-Balance-Remaining`` (when the server sends it), a 402's current
        balance, top-up results and :meth:`balance` calls.
        """
        return self._coordinator.last_known_balance

    @property
    def committed_top_ups_usd(self) -> Decimal:
        """What automatic top-ups have signed so far (counted against ``max_total_usd``)."""
        return self._coordinator.committed_usd

    # -- reads ------------------------------------------------------------------------------------

    async def balance(self) -> WalletBalance:
        """The wallet's prepaid credit: ``GET /x402/balance/{address}``, signed with SIWX."""
        raw = await self._client.request("GET", f"/x402/balance/{self.address}")
        try:
            balance = WalletBalance.model_validate(_data(raw))
        except ValueError as exc:
            raise UnexpectedResponseError(
                f"the balance response did not parse: {exc.__class__.__name__}",
                request_id=raw.headers.get("cf-ray"),
            ) from None
        self._coordinator.note_balance(balance)
        return balance

    async def transactions(self, limit: int = 50) -> AsyncIterator[WalletTransaction]:
        """Every ledger entry, newest first, fetched ``limit`` at a time (1–100) as you iterate.

        Each page is a signed ``GET /x402/transactions/{address}?limit=&offset=``; iteration stops
        when the server says there is no more (``pagination.hasMore``).
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
            raise ValidationError("limit must be an integer from 1 to 100", param="limit")
        offset = 0
        while True:
            raw = await self._client.request(
                "GET",
                f"/x402/transactions/{self.address}",
                params={"limit": str(limit), "offset": str(offset)},
            )
            try:
                page = TransactionsPage.model_validate(_data(raw))
            except ValueError as exc:  # pydantic's ValidationError ("transactions": null ...)
                raise UnexpectedResponseError(
                    f"the transactions response did not parse: {exc.__class__.__name__}",
                    request_id=raw.headers.get("cf-ray"),
                ) from None
            for transaction in page.transactions:
                yield transaction
            if page.pagination is None or not page.pagination.has_more or not page.transactions:
                return
            offset += len(page.transactions)

    # -- top-up -----------------------------------------------------------------------------------

    async def top_up(
        self,
        amount_usd: Decimal | int | str | float,
        *,
        max_usd: Decimal | int | str | None = None,
        allowed_payees: Collection[str] | None = None,
        legacy_header: bool | None = None,
    ) -> TopUpResult:
        """Add ``amount_usd`` of USDC credit on Base to this wallet (``POST /x402/top-up``).

        Discovers the payment options, keeps only USDC on Base, checks the amount (the server's
        minimum, $10,000, ``max_usd``) and the payee (``allowed_payees``, else the client policy's),
        signs an EIP-3009 authorization valid for the server's ``maxTimeoutSeconds`` and sends
        it. A ``409 PAYMENT_IN_PROGRESS`` resends the same payment; a 504 or 500 polls the
        balance. One top-up runs at a time per wallet. Manual top-ups do not count against the
        policy's ``max_total_usd``.

        Raises:
            PaymentRailError: no USDC-on-Base option, an amount out of the server's range, or a
                payee that is not pinned. Nothing was signed.
            TopUpLimitError: the amount is above ``max_usd``. Nothing was signed.
            SettlementFailedError: 402 ``SETTLEMENT_FAILED``: no funds moved; you may retry.
            SettlementPendingError: the outcome is unknown and the credit did not show in time;
                the payment may still land. Do not sign another before ``.valid_before``.
            TopUpError: the server refused the payment (400, 503).
        """
        amount = to_usd(amount_usd)
        policy = self._client.top_up_policy
        cap = to_usd(max_usd, "max_usd") if max_usd is not None else None
        payees = allowed_payees
        if payees is None and policy is not None:
            payees = policy.allowed_payees
        legacy = (
            legacy_header if legacy_header is not None else bool(policy and policy.legacy_header)
        )
        timings = policy or _DEFAULT_TIMINGS
        return await self._coordinator.exclusive(
            lambda: self._execute(
                amount, cap=cap, payees=payees, legacy=legacy, timings=timings, commit=False
            )
        )

    async def _auto_top_up(self, policy: TopUpPolicy) -> TopUpResult:
        """One policy top-up (called inside the coordinator's single flight)."""
        self._coordinator.check_can_sign(policy)
        return await self._execute(
            policy.amount_usd,
            cap=policy.cap_per_top_up_usd,
            payees=policy.allowed_payees,
            legacy=policy.legacy_header,
            timings=policy,
            commit=True,
        )

    async def _execute(
        self,
        amount: Decimal,
        *,
        cap: Decimal | None,
        payees: Collection[str] | None,
        legacy: bool,
        timings: TopUpPolicy,
        commit: bool,
    ) -> TopUpResult:
        coordinator = self._coordinator
        _check_payment_origin(self._client.base_url)
        requirement = select_base_usdc(await self._discover())
        value = validate_amount(
            usd_to_base_units(amount), requirement, cap_usd=cap, allowed_payees=payees
        )
        baseline = coordinator.last_known_balance
        if baseline is None:
            # Known before paying, so an unclear settlement can be checked against it.
            baseline = (await self.balance()).balance_usd
        if commit:
            coordinator.committed_usd += amount
        signed = build_payment_header(
            signer=self._auth,
            requirement=requirement,
            value=value,
            now=int(time.time()),
            nonce=new_payment_nonce(),
        )
        logger.info(
            "top-up: signed $%s USDC on %s to %s for %s", amount, signed.network, signed.pay_to,
            self.address,
        )  # fmt: skip
        try:
            result = await self._settle(signed, amount, baseline, legacy, timings)
        except SettlementPendingError:
            coordinator.pending_until = signed.valid_before
            raise
        except TopUpError:
            if commit:  # refused or failed: no funds moved
                coordinator.committed_usd -= amount
            raise
        except BaseException:
            coordinator.pending_until = signed.valid_before  # unknown: may still land
            raise
        coordinator.note_top_up(result)
        return result

    async def _discover(self) -> tuple[PaymentRequirement, ...]:
        """``POST /x402/top-up`` with no payment and no auth: the 402 lists the payment options."""
        try:
            raw = await self._client.request("POST", _TOP_UP, authenticate=False, idempotent=True)
        except PaymentRequiredError as exc:
            for candidate in (
                exc.info if isinstance(exc, X402DiscoveryError) else None,
                exc.payment_required,
            ):
                if isinstance(candidate, PaymentRequiredBody) and candidate.accepts:
                    return candidate.accepts
            raise TopUpError("the top-up discovery 402 listed no payment options") from exc
        raise TopUpError(f"top-up discovery answered {raw.status}, expected a 402")

    async def _settle(
        self,
        signed: SignedPayment,
        amount: Decimal,
        baseline: Decimal,
        legacy: bool,
        timings: TopUpPolicy,
    ) -> TopUpResult:
        """Send the signed payment; resend the *same* one while it is in progress."""
        header = H_PAYMENT_LEGACY if legacy else H_PAYMENT_SIGNATURE
        deadline = min(
            time.monotonic() + timings.settlement_timeout, _monotonic_at(signed.valid_before)
        )
        wait = timings.in_progress_backoff
        while True:
            try:
                raw = await self._client.request(
                    "POST",
                    _TOP_UP,
                    authenticate=False,
                    extra_headers={header: signed.header_value},
                    retry=RetryPolicy.no_retry(),
                )
                return self._receipt(raw, amount)
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
                        f"the top-up settlement failed; no funds moved ({exc.message})"
                    ) from exc
                raise TopUpError(f"the top-up was refused: {exc}") from exc
            except OutcomeUnknownError as exc:
                return await self._await_credit(signed, amount, baseline, deadline, timings, exc)
            except ServerError as exc:
                if exc.status_code in (500, 502):
                    return await self._await_credit(
                        signed, amount, baseline, deadline, timings, exc
                    )
                raise TopUpError(f"top-ups are unavailable: {exc}") from exc
            except APIStatusError as exc:
                raise TopUpError(f"the server refused the top-up: {exc}") from exc
            if time.monotonic() + delay >= deadline:
                raise SettlementPendingError(
                    "the top-up was still settling when the deadline passed; it may still be "
                    f"credited (authorization valid until {signed.valid_before})",
                    amount_usd=amount,
                    valid_before=signed.valid_before,
                ) from cause
            await asyncio.sleep(delay)

    async def _await_credit(
        self,
        signed: SignedPayment,
        amount: Decimal,
        baseline: Decimal,
        deadline: float,
        timings: TopUpPolicy,
        cause: BaseException,
    ) -> TopUpResult:
        """The outcome is unknown: poll the balance until the credit shows. Never sign again."""
        logger.warning(
            "top-up settlement outcome unknown (%s); polling the balance, not paying again",
            type(cause).__name__,
        )
        # The credit has shown once the balance rose by at least half the top-up: edits running
        # meanwhile cost cents, a top-up is at least $5.
        threshold = baseline + amount / 2
        while True:
            try:
                balance = await self.balance()
            except (APIStatusError, APIConnectionError, OutcomeUnknownError) as exc:
                logger.info("balance poll failed (%s); polling again", type(exc).__name__)
            else:
                if balance.balance_usd >= threshold:
                    return TopUpResult(
                        wallet_address=self.address,
                        amount_credited=amount,
                        new_balance=balance.balance_usd,
                        payment_id="",
                        confirmed_by="balance",
                    )
            if time.monotonic() + timings.poll_interval >= deadline:
                raise SettlementPendingError(
                    "the top-up's settlement outcome is unknown and the credit did not show in "
                    "the balance before the deadline; the payment may still land "
                    f"(authorization valid until {signed.valid_before})",
                    amount_usd=amount,
                    valid_before=signed.valid_before,
                ) from cause
            await asyncio.sleep(timings.poll_interval)

    def _receipt(self, raw: RawResponse, amount: Decimal) -> TopUpResult:
        receipt = decode_payment_response(raw.headers.get(H_PAYMENT_RESPONSE))
        try:
            data = _data(raw)
            if not isinstance(data, Mapping):
                raise TypeError("not an object")
            return TopUpResult.from_response(data, receipt)
        except (ValueError, TypeError, UnexpectedResponseError):
            # The money moved (a 200); keep what we know rather than report a failure.
            logger.warning("the top-up succeeded but its receipt did not parse")
            return TopUpResult(
                wallet_address=self.address,
                amount_credited=amount,
                payment_id="",
                transaction=(receipt or {}).get("transaction"),
            )


def _monotonic_at(unix_seconds: int) -> float:
    return time.monotonic() + (unix_seconds - time.time())


_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def _check_payment_origin(base_url: str) -> None:
    """Money is signed only for requirements fetched over https (or from a loopback emulator)."""
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme != "https" and (parts.hostname or "") not in _LOOPBACK_HOSTS:
        raise ConfigurationError(
            f"refusing to sign a payment for {parts.scheme}://{parts.hostname}: payment "
            "requirements must come over https (plain http is allowed only on loopback)"
        )
