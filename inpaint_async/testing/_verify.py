"""Server-side checks of SIWX headers and x402 top-up payments.

Deliberately independent of the client's signing code: the header is decoded and the EIP-4361
text parsed here, and signatures are recovered with eth-account directly. eth-account is imported
lazily (it costs about a second), only when a wallet header arrives.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from .. import _constants as C

__all__ = [
    "PaymentError",
    "SiwxError",
    "SiwxProof",
    "TopUpPayment",
    "decode_payment",
    "parse_siwx",
    "recover_personal_sign",
    "recover_transfer_authorization",
]

SIWX_MAX_AGE = 300.0
SIWX_MAX_AHEAD = 30.0
SIWX_TIMESTAMP_SKEW = 30.0
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_SIGNATURE = re.compile(r"^0x[0-9a-fA-F]{130}$")
_NONCE = re.compile(r"^[A-Za-z0-9]{8,}$")
_FIRST_LINE = re.compile(r"^(?P<domain>\S+) wants you to sign in with your Ethereum account:$")
_FIELDS = {
    "URI": "uri",
    "Version": "version",
    "Chain ID": "chain_id",
    "Nonce": "nonce",
    "Issued At": "issued_at",
    "Expiration Time": "expiration_time",
    "Not Before": "not_before",
    "Request ID": "request_id",
}


class SiwxError(Exception):
    """A rejected SIWX header; `reason` completes the `X402_SIGN_IN_<REASON>` code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    @property
    def code(self) -> str:
        return f"X402_SIGN_IN_{self.reason}"


@dataclass(frozen=True)
class SiwxProof:
    """A parsed, time-checked SIWX header whose signature is still to be verified."""

    address: str
    message: str
    signature: str
    domain: str
    nonce: str
    issued_at: float
    expires_at: float | None


