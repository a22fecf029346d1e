"""WalletAuth: golden SIWX header, one fresh signature per attempt, origin guard, secrets kept."""

from __future__ import annotations

import base64
import json
import os
import pickle
import subprocess
import sys
import traceback
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from inpaint_async._exceptions import ConfigurationError
from inpaint_async.auth import Auth, WalletAuth
from inpaint_async.auth import wallet as wallet_module

from .vectors import VECTOR_ADDRESS, VECTOR_HEADER, VECTOR_KEY, VECTOR_NOW, VECTOR_URL

REPO = Path(__file__).resolve().parents[2]


def runtime_key(byte: str = "11") -> str:
    """A throwaway key built at run time (never a literal secret in the tests)."""
    return "0x" + byte * 32


def decode(value: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(base64.b64decode(value))
    return payload


async def test_header_matches_reference_vector() -> None:
    """Clock and nonce pinned to §9: the SIGN-IN-WITH-X value equals the golden string."""
    auth = WalletAuth(
        VECTOR_KEY, clock=lambda: VECTOR_NOW, nonce_factory=lambda: "a1b2c3d4e5f64789"
    )
    assert auth.address == VECTOR_ADDRESS
    assert await auth.headers("POST", VECTOR_URL) == {"sign-in-with-x": VECTOR_HEADER}


async def test_legacy_header_option_only_renames_the_header() -> None:
    """legacy_header=True sends X-Sign-In-With-X with the same value, never both names."""
    auth = WalletAuth(
        VECTOR_KEY,
        legacy_header=True,
        clock=lambda: VECTOR_NOW,
        nonce_factory=lambda: "a1b2c3d4e5f64789",
    )
    assert await auth.headers("POST", VECTOR_URL) == {"x-sign-in-with-x": VECTOR_HEADER}
    assert auth.header_name == "x-sign-in-with-x"


async def test_every_call_gets_a_fresh_nonce_and_signature() -> None:
    """Two attempts of the same request: two nonces (16 lowercase hex), two signatures."""
    auth = WalletAuth(runtime_key(), clock=lambda: VECTOR_NOW)
    first = decode((await auth.headers("POST", VECTOR_URL))["sign-in-with-x"])
    second = decode((await auth.headers("POST", VECTOR_URL))["sign-in-with-x"])
    nonces = [
        next(line for line in p["message"].splitlines() if line.startswith("Nonce: "))[7:]
        for p in (first, second)
    ]
    assert nonces[0] != nonces[1]
    assert all(len(n) == 16 and n == n.lower() and int(n, 16) >= 0 for n in nonces)
    assert first["signature"] != second["signature"]


async def test_signature_recovers_to_the_wallet_and_fields_agree() -> None:
    """EIP-191 over the exact message; domain, uri, expiry and timestamp follow the request."""
    now = datetime(2026, 3, 1, 8, 30, 15, 987654, tzinfo=UTC)
    auth = WalletAuth(runtime_key("22"), clock=lambda: now)
    url = "http://127.0.0.1:8123/api/v1/image/edit?x=1"
    payload = decode((await auth.headers("POST", url))["sign-in-with-x"])
    message = payload["message"]
    recovered = Account.recover_message(
        encode_defunct(text=message), signature=payload["signature"]
    )
    assert recovered == auth.address == payload["address"]
    assert message.startswith("127.0.0.1:8123 wants you to sign in")
    assert f"URI: {url}\n" in message
    assert "Issued At: 2026-03-01T08:30:15.987Z\n" in message
    assert message.endswith("Expiration Time: 2026-03-01T08:35:15.987Z")
    assert payload["timestamp"] == int(
        datetime(2026, 3, 1, 8, 30, 15, 987000, tzinfo=UTC).timestamp() * 1000
    )
    assert payload["chainId"] == 8453


async def test_default_clock_is_now() -> None:
    """Without an injected clock, Issued At is the current UTC time."""
    auth = WalletAuth(runtime_key())
    before = datetime.now(UTC) - timedelta(seconds=1)
    payload = decode((await auth.headers("GET", VECTOR_URL))["sign-in-with-x"])
    issued = datetime.fromtimestamp(payload["timestamp"] / 1000, UTC)
    assert before <= issued <= datetime.now(UTC)


def test_wallet_auth_satisfies_the_auth_protocol() -> None:
    """The client can take a WalletAuth wherever it takes an Auth."""
    assert isinstance(WalletAuth(runtime_key()), Auth)


def test_accepts_a_local_account_and_a_key_without_0x() -> None:
    """A LocalAccount is used as is; a bare 64-hex key is the same wallet as the 0x form."""
    account = Account.from_key(runtime_key("33"))
    assert WalletAuth(account).address == account.address
    assert WalletAuth(runtime_key("33")[2:]).address == account.address
    assert WalletAuth("  " + runtime_key("33").upper().replace("0X", "0x") + "\n").address == (
        account.address
    )


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "0x",
        "0x" + "zz" * 32,
        "0x" + "11" * 31,
        "0x" + "11" * 33,
        "0" * 64,  # zero is not a valid secp256k1 key
        "f" * 64,  # above the curve order
    ],
)
def test_malformed_key_never_appears_in_the_error(bad: str) -> None:
    """ConfigurationError, and neither the message nor the traceback quotes the key."""
    with pytest.raises(ConfigurationError, match="malformed") as caught:
        WalletAuth(bad)
    text = "".join(traceback.format_exception(caught.value))
    core = bad.removeprefix("0x")
    if core:
        assert core not in text
        assert core not in repr(caught.value)


