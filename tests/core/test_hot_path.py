"""The per-edit hot path (issue 16): its shortcuts behave exactly like the general code.

* the first attempt is awaited straight from ``InpaintClient.send``; a failure enters
  ``RetryPolicy.after_failure``, where tenacity drives every retry, each freshly authenticated,
  with the same wire request;
* a result is built without ``model_construct``'s per-field walk, and is the same model;
* the usual ``RequestOptions`` is built without merging extras, and is the same object;
* a path is read with plain descriptor reads up to its end, whatever fstat said.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from inpaint_async import (
    BadRequestError,
    InpaintClient,
    RetryPolicy,
    ServerError,
)
from inpaint_async._options import RequestOptions
from inpaint_async._response import _construct
from inpaint_async._wire import Body, FilePart
from inpaint_async.types.results import (
    BackgroundRemoveResult,
    EditResult,
    ImageResult,
    MultiEditResult,
    RateLimitState,
    UpscaleResult,
)

from .conftest import Loopback
from .helpers import RecordingAuth, png_bytes

PNG = png_bytes(320, 240)


def _png_response() -> web.Response:
    return web.Response(body=PNG, headers={"content-type": "image/png", "cf-ray": "ray-1"})


def _busy() -> web.Response:
    return web.json_response({"error": "The model is at capacity."}, status=503)


class _Waits:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def test_retries_send_the_first_attempts_request_with_fresh_auth(
    loopback: Loopback,
) -> None:
    """503, 503, 200: three identical requests (fields, file, headers) but for the auth header,
    which is asked for anew each time; tenacity's waits are the policy's backoff."""
    answers = [_busy(), _busy(), _png_response()]

    async def handler(request: web.Request) -> web.Response:
        return answers.pop(0)

    loopback.handler = handler
    auth, sleep = RecordingAuth(), _Waits()
    policy = RetryPolicy(sleep=sleep, jitter=0, initial_wait=0.5)
    async with InpaintClient(auth=auth, base_url=loopback.base_url, retry=policy) as c:
        result = await c.images.edit(PNG, "add a red hat", model="m")
    assert result.data == PNG
    assert len(loopback.seen) == 3
    assert [h["headers"]["Authorization"] for h in loopback.seen] == [
        "Bearer token-1",
        "Bearer token-2",
        "Bearer token-3",
    ]

    def without_auth(seen: dict[str, Any]) -> dict[str, Any]:
        headers = {
            k: v
            for k, v in seen["headers"].items()
            if k not in ("Authorization", "Content-Type", "Content-Length")
        }
        return {"headers": headers, "fields": seen["fields"], "files": seen["files"]}

    first = without_auth(loopback.seen[0])
    assert all(without_auth(s) == first for s in loopback.seen[1:])
    assert first["fields"] == {"prompt": "add a red hat", "model": "m"}
    assert sleep.waits == [0.5, 1.0]


async def test_the_client_and_retry_policy_call_give_up_alike() -> None:
    """The client's inlined first attempt and ``RetryPolicy.call`` make the same attempts, wait
    the same waits and raise the same last error."""
    policy = RetryPolicy(max_attempts=3, jitter=0, initial_wait=0.25)

    def failing() -> tuple[list[int], Any]:
        calls: list[int] = []

        async def attempt() -> None:
            calls.append(1)
            raise ServerError(
                "busy", status_code=503, body=None, headers={}, request_id=f"r{len(calls)}"
            )

        return calls, attempt

    sleep_a, sleep_b = _Waits(), _Waits()
    calls_a, attempt_a = failing()
    with pytest.raises(ServerError) as direct:
        await policy.with_changes(sleep=sleep_a).call(attempt_a)
    calls_b, attempt_b = failing()
    with pytest.raises(ServerError) as first:
        await attempt_b()
    resume = policy.with_changes(sleep=sleep_b).after_failure
    with pytest.raises(ServerError) as resumed:
        await resume(first.value, attempt_b, started=0.0)
    assert len(calls_a) == len(calls_b) == 3
    assert sleep_a.waits == sleep_b.waits == [0.25, 0.5]
    assert direct.value.request_id == resumed.value.request_id == "r3"


async def test_a_first_error_that_is_not_retried_is_raised_as_is(loopback: Loopback) -> None:
    """A 400 on the first attempt: one request, the typed error itself, no chained context."""

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"error": "bad prompt"}, status=400)

    loopback.handler = handler
    async with InpaintClient(auth=RecordingAuth(), base_url=loopback.base_url) as c:
        with pytest.raises(BadRequestError) as info:
            await c.images.edit(PNG, "add a red hat")
    assert len(loopback.seen) == 1
    assert info.value.__context__ is None and info.value.__cause__ is None
    first = BadRequestError("x", status_code=400, body=None, headers={}, request_id=None)

    async def never() -> None:  # pragma: no cover - must not be called
        raise AssertionError("retried a 400")

    with pytest.raises(BadRequestError) as again:
        await RetryPolicy().after_failure(first, never, started=0.0)
    assert again.value is first


def _values(**over: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "data": b"\x89PNG",
        "path": None,
        "content_type": "image/png",
        "model_id": "m",
        "model_name": "M",
        "request_id": "ray",
        "venice_version": "v1",
        "is_blurred": False,
        "is_content_violation": False,
        "enhanced_prompt": None,
        "balance_remaining": Decimal("1.5"),
        "balance_usd": None,
        "rate_limit": RateLimitState(
            limit=10, remaining=9, reset_at=datetime(2026, 12, 2, tzinfo=UTC)
        ),
        "deprecation": None,
        "headers": {"content-type": "image/png"},
        "endpoint": "/image/edit",
        "quality": None,
    }
    values.update(over)
    return values


@pytest.mark.parametrize(
    "cls", [ImageResult, EditResult, MultiEditResult, UpscaleResult, BackgroundRemoveResult]
)
def test_fast_construct_is_model_construct(cls: type[ImageResult]) -> None:
    assert list(_values()) == list(cls.model_fields)  # the fast way applies to these values
    fast = _construct(cls, **_values())
    slow = cls.model_construct(**_values())
    assert type(fast) is cls
    assert fast == slow
    assert list(fast.__dict__) == list(slow.__dict__)
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.model_extra == slow.model_extra
    assert fast.__pydantic_private__ == slow.__pydantic_private__
    assert repr(fast) == repr(slow)
    assert fast.model_dump() == slow.model_dump()
    assert fast.format == "png" and fast.read_bytes() == b"\x89PNG"
    with pytest.raises(Exception, match="frozen"):
        fast.model_id = "other"  # type: ignore[misc]


def test_construct_falls_back_when_the_values_are_not_exactly_the_fields() -> None:
    partial = _values()
    del partial["headers"]
    fast = _construct(EditResult, **partial)
    assert fast == EditResult.model_construct(**_values(headers={}))
    extra = _construct(EditResult, **_values(), surprise=1)
    assert extra.model_extra == {"surprise": 1}


def test_usual_request_options_equal_the_general_build() -> None:
    body = Body(fields=[("prompt", "p")], files=[FilePart("image", PNG, "i.png", "image/png", 3)])
    fast = RequestOptions.build("post", "/image/edit", body=body, timeout=5.0)
    general = RequestOptions.build(
        "post", "/image/edit", body=body, timeout=5.0, extra_headers={}, extra_query={}
    )
    assert fast == general
    assert fast.headers == {} and fast.params is None and fast.method == "POST"


async def test_a_path_is_read_to_its_end(
    tmp_path: Path, loopback: Loopback, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Short reads are continued, and a file larger than fstat said is read whole: the upload
    is the file, never a truncated prefix of it."""
    import inpaint_async._files as files
    import inpaint_async._inputs as inputs

    image = tmp_path / "photo.png"
    image.write_bytes(PNG)
    real_read, real_open = os.read, files.open_regular_fd

    def short_read(fd: int, n: int) -> bytes:
        return real_read(fd, min(n, 1000))

    def stale_size(path: Any) -> tuple[int, int]:
        fd, size = real_open(path)
        return fd, size // 2  # as if the file grew after the fstat

    monkeypatch.setattr(files.os, "read", short_read)
    monkeypatch.setattr(inputs, "open_regular_fd", stale_size)

    async def handler(request: web.Request) -> web.Response:
        return _png_response()

    loopback.handler = handler
    async with InpaintClient(auth=RecordingAuth(), base_url=loopback.base_url) as c:
        await c.images.edit(image, "add a red hat")
    assert loopback.seen[0]["files"]["image"]["size"] == len(PNG)


def test_image_results_take_the_fast_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    """``image_result`` names every field of the result (a field added to the model but not
    passed would silently bring back the slow path)."""
    from multidict import CIMultiDict, CIMultiDictProxy

    from inpaint_async._response import image_result
    from inpaint_async._wire import RawResponse

    def refuse(**values: Any) -> None:
        raise AssertionError(f"model_construct called: {sorted(values)}")

    monkeypatch.setattr(EditResult, "model_construct", refuse)
    headers = CIMultiDictProxy(CIMultiDict({"content-type": "image/png", "cf-ray": "r"}))
    result = image_result(RawResponse(200, headers, content=PNG), EditResult)
    assert result.data == PNG and result.request_id == "r" and result.format == "png"
