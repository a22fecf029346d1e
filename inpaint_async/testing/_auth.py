"""Who is calling: SIWX verification with single-use nonces, Bearer keys, the discovery 402."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from .. import _constants as C
from ._common import BUCKET, EXEMPT, RECORD, Caller
from ._limits import Limits
from ._parse import ApiError
from ._verify import SiwxError, parse_siwx, recover_personal_sign
from ._x402 import discovery_402

if TYPE_CHECKING:
    from ._app import Emulator

__all__ = ["PAYMENT_HEADERS", "Auth"]

#: How long a used SIWX nonce is remembered (longer than a message's 5-minute life).
NONCE_MEMORY = 330.0
PAYMENT_HEADERS = (C.H_PAYMENT_SIGNATURE, C.H_PAYMENT_LEGACY, C.H_PAYMENT_V1)


class Auth:
    """Authenticates requests against the emulator's keys and remembers used SIWX nonces."""

    def __init__(self, emu: Emulator) -> None:
        self._emu = emu
        self._domains = frozenset(emu.settings.siwx_domains)
        self.reset()

    def reset(self) -> None:
        """Forget every used nonce."""
        self._nonces: dict[tuple[str, str], float] = {}

    async def verify_siwx(self, header: str) -> tuple[str, str]:
        """Return (wallet, nonce) for a valid, fresh SIWX header, else raise SiwxError."""
        settings = self._emu.settings
        now = settings.clock()
        proof = parse_siwx(header, now=now, allowed_domains=self._domains)
        signer = await self._emu._run(recover_personal_sign, proof.message, proof.signature)
        if signer != proof.address:
            raise SiwxError("INVALID_SIGNATURE", "Sign-in-with-X signature verification failed")
        now = settings.clock()
        for key in [k for k, exp in self._nonces.items() if exp <= now]:
            del self._nonces[key]
        key = (proof.address, proof.nonce)
        if key in self._nonces:
            raise SiwxError("NONCE_REUSED", "Sign-in-with-X nonce has already been used")
        self._nonces[key] = now + NONCE_MEMORY
        return proof.address, proof.nonce

    @staticmethod
    def siwx_header(request: web.Request) -> str | None:
        """The SIWX header under its canonical or legacy name."""
        return request.headers.get(C.H_SIWX) or request.headers.get(C.H_SIWX_LEGACY)

    def discovery_402(self, request: web.Request, *, with_accepts: bool = True) -> ApiError:
        """The 402 of a request that carries no credentials."""
        settings = self._emu.settings
        return discovery_402(
            request, pay_to=settings.pay_to, now=settings.clock(), with_accepts=with_accepts
        )

    async def authenticate(self, request: web.Request) -> Caller:
        """Inference-route auth: SIWX wins over Bearer; nothing at all is a discovery 402."""
        record = request[RECORD]
        request[BUCKET] = Limits.bucket(request, None)
        if any(h in request.headers for h in PAYMENT_HEADERS):
            raise ApiError(
                400,
                {
                    "error": "Payment headers are only accepted on /api/v1/x402/top-up",
                    "code": "PAYMENT_HEADER_NOT_ACCEPTED",
                },
            )
        siwx = self.siwx_header(request)
        if siwx is not None:
            try:
                wallet, nonce = await self.verify_siwx(siwx)
            except SiwxError as exc:
                raise ApiError(401, {"error": exc.message, "code": exc.code}) from None
            record.payer, record.siwx_nonce = wallet, nonce
            caller = Caller(wallet, "wallet", nonce)
        else:
            auth = request.headers.get(C.H_AUTHORIZATION)
            if auth is None:
                request[EXEMPT] = True
                raise self.discovery_402(request)
            key = self._known_bearer(auth)
            record.payer = key
            caller = Caller(key, "key")
        request[BUCKET] = caller.payer
        return caller

    def bearer_only(self, request: web.Request) -> str:
        """Account-route auth: a known Bearer key, else 401."""
        key = self._known_bearer(request.headers.get(C.H_AUTHORIZATION, ""))
        request[RECORD].payer = key
        return key

    def _known_bearer(self, header: str) -> str:
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or key not in self._emu._keys:
            raise ApiError(401, "Authentication failed")
        return key
