"""SyncInpaintClient: the async client, driven from synchronous code on a private event loop.

The async client stays the product; this wrapper runs it on an event loop of its own in a daemon
thread and blocks the caller until each call is done. Because the loop is private, it works the
same in a plain script and inside a running loop (a Jupyter cell, an async framework's sync
callback): the caller's loop is only blocked for the duration of the call, never re-entered.

Every method has the async method's parameters and returns its result type (they are the same
functions, wrapped), so ``reveal_type(client.images.edit(...))`` is ``EditResult``.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator, Mapping
from concurrent.futures import Future
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from ._client import EditQualityRoute, InpaintClient
from ._constants import (
    DEFAULT_ATTEMPT_TIMEOUT,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_IMAGE_RESPONSE_BYTES,
    DEFAULT_MAX_JSON_RESPONSE_BYTES,
    DEFAULT_READ_TIMEOUT,
)
from ._exceptions import ConfigurationError
from ._network import Verify
from ._retry import RetryPolicy
from .auth import Auth
from .resources.images import Images
from .resources.models import Models
from .resources.wallet import Wallet

if TYPE_CHECKING:
    from .batch import BatchSummary, EditJob
    from .coordination import Coordinator
    from .spend import TopUpPolicy
    from .types.catalogue import ModelCatalogue
    from .x402.models import WalletTransaction

__all__ = ["SyncInpaintClient"]

P = ParamSpec("P")
T = TypeVar("T")
S = TypeVar("S")


class _LoopThread:
    """One event loop running forever in a daemon thread; coroutines are submitted to it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def main() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.call_soon(ready.set)
            self.loop.run_forever()

        self.thread = threading.Thread(target=main, name="inpaint-async-sync", daemon=True)
        self.thread.start()
        ready.wait()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the private loop and block until it is done.

        Ctrl-C (or any exception in the waiting thread) cancels the call on the loop.
        """
        if threading.current_thread() is self.thread:
            coro.close()
            raise ConfigurationError(
                "a SyncInpaintClient method was called from its own event loop (from inside a "
                "callback it runs); use the async client there"
            )
        if self.loop.is_closed():
            coro.close()
            raise ConfigurationError("this SyncInpaintClient is closed")
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def stop(self) -> None:
        """Stop the loop and its thread, then close the loop."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class _Blocking(Generic[S, P, T]):
    """A blocking method made from an async method of the wrapped resource, same signature."""

    def __init__(self, method: Callable[Concatenate[S, P], Coroutine[Any, Any, T]]) -> None:
        self._method = method

    @overload
    def __get__(self, obj: None, owner: type[Any] | None = None) -> _Blocking[S, P, T]: ...
    @overload
    def __get__(self, obj: _SyncResource[S], owner: type[Any] | None = None) -> Callable[P, T]: ...
    def __get__(
        self, obj: _SyncResource[S] | None, owner: type[Any] | None = None
    ) -> _Blocking[S, P, T] | Callable[P, T]:
        if obj is None:
            return self
        method = self._method
        target = obj._target
        runner = obj._runner

        @functools.wraps(method)
        def call(*args: P.args, **kwargs: P.kwargs) -> T:
            return runner.run(method(target, *args, **kwargs))

        return call


class _SyncResource(Generic[S]):
    def __init__(self, target: S, runner: _LoopThread) -> None:
        self._target = target
        self._runner = runner


class SyncImages(_SyncResource[Images]):
    """``client.images`` of the sync client: the same methods and results, blocking."""

    edit = _Blocking(Images.edit)
    multi_edit = _Blocking(Images.multi_edit)
    upscale = _Blocking(Images.upscale)
    background_remove = _Blocking(Images.background_remove)


class SyncModels(_SyncResource[Models]):
    """``client.models`` of the sync client (the catalogue cache is the async client's)."""

    list = _Blocking(Models.list)

    def cached(self, type: str = "inpaint") -> ModelCatalogue | None:
        """The cached catalogue, if loaded and fresh."""
        return self._target.cached(type)


class SyncWallet(_SyncResource[Wallet]):
    """``client.wallet`` of the sync client."""

    @property
    def address(self) -> str:
        """The wallet's address."""
        return self._target.address

    @property
    def last_known_balance(self) -> Decimal | None:
        """The balance last seen in a response, or ``None``."""
        return self._target.last_known_balance

    balance = _Blocking(Wallet.balance)
    top_up = _Blocking(Wallet.top_up)
    top_up_offer = _Blocking(Wallet.top_up_offer)
    spend_status = _Blocking(Wallet.spend_status)

    def transactions(self, limit: int = 50) -> Iterator[WalletTransaction]:
        """The wallet's ledger, newest first, fetched page by page as you iterate."""
        pages = self._target.transactions(limit)
        runner = self._runner
        try:
            while True:
                try:
                    yield runner.run(_anext(pages))
                except StopAsyncIteration:
                    return
        finally:
            aclose = getattr(pages, "aclose", None)
            if aclose is not None and not runner.loop.is_closed():
                runner.run(aclose())


