"""The billing-aware retry table, pinned with aioresponses and a fake clock."""

from __future__ import annotations

import email.utils
import time

import pytest
from aioresponses import aioresponses

from inpaint_async import (
    AuthenticationError,
    BadRequestError,
    ContentPolicyError,
    InpaintClient,
    NotFoundError,
    OutcomeUnknownError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    UnsupportedMediaTypeError,
)

from .helpers import RecordingAuth, png_bytes

BASE = "http://api.test/api/v1"
EDIT = BASE + "/image/edit"
PNG = png_bytes()
OK_HEADERS = {"content-type": "image/png", "cf-ray": "ray-ok"}


class FakeSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client(auth: RecordingAuth, sleep: FakeSleep, **policy: object) -> InpaintClient:
    return InpaintClient(
        auth=auth,
        base_url=BASE,
        retry=RetryPolicy(sleep=sleep, jitter=0, **policy),  # type: ignore[arg-type]
    )


def requests_to(m: aioresponses, url: str) -> int:
    return sum(len(v) for (method, u), v in m.requests.items() if str(u) == url)


async def test_503_then_200_is_retried_with_backoff() -> None:
    """A 503 is retried after the backoff wait and the second answer is returned."""
    auth, sleep = RecordingAuth(), FakeSleep()
    with aioresponses() as m:
        m.post(EDIT, status=503, payload={"error": "The model is at capacity."})
        m.post(EDIT, status=200, body=PNG, headers=OK_HEADERS)
        async with client(auth, sleep) as c:
            result = await c.images.edit(image=PNG, prompt="a hat")
        assert requests_to(m, EDIT) == 2
    assert result.data == PNG and result.request_id == "ray-ok"
    assert sleep.waits == [0.5]
    assert len(auth.calls) == 2, "auth is asked once per attempt"


@pytest.mark.parametrize("status", [500, 502])
async def test_500_and_502_are_retried(status: int) -> None:
    """500 and 502 mean the server did not do the work: retried."""
    auth, sleep = RecordingAuth(), FakeSleep()
    with aioresponses() as m:
        m.post(EDIT, status=status, body="oops")
        m.post(EDIT, status=200, body=PNG, headers=OK_HEADERS)
        async with client(auth, sleep) as c:
            await c.images.edit(image=PNG, prompt="a hat")
        assert requests_to(m, EDIT) == 2


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (413, PayloadTooLargeError),
        (415, UnsupportedMediaTypeError),
        (422, ContentPolicyError),
    ],
)
async def test_client_errors_are_sent_once(status: int, cls: type[Exception]) -> None:
    """Other 4xx are never retried: exactly one request, the typed error raised."""
    auth, sleep = RecordingAuth(), FakeSleep()
    with aioresponses() as m:
        m.post(EDIT, status=status, payload={"error": "no", "code": "SOME_CODE"}, repeat=True)
        async with client(auth, sleep) as c:
            with pytest.raises(cls) as info:
                await c.images.edit(image=PNG, prompt="a hat")
        assert requests_to(m, EDIT) == 1
    assert info.value.status_code == status  # type: ignore[attr-defined]
    assert info.value.code == "SOME_CODE"  # type: ignore[attr-defined]
    assert sleep.waits == []


async def test_429_retry_after_seconds_is_waited() -> None:
    """429 with Retry-After: 2 waits exactly 2 s (fake clock) before retrying."""
    auth, sleep = RecordingAuth(), FakeSleep()
    with aioresponses() as m:
        m.post(EDIT, status=429, payload={"error": "overloaded"}, headers={"Retry-After": "2"})
        m.post(EDIT, status=200, body=PNG, headers=OK_HEADERS)
        async with client(auth, sleep) as c:
            await c.images.edit(image=PNG, prompt="a hat")
    assert sleep.waits == [2.0]


async def test_429_retry_after_http_date_is_waited() -> None:
    """The HTTP-date form of Retry-After is honoured."""
    auth, sleep = RecordingAuth(), FakeSleep()
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    with aioresponses() as m:
        m.post(EDIT, status=429, payload={"error": "x"}, headers={"Retry-After": when})
        m.post(EDIT, status=200, body=PNG, headers=OK_HEADERS)
        async with client(auth, sleep) as c:
            await c.images.edit(image=PNG, prompt="a hat")
    assert len(sleep.waits) == 1 and 27 <= sleep.waits[0] <= 30


async def test_429_reset_header_in_milliseconds_is_waited() -> None:
    """Without Retry-After, the wait runs to x-ratelimit-reset-requests (Unix ms)."""
    auth, sleep = RecordingAuth(), FakeSleep()
    reset_ms = str(int((time.time() + 10) * 1000))
    with aioresponses() as m:
        m.post(
            EDIT, status=429, payload={"error": "Rate limit exceeded"},
            headers={"x-ratelimit-reset-requests": reset_ms, "x-ratelimit-remaining-requests": "0"},
        )  # fmt: skip
        m.post(EDIT, status=200, body=PNG, headers=OK_HEADERS)
        async with client(auth, sleep) as c:
            await c.images.edit(image=PNG, prompt="a hat")
    assert len(sleep.waits) == 1 and 8 <= sleep.waits[0] <= 10


