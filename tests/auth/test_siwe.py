"""The pure SIWE/SIWX builders against the byte-exact vectors of reference/x402-protocol.md §9."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from inpaint_async._exceptions import ConfigurationError
from inpaint_async.auth.siwe import (
    domain_of,
    iso_ms,
    origin_of,
    siwe_message,
    siwx_header_value,
    unix_ms,
)

from .vectors import VECTOR_ADDRESS, VECTOR_HEADER, VECTOR_MESSAGE, VECTOR_NOW, VECTOR_SIGNATURE


def test_siwe_message_matches_reference_vector() -> None:
    """The EIP-4361 text equals §9.1 byte for byte: 301 bytes, LF only, no trailing newline."""
    message = siwe_message(
        domain="api.venice.ai",
        address=VECTOR_ADDRESS,
        uri="https://api.venice.ai/api/v1/image/edit",
        nonce="a1b2c3d4e5f64789",
        issued_at=VECTOR_NOW,
        expires_at=VECTOR_NOW + timedelta(minutes=5),
    )
    assert message == VECTOR_MESSAGE
    assert len(message.encode()) == 301
    assert "\r" not in message
    assert not message.endswith("\n")


def test_siwx_header_value_matches_reference_vector() -> None:
    """base64 of compact JSON in the order address, message, signature, timestamp, chainId."""
    value = siwx_header_value(
        address=VECTOR_ADDRESS,
        message=VECTOR_MESSAGE,
        signature=VECTOR_SIGNATURE,
        timestamp_ms=1736942400000,
    )
    assert value == VECTOR_HEADER
    decoded = json.loads(base64.b64decode(value))
    assert list(decoded) == ["address", "message", "signature", "timestamp", "chainId"]


def test_siwe_message_requires_a_statement() -> None:
    """An empty statement changes siwe's layout, so it is refused rather than mis-rendered."""
    with pytest.raises(ValueError, match="statement"):
        siwe_message(
            domain="d",
            address=VECTOR_ADDRESS,
            uri="https://d/",
            nonce="a1b2c3d4e5f64789",
            issued_at=VECTOR_NOW,
            expires_at=VECTOR_NOW,
            statement="",
        )


@pytest.mark.parametrize(
    ("dt", "expected"),
    [
        (datetime(2025, 1, 15, 12, 0, 0, tzinfo=UTC), "2025-01-15T12:00:00.000Z"),
        (datetime(2025, 1, 15, 12, 0, 0, 123999, tzinfo=UTC), "2025-01-15T12:00:00.123Z"),
        (
            datetime(2025, 1, 15, 14, 30, 0, 5000, tzinfo=timezone(timedelta(hours=2))),
            "2025-01-15T12:30:00.005Z",
        ),
    ],
)
def test_iso_ms_formats_like_js_to_iso_string(dt: datetime, expected: str) -> None:
    """UTC, exactly three fractional digits (truncated), and a literal Z."""
    assert iso_ms(dt) == expected


def test_iso_ms_and_unix_ms_refuse_naive_datetimes() -> None:
    """A naive datetime is ambiguous (local or UTC?), so it is an error, not a guess."""
    with pytest.raises(ValueError, match="timezone-aware"):
        iso_ms(datetime(2025, 1, 15))
    with pytest.raises(ValueError, match="timezone-aware"):
        unix_ms(datetime(2025, 1, 15))


def test_unix_ms_is_exact() -> None:
    """Integer maths: the vector instant is 1736942400000 and milliseconds are kept."""
    assert unix_ms(VECTOR_NOW) == 1736942400000
    assert unix_ms(VECTOR_NOW + timedelta(microseconds=1999)) == 1736942400001


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://api.venice.ai/api/v1/image/edit", "api.venice.ai"),
        ("https://API.Venice.AI:443/api/v1", "api.venice.ai"),
        ("http://127.0.0.1:8080/api/v1?x=1", "127.0.0.1:8080"),
        ("http://localhost:80/", "localhost"),
        ("https://user:pw@api.venice.ai/", "api.venice.ai"),
        ("http://[::1]:9000/api", "[::1]:9000"),
    ],
)
def test_domain_of_keeps_only_a_non_default_port(url: str, domain: str) -> None:
    """The SIWE domain is the host, plus the port when it is not the scheme's default."""
    assert domain_of(url) == domain


@pytest.mark.parametrize("url", ["/api/v1/image/edit", "api.venice.ai", "https://host:99999/"])
def test_domain_of_refuses_relative_or_broken_urls(url: str) -> None:
    """A relative URL or an impossible port is a configuration error."""
    with pytest.raises(ConfigurationError):
        domain_of(url)


def test_origin_of_makes_default_ports_explicit() -> None:
    """Origins compare equal whether or not the default port is written."""
    assert origin_of("https://api.venice.ai/x") == origin_of("https://API.venice.ai:443/y")
    assert origin_of("http://api.venice.ai/") != origin_of("https://api.venice.ai/")