def _shutdown(runner: _LoopThread, client: InpaintClient) -> None:
    if runner.loop.is_closed():
        return
    try:
        runner.run(client.close())
    finally:
        runner.stop()


async def _anext(iterator: AsyncIterator[T]) -> T:
    return await anext(iterator)


class _Derive(Generic[P]):
    """``with_options`` for the sync client: the async client's keywords, a sync client back."""

    def __init__(self, method: Callable[Concatenate[InpaintClient, P], InpaintClient]) -> None:
        self._method = method

    @overload
    def __get__(self, obj: None, owner: type[Any] | None = None) -> _Derive[P]: ...
    @overload
    def __get__(
        self, obj: SyncInpaintClient, owner: type[Any] | None = None
    ) -> Callable[P, SyncInpaintClient]: ...
    def __get__(
        self, obj: SyncInpaintClient | None, owner: type[Any] | None = None
    ) -> _Derive[P] | Callable[P, SyncInpaintClient]:
        if obj is None:
            return self
        method = self._method
        parent = obj

        @functools.wraps(method)
        def call(*args: P.args, **kwargs: P.kwargs) -> SyncInpaintClient:
            derived = SyncInpaintClient.__new__(SyncInpaintClient)
            derived._setup(method(parent._client, *args, **kwargs), parent._runner, owner=False)
            return derived

        return call


def _nothing(runner: _LoopThread, client: InpaintClient) -> None:
    return None


class SyncInpaintClient(_SyncResource[InpaintClient]):
    """The client for synchronous code: scripts, notebooks, sync web frameworks.

    It takes the same arguments as :class:`InpaintClient` (except ``session``: the connections
    belong to the private loop) and offers the same resources and
    results, blocking until each call is done::

        with SyncInpaintClient() as client:
            result = client.images.edit("photo.png", "add a red hat")
            result.path or open("out.png", "wb").write(result.read_bytes())

    The async client runs on a private event loop in a daemon thread owned by this object, so it
    is safe to call from inside a running loop (Jupyter). One instance may be used from several
    threads; calls run concurrently on the private loop. Call :meth:`close` (or use ``with``)
    to close the connections and stop the thread.
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
    ) -> None:
        client = InpaintClient(
            auth,
            base_url=base_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            default_headers=default_headers,
            retry=retry,
            top_up=top_up,
            connection_limit=connection_limit,
            validate=validate,
            attempt_timeout=attempt_timeout,
            max_image_bytes=max_image_bytes,
            max_json_bytes=max_json_bytes,
            proxy=proxy,
            trust_env=trust_env,
            verify=verify,
            edit_quality_route=edit_quality_route,
            coordinator=coordinator,
        )
        self._setup(client, _LoopThread(), owner=True)

    def _setup(self, client: InpaintClient, runner: _LoopThread, *, owner: bool) -> None:
        super().__init__(client, runner)
        self._client = client
        # The owner (not a with_options() view) closes the connections and stops the thread,
        # also when it is dropped without close().
        self._finalizer = weakref.finalize(
            self, _shutdown if owner else _nothing, self._runner, client
        )
        self.images = SyncImages(client.images, runner)
        self.models = SyncModels(client.models, runner)
        self._wallet: SyncWallet | None = None

    estimate_cost = _Blocking(InpaintClient.estimate_cost)
    request = _Blocking(InpaintClient.request)
    with_options = _Derive(InpaintClient.with_options)
    """A derived client with some options changed (the async ``with_options`` keywords),
    sharing this one's connections and loop; closing it does nothing."""

    @property
    def async_client(self) -> InpaintClient:
        """The wrapped async client (bound to the private loop: use it only through this one)."""
        return self._client

    @property
    def base_url(self) -> str:
        """The API root."""
        return self._client.base_url

    @property
    def wallet(self) -> SyncWallet:
        """The wallet's balance, transactions and top-ups (needs a wallet auth)."""
        if self._wallet is None:
            self._wallet = SyncWallet(self._client.wallet, self._runner)
        return self._wallet

    def batch(self, jobs: Iterable[EditJob], **options: Any) -> BatchSummary:
        """Run a batch to the end and return its summary (the runner's options apply)."""

        async def run() -> BatchSummary:
            return await self._client.batch(jobs, **options).run()

        return self._runner.run(run())

    def close(self) -> None:
        """Close the client's connections and stop the private loop (idempotent)."""
        self._finalizer()

    def __enter__(self) -> SyncInpaintClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Sync{self._client!r}"
