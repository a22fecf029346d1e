"""Pure parsing of response headers: rate-limit state, Retry-After, booleans, balances.

Nothing here raises on a server's value: out-of-range, non-finite or garbled values become
``None`` (and are logged at debug level), so metadata can never turn a paid success into an error.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from ._constants import H_RETRY_AFTER, H_RETRY_AFTER_MS, H_RL_LIMIT, H_RL_REMAINING, H_RL_RESET
from ._logging import logger

if TYPE_CHECKING:
    from .types.results import RateLimitState

#: Latest reset moment accepted (Unix seconds, year 2286): later ones are garbage.
_MAX_EPOCH = 1e10


def parse_reset(raw: str | None, now: float) -> datetime | None:
    """An ``x-ratelimit-reset-*`` value as an aware datetime.

    Values ≥ 1e12 are Unix milliseconds (what the live API sends), ≥ 1e9 Unix seconds (what its
    docs describe), smaller values are seconds from ``now``. Garbage gives ``None``.
    """
    if raw is None:
        return None
    try:
        value = float(raw)
    except (ValueError, TypeError):
        _ignored("reset", raw)
        return None
    if not math.isfinite(value) or value < 0 or value > 1e15:  # NaN, inf, negative, absurd
        _ignored("reset", raw)
        return None
    if value >= 1e12:
        ts = value / 1000.0
    elif value >= 1e9:
        ts = value
    else:
        ts = now + value
    if ts > _MAX_EPOCH:
        _ignored("reset", raw)
        return None
    try:
        return datetime.fromtimestamp(ts, UTC)
    except (ValueError, OverflowError, OSError):
        _ignored("reset", raw)
        return None


def _ignored(what: str, raw: object) -> None:
    logger.debug("ignored an unusable %s header value: %.40r", what, raw)


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait from ``retry-after-ms``, then ``Retry-After`` (seconds or HTTP date)."""
    raw_ms = headers.get(H_RETRY_AFTER_MS)
    if raw_ms is not None:
        try:
            ms = float(raw_ms)
            if ms >= 0 and math.isfinite(ms):
                return ms / 1000.0
        except ValueError:
            pass
    raw = headers.get(H_RETRY_AFTER)
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
        # "inf" and "nan" are garbage, not "wait forever": ignored like any other.
        if seconds >= 0 and math.isfinite(seconds):
            return seconds
        _ignored("Retry-After", raw)
        return None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        _ignored("Retry-After", raw)
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def parse_count(raw: str | None) -> int | None:
    """A non-negative count header (``x-ratelimit-remaining-requests``...), or ``None``."""
    return _int(raw)


def _int(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except (ValueError, TypeError):
        _ignored("rate-limit", raw)
        return None
    if not math.isfinite(value) or not 0 <= value <= 1e12:
        _ignored("rate-limit", raw)
        return None
    return int(value)


def rate_limit_state(headers: Mapping[str, str], now: float) -> RateLimitState | None:
    """The ``x-ratelimit-*-requests`` trio, or ``None`` when the response carried none of it."""
    limit = _int(headers.get(H_RL_LIMIT))
    remaining = _int(headers.get(H_RL_REMAINING))
    reset = parse_reset(headers.get(H_RL_RESET), now)
    if limit is None and remaining is None and reset is None:
        return None
    from .types.results import RateLimitState  # pydantic loads with the first result

    return RateLimitState(limit=limit, remaining=remaining, reset_at=reset)


def parse_bool(raw: str | None) -> bool:
    """A header boolean (``"true"``/``"false"``); anything but ``true`` is false."""
    return raw is not None and raw.strip().lower() == "true"


def parse_decimal(raw: str | None) -> Decimal | None:
    """A balance header as a Decimal, or ``None`` when absent or not a number."""
    if raw is None:
        return None
    try:
        value = Decimal(raw.strip())
    except (InvalidOperation, ValueError, TypeError):
        return None
    if not value.is_finite() or abs(value) > Decimal(10) ** 15:
        _ignored("balance", raw)
        return None
    return value
