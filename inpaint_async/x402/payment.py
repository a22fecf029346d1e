"""Top-up payments: rail selection, amount checks and the EIP-3009 authorization. Pure, no I/O.

Only USDC on Base is ever signed for; the rail (scheme ``exact``, network ``eip155:8453``, the USDC
contract, the amount and the payee) is checked before every signature. The header is the hybrid
shape Venice's own client sends (the v1 layout with ``x402Version: 2``), byte for byte; the
golden tests in ``tests/x402`` pin it. docs/wallet.md describes the top-up.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .._constants import (
    BASE_CAIP2,
    BASE_CHAIN_ID,
    BASE_SEPOLIA_CHAIN_ID,
    MAX_TOP_UP_USD,
    USDC_BASE,
    USDC_BASE_SEPOLIA,
    USDC_DECIMALS,
    USDC_EIP712_NAME,
    USDC_EIP712_VERSION,
)
from .._exceptions import TopUpError, TopUpLimitError, ValidationError
from ._parse import decode_base64_json
from .models import PaymentRequirement

if TYPE_CHECKING:
    from ..auth._signer import Signer
    from ..auth.wallet import WalletAuth

__all__ = [
    "MAX_PAYMENT_TIMEOUT_SECONDS",
    "PaymentDraft",
    "PaymentRailError",
    "SignedPayment",
    "TypedDataSigner",
    "build_payment_header",
    "decode_payment_response",
    "draft_payment",
    "finish_payment",
    "new_payment_nonce",
    "select_base_usdc",
    "sign_payment",
    "transfer_with_authorization_typed_data",
    "usd_to_base_units",
    "validate_amount",
]

MAX_PAYMENT_TIMEOUT_SECONDS = 3600
"""Upper bound on an authorization's validity window, whatever ``maxTimeoutSeconds`` says."""

_DEFAULT_TIMEOUT_SECONDS = 300  # what the reference client hard-codes
_VALID_AFTER_SLACK = 600  # validAfter = now - 10 min, as the reference client (clock skew)
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_ZERO_ADDRESS = "0x" + "0" * 40
_UNIT = Decimal(10) ** USDC_DECIMALS
_MAX_BASE_UNITS = int(Decimal(MAX_TOP_UP_USD) * _UNIT)


@dataclass(frozen=True, slots=True)
class _Rail:
    networks: frozenset[str]
    chain_id: int
    asset: str
    name: str
    version: str
    wire_network: str  # the x402 v1 name the hybrid payload carries


_BASE = _Rail(
    frozenset({BASE_CAIP2, "base"}),
    BASE_CHAIN_ID,
    USDC_BASE,
    USDC_EIP712_NAME,
    USDC_EIP712_VERSION,
    "base",
)
# Test networks only (emulators); note the EIP-712 name there is "USDC", not "USD Coin".
_BASE_SEPOLIA = _Rail(
    frozenset({f"eip155:{BASE_SEPOLIA_CHAIN_ID}", "base-sepolia"}),
    BASE_SEPOLIA_CHAIN_ID,
    USDC_BASE_SEPOLIA,
    "USDC",
    "2",
    "base-sepolia",
)


class PaymentRailError(TopUpError):
    """The server offered no payment we will sign (USDC on Base), or the amount or payee failed
    validation. Nothing was signed."""


@runtime_checkable
class TypedDataSigner(Protocol):
    """Signs EIP-712 typed data for a known address (``WalletAuth`` is one)."""

    @property
    def address(self) -> str:
        """The signer's checksummed address."""
        ...

    def sign_typed_data(self, full_message: Mapping[str, Any]) -> str:
        """Sign ``full_message``; return ``0x`` + 65 bytes hex."""
        ...


@dataclass(frozen=True, slots=True)
class SignedPayment:
    """A signed top-up, ready to send (and to resend unchanged on 409 ``PAYMENT_IN_PROGRESS``).

    The header value is a bearer payment instrument until ``valid_before``: it is kept out of
    ``repr``.
    """

    header_value: str = field(repr=False)
    authorization: Mapping[str, str]
    signature: str = field(repr=False)
    value: int
    valid_after: int
    valid_before: int
    network: str
    pay_to: str


def new_payment_nonce() -> bytes:
    """32 random bytes for an EIP-3009 authorization nonce."""
    return secrets.token_bytes(32)


def _rail_for(network: str, *, allow_testnet: bool) -> _Rail | None:
    if network in _BASE.networks:
        return _BASE
    if allow_testnet and network in _BASE_SEPOLIA.networks:
        return _BASE_SEPOLIA
    return None


