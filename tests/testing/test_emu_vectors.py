"""The reference client's byte-exact SIWX and payment headers (x402-protocol §9), as fixtures."""

from __future__ import annotations

from inpaint_async.testing._verify import (
    decode_payment,
    parse_siwx,
    recover_personal_sign,
    recover_transfer_authorization,
)

REFERENCE_WALLET = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
REFERENCE_NOW = 1736942400.0
REFERENCE_SIWX_HEADER = (
    "eyJhZGRyZXNzIjoiMHgyYzc1MzZFMzYwNUQ5QzE2YTdhM0Q3YjE4OThlNTI5Mzk2YTY1YzIzIiwibWVzc2FnZSI6Im"
    "FwaS52ZW5pY2UuYWkgd2FudHMgeW91IHRvIHNpZ24gaW4gd2l0aCB5b3VyIEV0aGVyZXVtIGFjY291bnQ6XG4weDJj"
    "NzUzNkUzNjA1RDlDMTZhN2EzRDdiMTg5OGU1MjkzOTZhNjVjMjNcblxuU2lnbiBpbiB0byBWZW5pY2UgQUlcblxuVV"
    "JJOiBodHRwczovL2FwaS52ZW5pY2UuYWkvYXBpL3YxL2ltYWdlL2VkaXRcblZlcnNpb246IDFcbkNoYWluIElEOiA4"
    "NDUzXG5Ob25jZTogYTFiMmMzZDRlNWY2NDc4OVxuSXNzdWVkIEF0OiAyMDI1LTAxLTE1VDEyOjAwOjAwLjAwMFpcbk"
    "V4cGlyYXRpb24gVGltZTogMjAyNS0wMS0xNVQxMjowNTowMC4wMDBaIiwic2lnbmF0dXJlIjoiMHg3ZDc4ZDkzYWU1"
    "ZWE4ZDlkNWI1NDFkY2EwYmFlYjZmYWQ5YzY5YTI4MTMzNjQ2OThiNjQzZDA5Y2ZmODA3ZjJmN2FjNDU5YTBmYWFhND"
    "ViYjM3OGE4NDNhZmUzOTQ4NWZhYTU0YTY2NmVmOTIxMzZlZjkwMjQzNDY0OWM1NjUyNDFiIiwidGltZXN0YW1wIjox"
    "NzM2OTQyNDAwMDAwLCJjaGFpbklkIjo4NDUzfQ=="
)
REFERENCE_PAYMENT_HEADER = (
    "eyJ4NDAyVmVyc2lvbiI6Miwic2NoZW1lIjoiZXhhY3QiLCJuZXR3b3JrIjoiYmFzZSIsInBheWxvYWQiOnsic2lnbmF0"
    "dXJlIjoiMHhlZTkwMWRjMjJkZTMzMTVkZWFlODA5ZmM2MDU3OGQwOTU2YTI5YjM1MDEzNWQ5ZTBhOWExNzAwMmU5MmI1"
    "Zjg5NmQ1NGJhNjg1OGZiNDIyYTFkM2E5ZWJhM2U2MjkwN2JkYTJhNmFmOTI5NTk2OTg5MmRhOWQwNjdmOTUwZWRjMDFi"
    "IiwiYXV0aG9yaXphdGlvbiI6eyJmcm9tIjoiMHgyYzc1MzZFMzYwNUQ5QzE2YTdhM0Q3YjE4OThlNTI5Mzk2YTY1YzIz"
    "IiwidG8iOiIweDI2NzBCOTIyZWYzN0M3RGY0NzE1ODcyNUMwQ0M0MDdiNTM4MjI5M0YiLCJ2YWx1ZSI6IjEwMDAwMDAw"
    "IiwidmFsaWRBZnRlciI6IjE3MzY5NDE4MDAiLCJ2YWxpZEJlZm9yZSI6IjE3MzY5NDI3MDAiLCJub25jZSI6IjB4MDAw"
    "MTAyMDMwNDA1MDYwNzA4MDkwYTBiMGMwZDBlMGYxMDExMTIxMzE0MTUxNjE3MTgxOTFhMWIxYzFkMWUxZiJ9fX0="
)


def test_reference_siwx_header_parses_and_recovers() -> None:
    """The emulator's own parser reads the reference header and recovers the test address."""
    proof = parse_siwx(
        REFERENCE_SIWX_HEADER,
        now=REFERENCE_NOW + 1,
        allowed_domains=frozenset({"api.venice.ai"}),
    )
    assert proof.nonce == "a1b2c3d4e5f64789"
    assert proof.domain == "api.venice.ai"
    assert len(proof.message.encode()) == 301
    assert recover_personal_sign(proof.message, proof.signature) == REFERENCE_WALLET.lower()


def test_reference_payment_recovers_to_payer() -> None:
    """The reference EIP-3009 authorization recovers to its `from` address."""
    payment = decode_payment(
        REFERENCE_PAYMENT_HEADER,
        pay_to="0x2670B922ef37C7Df47158725C0CC407b5382293F",
        now=REFERENCE_NOW,
    )
    assert payment.value == 10_000_000
    assert str(payment.amount_usd) == "10.000000"
    assert recover_transfer_authorization(payment) == REFERENCE_WALLET.lower()
