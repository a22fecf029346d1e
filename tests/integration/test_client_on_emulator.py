"""The core client against the emulator over loopback: the wire, retries and billing together."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from inpaint_async import (
    AuthenticationError,
    BadRequestError,
    ContentPolicyError,
    InpaintClient,
    OutcomeUnknownError,
    RetryPolicy,
    ServerError,
    ValidationError,
)
from inpaint_async.testing import Emulator, FaultPlan

FAST = RetryPolicy(initial_wait=0.01, max_wait=0.05, max_retry_after=5)


def photo(width: int = 480, height: int = 320) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 160)).save(buf, "PNG")
    return buf.getvalue()


def client(emu: Emulator, **kw: object) -> InpaintClient:
    options: dict[str, object] = {"retry": FAST, **kw}
    return InpaintClient(auth=emu.api_key, base_url=emu.base_url, **options)  # type: ignore[arg-type]


async def test_edit_from_a_file_returns_a_real_image(emulator: Emulator, tmp_path: Path) -> None:
    """A path is streamed, the emulator decodes it, and the result is a decodable image."""
    src = tmp_path / "in.png"
    src.write_bytes(photo())
    async with client(emulator) as c:
        r = await c.images.edit(src, "paint the sky orange", output_format="jpg")
    img = Image.open(io.BytesIO(r.read_bytes()))
    assert img.format == "JPEG" and r.content_type == "image/jpeg"
    assert r.model_id == "firered-image-edit" and r.request_id
    assert [e.request_id for e in emulator.charges_for()] == [r.request_id]


async def test_503_is_retried_and_charged_once(emulator: Emulator) -> None:
    """Two 503s then success: three requests, one charge."""
    emulator.faults = FaultPlan(script={"/image/edit": ["503", "503"]})
    async with client(emulator) as c:
        r = await c.images.edit(photo(), "hat")
    statuses = [q.status for q in emulator.requests if q.path.endswith("/image/edit")]
    assert statuses == [503, 503, 200]
    assert len(emulator.charges_for()) == 1 and r.request_id


async def test_overloaded_429_waits_retry_after(tmp_path: Path) -> None:
    """The overloaded 429 carries Retry-After; the client waits it (1 s here) and succeeds."""
    waits: list[float] = []

    async def sleep(s: float) -> None:
        waits.append(s)

    faults = FaultPlan(script={"/image/edit": ["429_overloaded"]})
    async with Emulator(max_output_side=128, faults=faults, overloaded_retry_after=1) as emu:
        async with client(emu, retry=RetryPolicy(sleep=sleep)) as c:
            await c.images.edit(photo(), "hat")
    assert waits == [1.0]


async def test_504_after_charge_is_outcome_unknown_not_retried(emulator: Emulator) -> None:
    """The emulator charged, then answered 504: OutcomeUnknownError, one send, one charge."""
    emulator.faults = FaultPlan(script={"/image/edit": ["504_after_charge"]})
    async with client(emulator) as c:
        with pytest.raises(OutcomeUnknownError):
            await c.images.edit(photo(), "hat")
    assert len([q for q in emulator.requests if q.path.endswith("/image/edit")]) == 1
    assert len(emulator.charges_for()) == 1


async def test_truncated_body_leaves_no_file(emulator: Emulator, tmp_path: Path) -> None:
    """Half a body then a closed connection: OutcomeUnknownError and no output file at all."""
    emulator.faults = FaultPlan(script={"/image/edit": ["truncate"]})
    out = tmp_path / "out.png"
    async with client(emulator) as c:
        with pytest.raises(OutcomeUnknownError) as info:
            await c.images.edit(photo(), "hat", output=out)
    assert list(tmp_path.iterdir()) == []
    (charge,) = emulator.charges_for()
    assert info.value.request_id == charge.request_id, "the charge can be traced to the job"


async def test_html_502_page_is_retried_then_typed(emulator: Emulator) -> None:
    """Cloudflare HTML pages are retried like any 502 and end as a typed ServerError."""
    emulator.faults = FaultPlan(rules={"/image/edit": {"html_502": 1.0}})
    async with client(emulator, retry=FAST.with_changes(max_attempts=2)) as c:
        with pytest.raises(ServerError) as info:
            await c.images.edit(photo(), "hat")
    assert info.value.status_code == 502 and isinstance(info.value.body, str)
    assert emulator.charges_for() == []


async def test_server_validation_errors_are_typed(emulator: Emulator) -> None:
    """A model the server does not know: BadRequestError with its message, nothing charged."""
    async with client(emulator) as c:
        with pytest.raises(BadRequestError, match="Invalid model id"):
            await c.images.edit(photo(), "hat", model="no-such-model")
        with pytest.raises(ContentPolicyError):
            await c.images.edit(photo(), "something forbidden here")
    assert emulator.charges_for() == []


async def test_bad_key_is_an_authentication_error(emulator: Emulator) -> None:
    """An unknown key: 401 AuthenticationError, sent once."""
    async with InpaintClient(auth="VENICE_INFERENCE_KEY_wrong", base_url=emulator.base_url) as c:
        with pytest.raises(AuthenticationError):
            await c.images.edit(photo(), "hat")
    assert len(emulator.requests) == 1


async def test_rate_limit_state_counts_down(tmp_path: Path) -> None:
    """The x-ratelimit trio reaches the result: remaining decreases per request."""
    async with Emulator(max_output_side=128, rate_limit_rpm=10) as emu:
        async with client(emu) as c:
            first = await c.images.edit(photo(), "hat")
            second = await c.images.edit(photo(), "hat")
    assert first.rate_limit is not None and second.rate_limit is not None
    assert (first.rate_limit.limit, first.rate_limit.remaining) == (10, 9)
    assert second.rate_limit.remaining == 8 and second.rate_limit.reset_at is not None


async def test_connection_reset_after_sending_is_outcome_unknown(emulator: Emulator) -> None:
    """A reset once the request was sent cannot be told apart from a lost answer: not retried."""
    emulator.faults = FaultPlan(script={"/image/edit": ["reset"]})
    async with client(emulator) as c:
        with pytest.raises(OutcomeUnknownError):
            await c.images.edit(photo(), "hat")
        await c.images.edit(photo(), "hat")  # the connection pool recovers
    assert len(emulator.charges_for()) == 1


def noisy_photo(side: int = 400) -> bytes:
    """A PNG over 256 KB (random pixels do not compress): streamed from disk on every attempt."""
    import os

    data = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buf = io.BytesIO()
    data.save(buf, "PNG")
    assert buf.tell() > 256 * 1024
    return buf.getvalue()


def _shrink(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: 300 * 1024])


def _grow(path: Path) -> None:
    path.write_bytes(path.read_bytes() * 2)


def _delete(path: Path) -> None:
    path.unlink()


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (_shrink, "and is 307,200 now"),
        (_grow, "is {double:,} now"),
        (_delete, "cannot be read any more"),
    ],
)
async def test_a_file_changed_between_attempts_is_refused_not_unknown(
    emulator: Emulator, tmp_path: Path, change: object, says: str
) -> None:
    """A big file rewritten or deleted while a retry waits: the retry's body would be short of
    its Content-Length (the server waits for the rest until a timeout calls it an unknown
    outcome) or a cut-off prefix of another image. It is a ValidationError at once instead, the
    request cut off before it was complete: nothing processed, nothing charged."""
    src = tmp_path / "big.png"
    src.write_bytes(noisy_photo())
    size = src.stat().st_size

    async def sleep(_: float) -> None:
        change(src)  # type: ignore[operator]

    emulator.faults = FaultPlan(script={"/image/edit": ["503"]})
    async with client(emulator, retry=FAST.with_changes(sleep=sleep), read_timeout=10) as c:
        with pytest.raises(ValidationError, match="changed after it was checked") as info:
            await c.images.edit(src, "hat")
    assert says.format(double=2 * size) in str(info.value)
    assert "was not processed" in str(info.value) and info.value.param == "image"
    assert [q.status for q in emulator.requests if q.path.endswith("/image/edit")] == [503]
    assert emulator.charges_for() == []


async def test_a_file_object_cut_short_between_attempts_is_refused(
    emulator: Emulator, tmp_path: Path
) -> None:
    """The caller's open file truncated by someone else while a retry waits: the short read
    stops the body, a ValidationError, no charge."""
    src = tmp_path / "big.png"
    src.write_bytes(noisy_photo())

    async def sleep(_: float) -> None:
        with open(src, "r+b") as other:
            other.truncate(100_000)

    emulator.faults = FaultPlan(script={"/image/edit": ["503"]})
    with open(src, "rb") as fh:
        async with client(emulator, retry=FAST.with_changes(sleep=sleep), read_timeout=10) as c:
            with pytest.raises(ValidationError, match="it ended after 100,000 of"):
                await c.images.edit(fh, "hat")
    assert emulator.charges_for() == []


async def test_a_big_file_unchanged_between_attempts_is_sent_again(
    emulator: Emulator, tmp_path: Path
) -> None:
    """The control: the same retry with the file left alone succeeds, charged once."""
    src = tmp_path / "big.png"
    src.write_bytes(noisy_photo())
    emulator.faults = FaultPlan(script={"/image/edit": ["503"]})
    async with client(emulator) as c:
        r = await c.images.edit(src, "hat")
    assert [e.request_id for e in emulator.charges_for()] == [r.request_id]