async def test_retry_after_beyond_the_cap_raises_rate_limit_error() -> None:
    """A server wait over max_retry_after is not waited: RateLimitError carries it."""
    auth, sleep = RecordingAuth(), FakeSleep()
    with aioresponses() as m:
        m.post(EDIT, status=429, payload={"error": "busy"}, headers={"Retry-After": "600"})
        async with client(auth, sleep) as c:
            with pytest.raises(RateLimitError) as info:
                await c.images.edit(image=PNG, prompt="a hat")
        assert requests_to(m, EDIT) == 1
    assert info.value.retry_after == 600.0


async def test_504_raises_outcome_unknown_after_one_send() -> None:
    """A 504 on a paid edit may have been charged: OutcomeUnknownError, one request only."""
    auth, sleep = RecordingAuth(), FakeSleep()
    with aioresponses() as m:
        m.post(EDIT, status=504, payload={"error": "timed out"}, headers={"cf-ray": "r504"})
        async with client(auth, sleep) as c:
            with pytest.raises(OutcomeUnknownError) as info:
                await c.images.edit(image=PNG, prompt="a hat")
        assert requests_to(m, EDIT) == 1
    assert info.value.request_id == "r504"


async def test_read_timeout_raises_outcome_unknown_after_one_send() -> None:
    """A read timeout after sending raises OutcomeUnknownError and is not retried."""
    auth, sleep = RecordingAuth(), FakeSleep()
    with aioresponses() as m:
        m.post(EDIT, exception=TimeoutError())
        m.post(EDIT, status=200, body=PNG, headers=OK_HEADERS)
        async with client(auth, sleep) as c:
            with pytest.raises(OutcomeUnknownError):
                await c.images.edit(image=PNG, prompt="a hat")
        assert requests_to(m, EDIT) == 1


@pytest.mark.parametrize(
    ("attempt_timeout", "named"), [(None, "read timeout"), (60.0, "per-attempt deadline of 60s")]
)
async def test_a_timeout_names_the_limit_that_was_set(
    attempt_timeout: float | None, named: str
) -> None:
    """A timeout after sending is OutcomeUnknownError naming the read timeout or the deadline,
    also with no deadline at all (``attempt_timeout=None``)."""
    with aioresponses() as m:
        m.post(EDIT, exception=TimeoutError())
        async with InpaintClient(
            auth=RecordingAuth(), base_url=BASE, attempt_timeout=attempt_timeout
        ) as c:
            with pytest.raises(OutcomeUnknownError, match=named):
                await c.images.edit(image=PNG, prompt="a hat")
        assert requests_to(m, EDIT) == 1


async def test_504_is_retried_when_the_caller_opts_in() -> None:
    """retry_unknown_outcome=True retries a 504."""
    auth, sleep = RecordingAuth(), FakeSleep()
    with aioresponses() as m:
        m.post(EDIT, status=504, payload={"error": "timed out"})
        m.post(EDIT, status=200, body=PNG, headers=OK_HEADERS)
        async with client(auth, sleep, retry_unknown_outcome=True) as c:
            await c.images.edit(image=PNG, prompt="a hat")
        assert requests_to(m, EDIT) == 2


async def test_attempts_are_bounded_and_the_last_error_is_ours() -> None:
    """After max_attempts the caller gets our ServerError, never tenacity.RetryError."""
    auth, sleep = RecordingAuth(), FakeSleep()
    with aioresponses() as m:
        m.post(EDIT, status=503, payload={"error": "busy"}, repeat=True)
        async with client(auth, sleep, max_attempts=3) as c:
            with pytest.raises(ServerError) as info:
                await c.images.edit(image=PNG, prompt="a hat")
        assert requests_to(m, EDIT) == 3
    assert info.value.status_code == 503
    assert sleep.waits == [0.5, 1.0]
    assert len(auth.calls) == 3


async def test_per_call_retry_override() -> None:
    """retry= on the call replaces the client's policy for that call."""
    auth, sleep = RecordingAuth(), FakeSleep()
    with aioresponses() as m:
        m.post(EDIT, status=503, payload={"error": "busy"}, repeat=True)
        async with client(auth, sleep) as c:
            with pytest.raises(ServerError):
                await c.images.edit(image=PNG, prompt="a hat", retry=RetryPolicy.no_retry())
        assert requests_to(m, EDIT) == 1


async def test_total_timeout_stops_before_a_wait_that_would_overrun() -> None:
    """No wait starts that would end after total_timeout."""
    auth, sleep = RecordingAuth(), FakeSleep()
    with aioresponses() as m:
        m.post(EDIT, status=429, payload={"error": "x"}, headers={"Retry-After": "50"})
        m.post(EDIT, status=200, body=PNG, headers=OK_HEADERS)
        async with client(auth, sleep, total_timeout=10) as c:
            with pytest.raises(RateLimitError):
                await c.images.edit(image=PNG, prompt="a hat")
    assert sleep.waits == []


async def test_get_requests_retry_unknown_outcomes() -> None:
    """Idempotent GETs may be retried after a read timeout: nothing is charged."""
    auth, sleep = RecordingAuth(), FakeSleep()
    url = BASE + "/models"
    with aioresponses() as m:
        m.get(url, exception=TimeoutError())
        m.get(url, status=200, payload={"data": []})
        async with client(auth, sleep) as c:
            raw = await c.request("GET", "/models")
    assert raw.status == 200
