"""Billing-aware retries on tenacity. This is the only module that imports tenacity.

An image edit is a paid, non-idempotent POST, so the classification is strict:

* retried: 429 (rate limit, overload, wallet concurrency cap), 500, 502, 503, and connection
  failures before the request left;
* never retried: every other 4xx (they also burn the account's error budget) and 402, which goes to
  the top-up path instead;
* "outcome unknown" (504, read timeout, disconnect after sending): raised, unless the caller opts in
  with ``retry_unknown_outcome=True`` or the request is idempotent (a GET).

The wait is the server's when it gives one (``retry-after-ms``, ``Retry-After`` in seconds or as an
HTTP date, else the ``x-ratelimit-reset-requests`` moment on a 429), otherwise exponential backoff
with jitter. A server-directed wait longer than ``max_retry_after`` is not waited: the error is raised.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    OutcomeUnknownError,
    RateLimitError,
)
from ._headers import parse_retry_after
from ._logging import logger

if TYPE_CHECKING:
    from tenacity import RetryCallState

__all__ = ["RetryPolicy"]

T = TypeVar("T")

_RETRYABLE_STATUS = frozenset({429, 500, 502, 503})


def server_wait(exc: BaseException, now: float) -> float | None:
    """The wait the server asked for in this error, in seconds, or ``None``.

    A :class:`RateLimitError` carries it already parsed (``Retry-After``, else the reset moment of
    a plain rate limit); other status errors may carry a ``Retry-After`` (a 503, say).
    """
    if isinstance(exc, RateLimitError):
        if exc.retry_after is not None:
            return exc.retry_after
        if exc.reset_at is not None and not exc.is_concurrency_limit:
            return max(0.0, exc.reset_at.timestamp() - now)
        return None
    if isinstance(exc, APIStatusError):
        return parse_retry_after(exc.headers, now)
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """How an API call is retried. Pass one to the client, or per call to override it.

    Attributes:
        max_attempts: Total HTTP attempts, the first included (1 = no retry).
        total_timeout: Seconds for all attempts and waits together; no wait starts that would end
            after it. ``None`` = bounded by ``max_attempts`` only.
        initial_wait: First backoff wait in seconds; doubles per retry.
        max_wait: Longest backoff wait.
        jitter: Fraction of the backoff wait removed at random (0.25 = up to 25 % shorter).
        max_retry_after: Longest server-directed wait honoured; a longer one raises instead.
        retry_unknown_outcome: Also retry when the outcome is unknown (504, read timeout,
            disconnect after sending). Off by default: the edit may have been charged.
        sleep: The sleep function (tests inject a fake clock).
    """

    max_attempts: int = 4
    total_timeout: float | None = None
    initial_wait: float = 0.5
    max_wait: float = 8.0
    jitter: float = 0.25
    max_retry_after: float = 120.0
    retry_unknown_outcome: bool = False
    sleep: Callable[[float], Awaitable[None]] | None = field(
        default=None, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")

    @classmethod
    def no_retry(cls) -> RetryPolicy:
        """A policy that sends once and never retries."""
        return cls(max_attempts=1)

    def with_changes(self, **changes: Any) -> RetryPolicy:
        """A copy of this policy with some fields changed."""
        return replace(self, **changes)

    # -- classification -----------------------------------------------------------------------

    def is_retryable(self, exc: BaseException, *, idempotent: bool = False) -> bool:
        """Whether ``exc`` may be retried under this policy (ignoring attempts and time)."""
        if isinstance(exc, APIConnectionError):
            return True
        if isinstance(exc, OutcomeUnknownError):
            return self.retry_unknown_outcome or idempotent
        if isinstance(exc, APIStatusError):
            if exc.status_code == 504:
                return self.retry_unknown_outcome or idempotent
            if exc.status_code not in _RETRYABLE_STATUS:
                return False
            wait = server_wait(exc, time.time())
            return wait is None or wait <= self.max_retry_after
        return False

    def backoff(self, retry_number: int) -> float:
        """The backoff wait before retry number ``retry_number`` (1-based), with jitter."""
        base: float = min(self.initial_wait * (2 ** (retry_number - 1)), self.max_wait)
        return base * (1 - self.jitter * random.random())

    # -- execution ----------------------------------------------------------------------------

    async def call(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        idempotent: bool = False,
        describe: str = "request",
    ) -> T:
        """Run ``attempt`` until it succeeds or the policy gives up; raise our last error.

        ``attempt`` must build everything per attempt (fresh auth headers, a replayed body).
        """
        started = time.monotonic()
        first: Exception
        try:
            return await attempt()
        except Exception as exc:
            first = exc
        return await self.after_failure(
            first, attempt, idempotent=idempotent, describe=describe, started=started
        )

    async def after_failure(
        self,
        first: Exception,
        attempt: Callable[[], Awaitable[T]],
        *,
        idempotent: bool = False,
        describe: str = "request",
        started: float,
    ) -> T:
        """Continue a call whose first attempt (begun at ``started``, monotonic) raised ``first``.

        The first attempt runs bare (in :meth:`call`, or inlined by the client), so the common
        case, a success, pays nothing for the retry machinery. From the first failure on,
        tenacity drives: it is handed that failure as its own first attempt, so attempt
        numbers, waits and the time budget are the policy's. ``first`` is raised as is when the
        policy does not retry it.
        """
        if self.max_attempts == 1 or not self.is_retryable(first, idempotent=idempotent):
            raise first
        first_error: Exception | None = first

        async def run() -> T:
            nonlocal first_error
            if first_error is not None:
                error, first_error = first_error, None
                raise error
            return await attempt()

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= self.max_attempts:
                return True
            if self.total_timeout is None:
                return False
            return time.monotonic() - started + state.upcoming_sleep >= self.total_timeout

        # tenacity is imported here, on the first failure: a program whose requests succeed
        # never loads it.
        from tenacity import AsyncRetrying, retry_if_exception

        retrying = AsyncRetrying(
            stop=stop,
            wait=_wait(self),
            retry=retry_if_exception(lambda e: self.is_retryable(e, idempotent=idempotent)),
            sleep=self.sleep or asyncio.sleep,
            reraise=True,
            before_sleep=_log_retry(describe),
        )
        result: T = await retrying(run)
        return result


def _wait(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    """tenacity's wait: the server-directed one when there is one, else backoff with jitter."""

    def wait(retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if exc is not None:
            server = server_wait(exc, time.time())
            if server is not None:
                return min(server, policy.max_retry_after)
        return policy.backoff(retry_state.attempt_number)

    return wait


def _log_retry(describe: str) -> Callable[[RetryCallState], None]:
    def before_sleep(retry_state: RetryCallState) -> None:
        if not logger.isEnabledFor(logging.DEBUG):
            return
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        status = getattr(exc, "status_code", None)
        request_id = getattr(exc, "request_id", None)
        wait = retry_state.next_action.sleep if retry_state.next_action else None
        logger.debug(
            "retrying %s: attempt=%d wait=%.2fs status=%s request_id=%s error=%s",
            describe,
            retry_state.attempt_number,
            wait or 0.0,
            status,
            request_id,
            type(exc).__name__ if exc else None,
        )

    return before_sleep
