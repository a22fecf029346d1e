"""WalletAuth: Sign-In-With-X, one freshly signed header per HTTP attempt.

eth-account costs about a second to import, so it is imported only when a wallet is built.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import sys
import warnings
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from .._constants import (
    BASE_CHAIN_ID,
    ENV_WALLET_KEY,
    ENV_WALLET_KEYSTORE,
    ENV_WALLET_PASSWORD,
    H_SIWX,
    H_SIWX_LEGACY,
    SIWX_TTL_SECONDS,
    WALLET_MAX_IN_FLIGHT,
)
from .._exceptions import ConfigurationError
from ._signer import LocalSigner, Signer, check_address, resolve_signature, signature_now
from .siwe import domain_of, origin_of, siwe_message, siwx_header_value, unix_ms

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

__all__ = ["WalletAuth"]

_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")
_NONCE = re.compile(r"[0-9A-Za-z]{8,}")
_TTL = timedelta(seconds=SIWX_TTL_SECONDS)

_backend_checked = False


def _check_backend() -> None:
    """Warn once per process when eth-keys signs with its pure-Python backend (~30x slower)."""
    global _backend_checked
    if _backend_checked:
        return
    _backend_checked = True
    from eth_keys.backends import get_backend

    backend = type(get_backend()).__name__
    if backend != "CoinCurveECCBackend":
        warnings.warn(
            f"eth-keys is using {backend}, not coincurve: each wallet signature costs about "
            "15 ms instead of 0.5 ms and blocks the event loop. Install coincurve.",
            RuntimeWarning,
            stacklevel=3,
        )


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _malformed_key() -> ConfigurationError:
    return ConfigurationError(
        "the wallet private key is malformed: expected 32 bytes as 64 hex characters "
        "(with or without 0x)"
    )


def _account_from_hex(key: str) -> LocalAccount:
    text = key.strip()
    if text[:2] in ("0x", "0X"):
        text = text[2:]
    if not _HEX_KEY.fullmatch(text):
        raise _malformed_key()
    return _account_from_bytes(bytes.fromhex(text))


def _account_from_bytes(key: bytes) -> LocalAccount:
    from eth_account import Account

    try:
        account: LocalAccount = Account.from_key(key)
    except Exception:
        # Zero or >= the curve order: well-formed, but not a key. `from None` because a chained
        # eth-keys error could quote the key.
        raise _malformed_key() from None
    return account


class WalletAuth:
    """Authenticate every HTTP attempt with a freshly signed Sign-In-With-X header.

    Each call to :meth:`headers` signs a new EIP-4361 message with a new single-use nonce
    (Venice consumes a nonce as soon as it verifies, even when the request then fails), so a
    retried or replayed request is signed again. The header is byte-compatible with Venice's
    reference client.

    Args:
        account_or_key: an eth-account ``LocalAccount``, a hex private key (with or without
            ``0x``; kept only inside the account object, never as a string), or any
            :class:`~inpaint_async.auth.Signer` (a KMS, hardware or remote signer, sync or
            ``async``: no private key in this process).
        legacy_header: send ``X-Sign-In-With-X`` instead of the canonical ``SIGN-IN-WITH-X``.
        clock: returns the current time as an aware datetime (default: UTC now). Injectable so
            tests are exact.
        nonce_factory: returns a fresh nonce (at least 8 alphanumerics) per call (default: 16
            lowercase hex characters from :func:`secrets.token_hex`).
        max_in_flight: requests this wallet may have in flight at once, across every client that
            uses this object (Venice answers the 6th concurrent one with ``429
            X402_CONCURRENCY_LIMIT``; default 5).

    Raises:
        ConfigurationError: the key is malformed (the message never contains the key).
    """

    __slots__ = (
        "_address",
        "_allowed_origins",
        "_clock",
        "_header",
        "_in_flight",
        "_local",
        "_max_in_flight",
        "_nonce",
        "_signer",
        "_signing",
    )

    def __init__(
        self,
        account_or_key: LocalAccount | str | Signer,
        *,
        legacy_header: bool = False,
        clock: Callable[[], datetime] | None = None,
        nonce_factory: Callable[[], str] | None = None,
        max_in_flight: int = WALLET_MAX_IN_FLIGHT,
    ) -> None:
        if (
            isinstance(max_in_flight, bool)
            or not isinstance(max_in_flight, int)
            or max_in_flight < 1
        ):
            raise ConfigurationError("max_in_flight must be a positive integer")
        signer: Signer
        if isinstance(account_or_key, str):
            signer = LocalSigner(_account_from_hex(account_or_key))
        elif _is_local_account(account_or_key):
            signer = LocalSigner(account_or_key)  # type: ignore[arg-type]
        elif isinstance(account_or_key, Signer):
            signer = account_or_key
        else:
            raise ConfigurationError(
                "WalletAuth needs an eth_account LocalAccount, a hex private key or a Signer "
                f"(address, sign_message, sign_typed_data), not {type(account_or_key).__name__}"
            )
        self._signer = signer
        # The fast path: a key in this process signs inline, one signature per loop pass.
        self._local = signer if isinstance(signer, LocalSigner) else None
        if self._local is not None:
            _check_backend()
        self._address = check_address(signer.address)
        self._header = H_SIWX_LEGACY if legacy_header else H_SIWX
        self._clock: Callable[[], datetime] = clock or _utc_now
        self._nonce: Callable[[], str] = nonce_factory or (lambda: secrets.token_hex(8))
        self._allowed_origins: set[tuple[str, str, int]] = set()
        self._max_in_flight = max_in_flight
        # One semaphore per event loop: asyncio primitives bind to the loop that first waits.
        self._in_flight: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        self._signing: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    @classmethod
    def from_env(
        cls,
        *,
        legacy_header: bool = False,
        environ: Mapping[str, str] | None = None,
        max_in_flight: int = WALLET_MAX_IN_FLIGHT,
    ) -> WalletAuth:
        """Build from ``VENICE_WALLET_KEY``, or ``VENICE_WALLET_KEYSTORE`` + its password.

        ``VENICE_WALLET_KEYSTORE`` is the path of an encrypted keystore JSON file (or the JSON
        itself). Decrypting a standard keystore takes about a second (scrypt), synchronously.

        Raises:
            ConfigurationError: neither or both are set, the keystore is unreadable, or the
                password is wrong. No message contains the key or the password.
        """
        env = os.environ if environ is None else environ
        key = env.get(ENV_WALLET_KEY, "").strip()
        keystore = env.get(ENV_WALLET_KEYSTORE, "").strip()
        if key and keystore:
            raise ConfigurationError(
                f"set either {ENV_WALLET_KEY} or {ENV_WALLET_KEYSTORE}, not both"
            )
        if key:
            return cls(key, legacy_header=legacy_header, max_in_flight=max_in_flight)
        if not keystore:
            raise ConfigurationError(
                f"no wallet configured: set {ENV_WALLET_KEY}, or {ENV_WALLET_KEYSTORE} "
                f"and {ENV_WALLET_PASSWORD}"
            )
        password = env.get(ENV_WALLET_PASSWORD)
        if password is None:
            raise ConfigurationError(
                f"{ENV_WALLET_KEYSTORE} is set but {ENV_WALLET_PASSWORD} is not"
            )
        return cls(
            _decrypt_keystore(keystore, password),
            legacy_header=legacy_header,
            max_in_flight=max_in_flight,
        )

    @property
    def address(self) -> str:
        """The wallet's EIP-55 checksummed address."""
        return self._address

    @property
    def signer(self) -> Signer:
        """The signer: a :class:`~inpaint_async.auth.LocalSigner` for a key, else the one given."""
        return self._signer

    @property
    def max_in_flight(self) -> int:
        """How many requests this wallet may have in flight at once (default 5)."""
        return self._max_in_flight

    @property
    def in_flight(self) -> asyncio.Semaphore:
        """The semaphore bounding this wallet's in-flight requests, shared by every client.

        The client holds it around signing and sending each attempt. It belongs to the running
        event loop; a wallet reused under another loop gets a fresh one.
        """
        loop = asyncio.get_running_loop()
        current = self._in_flight
        if current is None or current[0] is not loop:
            current = (loop, asyncio.Semaphore(self._max_in_flight))
            self._in_flight = current
        return current[1]

    @property
    def header_name(self) -> str:
        """The header this wallet sends (``sign-in-with-x`` or ``x-sign-in-with-x``)."""
        return self._header

    def bind_base_url(self, base_url: str) -> None:
        """Allow signing for ``base_url``'s origin (scheme, host, port) and refuse every other.

        The client calls this with its base URL. An unbound wallet signs for any URL; once bound,
        :meth:`headers` raises for a URL outside the bound origins, so a redirect or an absolute
        URL to a foreign host never receives a wallet signature. Binding twice (two clients
        sharing one wallet) allows both origins.
        """
        self._allowed_origins.add(origin_of(base_url))

    async def headers(self, method: str, url: str) -> Mapping[str, str]:
        """A newly signed SIWX header for this attempt of ``method url``.

        A key in this process signs in about 40 µs of CPU (coincurve), inline, one signature per
        pass of the event loop: when several attempts become due together (five requests of a
        wallet finishing at once), their signatures are spread over successive passes. A remote
        or hardware signer is awaited, and its calls may overlap.

        Raises:
            ConfigurationError: ``url`` is outside the bound base URL's origin.
        """
        if self._local is None:
            # A remote or hardware signer: no CPU stall to spread, and calls may overlap.
            address, message, now = self._message_for(url)
            signature = await resolve_signature(self._signer.sign_message(message))
            return {self._header: _header_value(address, message, signature, now)}
        lock = self._signing_lock()
        await lock.acquire()
        try:
            value = self.sign_in(url)
        except BaseException:
            lock.release()
            raise
        # Released on the next pass of the loop, not now: the next signer waits one pass, and
        # this attempt goes on without handing the loop back first.
        asyncio.get_running_loop().call_soon(lock.release)
        return {self._header: value}

    def _signing_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        current = self._signing
        if current is None or current[0] is not loop:
            current = (loop, asyncio.Lock())
            self._signing = current
        return current[1]

    def sign_in(self, url: str) -> str:
        """Sign a fresh SIWX header value for ``url`` (the synchronous core of :meth:`headers`).

        Raises:
            ConfigurationError: ``url`` is outside the bound origin, or the signer is ``async``
                (use ``await headers(...)``).
        """
        address, message, now = self._message_for(url)
        if self._local is not None:
            signature = self._local.sign_message(message)
        else:
            signature = signature_now(self._signer.sign_message(message), "sign_in()")
        return _header_value(address, message, signature, now)

    def _message_for(self, url: str) -> tuple[str, str, datetime]:
        """The address, SIWE message and signing time of a fresh sign-in for ``url``."""
        if self._allowed_origins and origin_of(url) not in self._allowed_origins:
            scheme, host, port = origin_of(url)
            raise ConfigurationError(
                f"refusing to sign a wallet header for {scheme}://{host}:{port}: "
                "it is not the client's base URL origin"
            )
        now = self._now()
        nonce = self._nonce()
        if not isinstance(nonce, str) or not _NONCE.fullmatch(nonce):
            raise ConfigurationError("nonce_factory must return at least 8 alphanumeric characters")
        address = self._address
        message = siwe_message(
            domain=domain_of(url),
            address=address,
            uri=url,
            nonce=nonce,
            issued_at=now,
            expires_at=now + _TTL,
            chain_id=BASE_CHAIN_ID,
        )
        return address, message, now

    def sign_typed_data(self, full_message: Mapping[str, Any]) -> str:
        """Sign EIP-712 typed data (eth-account ``full_message``); returns ``0x`` + 65 bytes hex.

        Raises:
            ConfigurationError: the signer is ``async`` (top-ups await it; see
                :func:`inpaint_async.x402.sign_payment`).
        """
        if self._local is not None:
            return self._local.sign_typed_data(full_message)
        return signature_now(self._signer.sign_typed_data(full_message), "sign_typed_data()")

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None or now.utcoffset() is None:
            raise ConfigurationError("the wallet clock must return a timezone-aware datetime")
        now = now.astimezone(UTC)
        # JS dates carry milliseconds only; the message and `timestamp` must agree exactly.
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    def __repr__(self) -> str:
        return f"WalletAuth(address={self.address!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("WalletAuth holds a private key and cannot be pickled or copied")


