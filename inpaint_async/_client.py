"""InpaintClient: options, session ownership, the request pipeline and the resource views."""

from __future__ import annotations

import asyncio
import math
import os
import time
import urllib.parse
from collections.abc import AsyncIterable, Iterable, Mapping
from contextlib import nullcontext
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ._constants import (
    DEFAULT_ATTEMPT_TIMEOUT,
    DEFAULT_BASE_URL,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_IMAGE_RESPONSE_BYTES,
    DEFAULT_MAX_JSON_RESPONSE_BYTES,
    DEFAULT_READ_TIMEOUT,
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_WALLET_KEY,
    ENV_WALLET_KEYSTORE,
    H_CF_RAY,
)
from ._exceptions import (
    ConfigurationError,
    EventLoopMismatchError,
    PaymentRequiredError,
)
from ._logging import logger, redact_headers, setup_logging
from ._network import NetworkOptions, Verify
from ._options import Query, RequestOptions
from ._response import image_result, status_error
from ._retry import RetryPolicy
from ._version import __version__
from ._wire import Body, BodyLimits, RawResponse, Timeouts
from .auth import Auth, BearerAuth

if TYPE_CHECKING:
    from decimal import Decimal

    import aiohttp

    from ._transport import Transport
    from .batch import BatchRunner, EditJob
    from .coordination import Coordinator
    from .resources.images import Images
    from .resources.models import Models
    from .resources.wallet import Wallet
    from .spend._hooks import AttemptTicket, WalletHooks
    from .spend._policy import TopUpPolicy
    from .types.params import Endpoint, Quality, Resolution
    from .types.results import ImageResult

__all__ = ["InpaintClient"]

R = TypeVar("R", bound="ImageResult")

_UNSET: Any = object()
#: The attempt of a call without a wallet's gate (a nullcontext is reusable and reentrant).
_NO_GATE: nullcontext[None] = nullcontext()


def _attempt_ticket(internal: bool) -> AttemptTicket:
    # Imported on the first call, not per call (an import statement costs about a microsecond
    # even when the module is loaded); the spend package stays out of `import inpaint_async`.
    global _AttemptTicket
    if _AttemptTicket is None:
        from .spend._hooks import AttemptTicket

        _AttemptTicket = AttemptTicket
    return _AttemptTicket(internal=internal)


_AttemptTicket: type[AttemptTicket] | None = None

EditQualityRoute = Literal["multi_edit", "edit"]


def _resolve_auth(auth: Auth | str | None) -> Auth:
    if isinstance(auth, str):
        return BearerAuth(auth)
    if auth is not None:
        if not hasattr(auth, "headers"):
            raise ConfigurationError(
                f"auth must be BearerAuth, WalletAuth or an Auth implementation, "
                f"not {type(auth).__name__}"
            )
        return auth
    key = os.environ.get(ENV_API_KEY, "").strip()
    if key:
        return BearerAuth(key)
    if os.environ.get(ENV_WALLET_KEY) or os.environ.get(ENV_WALLET_KEYSTORE):
        from .auth.wallet import WalletAuth

        wallet: Auth = WalletAuth.from_env()
        return wallet
    raise ConfigurationError(
        "no credentials: set the VENICE_API_KEY environment variable (or pass "
        "auth=BearerAuth('...')), or use a wallet with auth=WalletAuth.from_env() "
        "(VENICE_WALLET_KEY, or VENICE_WALLET_KEYSTORE + VENICE_WALLET_PASSWORD)"
    )


