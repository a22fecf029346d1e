"""Sign-In-With-X message and header building: pure functions, no I/O, no eth-account.

Byte-compatible with Venice's own client (``venice-x402-client@0.2.0`` with ``siwe@2.3.2``); the
golden vectors ``tests/auth/vectors.py`` pins are public test material from that client.
"""

from __future__ import annotations

import base64
import functools
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from .._constants import BASE_CHAIN_ID, SIWX_STATEMENT
from .._exceptions import ConfigurationError

__all__ = ["domain_of", "iso_ms", "origin_of", "siwe_message", "siwx_header_value", "unix_ms"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _as_utc(dt: datetime) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is required (naive datetimes are ambiguous)")
    return dt.astimezone(UTC)


def iso_ms(dt: datetime) -> str:
    """Format an aware datetime like JS ``Date.toISOString()``: UTC, milliseconds, ``Z``.

    ``datetime.isoformat()`` differs (``+00:00``, microseconds), which breaks the signed text.
    Sub-millisecond digits are truncated, as JS dates have none.
    """
    # isoformat truncates to milliseconds (as ``microsecond // 1000``) and pads the year to four
    # digits, as JS does; it is several times cheaper than strftime-style formatting.
    return _as_utc(dt).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def unix_ms(dt: datetime) -> int:
    """Milliseconds since the Unix epoch for an aware datetime (truncated, exact integer maths)."""
    return (_as_utc(dt) - _EPOCH) // timedelta(milliseconds=1)


def siwe_message(
    *,
    domain: str,
    address: str,
    uri: str,
    nonce: str,
    issued_at: datetime,
    expires_at: datetime,
    chain_id: int = BASE_CHAIN_ID,
    statement: str = SIWX_STATEMENT,
) -> str:
    """Build the EIP-4361 text exactly as ``siwe@2.3.2`` ``SiweMessage.prepareMessage()`` does.

    Lines are joined with ``\\n`` and there is no trailing newline. ``Not Before``, ``Request ID``
    and ``Resources`` are never emitted, as the reference client never sets them.
    """
    if not statement:
        # siwe 2.3.2 renders a missing statement differently (three newlines); Venice's
        # reference client always sends one, so do we.
        raise ValueError("a SIWE statement is required")
    return (
        f"{domain} wants you to sign in with your Ethereum account:\n"
        f"{address}\n"
        "\n"
        f"{statement}\n"
        "\n"
        f"URI: {uri}\n"
        "Version: 1\n"
        f"Chain ID: {chain_id}\n"
        f"Nonce: {nonce}\n"
        f"Issued At: {iso_ms(issued_at)}\n"
        f"Expiration Time: {iso_ms(expires_at)}"
    )


def siwx_header_value(
    *,
    address: str,
    message: str,
    signature: str,
    timestamp_ms: int,
    chain_id: int = BASE_CHAIN_ID,
) -> str:
    """The ``SIGN-IN-WITH-X`` value: base64 of compact JSON, keys in the reference order."""
    # Compact JSON, keys in this order: what json.dumps(..., separators=(",", ":")) gives, each
    # value encoded by json.dumps itself. ensure_ascii=False + UTF-8 is what JSON.stringify +
    # Buffer.from produce; for ASCII text (the normal case) both settings give the same bytes.
    text = (
        f'{{"address":{_JSON.encode(address)},"message":{_JSON.encode(message)},'
        f'"signature":{_JSON.encode(signature)},"timestamp":{int(timestamp_ms):d},'
        f'"chainId":{int(chain_id):d}}}'
    )
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


@functools.lru_cache(maxsize=64)
def _split(url: str) -> tuple[str, str, int | None]:
    # Cached: a client signs for the same few URLs on every request (an exception is not).
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if not scheme or not host:
        raise ConfigurationError("an absolute URL with a scheme and a host is required")
    return scheme, host.lower(), port


def domain_of(url: str) -> str:
    """The SIWE ``domain`` for a URL: its host, with the port kept only when it is not the default.

    >>> domain_of("https://api.venice.ai/api/v1/image/edit")
    'api.venice.ai'
    >>> domain_of("http://127.0.0.1:8080/api/v1")
    '127.0.0.1:8080'
    """
    scheme, host, port = _split(url)
    if ":" in host:  # IPv6 literal: keep the brackets, as URL hosts do
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS.get(scheme):
        return host
    return f"{host}:{port}"


def origin_of(url: str) -> tuple[str, str, int]:
    """The origin (scheme, lowercase host, explicit port) of a URL, for same-origin checks."""
    scheme, host, port = _split(url)
    if port is None:
        default = _DEFAULT_PORTS.get(scheme)
        if default is None:
            raise ConfigurationError(f"unsupported URL scheme {scheme!r}")
        port = default
    return scheme, host, port
