"""EIP-3009 top-up payments: golden header, strict rail selection, amount bounds."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from inpaint_async._exceptions import TopUpError, TopUpLimitError, ValidationError
from inpaint_async.auth import WalletAuth
from inpaint_async.x402 import (
    PaymentRailError,
    PaymentRequirement,
    build_payment_header,
    decode_payment_response,
    new_payment_nonce,
    select_base_usdc,
    transfer_with_authorization_typed_data,
    usd_to_base_units,
    validate_amount,
)

# The published reference test key of x402-protocol.md §9 (public test material, no funds).
VECTOR_KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
VECTOR_ADDRESS = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
VECTOR_NOW = 1736942400
PAY_TO = "0x2670B922ef37C7Df47158725C0CC407b5382293F"
USDC = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
VECTOR_PAYMENT_SIGNATURE = (
    "0xee901dc22de3315deae809fc60578d0956a29b350135d9e0a9a17002e92b5f89"
    "6d54ba6858fb422a1d3a9eba3e62907bda2a6af9295969892da9d067f950edc01b"
)
VECTOR_PAYMENT_HEADER = (
    "eyJ4NDAyVmVyc2lvbiI6Miwic2NoZW1lIjoiZXhhY3QiLCJuZXR3b3JrIjoiYmFzZSIsInBheWxvYWQiOnsic2lnbmF0"
    "dXJlIjoiMHhlZTkwMWRjMjJkZTMzMTVkZWFlODA5ZmM2MDU3OGQwOTU2YTI5YjM1MDEzNWQ5ZTBhOWExNzAwMmU5MmI1"
    "Zjg5NmQ1NGJhNjg1OGZiNDIyYTFkM2E5ZWJhM2U2MjkwN2JkYTJhNmFmOTI5NTk2OTg5MmRhOWQwNjdmOTUwZWRjMDFi"
    "IiwiYXV0aG9yaXphdGlvbiI6eyJmcm9tIjoiMHgyYzc1MzZFMzYwNUQ5QzE2YTdhM0Q3YjE4OThlNTI5Mzk2YTY1YzIz"
    "IiwidG8iOiIweDI2NzBCOTIyZWYzN0M3RGY0NzE1ODcyNUMwQ0M0MDdiNTM4MjI5M0YiLCJ2YWx1ZSI6IjEwMDAwMDAw"
    "IiwidmFsaWRBZnRlciI6IjE3MzY5NDE4MDAiLCJ2YWxpZEJlZm9yZSI6IjE3MzY5NDI3MDAiLCJub25jZSI6IjB4MDAw"
    "MTAyMDMwNDA1MDYwNzA4MDkwYTBiMGMwZDBlMGYxMDExMTIxMzE0MTUxNjE3MTgxOTFhMWIxYzFkMWUxZiJ9fX0="
)


def entry(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "scheme": "exact",
        "network": "eip155:8453",
        "amount": "5000000",
        "asset": USDC.lower(),
        "payTo": PAY_TO,
        "maxTimeoutSeconds": 300,
        "extra": {"name": "USD Coin", "version": "2"},
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


SOLANA = entry(
    network="solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
    asset="EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
    payTo="SoLReceiver1111111111111111111111111111111",
    extra={"name": "USD Coin", "version": "2", "feePayer": "F"},
)


def requirement(**overrides: Any) -> PaymentRequirement:
    return PaymentRequirement.model_validate(entry(**overrides))


def runtime_wallet() -> WalletAuth:
    return WalletAuth("0x" + "11" * 32)


def test_payment_header_matches_reference_vector() -> None:
    """$10 to the §9 payee at the pinned time and nonce: byte-identical to §9.2."""
    signed = build_payment_header(
        signer=WalletAuth(VECTOR_KEY),
        requirement=requirement(),
        value=10_000_000,
        now=VECTOR_NOW,
        nonce=bytes(range(32)),
    )
    assert signed.header_value == VECTOR_PAYMENT_HEADER
    assert signed.signature == VECTOR_PAYMENT_SIGNATURE
    assert (signed.valid_after, signed.valid_before) == (1736941800, 1736942700)
    assert signed.authorization["from"] == VECTOR_ADDRESS
    assert signed.network == "base"


def test_typed_data_digest_matches_reference_vector() -> None:
    """The EIP-712 digest of §9.2 (domain separator 0x02fa…834f), recoverable to the payer."""
    typed = transfer_with_authorization_typed_data(
        from_=VECTOR_ADDRESS,
        to=PAY_TO,
        value=10_000_000,
        valid_after=1736941800,
        valid_before=1736942700,
        nonce=bytes(range(32)),
    )
    signable = encode_typed_data(full_message=typed)
    assert signable.header.hex().removeprefix("0x") == (
        "02fa7265e7c5d81118673727957699e4d68f74cd74b7db77da710fe8a2c7834f"
    )
    recovered = Account.recover_message(signable, signature=VECTOR_PAYMENT_SIGNATURE)
    assert recovered == VECTOR_ADDRESS


def test_callable_signer_needs_from_and_matches_wallet_signer() -> None:
    """A plain signing callable works when the payer address is given."""
    wallet = runtime_wallet()
    kwargs: dict[str, Any] = {
        "requirement": requirement(),
        "value": 5_000_000,
        "now": VECTOR_NOW,
        "nonce": bytes(32),
    }
    via_wallet = build_payment_header(signer=wallet, **kwargs)
    via_callable = build_payment_header(
        signer=wallet.sign_typed_data, from_=wallet.address, **kwargs
    )
    assert via_callable == via_wallet
    with pytest.raises(ValueError, match="from_"):
        build_payment_header(signer=wallet.sign_typed_data, **kwargs)


@pytest.mark.parametrize(("timeout", "window"), [(60, 60), (None, 300), (86_400, 3600)])
def test_validity_window_follows_max_timeout_clamped(timeout: int | None, window: int) -> None:
    """validBefore = now + maxTimeoutSeconds (300 when absent), never more than an hour."""
    signed = build_payment_header(
        signer=runtime_wallet(),
        requirement=requirement(maxTimeoutSeconds=timeout),
        value=5_000_000,
        now=VECTOR_NOW,
        nonce=new_payment_nonce(),
    )
    assert signed.valid_before == VECTOR_NOW + window
    assert signed.valid_after == VECTOR_NOW - 600


def test_signed_payment_repr_hides_the_bearer_header() -> None:
    """The signed header is spendable until validBefore: repr leaves it and the signature out."""
    signed = build_payment_header(
        signer=runtime_wallet(),
        requirement=requirement(),
        value=5_000_000,
        now=VECTOR_NOW,
        nonce=bytes(32),
    )
    assert signed.header_value not in repr(signed)
    assert signed.signature not in repr(signed)


def test_select_picks_base_usdc_after_a_solana_entry() -> None:
    """The Base entry is chosen whatever its position; raw dicts and models both work."""
    chosen = select_base_usdc([SOLANA, entry()])
    assert chosen.network == "eip155:8453"
    assert select_base_usdc([requirement(network="base")]).network == "base"
    assert select_base_usdc([entry(extra=None)]).extra is None


@pytest.mark.parametrize(
    ("accepts", "reason"),
    [
        ([], "no payment options"),
        ([SOLANA], "not Base"),
        ([entry(network="eip155:1")], "not Base"),
        ([entry(network="eip155:84532")], "not Base"),
        ([entry(scheme="upto")], "not 'exact'"),
        ([entry(asset="0x" + "12" * 20)], "not USDC"),
        ([entry(extra={"name": "USDC", "version": "2"})], "EIP-712"),
        ([entry(extra={"name": "USD Coin", "version": "2", "x": 1})], "EIP-712"),
        ([entry(payTo="0x1234")], "20-byte"),
        ([entry(payTo="0x" + "0" * 40)], "zero address"),
        ([entry(payTo="0x2670b922ef37C7Df47158725C0CC407b5382293F")], "checksum"),
        ([entry(amount=None)], "amount"),
        ([entry(maxTimeoutSeconds=0)], "maxTimeoutSeconds"),
        ([{"nonsense": True}], "not a payment requirement"),
        ([SOLANA, entry(asset="0x" + "12" * 20)], "#1"),
    ],
)
def test_select_refuses_and_never_falls_back(accepts: list[Any], reason: str) -> None:
    """Anything but USDC on Base is refused with the reason; accepts[0] is never a fallback."""
    with pytest.raises(PaymentRailError, match=reason) as caught:
        select_base_usdc(accepts)
    assert isinstance(caught.value, TopUpError)


def test_lowercase_pay_to_is_accepted() -> None:
    """An all-lowercase address carries no checksum and is valid."""
    assert select_base_usdc([entry(payTo=PAY_TO.lower())]).pay_to == PAY_TO.lower()


def test_testnet_only_when_allowed_and_signed_for_its_domain() -> None:
    """Base Sepolia needs allow_testnet; it signs chain 84532 with EIP-712 name "USDC"."""
    sepolia = entry(
        network="eip155:84532",
        asset="0x036CbD53842c5426634e7929541eC2318f3dCF7e",
        extra={"name": "USDC", "version": "2"},
    )
    with pytest.raises(PaymentRailError):
        select_base_usdc([sepolia])
    chosen = select_base_usdc([sepolia], allow_testnet=True)
    seen: list[Mapping[str, Any]] = []
    wallet = runtime_wallet()

    def sign(typed: Mapping[str, Any]) -> str:
        seen.append(typed)
        return wallet.sign_typed_data(typed)

    signed = build_payment_header(
        signer=sign,
        from_=wallet.address,
        requirement=chosen,
        value=5_000_000,
        now=VECTOR_NOW,
        nonce=bytes(32),
        allow_testnet=True,
    )
    assert signed.network == "base-sepolia"
    assert seen[0]["domain"]["chainId"] == 84532
    assert seen[0]["domain"]["name"] == "USDC"


def test_build_rechecks_the_rail_before_signing() -> None:
    """Even a hand-made requirement for another rail is never signed."""
    calls: list[object] = []

    def sign(typed: Mapping[str, Any]) -> str:
        calls.append(typed)
        return "0x"

    with pytest.raises(PaymentRailError, match="refusing to sign"):
        build_payment_header(
            signer=sign,
            from_=PAY_TO,
            requirement=PaymentRequirement.model_validate(SOLANA),
            value=5_000_000,
            now=VECTOR_NOW,
            nonce=bytes(32),
        )
    assert calls == []


def test_nonce_must_be_32_bytes() -> None:
    """An EIP-3009 nonce is bytes32."""
    with pytest.raises(ValueError, match="32 bytes"):
        transfer_with_authorization_typed_data(
            from_=PAY_TO, to=PAY_TO, value=1, valid_after=0, valid_before=1, nonce=b"\x00"
        )


@pytest.mark.parametrize(
    ("usd", "units"),
    [(Decimal(10), 10_000_000), (Decimal("0.000001"), 1), ("5", 5_000_000), (7, 7_000_000)],
)
def test_usd_to_base_units_is_exact(usd: Decimal | str | int, units: int) -> None:
    """Decimal arithmetic, six decimals, no rounding."""
    assert usd_to_base_units(usd) == units


@pytest.mark.parametrize(
    "bad",
    [10.0, True, Decimal("1.0000001"), Decimal(0), Decimal(-5), Decimal("NaN"), "Infinity", "x"],
)
def test_usd_to_base_units_refuses_floats_and_nonsense(bad: Any) -> None:
    """Floats, non-positive, non-finite or over-precise amounts are ValidationErrors."""
    with pytest.raises(ValidationError):
        usd_to_base_units(bad)


def test_validate_amount_bounds() -> None:
    """server minimum ≤ value ≤ $10,000 and ≤ the caller's cap; a pinned payee must match."""
    req = requirement(amount="5000000")
    assert validate_amount(5_000_000, req) == 5_000_000
    assert validate_amount(10_000_000_000, req) == 10_000_000_000
    with pytest.raises(PaymentRailError, match="below the server's minimum"):
        validate_amount(4_999_999, req)
    with pytest.raises(PaymentRailError, match="10,000"):
        validate_amount(10_000_000_001, req)
    with pytest.raises(TopUpLimitError, match="cap"):
        validate_amount(20_000_000, req, cap_usd=Decimal(15))
    assert validate_amount(15_000_000, req, cap_usd=Decimal(15)) == 15_000_000
    with pytest.raises(PaymentRailError, match="pinned"):
        validate_amount(5_000_000, req, allowed_payees={"0x" + "ab" * 20})
    assert validate_amount(5_000_000, req, allowed_payees=[PAY_TO.lower()]) == 5_000_000
    for bad in (0, -1, True):
        with pytest.raises(PaymentRailError, match="positive"):
            validate_amount(bad, req)
    with pytest.raises(PaymentRailError, match="minimum"):
        validate_amount(5_000_000, requirement(amount=None))


def test_decode_payment_response() -> None:
    """The settlement receipt decodes; absent or garbage headers give None."""
    receipt = {"success": True, "network": "eip155:8453", "payer": PAY_TO, "transaction": "0xab"}
    encoded = base64.b64encode(json.dumps(receipt).encode()).decode()
    assert decode_payment_response(encoded) == receipt
    for garbage in (None, "", "%%%", base64.b64encode(b"[1]").decode(), "A" * 100_000):
        assert decode_payment_response(garbage) is None