def test_non_account_objects_are_refused() -> None:
    """Anything but a LocalAccount or a str is a configuration error, not an AttributeError."""
    with pytest.raises(ConfigurationError, match="LocalAccount"):
        WalletAuth(b"\x11" * 32)  # type: ignore[arg-type]


def test_repr_shows_the_address_only() -> None:
    """repr/str name the address; the key never appears, and pickling is refused."""
    key = runtime_key("44")
    auth = WalletAuth(key)
    assert repr(auth) == f"WalletAuth(address={auth.address!r})"
    assert key[2:] not in repr(auth)
    assert key[2:] not in str(auth)
    assert not any(
        isinstance(getattr(auth, s, None), str) and key[2:] in getattr(auth, s)
        for s in WalletAuth.__slots__
    )
    with pytest.raises(TypeError, match="private key"):
        pickle.dumps(auth)


async def test_bound_wallet_refuses_foreign_origins() -> None:
    """Once bound to the base URL, any other scheme, host or port is refused before signing."""
    auth = WalletAuth(runtime_key())
    auth.bind_base_url("https://api.venice.ai/api/v1")
    assert await auth.headers("POST", "https://api.venice.ai/api/v1/image/edit")
    assert await auth.headers("GET", "https://API.venice.ai:443/api/v1/models")
    for foreign in (
        "http://api.venice.ai/api/v1/image/edit",
        "https://evil.example/api/v1/image/edit",
        "https://api.venice.ai.evil.example/api/v1",
        "https://api.venice.ai:8443/api/v1",
    ):
        with pytest.raises(ConfigurationError, match="refusing to sign"):
            await auth.headers("POST", foreign)


async def test_unbound_wallet_signs_for_any_origin() -> None:
    """Without a bound base URL (standalone use) any absolute URL is signed."""
    auth = WalletAuth(runtime_key())
    assert await auth.headers("GET", "http://localhost:9/x")


async def test_naive_clock_and_bad_nonce_factory_are_configuration_errors() -> None:
    """An injected clock must be timezone-aware; a nonce must be 8+ alphanumerics."""
    naive = WalletAuth(runtime_key(), clock=lambda: datetime(2025, 1, 1))
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        await naive.headers("GET", VECTOR_URL)
    short = WalletAuth(runtime_key(), nonce_factory=lambda: "abc")
    with pytest.raises(ConfigurationError, match="nonce"):
        await short.headers("GET", VECTOR_URL)


