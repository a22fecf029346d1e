"""Any signer: a KMS-style remote signer (async, over loopback) works without a key in process."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import ClientSession, web
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from PIL import Image

from inpaint_async import ConfigurationError, InpaintClient, Signer, WalletAuth
from inpaint_async.auth import LocalSigner
from inpaint_async.testing import Emulator

KEY = "0x" + "3c" * 32
ACCOUNT = Account.from_key(KEY)


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (1, 2, 3)).save(buf, format="PNG")
    return buf.getvalue()


PNG = _png()


def _jsonable(typed: Mapping[str, Any]) -> dict[str, Any]:
    message = dict(typed["message"])
    message["nonce"] = "0x" + bytes(message["nonce"]).hex()
    return {**typed, "message": message}


def _from_json(typed: dict[str, Any]) -> dict[str, Any]:
    message = dict(typed["message"])
    message["nonce"] = bytes.fromhex(message["nonce"][2:])
    return {**typed, "message": message}


class RemoteSigner:
    """A signer whose key lives in another service: every signature is an HTTP call."""

    def __init__(self, url: str, address: str) -> None:
        self.url = url
        self.address = address
        self.calls: list[str] = []

    async def sign_message(self, message: str) -> str:
        self.calls.append("message")
        async with (
            ClientSession() as http,
            http.post(self.url + "/message", json={"text": message}) as r,
        ):
            return str((await r.json())["signature"])

    async def sign_typed_data(self, full_message: Mapping[str, Any]) -> str:
        self.calls.append("typed")
        async with (
            ClientSession() as http,
            http.post(self.url + "/typed", json=_jsonable(full_message)) as r,
        ):
            return str((await r.json())["signature"])


@pytest.fixture
async def kms(serve_app: Any) -> RemoteSigner:
    """A loopback 'KMS' holding the key; the SDK side only has its address."""

    async def message(request: web.Request) -> web.Response:
        text = (await request.json())["text"]
        signed = ACCOUNT.sign_message(encode_defunct(text=text))
        return web.json_response({"signature": "0x" + bytes(signed.signature).hex()})

    async def typed(request: web.Request) -> web.Response:
        full = _from_json(await request.json())
        signed = ACCOUNT.sign_message(encode_typed_data(full_message=full))
        # Like several KMS APIs: v as the recovery id (0/1) and bytes as hex without 0x.
        raw = bytes(signed.signature)
        return web.json_response({"signature": (raw[:64] + bytes((raw[64] - 27,))).hex()})

    app = web.Application()
    app.router.add_post("/message", message)
    app.router.add_post("/typed", typed)
    return RemoteSigner(await serve_app(app), ACCOUNT.address.lower())


async def test_remote_async_signer_signs_in_and_tops_up(
    make_emulator: Any, kms: RemoteSigner
) -> None:
    """Edits are SIWX-verified and a top-up is EIP-3009-verified, with no key in the SDK."""
    emu: Emulator = await make_emulator()
    emu.fund_wallet(ACCOUNT.address, 1)
    auth = WalletAuth(kms)
    assert auth.address == ACCOUNT.address  # checksummed from the lower-case one given
    assert auth.signer is kms and not isinstance(auth.signer, LocalSigner)
    async with InpaintClient(auth=auth, base_url=emu.base_url) as client:
        results = await asyncio.gather(*(client.images.edit(PNG, f"hat {i}") for i in range(3)))
        top_up = await client.wallet.top_up("5")
    assert all(r.data for r in results)
    assert top_up.amount_credited == Decimal(5)
    assert emu.credits_for(ACCOUNT.address)[0].amount_usd == Decimal(5)
    assert kms.calls.count("message") >= 3 and kms.calls.count("typed") == 1


def test_sync_signer_matches_the_key_path_byte_for_byte() -> None:
    """A synchronous custom signer gives the very header the hex-key path gives."""

    class Hardware:
        address = ACCOUNT.address

        def sign_message(self, message: str) -> bytes:
            raw = bytes(ACCOUNT.sign_message(encode_defunct(text=message)).signature)
            return raw[:64] + bytes((raw[64] - 27,))  # recovery id form

        def sign_typed_data(self, full_message: Mapping[str, Any]) -> str:
            return (
                "0x"
                + bytes(ACCOUNT.sign_typed_data(full_message=dict(full_message)).signature).hex()
            )

    fixed = {
        "clock": lambda: datetime(2026, 1, 2, tzinfo=UTC),
        "nonce_factory": lambda: "abcdef0123456789",
    }
    url = "https://api.venice.ai/api/v1/image/edit"
    assert isinstance(Hardware(), Signer)
    assert WalletAuth(Hardware(), **fixed).sign_in(url) == WalletAuth(KEY, **fixed).sign_in(url)
    assert WalletAuth(ACCOUNT, **fixed).sign_in(url) == WalletAuth(KEY, **fixed).sign_in(url)


async def test_async_signer_in_sync_entry_points_is_a_clear_error(kms: RemoteSigner) -> None:
    """sign_in()/sign_typed_data() cannot wait for an async signer: typed error, no warning."""
    auth = WalletAuth(kms)
    with pytest.raises(ConfigurationError, match="asynchronously"):
        auth.sign_in("https://api.venice.ai/api/v1/image/edit")
    with pytest.raises(ConfigurationError, match="asynchronously"):
        auth.sign_typed_data({})
    value = (await auth.headers("GET", "https://api.venice.ai/api/v1/models"))["sign-in-with-x"]
    payload = json.loads(base64.b64decode(value))
    assert payload["address"] == ACCOUNT.address and len(payload["signature"]) == 132


class _Bad:
    def __init__(self, address: object = ACCOUNT.address, signature: object = b"\x00" * 65) -> None:
        self.address = address
        self._signature = signature

    def sign_message(self, message: str) -> object:
        return self._signature

    def sign_typed_data(self, full_message: Mapping[str, Any]) -> object:
        return self._signature


@pytest.mark.parametrize(
    ("signer", "fragment"),
    [
        (_Bad(address="0x1234"), "20-byte hex address"),
        (_Bad(address=ACCOUNT.address.swapcase().replace("0X", "0x")), "checksum"),
        (object(), "LocalAccount, a hex private key or a Signer"),
    ],
)
def test_bad_signers_are_refused_when_built(signer: object, fragment: str) -> None:
    """A signer with a malformed address, or no signer at all, fails at WalletAuth()."""
    with pytest.raises(ConfigurationError, match=fragment):
        WalletAuth(signer)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("signature", "fragment"),
    [(b"\x00" * 64, "65-byte"), ("0x" + "00" * 64 + "05", "invalid v"), (None, "65-byte")],
)
async def test_bad_signatures_are_configuration_errors(signature: object, fragment: str) -> None:
    """A signer returning garbage is caught before anything is sent."""
    auth = WalletAuth(_Bad(signature=signature))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=fragment):
        await auth.headers("GET", "https://api.venice.ai/api/v1/models")


def test_a_local_account_subclass_stays_on_the_local_path() -> None:
    """A LocalAccount subclass is a key in process, not a generic Signer."""
    from eth_account.signers.local import LocalAccount

    class Mine(LocalAccount):
        pass

    mine = Mine(ACCOUNT._key_obj, Account)
    assert isinstance(WalletAuth(mine).signer, LocalSigner)


async def test_automatic_top_up_signs_through_the_remote_signer(
    make_emulator: Any, kms: RemoteSigner
) -> None:
    """A drained wallet with a TopUpPolicy: the 402 top-up is signed by the remote signer."""
    from inpaint_async import TopUpPolicy

    emu: Emulator = await make_emulator()
    emu.fund_wallet(ACCOUNT.address, 0)
    policy = TopUpPolicy(amount_usd=5, max_total_usd=5, poll_interval=0.05, settlement_timeout=10)
    async with InpaintClient(auth=WalletAuth(kms), base_url=emu.base_url, top_up=policy) as client:
        result = await client.images.edit(PNG, "a hat")
    assert result.data
    assert [c.amount_usd for c in emu.credits_for(ACCOUNT.address)] == [Decimal(5)]
    assert kms.calls.count("typed") == 1


@pytest.mark.parametrize("text", ["", "hello", "multi\nline ünïcødé ✓", "x" * 5000])
def test_local_signer_is_byte_identical_to_eth_account(text: str) -> None:
    """The cached-key fast path signs exactly as LocalAccount.sign_message does."""
    expected = "0x" + bytes(ACCOUNT.sign_message(encode_defunct(text=text)).signature).hex()
    assert LocalSigner(ACCOUNT).sign_message(text) == expected


async def test_sign_payment_takes_a_wallet_auth_and_matches_the_sync_form() -> None:
    """sign_payment(signer=WalletAuth) signs with its signer: the same header as the sync form."""
    from inpaint_async.x402 import build_payment_header, sign_payment
    from inpaint_async.x402.models import PaymentRequirement

    req = PaymentRequirement.model_validate({
        "scheme": "exact", "network": "eip155:8453", "amount": "5000000",
        "asset": "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
        "payTo": "0x2670B922ef37C7Df47158725C0CC407b5382293F", "maxTimeoutSeconds": 300,
        "extra": {"name": "USD Coin", "version": "2"},
    })  # fmt: skip
    kwargs: dict[str, Any] = {"requirement": req, "value": 5_000_000, "now": 1_700_000_000,
                              "nonce": b"\x01" * 32}  # fmt: skip
    auth = WalletAuth(KEY)
    via_async = await sign_payment(signer=auth, **kwargs)
    assert via_async == build_payment_header(signer=auth, **kwargs)


async def test_a_failing_signer_sends_and_records_nothing(make_emulator: Any) -> None:
    """A remote signer that errors: TopUpError, no payment sent, nothing counted as signed."""
    from inpaint_async import TopUpError

    class Broken:
        address = ACCOUNT.address

        def sign_message(self, message: str) -> str:
            return "0x" + bytes(ACCOUNT.sign_message(encode_defunct(text=message)).signature).hex()

        async def sign_typed_data(self, full_message: Mapping[str, Any]) -> str:
            raise OSError("the signing service is down")

    emu: Emulator = await make_emulator()
    emu.fund_wallet(ACCOUNT.address, 1)
    async with InpaintClient(auth=WalletAuth(Broken()), base_url=emu.base_url) as client:
        with pytest.raises(TopUpError, match="nothing was sent"):
            await client.wallet.top_up("5")
        status = await client.wallet.spend_status()
    assert status.signed_total_usd == 0
    assert [r.status for r in emu.requests if r.path.endswith("/x402/top-up")] == [402]