def _b64json(value: str) -> Any:
    raw = value.strip()
    raw += "=" * (-len(raw) % 4)
    try:
        decoded = base64.b64decode(raw, validate=True)
        return json.loads(decoded.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return _NOT_JSON


_NOT_JSON = object()


def _parse_time(text: str) -> float:
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise SiwxError("INVALID_MESSAGE", f"Invalid timestamp in message: {text!r}") from None


def _chain_number(value: Any) -> int:
    if isinstance(value, bool):
        raise SiwxError("INVALID_CHAIN_ID", "Sign-in-with-X authentication failed")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.removeprefix("eip155:")
        if text.isdigit():
            return int(text)
    raise SiwxError("INVALID_CHAIN_ID", "Sign-in-with-X authentication failed")


def strip_domain(domain: str) -> str:
    """Drop protocol, port and path, as the server does before the allow-list check."""
    host = domain.strip().lower()
    host = host.split("://", 1)[-1]
    host = host.split("/", 1)[0]
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def parse_siwx(header: str, *, now: float, allowed_domains: frozenset[str]) -> SiwxProof:
    """Decode and check everything but the signature and the nonce store."""
    payload = _b64json(header)
    if payload is _NOT_JSON:
        raise SiwxError("PARSE_ERROR", "Sign-in-with-X header is not base64-encoded JSON")
    if not isinstance(payload, dict):
        raise SiwxError("INVALID_PAYLOAD", "Sign-in-with-X payload must be an object")
    address, message, signature = (payload.get(k) for k in ("address", "message", "signature"))
    if not all(isinstance(v, str) and v for v in (address, message, signature)):
        raise SiwxError("INVALID_PAYLOAD", "Missing address, message or signature")
    assert isinstance(address, str) and isinstance(message, str) and isinstance(signature, str)
    if not _ADDRESS.match(address):
        raise SiwxError("INVALID_WALLET", "Sign-in-with-X authentication failed")
    payload_chain = _chain_number(payload["chainId"]) if "chainId" in payload else None

    lines = message.split("\n")
    first = _FIRST_LINE.match(lines[0]) if lines else None
    if first is None or len(lines) < 2:
        raise SiwxError("INVALID_MESSAGE", "Sign-in-with-X message is not EIP-4361")
    fields: dict[str, str] = {}
    for line in lines[2:]:
        label, sep, value = line.partition(": ")
        if sep and label in _FIELDS:
            fields[_FIELDS[label]] = value
    if "nonce" not in fields:
        raise SiwxError("MISSING_NONCE", "Sign-in-with-X message has no nonce")
    if not _NONCE.match(fields["nonce"]):
        raise SiwxError("INVALID_MESSAGE", "Nonce must be at least 8 alphanumeric characters")
    if "issued_at" not in fields or "uri" not in fields or fields.get("version") != "1":
        raise SiwxError("INVALID_MESSAGE", "Sign-in-with-X message is not EIP-4361")
    if lines[1].strip().lower() != address.lower():
        raise SiwxError("ADDRESS_MISMATCH", "Payload address does not match the message")
    chain_text = fields.get("chain_id", "1")
    if not chain_text.isdigit():
        raise SiwxError("INVALID_MESSAGE", "Invalid Chain ID in message")
    chain = int(chain_text)
    if chain != C.BASE_CHAIN_ID:
        raise SiwxError("UNSUPPORTED_CHAIN", f"Chain {chain} is not supported; use Base (8453)")
    if payload_chain is not None and payload_chain != chain:
        raise SiwxError("CHAIN_MISMATCH", "Payload chainId does not match the message")
    domain = first.group("domain")
    if strip_domain(domain) not in allowed_domains:
        raise SiwxError("DOMAIN_MISMATCH", f"Domain {domain!r} is not allowed")

    issued_at = _parse_time(fields["issued_at"])
    if issued_at > now + SIWX_MAX_AHEAD:
        raise SiwxError("FUTURE_TIMESTAMP", "Issued At is in the future")
    if now - issued_at > SIWX_MAX_AGE:
        raise SiwxError("EXPIRED", "Sign-in-with-X message has expired")
    expires_at = _parse_time(fields["expiration_time"]) if "expiration_time" in fields else None
    if expires_at is not None and expires_at <= now:
        raise SiwxError("EXPIRED", "Sign-in-with-X message has expired")
    if "not_before" in fields and _parse_time(fields["not_before"]) > now:
        raise SiwxError("NOT_BEFORE", "Sign-in-with-X message is not valid yet")
    if "timestamp" in payload:
        stamp = payload["timestamp"]
        if isinstance(stamp, bool) or not isinstance(stamp, int | float):
            raise SiwxError("INVALID_PAYLOAD", "timestamp must be a number of milliseconds")
        if abs(stamp / 1000.0 - issued_at) > SIWX_TIMESTAMP_SKEW:
            raise SiwxError("TIMESTAMP_MISMATCH", "timestamp is too far from Issued At")
    if not _SIGNATURE.match(signature):
        raise SiwxError("INVALID_SIGNATURE", "Sign-in-with-X signature is malformed")
    return SiwxProof(
        address=address.lower(),
        message=message,
        signature=signature,
        domain=domain,
        nonce=fields["nonce"],
        issued_at=issued_at,
        expires_at=expires_at,
    )


def recover_personal_sign(message: str, signature: str) -> str | None:
    """The lowercase address that signed `message` with EIP-191, or None."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    try:
        recovered: str = Account.recover_message(encode_defunct(text=message), signature=signature)
    except Exception:  # eth-account raises several types for a bad signature
        return None
    return recovered.lower()


class PaymentError(Exception):
    """A rejected top-up payment (status, code, message, details)."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


@dataclass(frozen=True)
class TopUpPayment:
    """A decoded EIP-3009 authorization, not yet signature-checked."""

    payer: str
    pay_to: str
    value: int
    valid_after: int
    valid_before: int
    nonce: str
    signature: str

    @property
    def amount_usd(self) -> Decimal:
        return Decimal(self.value).scaleb(-C.USDC_DECIMALS)

    @property
    def key(self) -> str:
        """Identifies the signed payment: one (payer, EIP-3009 nonce) settles at most once."""
        return f"{self.payer}:{self.nonce}"


def _uint(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise PaymentError(400, "INVALID_PAYMENT_FORMAT", f"{name} must be an integer string")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise PaymentError(400, "INVALID_PAYMENT_FORMAT", f"{name} must be an integer string")


def decode_payment(header: str, *, pay_to: str, now: float) -> TopUpPayment:
    """Decode the hybrid (or canonical v2) payment and check everything but the signature."""
    data = _b64json(header)
    if not isinstance(data, dict):
        raise PaymentError(400, "INVALID_PAYMENT_FORMAT", "Invalid payment header")
    accepted = data.get("accepted") if isinstance(data.get("accepted"), dict) else {}
    assert isinstance(accepted, dict)
    scheme = data.get("scheme", accepted.get("scheme"))
    network = data.get("network", accepted.get("network"))
    payload = data.get("payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("authorization"), dict):
        raise PaymentError(400, "INVALID_PAYMENT_FORMAT", "Payment payload has no authorization")
    if scheme != "exact":
        raise PaymentError(400, "UNSUPPORTED_SCHEME", f"Unsupported scheme {scheme!r}")
    if network not in ("base", C.BASE_CAIP2):
        raise PaymentError(400, "UNSUPPORTED_NETWORK", f"Unsupported network {network!r}")
    asset = accepted.get("asset")
    if asset is not None and str(asset).lower() != C.USDC_BASE.lower():
        raise PaymentError(400, "UNSUPPORTED_TOKEN", "Only USDC on Base is accepted")
    auth = payload["authorization"]
    signature = payload.get("signature")
    if not isinstance(signature, str) or not _SIGNATURE.match(signature):
        raise PaymentError(
            400, "INVALID_PAYMENT", "Invalid payment signature", {"reason": "malformed_signature"}
        )
    payer, to, nonce = auth.get("from"), auth.get("to"), auth.get("nonce")
    if not isinstance(payer, str) or not _ADDRESS.match(payer):
        raise PaymentError(400, "INVALID_PAYMENT_PAYER", "Invalid payer address")
    if not isinstance(to, str) or to.lower() != pay_to.lower():
        raise PaymentError(400, "INVALID_PAYMENT_RECIPIENT", "Payment is not to the receiver")
    if not isinstance(nonce, str) or not re.fullmatch(r"0x[0-9a-fA-F]{64}", nonce):
        raise PaymentError(400, "INVALID_PAYMENT_FORMAT", "nonce must be 32 bytes of hex")
    value = _uint(auth.get("value"), "value")
    valid_after = _uint(auth.get("validAfter"), "validAfter")
    valid_before = _uint(auth.get("validBefore"), "validBefore")
    if value <= 0:
        raise PaymentError(400, "INVALID_AMOUNT", "Amount must be positive")
    min_units = int(Decimal(C.MIN_TOP_UP_USD).scaleb(C.USDC_DECIMALS))
    max_units = int(Decimal(C.MAX_TOP_UP_USD).scaleb(C.USDC_DECIMALS))
    if value < min_units:
        raise PaymentError(400, "AMOUNT_TOO_LOW", f"Minimum top-up is ${C.MIN_TOP_UP_USD}")
    if value > max_units:
        raise PaymentError(400, "AMOUNT_TOO_HIGH", f"Maximum top-up is ${C.MAX_TOP_UP_USD}")
    if valid_after > now:
        raise PaymentError(
            400, "INVALID_PAYMENT", "Authorization is not valid yet", {"reason": "not_yet_valid"}
        )
    if valid_before <= now:
        raise PaymentError(
            400, "INVALID_PAYMENT", "Authorization has expired", {"reason": "expired"}
        )
    return TopUpPayment(
        payer=payer.lower(),
        pay_to=to,
        value=value,
        valid_after=valid_after,
        valid_before=valid_before,
        nonce=nonce.lower(),
        signature=signature,
    )


def recover_transfer_authorization(payment: TopUpPayment) -> str | None:
    """Recover the signer of the EIP-712 TransferWithAuthorization (Base USDC domain)."""
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    typed = {
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
            "name": C.USDC_EIP712_NAME,
            "version": C.USDC_EIP712_VERSION,
            "chainId": C.BASE_CHAIN_ID,
            "verifyingContract": C.USDC_BASE,
        },
        "message": {
            "from": payment.payer,
            "to": payment.pay_to,
            "value": payment.value,
            "validAfter": payment.valid_after,
            "validBefore": payment.valid_before,
            "nonce": bytes.fromhex(payment.nonce[2:]),
        },
    }
    try:
        recovered: str = Account.recover_message(
            encode_typed_data(full_message=typed), signature=payment.signature
        )
    except Exception:  # eth-account raises several types for a bad signature
        return None
    return recovered.lower()