def test_sign_typed_data_returns_0x_hex_signature() -> None:
    """65-byte signature as 0x hex, recoverable to the wallet."""
    from eth_account.messages import encode_typed_data

    auth = WalletAuth(runtime_key("55"))
    typed = {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}],
            "Ping": [{"name": "n", "type": "uint256"}],
        },
        "primaryType": "Ping",
        "domain": {"name": "t"},
        "message": {"n": 1},
    }
    signature = auth.sign_typed_data(typed)
    assert signature.startswith("0x")
    assert len(signature) == 132
    recovered = Account.recover_message(encode_typed_data(full_message=typed), signature=signature)
    assert recovered == auth.address


def test_from_env_with_a_key() -> None:
    """VENICE_WALLET_KEY alone builds the wallet."""
    key = runtime_key("66")
    auth = WalletAuth.from_env(environ={"VENICE_WALLET_KEY": key})
    assert auth.address == Account.from_key(key).address


def test_from_env_legacy_header_is_passed_through() -> None:
    """from_env takes the same legacy_header switch."""
    auth = WalletAuth.from_env(legacy_header=True, environ={"VENICE_WALLET_KEY": runtime_key()})
    assert auth.header_name == "x-sign-in-with-x"


def _keystore(key: str, password: str) -> dict[str, Any]:
    # pbkdf2 with 2 iterations keeps the test fast; real keystores use scrypt.
    keystore: dict[str, Any] = Account.encrypt(
        bytes.fromhex(key[2:]), password, kdf="pbkdf2", iterations=2
    )
    return keystore


def test_from_env_with_a_keystore_file(tmp_path: Path) -> None:
    """VENICE_WALLET_KEYSTORE (a path) + VENICE_WALLET_PASSWORD decrypts the keystore."""
    key = runtime_key("77")
    path = tmp_path / "wallet.json"
    path.write_text(json.dumps(_keystore(key, "correct horse")))
    env = {"VENICE_WALLET_KEYSTORE": str(path), "VENICE_WALLET_PASSWORD": "correct horse"}
    assert WalletAuth.from_env(environ=env).address == Account.from_key(key).address


def test_from_env_with_inline_keystore_json() -> None:
    """The keystore variable may hold the JSON itself."""
    key = runtime_key("78")
    env = {
        "VENICE_WALLET_KEYSTORE": json.dumps(_keystore(key, "pw")),
        "VENICE_WALLET_PASSWORD": "pw",
    }
    assert WalletAuth.from_env(environ=env).address == Account.from_key(key).address


def test_from_env_wrong_password_leaks_nothing(tmp_path: Path) -> None:
    """A wrong password is a ConfigurationError naming neither the password nor the key."""
    key = runtime_key("88")
    path = tmp_path / "wallet.json"
    path.write_text(json.dumps(_keystore(key, "right-password")))
    env = {"VENICE_WALLET_KEYSTORE": str(path), "VENICE_WALLET_PASSWORD": "wrong-password"}
    with pytest.raises(ConfigurationError, match="wrong password") as caught:
        WalletAuth.from_env(environ=env)
    text = "".join(traceback.format_exception(caught.value))
    assert "wrong-password" not in text
    assert "right-password" not in text
    assert key[2:] not in text


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({}, "no wallet configured"),
        ({"VENICE_WALLET_KEY": "0x11", "VENICE_WALLET_KEYSTORE": "/k.json"}, "not both"),
        ({"VENICE_WALLET_KEYSTORE": "/nonexistent/k.json"}, "VENICE_WALLET_PASSWORD"),
        (
            {"VENICE_WALLET_KEYSTORE": "/nonexistent/k.json", "VENICE_WALLET_PASSWORD": "x"},
            "cannot read",
        ),
        ({"VENICE_WALLET_KEYSTORE": "{not json", "VENICE_WALLET_PASSWORD": "x"}, "not valid JSON"),
        ({"VENICE_WALLET_KEY": "0xnope"}, "malformed"),
    ],
)
def test_from_env_misconfigurations(env: dict[str, str], match: str) -> None:
    """Each missing or conflicting setting says what to fix."""
    with pytest.raises(ConfigurationError, match=match):
        WalletAuth.from_env(environ=env)


