"""``client.wallet``: balance, transactions and USDC top-ups of the signing wallet.

Thin: reads are one request each; top-ups and every number about money are the spend guard's
(:mod:`inpaint_async.spend`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from decimal import Decimal
from typing import TYPE_CHECKING

from .._constants import H_CF_RAY
from .._exceptions import ConfigurationError, UnexpectedResponseError, ValidationError
from ..spend._policy import check_payees, to_usd
from ..spend._topup import parse_data, read_balance
from ..x402.models import (
    PaymentRequirement,
    TopUpResult,
    TransactionsPage,
    WalletBalance,
    WalletTransaction,
)

if TYPE_CHECKING:
    from .._client import InpaintClient
    from ..auth.wallet import WalletAuth
    from ..spend import SpendCaps, SpendStatus
    from ..spend._hooks import WalletHooks

__all__ = ["Wallet"]


class Wallet:
    """The signing wallet's account. Reached as ``client.wallet`` (needs ``WalletAuth``)."""

    def __init__(self, client: InpaintClient) -> None:
        from ..auth.wallet import WalletAuth

        auth = client.auth
        hooks = client._wallet_hooks
        if not isinstance(auth, WalletAuth) or hooks is None:
            raise ConfigurationError(
                "client.wallet needs a wallet: build the client with auth=WalletAuth(...)"
            )
        self._client = client
        self._auth: WalletAuth = auth
        self._hooks: WalletHooks = hooks

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
        return self._hooks.guard.last_known_balance

    @property
    def committed_top_ups_usd(self) -> Decimal:
        """What automatic top-ups signed in this process so far (each counts against the caps,
        whatever the server answered). :meth:`spend_status` reads the whole ledger."""
        return self._hooks.guard.signed_auto_usd

    async def spend_status(self) -> SpendStatus:
        """The wallet's spend ledger: what was signed (all processes sharing its file), the
        edit spend of the last 24 hours and the caps in force."""
        return await self._hooks.status()

    # -- reads ------------------------------------------------------------------------------------

    async def balance(self) -> WalletBalance:
        """The wallet's prepaid credit: ``GET /x402/balance/{address}``, signed with SIWX."""
        balance = await read_balance(self._client, self.address)
        self._hooks.guard.note_balance(balance)
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
                page = TransactionsPage.model_validate(parse_data(raw))
            except ValueError as exc:  # pydantic's ValidationError ("transactions": null ...)
                raise UnexpectedResponseError(
                    f"the transactions response did not parse: {exc.__class__.__name__}",
                    request_id=raw.headers.get(H_CF_RAY),
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
        caps: SpendCaps | None = None,
    ) -> TopUpResult:
        """Add ``amount_usd`` of USDC credit on Base to this wallet (``POST /x402/top-up``).

        Discovers the payment options, keeps only USDC on Base (and, with pinned payees, only an
        offer paying one of them, wherever the server lists it), checks the amount (the
        server's minimum, $10,000, ``max_usd``), signs an EIP-3009 authorization valid for the
        server's ``maxTimeoutSeconds``, records it in the wallet's spend ledger and sends it. A ``409 PAYMENT_IN_PROGRESS`` resends the same payment; a 504 or 500 polls the
        balance. One top-up runs at a time per wallet (per ledger file across processes). A
        manual top-up is recorded in the ledger but does not use the policy's automatic caps;
        ``caps`` (a :class:`~inpaint_async.spend.SpendCaps`) bounds it by everything this wallet
        signed (total, and in the last 24 hours), checked atomically with the ledger write, so
        two processes sharing a ledger file cannot both pass it.

        Raises:
            PaymentRailError: no USDC-on-Base option, an amount out of the server's range, or a
                payee that is not pinned. Nothing was signed.
            TopUpLimitError: the amount is above ``max_usd``, or over ``caps``. Nothing was
                signed.
            SettlementFailedError: 402 ``SETTLEMENT_FAILED``: no funds moved; you may retry.
            SettlementPendingError: the outcome is unknown and the credit did not show in time;
                the payment may still land. Do not sign another before ``.valid_before``.
            TopUpError: the server refused the payment (400, 503), or a deadline passed.
        """
        amount = to_usd(amount_usd)
        policy = self._hooks.policy
        cap = to_usd(max_usd, "max_usd") if max_usd is not None else None
        payees = None if allowed_payees is None else check_payees(allowed_payees)
        if payees is None and policy is not None:
            payees = policy.allowed_payees
        legacy = (
            legacy_header if legacy_header is not None else bool(policy and policy.legacy_header)
        )
        return await self._hooks.top_up(amount, cap=cap, payees=payees, legacy=legacy, caps=caps)

    async def top_up_offer(
        self,
        amount_usd: Decimal | int | str | float,
        *,
        allowed_payees: Collection[str] | None = None,
    ) -> PaymentRequirement:
        """The offer a top-up of ``amount_usd`` would pay, without signing anything.

        Discovers the server's payment options and applies the checks :meth:`top_up` applies
        (USDC on Base, the pinned payees wherever they are listed, the amount within the
        server's range). Show its ``pay_to``, ``network`` and ``asset`` to a person, then pass
        ``allowed_payees=[offer.pay_to]`` to :meth:`top_up` so that nothing else is paid.

        Raises:
            PaymentRailError: no offer qualifies.
        """
        from ..spend._topup import DEFAULT_TIMINGS, check_payment_origin, discover
        from ..x402.payment import select_base_usdc, usd_to_base_units, validate_amount

        amount = to_usd(amount_usd)
        payees = None if allowed_payees is None else check_payees(allowed_payees)
        policy = self._hooks.policy
        timings = policy.timings if policy is not None else DEFAULT_TIMINGS
        check_payment_origin(self._client.base_url)
        offers = await discover(self._client, timings.request_timeout)
        offer = select_base_usdc(offers, allowed_payees=payees)
        validate_amount(usd_to_base_units(amount), offer, allowed_payees=payees)
        return offer