def _pay_to_problem(pay_to: str | None) -> str | None:
    if not isinstance(pay_to, str) or not _ADDRESS.fullmatch(pay_to):
        return "payTo is not a 20-byte hex address"
    if pay_to.lower() == _ZERO_ADDRESS:
        return "payTo is the zero address"
    body = pay_to[2:]
    if body != body.lower() and body != body.upper():
        from eth_utils.address import is_checksum_address

        if not is_checksum_address(pay_to):
            return "payTo has an invalid EIP-55 checksum"
    return None


def _problem(req: PaymentRequirement, *, allow_testnet: bool) -> str | None:
    """Why ``req`` must not be signed, or ``None`` when it is a USDC-on-Base rail."""
    if req.scheme != "exact":
        return f"scheme {req.scheme!r} is not 'exact'"
    rail = _rail_for(req.network, allow_testnet=allow_testnet)
    if rail is None:
        return f"network {req.network!r} is not Base"
    if not isinstance(req.asset, str) or req.asset.lower() != rail.asset.lower():
        return "asset is not USDC on Base"
    if req.extra is not None and req.extra != {"name": rail.name, "version": rail.version}:
        # Any other EIP-712 name/version would sign for a different domain.
        return "extra does not name the USDC EIP-712 domain"
    pay_to_problem = _pay_to_problem(req.pay_to)
    if pay_to_problem:
        return pay_to_problem
    minimum = req.minimum_base_units
    if minimum is None or minimum <= 0:
        return "no positive amount / maxAmountRequired"
    if req.max_timeout_seconds is not None and req.max_timeout_seconds <= 0:
        return "maxTimeoutSeconds is not positive"
    return None


def select_base_usdc(
    accepts: Iterable[PaymentRequirement | Mapping[str, Any]],
    *,
    allow_testnet: bool = False,
    allowed_payees: Iterable[str] | None = None,
) -> PaymentRequirement:
    """Pick the USDC-on-Base entry of ``accepts``, checking everything a signature depends on.

    Keeps only ``scheme == "exact"``, network ``eip155:8453`` or ``base``, asset USDC on Base
    (case-insensitive), ``extra`` absent or ``{"name": "USD Coin", "version": "2"}``, a valid
    non-zero ``payTo`` and a positive minimum amount. Never falls back to another entry.
    With ``allowed_payees``, an entry paying anyone else is skipped, so the pinned offer is
    chosen wherever the server lists it (a decoy listed first changes nothing).

    Args:
        accepts: the ``accepts`` list of a discovery 402, as models or raw dicts.
        allow_testnet: also accept Base Sepolia (for emulators; never against Venice).
        allowed_payees: only entries whose ``payTo`` is one of these (case-insensitive).

    Raises:
        PaymentRailError: no entry qualifies; the message lists why each was refused.
    """
    pinned = None if allowed_payees is None else {p.lower() for p in allowed_payees}
    reasons: list[str] = []
    for index, entry in enumerate(accepts):
        req: PaymentRequirement | None
        if isinstance(entry, PaymentRequirement):
            req = entry
        else:
            try:
                req = PaymentRequirement.model_validate(entry)
            except Exception:
                req = None
        if req is None:
            reasons.append(f"#{index}: not a payment requirement")
            continue
        problem = _problem(req, allow_testnet=allow_testnet)
        if problem is None and pinned is not None and (req.pay_to or "").lower() not in pinned:
            problem = f"payTo {req.pay_to} is not a pinned payee"
        if problem is None:
            return req
        reasons.append(f"#{index} ({req.network[:40]!r}): {problem}")
    detail = "; ".join(reasons) if reasons else "the server offered no payment options"
    raise PaymentRailError(f"no USDC-on-Base payment option to sign: {detail}")


def usd_to_base_units(amount_usd: Decimal | int | str) -> int:
    """Convert a USD amount to USDC base units (6 decimals) exactly.

    Raises:
        ValidationError: the amount is a float, not a finite positive number, or has more than 6
            decimal places (money is never rounded silently).
    """
    if isinstance(amount_usd, float | bool):
        raise ValidationError(
            "give top-up amounts as Decimal, int or str, not float", param="amount_usd"
        )
    try:
        amount = Decimal(amount_usd)
    except (InvalidOperation, ValueError, TypeError):
        raise ValidationError("the top-up amount is not a number", param="amount_usd") from None
    if not amount.is_finite() or amount <= 0:
        raise ValidationError("the top-up amount must be a positive number", param="amount_usd")
    units = amount * _UNIT
    if units != units.to_integral_value():
        raise ValidationError(
            "the top-up amount has more than 6 decimal places", param="amount_usd"
        )
    return int(units)