def test_from_env_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an explicit mapping, the process environment is used."""
    monkeypatch.delenv("VENICE_WALLET_KEYSTORE", raising=False)
    monkeypatch.setenv("VENICE_WALLET_KEY", runtime_key("99"))
    assert WalletAuth.from_env().address == Account.from_key(runtime_key("99")).address


def test_slow_backend_warns_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """If eth-keys falls back to its pure-Python backend, one RuntimeWarning says so."""
    monkeypatch.setattr(wallet_module, "_backend_checked", False)
    monkeypatch.setenv("ECC_BACKEND_CLASS", "eth_keys.backends.NativeECCBackend")
    with pytest.warns(RuntimeWarning, match="coincurve"):
        WalletAuth(runtime_key())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        WalletAuth(runtime_key())


def test_coincurve_backend_does_not_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    """With coincurve installed (a dependency), construction is silent."""
    monkeypatch.setattr(wallet_module, "_backend_checked", False)
    monkeypatch.delenv("ECC_BACKEND_CLASS", raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        WalletAuth(runtime_key())


def test_importing_the_package_does_not_load_eth_account() -> None:
    """eth-account costs ~1 s to import: only building a wallet may load it."""
    code = (
        "import sys, importlib\n"
        "for name in ('inpaint_async', 'inpaint_async.auth', 'inpaint_async.x402'):\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError as exc:\n"
        "        if name != 'inpaint_async': raise\n"
        "        print('front door not importable yet:', exc, file=sys.stderr)\n"
        "heavy = ('eth_account', 'eth_keys', 'eth_utils')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "assert not loaded, loaded\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


async def test_signatures_due_together_are_spread_over_loop_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Five attempts signing at once sign in five different passes of the event loop."""
    import asyncio

    wallet = WalletAuth(runtime_key())
    passes = 0
    signed_in_pass: list[int] = []
    original = WalletAuth.sign_in

    def counting_sign_in(self: WalletAuth, url: str) -> str:
        signed_in_pass.append(passes)
        return original(self, url)

    async def ticker() -> None:
        nonlocal passes
        while True:
            passes += 1
            await asyncio.sleep(0)

    monkeypatch.setattr(WalletAuth, "sign_in", counting_sign_in)
    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    url = "https://api.venice.ai/api/v1/image/edit"
    headers = await asyncio.gather(*(wallet.headers("POST", url) for _ in range(5)))
    tick.cancel()
    assert len({h["sign-in-with-x"] for h in headers}) == 5
    assert len(set(signed_in_pass)) == 5, signed_in_pass


async def test_a_refused_signature_releases_the_signing_lock() -> None:
    """A URL outside the bound origin raises, and the next attempt still signs at once."""
    import asyncio

    wallet = WalletAuth(runtime_key())
    wallet.bind_base_url("https://api.venice.ai/api/v1")
    with pytest.raises(ConfigurationError, match="refusing to sign"):
        await wallet.headers("POST", "https://evil.example/api/v1/image/edit")
    url = "https://api.venice.ai/api/v1/image/edit"
    headers = await asyncio.wait_for(wallet.headers("POST", url), 5)
    assert "sign-in-with-x" in headers


@pytest.mark.parametrize("seed", ["11", "a7", "fe"])
def test_cached_key_signs_the_same_bytes_as_eth_account(seed: str) -> None:
    """The cached coincurve key gives byte-identical signatures to LocalAccount.sign_message."""
    import base64
    import json

    from eth_account import Account
    from eth_account.messages import encode_defunct

    key = "0x" + seed * 32
    wallet = WalletAuth(key, nonce_factory=lambda: "0123456789abcdef")
    header = json.loads(base64.b64decode(wallet.sign_in(VECTOR_URL)))
    expected = Account.sign_message(encode_defunct(text=header["message"]), private_key=key)
    assert header["signature"] == "0x" + bytes(expected.signature).hex()
