"""Classify a 402 into Venice's three shapes. Never raises: odd input falls back to less typing."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from .._constants import H_PAYMENT_REQUIRED
from .._exceptions import (
    InsufficientBalanceError,
    PaymentRequiredError,
    WalletCreditError,
    X402DiscoveryError,
)
from .models import PaymentRequiredBody, WalletCreditRequired

__all__ = ["decode_base64_json", "header_value", "payment_required_error"]

# A real PAYMENT-REQUIRED header is a few hundred bytes; refuse to decode anything absurd.
_MAX_HEADER_CHARS = 64 * 1024


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value from any mapping (case-insensitive multidict or plain dict)."""
    try:
        for candidate in (name, name.upper()):
            value = headers.get(candidate)
            if isinstance(value, str):
                return value
        for key, value in headers.items():
            if isinstance(key, str) and key.lower() == name and isinstance(value, str):
                return value
    except Exception:
        return None
    return None


def decode_base64_json(value: str | None) -> dict[str, Any] | None:
    """Decode a base64 (standard or URL-safe, padding optional) JSON object; ``None`` if not one."""
    if not isinstance(value, str) or not value or len(value) > _MAX_HEADER_CHARS:
        return None
    text = value.strip()
    text += "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
        data = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _model(cls: type[PaymentRequiredBody] | type[WalletCreditRequired], data: Any) -> Any:
    if not isinstance(data, dict):
        return None
    try:
        return cls.model_validate(data)
    except Exception:
        return None


def payment_required_error(
    message: str, *, body: Any, headers: Mapping[str, str], request_id: str | None
) -> PaymentRequiredError:
    """Build the typed error for a 402 (the three shapes of docs/errors.md); parsing never raises.

    ``code == "PAYMENT_REQUIRED"`` → :class:`WalletCreditError`; else ``x402Version`` present →
    :class:`X402DiscoveryError`; else a plain ``error`` text → :class:`InsufficientBalanceError`.
    A shape whose body does not validate keeps its class with ``info=None``. Anything else (a
    non-JSON body, a top-up ``SETTLEMENT_FAILED``) stays a plain :class:`PaymentRequiredError`
    with the raw body.
    """
    try:
        return _classify(message, body=body, headers=headers, request_id=request_id)
    except Exception:
        return PaymentRequiredError(
            message, status_code=402, body=body, headers=headers, request_id=request_id
        )


def _classify(
    message: str, *, body: Any, headers: Mapping[str, str], request_id: str | None
) -> PaymentRequiredError:
    header = _model(
        PaymentRequiredBody, decode_base64_json(header_value(headers, H_PAYMENT_REQUIRED))
    )
    common: dict[str, Any] = {
        "status_code": 402,
        "body": body,
        "headers": headers,
        "request_id": request_id,
    }
    if isinstance(body, dict):
        code = body.get("code")
        if code == "PAYMENT_REQUIRED":
            return WalletCreditError(
                message,
                info=_model(WalletCreditRequired, body),
                payment_required=header,
                **common,
            )
        if "x402Version" in body:
            return X402DiscoveryError(
                message,
                info=_model(PaymentRequiredBody, body),
                payment_required=header,
                **common,
            )
        error = body.get("error")
        plain = isinstance(error, str) and not (error.isupper() and " " not in error)
        if code is None and plain:
            return InsufficientBalanceError(message, payment_required=header, **common)
    return PaymentRequiredError(message, **common)