def _resolve_base_url(base_url: str | None) -> str:
    url = (base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL).strip().rstrip("/")
    try:
        parsed = urllib.parse.urlsplit(url)
        host = parsed.hostname
        parsed.port  # noqa: B018 - raises on a port out of range or not a number
    except ValueError as exc:
        raise ConfigurationError(f"base_url {url!r} is not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not host:
        raise ConfigurationError(f"base_url must be an http(s) URL, got {url!r}")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise ConfigurationError(f"base_url must not contain spaces or control characters: {url!r}")
    return url


def _check_seconds(name: str, value: float | None) -> float | None:
    """A timeout option: ``None``, or a finite number of seconds above zero."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"{name} must be a number of seconds or None, not {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(
            f"{name} must be a finite number of seconds above 0, not {value!r}"
        )
    return float(value)


def _check_limit(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(f"{name} must be a positive number of bytes, not {value!r}")
    return value


def check_header_values(headers: Mapping[str, str], what: str) -> dict[str, str]:
    """Headers as lower-cased names, refusing values a request line could not carry."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ConfigurationError(f"{what}: header names and values must be strings")
        if any(c in "\r\n\0" for c in name + value) or not name.strip():
            raise ConfigurationError(
                f"{what}: header {name[:40]!r} contains a line break or NUL; nothing was sent"
            )
        out[name.lower()] = value
    return out


class InpaintClient:
    """The async client for the Venice image Edit API and its siblings.

    Use it as an async context manager, or call :meth:`close` when done::

        async with InpaintClient(auth=BearerAuth(key)) as client:
            result = await client.images.edit(image="photo.png", prompt="add a red hat")

    Args:
        auth: ``BearerAuth``, ``WalletAuth``, any :class:`~inpaint_async.auth.Auth`, or an API key
            string. When omitted, ``VENICE_API_KEY`` is read (then the wallet variables).
        base_url: API root; default ``VENICE_BASE_URL`` or ``https://api.venice.ai/api/v1``.
        connect_timeout: Seconds to establish a connection, per attempt.
        read_timeout: Seconds to wait for data on the socket, per attempt. Edits take 60–170 s on
            the slow models, so the default is 300 s.
        attempt_timeout: Seconds for the whole of one attempt (connect, upload, download), so a
            server trickling bytes cannot hold a call for ever; default 900 s. An attempt cut
            off by it after sending raises ``OutcomeUnknownError``. The default never cuts a
            longer ``read_timeout``, nor does any deadline cut a longer per-call ``timeout=``.
        max_image_bytes: The largest image answer read (default 128 MiB); a larger one raises
            ``ResponseTooLargeError`` without being read.
        max_json_bytes: The largest other success body read, decompressed (default 16 MiB).
        default_headers: Headers sent with every request.
        retry: The :class:`RetryPolicy` (billing-aware by default).
        session: An ``aiohttp.ClientSession`` to borrow; it is never closed by the client.
        top_up: A ``TopUpPolicy`` for wallet auth; without one, money is never spent.
            Ignored by derived clients whose auth is not a wallet.
        connection_limit: Connections the owned session may open at once.
        validate: Check edits and multi-edits against the model catalogue once it is loaded
            (``client.models.list()``); ``False`` sends them unchecked.
        proxy: A proxy URL (``http://[user:pass@]host:port``) for every request. Without it,
            ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` and ``NO_PROXY`` are honoured.
        trust_env: Read those proxy variables (default ``True``); ``~/.netrc`` is never read.
        verify: TLS trust: ``True`` (system CAs, ``SSL_CERT_FILE``), a CA bundle path, an
            ``ssl.SSLContext``, or ``False`` (no verification; never against the real API).
        edit_quality_route: Where ``images.edit(quality=...)`` goes: ``"multi_edit"`` (default:
            ``/image/multi-edit`` with the one image, which takes ``quality`` whatever
            ``/image/edit``'s schema says) or ``"edit"`` (``/image/edit``, as its documentation
            describes; ``inpaint-async conformance`` tells whether your server accepts it).
        coordinator: A :class:`~inpaint_async.coordination.Coordinator` shared with other
            clients or processes (in-flight slots, the rate window, single-flight top-ups).
            Without one, those guarantees hold within this client and its derived clients.
    """

    def __init__(
        self,
        auth: Auth | str | None = None,
        *,
        base_url: str | None = None,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float | None = DEFAULT_READ_TIMEOUT,
        default_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
        top_up: TopUpPolicy | None = None,
        connection_limit: int = 100,
        validate: bool = True,
        attempt_timeout: float | None = DEFAULT_ATTEMPT_TIMEOUT,
        max_image_bytes: int = DEFAULT_MAX_IMAGE_RESPONSE_BYTES,
        max_json_bytes: int = DEFAULT_MAX_JSON_RESPONSE_BYTES,
        proxy: str | None = None,
        trust_env: bool = True,
        verify: Verify = True,
        edit_quality_route: EditQualityRoute = "multi_edit",
        coordinator: Coordinator | None = None,
        _transport: Transport | None = None,
        _shared: dict[str, Any] | None = None,
    ) -> None:
        setup_logging()
        self._auth = _resolve_auth(auth)
        self.base_url = _resolve_base_url(base_url)
        bind = getattr(self._auth, "bind_base_url", None)
        if callable(bind):
            bind(self.base_url)
        read = _check_seconds("read_timeout", read_timeout)
        total = _check_seconds("attempt_timeout", attempt_timeout)
        if attempt_timeout == DEFAULT_ATTEMPT_TIMEOUT and read is not None and total is not None:
            total = max(total, read)  # the default deadline never cuts a longer read timeout
        self.timeouts = Timeouts(
            connect=_check_seconds("connect_timeout", connect_timeout), read=read, total=total
        )
        self.limits = BodyLimits(
            image=_check_limit("max_image_bytes", max_image_bytes),
            json=_check_limit("max_json_bytes", max_json_bytes),
        )
        self.default_headers = dict(default_headers or {})
        self.retry = retry or RetryPolicy()
        self.top_up_policy = top_up
        if _transport is None:
            # aiohttp loads with the first client, not with `import inpaint_async`.
            from ._transport import Transport

            _transport = Transport(
                session=session,
                connection_limit=connection_limit,
                network=NetworkOptions(proxy=proxy, trust_env=trust_env, verify=verify),
            )
            self._is_root = True
        else:
            self._is_root = False
        self._transport = _transport
        # State shared by this client and every client derived with with_options().
        self._shared: dict[str, Any] = _shared if _shared is not None else {}
        self.coordinator: Coordinator | None = coordinator
        self._base_headers = {
            "user-agent": f"inpaint-async/{__version__}",
            "accept": "image/*, application/json",
            **check_header_values(self.default_headers, "default_headers"),
        }
        # A wallet's money hooks (in-flight gate, balance tracking, the policy's top-ups).
        self._wallet_hooks: WalletHooks | None = None
        self.validate = validate
        if edit_quality_route not in ("multi_edit", "edit"):
            raise ConfigurationError("edit_quality_route must be 'multi_edit' or 'edit'")
        self.edit_quality_route: EditQualityRoute = edit_quality_route
        self._images: Images | None = None
        self._models: Models | None = None
        self._wallet: Wallet | None = None
        self._wire_wallet(_shared is None)

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> InpaintClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the owned HTTP session (a borrowed one stays open). Derived clients do nothing.

        Background wallet work (balance polls, proactive top-ups) is cancelled first.
        """
        if self._is_root:
            from .spend._hooks import cancel_background

            await cancel_background(self._transport)
            await self._transport.close()

    def with_options(
        self,
        *,
        auth: Auth | str | None = _UNSET,
        base_url: str | None = _UNSET,
        connect_timeout: float | None = _UNSET,
        read_timeout: float | None = _UNSET,
        default_headers: Mapping[str, str] | None = _UNSET,
        retry: RetryPolicy | None = _UNSET,
        top_up: TopUpPolicy | None = _UNSET,
        validate: bool = _UNSET,
        edit_quality_route: EditQualityRoute = _UNSET,
        attempt_timeout: float | None = _UNSET,
        max_image_bytes: int = _UNSET,
        max_json_bytes: int = _UNSET,
    ) -> InpaintClient:
        """A derived client with some options changed, sharing this client's HTTP session."""

        def pick(value: Any, current: Any) -> Any:
            return current if value is _UNSET else value

        return InpaintClient(
            auth=pick(auth, self._auth),
            base_url=pick(base_url, self.base_url),
            connect_timeout=pick(connect_timeout, self.timeouts.connect),
            read_timeout=pick(read_timeout, self.timeouts.read),
            default_headers=pick(default_headers, self.default_headers),
            retry=pick(retry, self.retry),
            top_up=pick(top_up, self.top_up_policy),
            validate=pick(validate, self.validate),
            edit_quality_route=pick(edit_quality_route, self.edit_quality_route),
            attempt_timeout=pick(attempt_timeout, self.timeouts.total),
            max_image_bytes=pick(max_image_bytes, self.limits.image),
            max_json_bytes=pick(max_json_bytes, self.limits.json),
            coordinator=self.coordinator,
            _transport=self._transport,
            _shared=self._shared,
        )

    def __repr__(self) -> str:
        return f"InpaintClient(base_url={self.base_url!r}, auth={self._auth!r})"

    # -- resources ------------------------------------------------------------------------------

    @property
    def auth(self) -> Auth:
        """The auth in use."""
        return self._auth

    @property
    def images(self) -> Images:
        """Image endpoints: edit, multi-edit, upscale and background removal."""
        if self._images is None:
            from .resources.images import Images

            self._images = Images(self)
        return self._images

    @property
    def models(self) -> Models:
        """The model catalogue (``GET /models``), cached with a TTL."""
        if self._models is None:
            from .resources.models import Models

            self._models = Models(self)
        return self._models

    async def estimate_cost(
        self,
        model: str | None = None,
        *,
        resolution: Resolution | None = None,
        quality: Quality | None = None,
        images: int = 1,
        enhance_prompt: bool = False,
        endpoint: Endpoint = "edit",
    ) -> Decimal:
        """The USD price of one edit or multi-edit, from the catalogue (loaded if needed).

        ``model=None`` prices the server's default model. The rules are in docs/models.md;
        the synchronous form is ``Model.estimate_cost(...)`` on a catalogue entry.

        Raises:
            ValidationError: Unknown model, or a request the model cannot take.
        """
        from ._checks import resolve_model
        from ._exceptions import ValidationError

        catalogue = await self.models.list("inpaint")
        entry = resolve_model(catalogue, model)
        if entry is None:
            raise ValidationError("the catalogue tags no default model; pass model=", param="model")
        return entry.estimate_cost(
            resolution=resolution,
            quality=quality,
            images=images,
            enhance_prompt=enhance_prompt,
            endpoint=endpoint,
        )

    @property
    def wallet(self) -> Wallet:
        """The wallet's balance, transactions and top-ups (needs ``auth=WalletAuth(...)``)."""
        if self._wallet is None:
            from .resources.wallet import Wallet

            self._wallet = Wallet(self)
        return self._wallet

    def batch(
        self, jobs: Iterable[EditJob] | AsyncIterable[EditJob], **options: Any
    ) -> BatchRunner:
        """A :class:`~inpaint_async.batch.BatchRunner` for ``jobs`` on this client.

        Iterate it for each job's outcome as it completes (or ``await runner.run()``); the
        options (``concurrency``, ``budget_usd``, ``journal``, ``coordinator``, ...) are the
        runner's. The runner uses the client's coordinator unless given another.
        """
        from .batch import BatchRunner

        if self.coordinator is not None:
            options.setdefault("coordinator", self.coordinator)
        return BatchRunner(self, jobs, **options)

    def _wire_wallet(self, is_root: bool) -> None:
        """With a wallet: per-wallet in-flight gate, balance tracking, the policy's top-ups."""
        from .auth.wallet import WalletAuth

        policy = self.top_up_policy
        if policy is not None:
            from .spend._policy import TopUpPolicy

            if not isinstance(policy, TopUpPolicy):
                raise ConfigurationError("top_up must be a TopUpPolicy")
        if not isinstance(self._auth, WalletAuth):
            if policy is not None and is_root:
                raise ConfigurationError("top_up needs a wallet: pass auth=WalletAuth(...)")
            policy = None
        if self.coordinator is not None:
            from . import coordination

            coordination.install(self, self.coordinator, policy)
            return
        if not isinstance(self._auth, WalletAuth):
            return
        from .spend._hooks import WalletHooks

        self._wallet_hooks = WalletHooks(self, self._auth, policy, self._transport)

    # -- the request pipeline -------------------------------------------------------------------

    def url_for(self, path: str) -> str:
        """The absolute URL of an API path such as ``/image/edit``."""
        return self.base_url + "/" + path.lstrip("/")

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Body | None = None,
        params: Mapping[str, str] | None = None,
        output: Path | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Query | None = None,
        extra_body: Mapping[str, object] | None = None,
        idempotent: bool | None = None,
        authenticate: bool = True,
        _internal: bool = False,
    ) -> RawResponse:
        """Send one API call with retries, fresh auth per attempt and the 402 top-up path.

        ``extra_headers``, ``extra_query`` and ``extra_body`` are sent as given (fields the SDK
        does not know yet); see :class:`~inpaint_async._options.RequestOptions`. ``_internal``
        marks a request made by a top-up or a background balance check (see :meth:`send`).
        """
        options = RequestOptions.build(
            method, path, body=body, params=params, output=output, timeout=timeout, retry=retry,
            extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body,
            idempotent=idempotent, authenticate=authenticate,
        )  # fmt: skip
        return await self.send(options, _internal=_internal)

    async def send(self, options: RequestOptions, *, _internal: bool = False) -> RawResponse:
        """Send the call ``options`` describes (retries, fresh auth per attempt, 402 top-ups).

        An ``_internal`` request (a top-up's own) never waits for a paused wallet and never goes
        to the 402 hook, so a top-up cannot wait for itself.
        """
        self._check_loop()
        # Checked before anything is sent: a bad timeout or a header value with a line break
        # would otherwise surface mid-send as aiohttp's ValueError.
        _check_seconds("timeout", options.timeout)
        if options.headers:
            check_header_values(options.headers, "extra_headers")
        ticket = _attempt_ticket(_internal)
        policy = options.retry or self.retry
        topped_up = 0
        while True:
            try:
                # The first attempt is awaited here, one coroutine from the caller to the
                # transport; only a failure enters the retry policy (tenacity then drives every
                # retry, each a fresh _attempt: new auth headers, the body replayed).
                # RetryPolicy.call is the same thing for other callers.
                started = time.monotonic()
                first: Exception
                try:
                    return await self._attempt(options, ticket)
                except Exception as exc:
                    first = exc
                return await policy.after_failure(
                    first,
                    lambda: self._attempt(options, ticket),
                    idempotent=options.is_idempotent,
                    describe=f"{options.method} {options.path}",
                    started=started,
                )
            except PaymentRequiredError as exc:
                hooks = self._wallet_hooks
                if hooks is None or not await hooks.payment_required(exc, topped_up, ticket):
                    raise
                topped_up += 1

    async def _attempt(self, options: RequestOptions, ticket: AttemptTicket) -> RawResponse:
        method = options.method
        url = self.url_for(options.path)
        headers = dict(self._base_headers)
        headers.update(options.headers)
        timeouts = self.timeouts
        if options.timeout is not None:
            # A longer read timeout asked for on this call is not cut short by the deadline.
            total = timeouts.total
            if total is not None and options.timeout > total:
                total = options.timeout
            timeouts = Timeouts(timeouts.connect, options.timeout, total)
        authenticate = options.authenticate
        hooks = self._wallet_hooks
        gate = hooks.attempt(ticket) if authenticate and hooks is not None else _NO_GATE
        async with gate:
            if authenticate:
                # Asked once per attempt, just before sending: a wallet signs a fresh nonce.
                headers.update(await self._auth.headers(method, url))
            debug = logger.isEnabledFor(10)
            if debug:
                logger.debug("-> %s %s headers=%s", method, url, redact_headers(headers))
            raw = await self._transport.send(
                method, url, headers=headers, body=options.body, params=options.params,
                timeouts=timeouts, output=options.output, limits=self.limits,
            )  # fmt: skip
            if debug:
                logger.debug(
                    "<- %s %s status=%d request_id=%s", method, url, raw.status,
                    raw.headers.get(H_CF_RAY),
                )  # fmt: skip
            self._observe(raw)
            if hooks is not None:
                hooks.observe(raw, ticket)
        if not 200 <= raw.status < 300:
            raise self._status_error(raw, options.is_idempotent)
        return raw

    def _check_loop(self) -> None:
        """Bind the client (and its derived clients) to the first running loop; refuse others.

        aiohttp's connections belong to the loop that opened them; used from another loop they
        fail with a confusing "attached to a different loop" or "Event loop is closed".
        """
        loop = asyncio.get_running_loop()
        bound = self._shared.setdefault("loop", loop)
        if bound is not loop:
            raise EventLoopMismatchError(
                "this InpaintClient was first used in another event loop (a second asyncio.run, "
                "or another thread's loop) and its connections belong to that loop; create one "
                "client per event loop, or use SyncInpaintClient from synchronous code"
            )

    def _observe(self, raw: RawResponse) -> None:
        """Let observers (balance tracking, batch limiters) see every response's headers."""
        for observer in self._shared.get("observers", ()):
            observer(raw)

    @staticmethod
    def _status_error(raw: RawResponse, idempotent: bool) -> Exception:
        return status_error(raw, idempotent)

    # -- results --------------------------------------------------------------------------------

    def image_result(
        self,
        raw: RawResponse,
        cls: type[R],
        *,
        endpoint: str | None = None,
        quality: str | None = None,
    ) -> R:
        """Build a result model from a successful image response, keeping its headers."""
        return image_result(raw, cls, endpoint=endpoint, quality=quality)
