"""Classify a 402 body into the typed error (the wallet issue refines this into three shapes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._exceptions import PaymentRequiredError


def payment_required_error(
    message: str, *, body: Any, headers: Mapping[str, str], request_id: str | None
) -> PaymentRequiredError:
    """Build the :class:`PaymentRequiredError` for a 402; parsing never raises."""
    return PaymentRequiredError(
        message, status_code=402, body=body, headers=headers, request_id=request_id
    )