def _usd(units: int) -> str:
    return f"${Decimal(units) / _UNIT:,.2f}"


def validate_amount(
    value: int,
    requirement: PaymentRequirement,
    *,
    cap_usd: Decimal | None = None,
    allowed_payees: Collection[str] | None = None,
) -> int:
    """Check a top-up of ``value`` base units against the server's and the caller's bounds.

    Requires ``server minimum ≤ value ≤ $10,000``, ``value ≤ cap_usd`` when given, and, when
    ``allowed_payees`` is given, the requirement's ``payTo`` among them (case-insensitive).

    Returns:
        ``value``, unchanged.

    Raises:
        TopUpLimitError: the value exceeds the caller's cap.
        PaymentRailError: the value is outside the server's range, or the payee is not pinned.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise PaymentRailError("the top-up value must be a positive number of base units")
    minimum = requirement.minimum_base_units
    if minimum is None:
        raise PaymentRailError("the payment option states no minimum amount")
    if value < minimum:
        raise PaymentRailError(
            f"top-up of {_usd(value)} is below the server's minimum of {_usd(minimum)}"
        )
    if value > _MAX_BASE_UNITS:
        raise PaymentRailError(f"top-up of {_usd(value)} is above the $10,000 maximum")
    if cap_usd is not None and value > usd_to_base_units(cap_usd):
        raise TopUpLimitError(
            f"top-up of {_usd(value)} exceeds the cap of {_usd(usd_to_base_units(cap_usd))}"
        )
    if allowed_payees is not None:
        pinned = {p.lower() for p in allowed_payees}
        if not isinstance(requirement.pay_to, str) or requirement.pay_to.lower() not in pinned:
            raise PaymentRailError(
                f"the server's payee {requirement.pay_to!r} is not in the pinned payee list"
            )
    return value


def transfer_with_authorization_typed_data(
    *,
    from_: str,
    to: str,
    value: int,
    valid_after: int,
    valid_before: int,
    nonce: bytes,
    chain_id: int = BASE_CHAIN_ID,
    verifying_contract: str = USDC_BASE,
    name: str = USDC_EIP712_NAME,
    version: str = USDC_EIP712_VERSION,
) -> dict[str, Any]:
    """The EIP-712 ``full_message`` of an EIP-3009 ``TransferWithAuthorization`` for eth-account."""
    if len(nonce) != 32:
        raise ValueError("an EIP-3009 nonce is exactly 32 bytes")
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "TransferWithAuthorization": [
                {"name": "from", "type": "address"},
                {"name": "to", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "validAfter", "type": "uint256"},
                {"name": "validBefore", "type": "uint256"},
                {"name": "nonce", "type": "bytes32"},
            ],
        },
        "primaryType": "TransferWithAuthorization",
        "domain": {
            "name": name,
            "version": version,
            "chainId": chain_id,
            "verifyingContract": verifying_contract,
        },
        "message": {
            "from": from_,
            "to": to,
            "value": value,
            "validAfter": valid_after,
            "validBefore": valid_before,
            "nonce": bytes(nonce),
        },
    }


@dataclass(frozen=True, slots=True)
class PaymentDraft:
    """An EIP-3009 authorization about to be signed: the typed data and what the header says."""

    typed_data: Mapping[str, Any]
    authorization: Mapping[str, str]
    value: int
    valid_after: int
    valid_before: int
    network: str
    pay_to: str


def draft_payment(
    *,
    payer: str,
    requirement: PaymentRequirement,
    value: int,
    now: int,
    nonce: bytes,
    allow_testnet: bool = False,
) -> PaymentDraft:
    """Check the rail and build the authorization ``payer`` is to sign (pure; see
    :func:`build_payment_header` for the rules).

    Raises:
        PaymentRailError: the requirement is not a USDC-on-Base rail.
    """
    problem = _problem(requirement, allow_testnet=allow_testnet)
    if problem is not None:
        raise PaymentRailError(f"refusing to sign: {problem}")
    rail = _rail_for(requirement.network, allow_testnet=allow_testnet)
    # Both checked by _problem; the asserts narrow the types.
    assert rail is not None
    assert requirement.pay_to is not None
    timeout = min(
        requirement.max_timeout_seconds or _DEFAULT_TIMEOUT_SECONDS, MAX_PAYMENT_TIMEOUT_SECONDS
    )
    valid_after = now - _VALID_AFTER_SLACK
    valid_before = now + timeout
    typed = transfer_with_authorization_typed_data(
        from_=payer,
        to=requirement.pay_to,
        value=value,
        valid_after=valid_after,
        valid_before=valid_before,
        nonce=nonce,
        chain_id=rail.chain_id,
        verifying_contract=rail.asset,
        name=rail.name,
        version=rail.version,
    )
    authorization = {
        "from": payer,
        "to": requirement.pay_to,
        "value": str(value),
        "validAfter": str(valid_after),
        "validBefore": str(valid_before),
        "nonce": "0x" + bytes(nonce).hex(),
    }
    return PaymentDraft(
        typed_data=typed,
        authorization=authorization,
        value=value,
        valid_after=valid_after,
        valid_before=valid_before,
        network=rail.wire_network,
        pay_to=requirement.pay_to,
    )


def finish_payment(draft: PaymentDraft, signature: str) -> SignedPayment:
    """Encode the payment header of a signed draft (the hybrid v1 layout, ``x402Version: 2``)."""
    payload = {
        "x402Version": 2,
        "scheme": "exact",
        "network": draft.network,
        "payload": {"signature": signature, "authorization": dict(draft.authorization)},
    }
    text = json.dumps(payload, separators=(",", ":"))
    return SignedPayment(
        header_value=base64.b64encode(text.encode("ascii")).decode("ascii"),
        authorization=draft.authorization,
        signature=signature,
        value=draft.value,
        valid_after=draft.valid_after,
        valid_before=draft.valid_before,
        network=draft.network,
        pay_to=draft.pay_to,
    )


def build_payment_header(
    *,
    signer: TypedDataSigner | Callable[[Mapping[str, Any]], str],
    requirement: PaymentRequirement,
    value: int,
    now: int,
    nonce: bytes,
    from_: str | None = None,
    allow_testnet: bool = False,
) -> SignedPayment:
    """Sign an EIP-3009 authorization for ``requirement`` and encode the payment header.

    The rail is re-checked here, so nothing but USDC on Base is ever signed. ``validAfter`` is
    ``now - 600`` (clock skew), ``validBefore`` is ``now + min(maxTimeoutSeconds, 3600)``. For a
    signer that signs asynchronously (a KMS, a remote service), use :func:`sign_payment`.

    Args:
        signer: a :class:`TypedDataSigner` (``WalletAuth``), or a callable that signs a
            ``full_message`` (then ``from_`` is required).
        requirement: the entry chosen by :func:`select_base_usdc`.
        value: base units, already checked by :func:`validate_amount`.
        now: the current Unix time in seconds.
        nonce: 32 random bytes (:func:`new_payment_nonce`), never reused.
        from_: the payer address when ``signer`` is a plain callable.
        allow_testnet: accept a Base Sepolia requirement (emulators only).

    Raises:
        PaymentRailError: the requirement is not a USDC-on-Base rail.
    """
    if isinstance(signer, TypedDataSigner):
        payer = signer.address
        sign: Callable[[Mapping[str, Any]], str] = signer.sign_typed_data
    else:
        if from_ is None:
            raise ValueError("from_ is required when signer is a plain callable")
        payer, sign = from_, signer
    draft = draft_payment(
        payer=payer,
        requirement=requirement,
        value=value,
        now=now,
        nonce=nonce,
        allow_testnet=allow_testnet,
    )
    return finish_payment(draft, sign(draft.typed_data))


async def sign_payment(
    *,
    signer: Signer | WalletAuth,
    requirement: PaymentRequirement,
    value: int,
    now: int,
    nonce: bytes,
    allow_testnet: bool = False,
) -> SignedPayment:
    """:func:`build_payment_header` for any :class:`~inpaint_async.auth.Signer`, sync or ``async``.

    ``signer`` may also be a ``WalletAuth``: its :attr:`~inpaint_async.WalletAuth.signer` signs.

    Raises:
        PaymentRailError: the requirement is not a USDC-on-Base rail (nothing was signed).
        ConfigurationError: the signer returned something that is not a 65-byte signature.
    """
    from ..auth._signer import check_address, resolve_signature
    from ..auth.wallet import WalletAuth

    if isinstance(signer, WalletAuth):
        signer = signer.signer
    draft = draft_payment(
        payer=check_address(signer.address),
        requirement=requirement,
        value=value,
        now=now,
        nonce=nonce,
        allow_testnet=allow_testnet,
    )
    signature = await resolve_signature(signer.sign_typed_data(draft.typed_data))
    return finish_payment(draft, signature)


def decode_payment_response(header: str | None) -> dict[str, Any] | None:
    """Decode a ``PAYMENT-RESPONSE`` header (base64 JSON: success, network, payer, transaction).

    Returns ``None`` for an absent or malformed header; never raises.
    """
    return decode_base64_json(header)