def _header_value(address: str, message: str, signature: str, now: datetime) -> str:
    return siwx_header_value(
        address=address,
        message=message,
        signature=signature,
        timestamp_ms=unix_ms(now),
        chain_id=BASE_CHAIN_ID,
    )


def _is_local_account(value: object) -> bool:
    """Whether ``value`` is an eth-account ``LocalAccount`` (a subclass included), checked
    without importing eth-account: if one exists, its module is loaded."""
    local = sys.modules.get("eth_account.signers.local")
    return local is not None and isinstance(value, local.LocalAccount)


def _decrypt_keystore(keystore: str, password: str) -> LocalAccount:
    if keystore.startswith("{"):
        text = keystore
    else:
        try:
            text = Path(keystore).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the wallet keystore {keystore!r}: {exc.strerror}"
            ) from None
    try:
        data = json.loads(text)
    except ValueError:
        raise ConfigurationError("the wallet keystore is not valid JSON") from None
    if not isinstance(data, dict):
        raise ConfigurationError("the wallet keystore is not a JSON object")
    from eth_account import Account

    try:
        key = Account.decrypt(data, password)
    except Exception:
        raise ConfigurationError(
            "cannot decrypt the wallet keystore: wrong password or a corrupt keystore"
        ) from None
    return _account_from_bytes(bytes(key))
