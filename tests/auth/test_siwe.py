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

# Published test vector (reference §9.1): address of the reference test key, not a secret.
VECTOR_ADDRESS = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
VECTOR_NOW = datetime(2025, 1, 15, 12, 0, 0, tzinfo=UTC)
VECTOR_MESSAGE = (
    "api.venice.ai wants you to sign in with your Ethereum account:\n"
    "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23\n"
    "\n"
    "Sign in to Venice AI\n"
    "\n"
    "URI: https://api.venice.ai/api/v1/image/edit\n"
    "Version: 1\n"
    "Chain ID: 8453\n"
    "Nonce: a1b2c3d4e5f64789\n"
    "Issued At: 2025-01-15T12:00:00.000Z\n"
    "Expiration Time: 2025-01-15T12:05:00.000Z"
)
VECTOR_SIGNATURE = (
    "0x7d78d93ae5ea8d9d5b541dca0baeb6fad9c69a2813364698b643d09cff807f2f"
    "7ac459a0faaa45bb378a843afe39485faa54a666ef92136ef902434649c565241b"
)
VECTOR_HEADER = (
    "eyJhZGRyZXNzIjoiMHgyYzc1MzZFMzYwNUQ5QzE2YTdhM0Q3YjE4OThlNTI5Mzk2YTY1YzIzIiwibWVzc2FnZSI6ImFw"
    "aS52ZW5pY2UuYWkgd2FudHMgeW91IHRvIHNpZ24gaW4gd2l0aCB5b3VyIEV0aGVyZXVtIGFjY291bnQ6XG4weDJjNzUz"
    "NkUzNjA1RDlDMTZhN2EzRDdiMTg5OGU1MjkzOTZhNjVjMjNcblxuU2lnbiBpbiB0byBWZW5pY2UgQUlcblxuVVJJOiBo"
    "dHRwczovL2FwaS52ZW5pY2UuYWkvYXBpL3YxL2ltYWdlL2VkaXRcblZlcnNpb246IDFcbkNoYWluIElEOiA4NDUzXG5O"
    "b25jZTogYTFiMmMzZDRlNWY2NDc4OVxuSXNzdWVkIEF0OiAyMDI1LTAxLTE1VDEyOjAwOjAwLjAwMFpcbkV4cGlyYXRp"
    "b24gVGltZTogMjAyNS0wMS0xNVQxMjowNTowMC4wMDBaIiwic2lnbmF0dXJlIjoiMHg3ZDc4ZDkzYWU1ZWE4ZDlkNWI1"
    "NDFkY2EwYmFlYjZmYWQ5YzY5YTI4MTMzNjQ2OThiNjQzZDA5Y2ZmODA3ZjJmN2FjNDU5YTBmYWFhNDViYjM3OGE4NDNh"
    "ZmUzOTQ4NWZhYTU0YTY2NmVmOTIxMzZlZjkwMjQzNDY0OWM1NjUyNDFiIiwidGltZXN0YW1wIjoxNzM2OTQyNDAwMDAw"
    "LCJjaGFpbklkIjo4NDUzfQ=="
)


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
