"""Wallet and image helpers for the emulator tests.

SIWX headers and top-up payments are built here from the reference recipe (x402-protocol §9.3),
independently of the SDK's signing code, so the emulator is checked against the protocol itself.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from PIL import Image

TEST_KEY = "0x" + "11" * 32
OTHER_KEY = "0x" + "22" * 32
ACCOUNT = Account.from_key(TEST_KEY)
WALLET = ACCOUNT.address
PAY_TO = "0x2670B922ef37C7Df47158725C0CC407b5382293F"
USDC = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"


class FakeClock:
    """A settable clock for the emulator (seconds since the epoch)."""

    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def iso_ms(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def siwe_message(
    *,
    domain: str,
    address: str,
    uri: str,
    nonce: str,
    issued_at: str,
    expiration: str | None,
    chain_id: int | None = 8453,
    not_before: str | None = None,
) -> str:
    lines = [
        f"{domain} wants you to sign in with your Ethereum account:",
        address,
        "",
        "Sign in to Venice AI",
        "",
        f"URI: {uri}",
        "Version: 1",
    ]
    if chain_id is not None:
        lines.append(f"Chain ID: {chain_id}")
    if nonce:
        lines.append(f"Nonce: {nonce}")
    lines.append(f"Issued At: {issued_at}")
    if expiration is not None:
        lines.append(f"Expiration Time: {expiration}")
    if not_before is not None:
        lines.append(f"Not Before: {not_before}")
    return "\n".join(lines)


def siwx_header(
    now: float,
    *,
    key: str = TEST_KEY,
    domain: str = "127.0.0.1",
    uri: str = "http://127.0.0.1/api/v1/image/edit",
    nonce: str | None = None,
    chain_id: int | None = 8453,
    payload_chain: Any = 8453,
    timestamp_ms: int | None = None,
    ttl: float | None = 300,
    not_before: float | None = None,
    address: str | None = None,
    message_address: str | None = None,
    signer_key: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> str:
    """A base64 SIWX header signed at `now`; every part can be bent for negative tests."""
    acct = Account.from_key(key)
    issued = datetime.fromtimestamp(now, UTC)
    msg = siwe_message(
        domain=domain,
        address=message_address or acct.address,
        uri=uri,
        nonce=secrets.token_hex(8) if nonce is None else nonce,
        issued_at=iso_ms(issued),
        expiration=None if ttl is None else iso_ms(issued + timedelta(seconds=ttl)),
        chain_id=chain_id,
        not_before=None if not_before is None else iso_ms(datetime.fromtimestamp(not_before, UTC)),
    )
    signer = Account.from_key(signer_key or key)
    sig = signer.sign_message(encode_defunct(text=msg)).signature.hex()
    payload: dict[str, Any] = {
        "address": address or acct.address,
        "message": msg,
        "signature": "0x" + sig.removeprefix("0x"),
        "timestamp": int(now * 1000) if timestamp_ms is None else timestamp_ms,
        "chainId": payload_chain,
    }
    payload.update(overrides or {})
    return b64json(payload)


def b64json(obj: Any) -> str:
    return base64.b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode()


def payment_header(
    now: float,
    *,
    usd: float = 10,
    key: str = TEST_KEY,
    pay_to: str = PAY_TO,
    nonce: bytes | None = None,
    valid_after: int | None = None,
    valid_before: int | None = None,
    scheme: str = "exact",
    network: str = "base",
    signer_key: str | None = None,
    domain_name: str = "USD Coin",
) -> str:
    """A hybrid-shape x402 top-up payment (EIP-3009 TransferWithAuthorization on Base)."""
    acct = Account.from_key(key)
    now_s = int(now)
    auth = {
        "from": acct.address,
        "to": pay_to,
        "value": str(round(usd * 1_000_000)),
        "validAfter": str(now_s - 600 if valid_after is None else valid_after),
        "validBefore": str(now_s + 300 if valid_before is None else valid_before),
        "nonce": "0x" + (nonce or secrets.token_bytes(32)).hex(),
    }
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
            "name": domain_name,
            "version": "2",
            "chainId": 8453,
            "verifyingContract": USDC,
        },
        "message": {
            "from": auth["from"],
            "to": auth["to"],
            "value": int(auth["value"]),
            "validAfter": int(auth["validAfter"]),
            "validBefore": int(auth["validBefore"]),
            "nonce": bytes.fromhex(auth["nonce"][2:]),
        },
    }
    sig = Account.sign_typed_data(signer_key or key, full_message=typed).signature.hex()
    pay = {
        "x402Version": 2,
        "scheme": scheme,
        "network": network,
        "payload": {"signature": "0x" + sig.removeprefix("0x"), "authorization": auth},
    }
    return b64json(pay)


def image_bytes(width: int = 400, height: int = 300, fmt: str = "PNG") -> bytes:
    """A small two-colour test image."""
    img = Image.new("RGB", (width, height), (20, 120, 200))
    img.paste((250, 200, 10), (width // 4, height // 4, width // 2, height // 2))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def image_b64(width: int = 400, height: int = 300) -> str:
    return base64.b64encode(image_bytes(width, height)).decode()


def open_image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def decode_b64json(value: str) -> Any:
    return json.loads(base64.b64decode(value))
