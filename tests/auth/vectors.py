"""The SIWX golden vectors of reference/x402-protocol.md §9.1 (public test material, no funds)."""

from datetime import UTC, datetime

# The published reference test key and its address.
VECTOR_KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
VECTOR_URL = "https://api.venice.ai/api/v1/image/edit"
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
