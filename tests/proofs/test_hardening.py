"""Issue 13: no lost file, no hang, no crash and no stray secret under a hostile server, disk or input.

One section per finding of the issue; each test failed on the code before the fix. The servers are
loopback aiohttp apps (scripted answers) or the emulator; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import errno
import gzip
import io
import json
import os
import pickle
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aioresponses import aioresponses
from multidict import CIMultiDict
from PIL import Image

from inpaint_async import (
    BearerAuth,
    ConfigurationError,
    ContentPolicyError,
    InpaintClient,
    InpaintError,
    OutcomeUnknownError,
    OutputWriteError,
    RateLimitError,
    ResponseTooLargeError,
    RetryPolicy,
    SettlementPendingError,
    UnexpectedResponseError,
    ValidationError,
    WalletAuth,
)
from inpaint_async._exceptions import (
    APIStatusError,
    BadRequestError,
    SpendCapError,
)
from inpaint_async._response import make_status_error
from inpaint_async.batch import (
    AdaptiveLimiter,
    BatchRunner,
    EditJob,
    JournalCorruptError,
    JournalMismatchError,
    manifest_jobs,
    read_journal,
)
from inpaint_async.batch._outputs import OutputFolders
from inpaint_async.cli import main as cli_main
from inpaint_async.testing._catalogue import build_catalogue

KEY = "VENICE_INFERENCE_KEY_hardening" + "ab" * 12
FAST = RetryPolicy(initial_wait=0.01, max_wait=0.02, max_attempts=2)


def png(width: int = 300, height: int = 300, shade: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (shade, 120, 30)).save(buf, "PNG")
    return buf.getvalue()


IMAGE = png()
OUTPUT = png(256, 256, 10)


@dataclass
class Server:
    """A scripted loopback API: ``answer`` builds each response of ``POST /image/edit``."""

    base_url: str = ""
    requests: int = 0
    answer: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None
    filenames: list[str | None] = field(default_factory=list)


@pytest.fixture
async def server(serve_app: Callable[[web.Application], Awaitable[str]]) -> Server:
    box = Server()

    async def edit(request: web.Request) -> web.StreamResponse:
        box.requests += 1
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if getattr(part, "filename", None) is not None:
                    box.filenames.append(part.filename)  # type: ignore[union-attr]
                await part.read()  # type: ignore[union-attr]
        else:
            await request.read()
        assert box.answer is not None
        return await box.answer(request)

    catalogue = [m for m in build_catalogue() if m.get("type") == "inpaint"]

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "type": "inpaint", "data": catalogue})

    app = web.Application(client_max_size=1 << 26)
    app.router.add_post("/api/v1/image/edit", edit)
    app.router.add_get("/api/v1/models", models)
    box.base_url = await serve_app(app) + "/api/v1"
    return box


def reply(body: bytes = OUTPUT, **headers: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def answer(request: web.Request) -> web.Response:
        hdrs = {"content-type": "image/png", "CF-RAY": "ray-1", **headers}
        if hdrs["content-type"] == "":
            del hdrs["content-type"]
        response = web.Response(status=200, body=body, headers=hdrs)
        if "content-type" not in hdrs:
            response.content_type = ""  # aiohttp would add application/octet-stream
        return response

    return answer


def client(server: Server, **options: Any) -> InpaintClient:
    return InpaintClient(auth=KEY, base_url=server.base_url, retry=FAST, **options)


def part_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".part")]


# --- 1. a rejected 200 never touches the existing output ------------------------------------------

REJECTED: dict[str, tuple[Callable[..., Any], type[InpaintError]]] = {
    "200 JSON": (
        reply(b'{"data": []}', **{"content-type": "application/json"}),
        UnexpectedResponseError,
    ),
    "200 HTML captive portal": (
        reply(b"<html>Log in to the hotel wifi</html>", **{"content-type": "text/html"}),
        UnexpectedResponseError,
    ),
    "200 without a content type": (reply(OUTPUT, **{"content-type": ""}), UnexpectedResponseError),
    "200 flagged as a content violation": (
        reply(OUTPUT, **{"x-venice-is-content-violation": "true"}),
        ContentPolicyError,
    ),
    "empty 200 image/png": (reply(b""), UnexpectedResponseError),
    "garbage 200 image/png (17 bytes)": (reply(b"not an image, no!"), UnexpectedResponseError),
    "PNG signature and nothing else": (
        reply(b"\x89PNG\r\n\x1a\n" + b"\0" * 9),
        UnexpectedResponseError,
    ),
}


@pytest.mark.parametrize("name", sorted(REJECTED))
async def test_a_rejected_answer_leaves_the_previous_output_untouched(
    name: str, server: Server, tmp_path: Path
) -> None:
    """With output=, an answer that is not a usable image raises and the old file keeps its bytes."""
    answer, cls = REJECTED[name]
    server.answer = answer
    out = tmp_path / "result.png"
    out.write_bytes(b"the previous, precious result")
    async with client(server) as c:
        with pytest.raises(cls):
            await c.images.edit(IMAGE, "add a hat", output=out)
    assert out.read_bytes() == b"the previous, precious result"
    assert part_files(tmp_path) == []


@pytest.mark.parametrize("body", [b"", b"not an image, no!"])
async def test_empty_or_garbage_200_is_never_a_success_in_memory(
    server: Server, body: bytes
) -> None:
    """Without output=, an empty or undecodable image is an error too."""
    server.answer = reply(body)
    async with client(server) as c:
        with pytest.raises(UnexpectedResponseError):
            await c.images.edit(IMAGE, "add a hat")


async def test_a_good_answer_replaces_the_output(server: Server, tmp_path: Path) -> None:
    """The control: a real image does land on the destination, with no temp file left."""
    server.answer = reply(OUTPUT)
    out = tmp_path / "result.png"
    out.write_bytes(b"old")
    async with client(server) as c:
        result = await c.images.edit(IMAGE, "add a hat", output=out)
    assert result.path == out and out.read_bytes() == OUTPUT
    assert part_files(tmp_path) == []


async def test_empty_200_with_output_then_resume_pays_once(server: Server, tmp_path: Path) -> None:
    """An empty 200 is journalled as unknown (it was likely charged): --resume does not pay again."""
    server.answer = reply(b"")
    src = tmp_path / "in.png"
    src.write_bytes(IMAGE)
    journal = tmp_path / "journal.jsonl"
    jobs = [EditJob(image=src, prompt="add a hat", output=tmp_path / "out" / "in.png")]
    async with client(server) as c:
        first = await BatchRunner(
            c, jobs, journal=journal, estimator=lambda j: Decimal("0.04")
        ).run()
        second = await BatchRunner(
            c, jobs, journal=journal, estimator=lambda j: Decimal("0.04")
        ).run()
    assert first.outcome_unknown == 1 and first.succeeded == 0
    assert second.skipped_unknown == 1
    assert server.requests == 1, "the resume sent the paid job again"
    last = next(iter(read_journal(journal).values()))
    assert last.state == "unknown" and "empty" in last.record["reason"]


async def test_cli_empty_200_then_resume_pays_once(server: Server, tmp_path: Path) -> None:
    """``inpaint-async batch`` meets an empty 200 (exit 7, unknown); ``--resume`` sends nothing."""
    from tests.cli.conftest import clean_env, run_cli

    server.answer = reply(b"")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.png").write_bytes(IMAGE)
    env = clean_env(VENICE_API_KEY=KEY)
    args = ["--base-url", server.base_url, "batch", str(src), "--prompt", "p",
            "--out", str(tmp_path / "out"), "--quiet"]  # fmt: skip
    first = await run_cli(*args, env=env)
    second = await run_cli(*args, "--resume", env=env)
    assert (first.code, second.code) == (7, 7), (first.err, second.err)
    assert server.requests == 1, "the resume paid for the empty answer again"
    assert not (tmp_path / "out" / "a.png").exists()


# --- 2. a paid image is never lost to a local write failure ----------------------------------------


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in (root ignores modes: use /proc then)."""
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o500)
        return folder
    return Path("/proc/self")


async def test_an_unwritable_destination_is_refused_before_sending(
    server: Server, tmp_path: Path
) -> None:
    """A folder where no file can be created: ValidationError, and nothing is sent (or paid)."""
    server.answer = reply(OUTPUT)
    async with client(server) as c:
        with pytest.raises(ValidationError, match="cannot write"):
            await c.images.edit(IMAGE, "add a hat", output=unwritable_folder(tmp_path) / "o.png")
    assert server.requests == 0


async def test_an_unwritable_batch_output_runs_again_on_resume(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused before sending, so nothing was paid: once the folder is fixed, a resume runs it."""
    import tempfile

    from inpaint_async.resources import images as images_module

    server.answer = reply(OUTPUT)
    src = tmp_path / "in.png"
    src.write_bytes(IMAGE)
    journal = tmp_path / "j.jsonl"
    jobs = [EditJob(image=src, prompt="p", output=tmp_path / "out" / "a.png")]
    real_mkstemp = tempfile.mkstemp

    def read_only(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.EROFS, "Read-only file system")

    async with client(server) as c:
        monkeypatch.setattr(images_module.tempfile, "mkstemp", read_only)
        first = await BatchRunner(c, jobs, journal=journal, estimator=lambda j: Decimal(0)).run()
        sent_by_first = server.requests
        monkeypatch.setattr(images_module.tempfile, "mkstemp", real_mkstemp)
        second = await BatchRunner(c, jobs, journal=journal, estimator=lambda j: Decimal(0)).run()
    assert first.failed == 1 and sent_by_first == 0
    assert (
        second.succeeded == 1
        and server.requests == 1
        and (tmp_path / "out" / "a.png").read_bytes() == OUTPUT
    )


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Writes to a ``.part`` temp file fail with ENOSPC after the first 300 bytes."""
    real_write = os.write
    written: dict[int, int] = {}

    def write(fd: int, data: Any) -> int:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if target.endswith(".part"):
            done = written.get(fd, 0)
            if done >= 300:
                raise OSError(errno.ENOSPC, "No space left on device")
            n = real_write(fd, bytes(data)[: 300 - done])
            written[fd] = done + n
            return n
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)


async def test_a_full_disk_after_a_paid_200_keeps_the_image(
    server: Server, tmp_path: Path, full_disk: None
) -> None:
    """The disk fills mid-write: OutputWriteError with the request id and every byte, not a
    'connection failed' unknown outcome."""
    server.answer = reply(OUTPUT)
    out = tmp_path / "result.png"
    async with client(server) as c:
        with pytest.raises(OutputWriteError) as info:
            await c.images.edit(IMAGE, "add a hat", output=out)
    err = info.value
    assert err.request_id == "ray-1" and err.data == OUTPUT and err.output == out
    assert "No space left" in str(err) and "ray-1" in str(err)
    assert not out.exists() and part_files(tmp_path) == []
    assert server.requests == 1


@pytest.mark.parametrize("where", ["fsync", "mkstemp"])
async def test_a_disk_failure_at_any_step_keeps_the_image(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """fsync failing (EIO), or the folder turning read-only after the pre-check: the same."""
    import tempfile

    from inpaint_async import _transport

    server.answer = reply(OUTPUT)
    out = tmp_path / "result.png"
    async with client(server) as c:
        if where == "fsync":
            real_fsync = os.fsync

            def fsync(fd: int) -> None:
                if os.readlink(f"/proc/self/fd/{fd}").endswith(".part"):
                    raise OSError(errno.EIO, "Input/output error")
                real_fsync(fd)

            monkeypatch.setattr(os, "fsync", fsync)
        else:
            real_mkstemp = tempfile.mkstemp
            calls = 0

            def mkstemp(*args: Any, **kwargs: Any) -> Any:
                nonlocal calls
                calls += 1
                if calls > 1:  # the first is the pre-send check
                    raise OSError(errno.EROFS, "Read-only file system")
                return real_mkstemp(*args, **kwargs)

            monkeypatch.setattr(_transport.tempfile, "mkstemp", mkstemp)
        with pytest.raises(OutputWriteError) as info:
            await c.images.edit(IMAGE, "add a hat", output=out)
    assert info.value.data == OUTPUT and info.value.request_id == "ray-1"
    assert not out.exists() and part_files(tmp_path) == []


async def test_a_failed_rename_says_where_the_paid_image_is(server: Server, tmp_path: Path) -> None:
    """The destination turned into a folder while the edit ran: the image stays in saved_to."""
    out = tmp_path / "result.png"

    async def answer(request: web.Request) -> web.Response:
        out.mkdir()
        return await reply(OUTPUT)(request)

    server.answer = answer
    async with client(server) as c:
        with pytest.raises(OutputWriteError) as info:
            await c.images.edit(IMAGE, "add a hat", output=out)
    saved = info.value.saved_to
    assert saved is not None and saved.read_bytes() == OUTPUT
    assert str(saved) in str(info.value)


def test_the_cli_keeps_an_in_memory_paid_image_on_disk() -> None:
    """``inpaint-async edit`` exits after the error: bytes held on it are saved to the temp dir."""
    from inpaint_async.cli._app import _keep_paid_image

    err = OutputWriteError("disk full", request_id="r1", output=Path("o.jpg"), data=OUTPUT)
    kept = _keep_paid_image(err)
    assert kept.saved_to is not None and kept.saved_to.suffix == ".jpg"
    try:
        assert kept.saved_to.read_bytes() == OUTPUT
        assert str(kept.saved_to) in str(kept) and kept.request_id == "r1"
    finally:
        kept.saved_to.unlink()


# --- 3. glob metacharacters in the batch's temp-file cleanup ----------------------------------------


@pytest.mark.parametrize(
    ("running", "other"), [("photo1.png", "photo[1].png"), ("a.png", "*"), ("b.png", "?.png")]
)
def test_cleanup_never_deletes_another_outputs_temp_file(
    tmp_path: Path, running: str, other: str
) -> None:
    """Preparing ``photo[1].png`` (or ``*``) leaves ``photo1.png``'s running temp file alone."""
    live = tmp_path / f".{running}.abcd1234.part"
    live.write_bytes(b"a paid image being written")
    stale = tmp_path / f".{other}.zz99yy88.part"
    stale.write_bytes(b"left by a killed run")
    OutputFolders().prepare(tmp_path / other)
    assert live.exists()
    assert not stale.exists()


# --- 4. manifest paths are confined -----------------------------------------------------------------


def manifest(tmp_path: Path, *rows: dict[str, Any]) -> Path:
    folder = tmp_path / "work"
    folder.mkdir(exist_ok=True)
    (folder / "a.png").write_bytes(IMAGE)
    (tmp_path / "private.png").write_bytes(IMAGE)
    path = folder / "jobs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


ESCAPES = {
    "output ../../x": {"image": "a.png", "output": "../../x.png"},
    "absolute output": {"image": "a.png", "output": "/tmp/inpaint-escape.png"},
    "output in ~": {"image": "a.png", "output": "~/inpaint-escape.png"},
    "image ../private.png": {"image": "../private.png"},
    "absolute image": {"image": "/etc/hostname"},
}


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_manifest_paths_cannot_leave_their_folders(tmp_path: Path, name: str) -> None:
    """Outputs stay under the output folder and inputs under the manifest's folder."""
    path = manifest(tmp_path, ESCAPES[name])
    with pytest.raises(ValidationError, match="allow-outside-paths"):
        list(manifest_jobs(path, prompt="p", out_dir=tmp_path / "out"))


def test_allow_outside_paths_is_an_explicit_opt_in(tmp_path: Path) -> None:
    """The user who wrote the manifest may lift the rule."""
    path = manifest(tmp_path, ESCAPES["image ../private.png"], ESCAPES["output ../../x"])
    jobs = list(manifest_jobs(path, prompt="p", out_dir=tmp_path / "out", allow_outside_paths=True))
    assert [j.image for j in jobs] == [
        tmp_path / "work" / ".." / "private.png",
        tmp_path / "work" / "a.png",
    ]


def test_cli_refuses_an_escaping_manifest_and_accepts_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``inpaint-async batch`` refuses before any request; ``--allow-outside-paths`` passes the check."""
    monkeypatch.setenv("VENICE_API_KEY", KEY)
    path = manifest(tmp_path, ESCAPES["output ../../x"])
    args = ["--base-url", "http://127.0.0.1:9/api/v1", "batch", str(path), "--prompt", "p",
            "--out", str(tmp_path / "out"), "--quiet"]  # fmt: skip
    assert cli_main(args) == 2
    assert not (tmp_path / "x.png").exists()


# --- 5. a file that is not a journal is never truncated ---------------------------------------------


NOT_JOURNALS = {
    "2 MB minified JSON, no newline": b'{"config": "' + b"x" * 2_000_000 + b'"}',
    "pretty JSON config": b'{\n  "key": "value"\n}\n',
    "a JSON record of someone else": b'{"job": "a", "state": "sent"}\n',
    "journal then a 100 KB unterminated tail": b'{"v":1,"job":"a","state":"sent"}\n'
    + b"y" * 100_000,
}


@pytest.mark.parametrize("name", sorted(NOT_JOURNALS))
async def test_resume_refuses_a_file_that_is_not_a_journal(name: str, tmp_path: Path) -> None:
    """The run raises JournalCorruptError and the file keeps every byte."""
    data = NOT_JOURNALS[name]
    path = tmp_path / "config.json"
    path.write_bytes(data)
    src = tmp_path / "in.png"
    src.write_bytes(IMAGE)
    jobs = [EditJob(image=src, prompt="p", output=tmp_path / "o.png")]
    with aioresponses() as m:
        async with InpaintClient(auth=KEY, base_url="http://api.test/api/v1") as c:
            with pytest.raises(JournalCorruptError, match="not a batch journal"):
                await BatchRunner(c, jobs, journal=path, estimator=lambda j: Decimal(0)).run()
        assert not m.requests
    assert path.read_bytes() == data


@pytest.mark.parametrize(
    "data",
    [
        *NOT_JOURNALS.values(),
        b'{"v":1,"job":"a","state":"sent"}\nnot a record, and no newline',
        b"x" * 100,
    ],
    ids=[*NOT_JOURNALS, "journal then a short garbage tail", "100 bytes, no newline"],
)
def test_opening_a_non_journal_for_append_leaves_it_intact(tmp_path: Path, data: bytes) -> None:
    """``Journal(path).open()`` (what a run appends through) refuses before cutting anything."""
    from inpaint_async.batch import Journal

    path = tmp_path / "file"
    path.write_bytes(data)
    with pytest.raises(JournalCorruptError):
        Journal(path).open()
    assert path.read_bytes() == data


def test_a_fifo_journal_is_refused(tmp_path: Path) -> None:
    """A named pipe as --journal would block the reader: refused by both reader and writer."""
    from inpaint_async.batch import Journal

    fifo = tmp_path / "journal.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(JournalCorruptError, match="regular file"):
        read_journal(fifo)
    with pytest.raises(JournalCorruptError, match="regular file"):
        Journal(fifo).open()


def test_only_one_torn_record_is_ever_cut(tmp_path: Path) -> None:
    """A crash's torn last record is cut on open; a complete record missing its newline is kept."""
    from inpaint_async.batch import Journal

    torn = tmp_path / "torn.jsonl"
    torn.write_bytes(b'{"v":1,"job":"a","state":"sent"}\n{"v":1,"job":"a","sta')
    Journal(torn).open().close()
    assert torn.read_bytes() == b'{"v":1,"job":"a","state":"sent"}\n'
    whole = tmp_path / "whole.jsonl"
    whole.write_bytes(b'{"v":1,"job":"a","state":"sent"}\n{"v":1,"job":"a","state":"failed"}')
    Journal(whole).open().close()
    assert whole.read_bytes().endswith(b'"state":"failed"}\n')


# --- 6. a reused journal cannot answer for a different batch ----------------------------------------


async def test_a_reused_journal_refuses_changed_jobs(make_emulator: Any, tmp_path: Path) -> None:
    """Same ids, a different prompt: refused with JournalMismatchError and nothing sent, not
    'skipped'."""
    emu = await make_emulator()
    src = tmp_path / "in.png"
    src.write_bytes(IMAGE)
    journal = tmp_path / "j.jsonl"

    def jobs(prompt: str) -> list[EditJob]:
        return [
            EditJob(id=f"job{i}", image=src, prompt=prompt, output=tmp_path / "out" / f"{i}.png")
            for i in range(3)
        ]

    async with InpaintClient(auth=emu.api_key, base_url=emu.base_url, retry=FAST) as c:
        first = await BatchRunner(c, jobs("add a hat"), journal=journal).run()
        sent = len(emu.requests)
        runner = BatchRunner(c, jobs("paint it blue"), journal=journal)
        outcomes = [o async for o in runner]
        same = await BatchRunner(c, jobs("add a hat"), journal=journal).run()
    assert first.succeeded == 3
    assert [o.status for o in outcomes] == ["failed"] * 3
    assert all(isinstance(o.error, JournalMismatchError) for o in outcomes)
    assert runner.summary.skipped == 0 and not runner.summary.ok
    assert len(emu.requests) == sent, "a refused job was sent"
    assert same.skipped == 3, "the unchanged batch still resumes"


# --- 7. no header stalls a batch -------------------------------------------------------------------


def test_limiter_caps_server_directed_pauses() -> None:
    """Retry-After 100000, inf, a reset 99,999,999 s away, or none at all: every wait is bounded."""
    now = 1_000_000.0
    lim = AdaptiveLimiter("auto", clock=lambda: now, max_pause=5.0, unknown_reset_wait=3.0)
    lim.observe(429, CIMultiDict({"Retry-After": "100000"}))
    assert lim._wait_needed() == pytest.approx(5.0)
    lim = AdaptiveLimiter("auto", clock=lambda: now, max_pause=5.0)
    lim.observe(429, CIMultiDict({"Retry-After": "inf"}))
    assert lim._wait_needed() == 0.0
    lim = AdaptiveLimiter("auto", clock=lambda: now, max_pause=5.0, unknown_reset_wait=3.0)
    lim.observe(200, {"x-ratelimit-remaining-requests": "0"})
    assert lim._wait_needed() == pytest.approx(3.05)
    lim = AdaptiveLimiter("auto", clock=lambda: now, max_pause=5.0)
    lim.observe(
        200,
        {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "99999999"},
    )
    assert lim._wait_needed() == pytest.approx(5.05)


@pytest.mark.parametrize(
    "headers",
    [
        {"x-ratelimit-remaining-requests": "0"},
        {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "99999999"},
    ],
    ids=["remaining 0, no reset", "reset 99,999,999 s away"],
)
async def test_one_header_cannot_stall_a_batch(
    server: Server, tmp_path: Path, headers: dict[str, str]
) -> None:
    """A 200 saying 'nothing left' with no usable reset: the batch goes on after a bounded pause."""
    server.answer = reply(OUTPUT, **headers)
    src = tmp_path / "in.png"
    src.write_bytes(IMAGE)
    jobs = [EditJob(image=src, prompt=f"p{i}", output=tmp_path / f"{i}.png") for i in range(3)]
    policy = FAST.with_changes(max_retry_after=0.2)
    async with InpaintClient(auth=KEY, base_url=server.base_url, retry=policy) as c:
        runner = BatchRunner(c, jobs, concurrency=1, estimator=lambda j: Decimal(0))
        summary = await asyncio.wait_for(runner.run(), 20)
    assert summary.succeeded == 3


async def test_a_huge_retry_after_fails_the_job_and_the_batch_goes_on(
    server: Server, tmp_path: Path
) -> None:
    """429 Retry-After: 100000 is not waited: that job fails (retryable on resume), the rest run."""
    calls = 0

    async def answer(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return web.json_response(
                {"error": "overloaded"}, status=429, headers={"Retry-After": "100000"}
            )
        return await reply(OUTPUT)(request)

    server.answer = answer
    src = tmp_path / "in.png"
    src.write_bytes(IMAGE)
    jobs = [EditJob(image=src, prompt=f"p{i}", output=tmp_path / f"{i}.png") for i in range(3)]
    policy = FAST.with_changes(max_retry_after=0.2)
    async with InpaintClient(auth=KEY, base_url=server.base_url, retry=policy) as c:
        runner = BatchRunner(c, jobs, concurrency=1, estimator=lambda j: Decimal(0))
        summary = await asyncio.wait_for(runner.run(), 20)
    assert summary.succeeded == 2 and summary.failures == {"RateLimitError": 1}


# --- 8. a total deadline per attempt ----------------------------------------------------------------


async def test_a_trickling_server_meets_the_attempt_deadline(server: Server) -> None:
    """One byte every 0.2 s never trips a 2 s read timeout; the 1 s attempt deadline does."""

    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "image/png", "CF-RAY": "slow"})
        await response.prepare(request)
        for _ in range(200):
            await response.write(b"\x89")
            await asyncio.sleep(0.2)
        return response

    server.answer = answer
    started = time.monotonic()
    async with client(server, read_timeout=2, attempt_timeout=1) as c:
        with pytest.raises(OutcomeUnknownError, match="per-attempt deadline"):
            await c.images.edit(IMAGE, "add a hat")
    assert time.monotonic() - started < 10


async def test_a_longer_read_timeout_stretches_the_deadline(server: Server) -> None:
    """timeout=30 on a call with attempt_timeout=10: that attempt may take 30 s; others 10."""
    server.answer = reply(OUTPUT)
    seen: list[Any] = []
    async with client(server, attempt_timeout=10) as c:
        send = c._transport.send

        async def spy(*args: Any, **kwargs: Any) -> Any:
            seen.append(kwargs["timeouts"])
            return await send(*args, **kwargs)

        c._transport.send = spy  # type: ignore[method-assign]
        await c.images.edit(IMAGE, "p", timeout=30)
        await c.images.edit(IMAGE, "p")
    assert [(t.read, t.total) for t in seen] == [(30, 30), (300, 10)]
    assert InpaintClient(auth=KEY, read_timeout=1200).timeouts.total == 1200


def test_the_sync_client_takes_the_same_limits() -> None:
    """SyncInpaintClient forwards attempt_timeout and the body limits."""
    from inpaint_async import SyncInpaintClient

    with SyncInpaintClient(
        auth=KEY, attempt_timeout=42, max_image_bytes=1000, max_json_bytes=2000
    ) as c:
        inner = c.async_client
        assert inner.timeouts.total == 42
        assert (inner.limits.image, inner.limits.json) == (1000, 2000)


def test_the_attempt_deadline_is_on_by_default() -> None:
    """A generous but finite default (edits take up to about 170 s)."""
    c = InpaintClient(auth=KEY)
    assert c.timeouts.total is not None and 170 < c.timeouts.total <= 1800


# --- 9. a FIFO as the image path --------------------------------------------------------------------


async def test_a_fifo_is_refused_without_blocking_the_loop(tmp_path: Path) -> None:
    """A named pipe (no writer) is refused at once; the loop is never blocked waiting for one."""
    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    stop = threading.Event()

    def late_writer() -> None:
        # On the old code the open blocked the loop until a writer came: this one comes after
        # 3 s (and gives up at once when nobody is waiting to read).
        if stop.wait(3):
            return
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    writer = threading.Thread(target=late_writer, daemon=True)
    writer.start()
    started = time.monotonic()
    try:
        with aioresponses() as m:
            async with InpaintClient(auth=KEY, base_url="http://api.test/api/v1") as c:
                with pytest.raises(ValidationError, match="not a regular file"):
                    await c.images.edit(fifo, "add a hat")
            assert not m.requests
        assert time.monotonic() - started < 2
    finally:
        stop.set()
        writer.join(5)


# --- 10. metadata never turns a paid success into an error -------------------------------------------

ABSURD = {
    "x-ratelimit-remaining-requests": "1e999",
    "x-ratelimit-limit-requests": "nan",
    "x-ratelimit-reset-requests": "99999999999999",
    "x-balance-remaining": "1e999999",
    "x-venice-balance-usd": "-inf",
}


async def test_absurd_rate_limit_headers_on_a_paid_200(server: Server, tmp_path: Path) -> None:
    """Out-of-range values are ignored: the result is a success with those fields unset."""
    server.answer = reply(OUTPUT, **ABSURD)
    async with client(server) as c:
        result = await c.images.edit(IMAGE, "add a hat", output=tmp_path / "o.png")
    assert result.path == tmp_path / "o.png"
    assert result.rate_limit is None and result.balance_remaining is None


async def test_absurd_headers_do_not_fail_a_batch_job(server: Server, tmp_path: Path) -> None:
    """The batch's limiter reads the same headers: the charged job is a success."""
    server.answer = reply(OUTPUT, **ABSURD)
    src = tmp_path / "in.png"
    src.write_bytes(IMAGE)
    jobs = [EditJob(image=src, prompt="p", output=tmp_path / "o.png")]
    async with client(server) as c:
        summary = await BatchRunner(c, jobs, estimator=lambda j: Decimal(0)).run()
    assert summary.succeeded == 1


# --- 12. bounded bodies -----------------------------------------------------------------------------


async def test_a_gzip_bomb_is_stopped_at_the_json_limit(
    serve_app: Callable[[web.Application], Awaitable[str]],
) -> None:
    """A small gzip body that inflates to 40 MB: ResponseTooLargeError at the 16 MiB default."""
    bomb = gzip.compress(b'{"data": [' + b" " * 40_000_000 + b"]}", 9)
    assert len(bomb) < 100_000

    async def models(request: web.Request) -> web.Response:
        return web.Response(
            body=bomb, headers={"content-type": "application/json", "content-encoding": "gzip"}
        )

    app = web.Application()
    app.router.add_get("/api/v1/models", models)
    base = await serve_app(app)
    async with InpaintClient(auth=KEY, base_url=base + "/api/v1") as c:
        with pytest.raises(ResponseTooLargeError):
            await c.models.list()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("to_file", [False, True], ids=["bytes", "output="])
async def test_an_image_over_the_limit_is_refused(
    server: Server, tmp_path: Path, chunked: bool, to_file: bool
) -> None:
    """A 2 MB 'image' against max_image_bytes=1 MiB: refused, output untouched, nothing kept."""
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * 2_000_000

    async def answer(request: web.Request) -> web.StreamResponse:
        if not chunked:
            return await reply(big)(request)
        response = web.StreamResponse(headers={"content-type": "image/png"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for i in range(0, len(big), 65536):
            await response.write(big[i : i + 65536])
        await response.write_eof()
        return response

    server.answer = answer
    out = tmp_path / "o.png"
    out.write_bytes(b"previous")
    async with client(server, max_image_bytes=1 << 20) as c:
        with pytest.raises(ResponseTooLargeError):
            await c.images.edit(IMAGE, "add a hat", output=out if to_file else None)
    assert out.read_bytes() == b"previous" and part_files(tmp_path) == []


# --- 13. typed errors, before anything is sent ------------------------------------------------------


@pytest.mark.parametrize(
    "name", [os.fsdecode(b"caf\xe9.png"), "line\nbreak.png", 'quote".png'], ids=repr
)
async def test_odd_file_names_are_sent_under_a_safe_name(
    server: Server, tmp_path: Path, name: str
) -> None:
    """A file name a header cannot carry (not UTF-8, a line break) goes as image.png."""
    server.answer = reply(OUTPUT)
    path = tmp_path / name
    path.write_bytes(IMAGE)
    async with client(server) as c:
        result = await c.images.edit(path, "add a hat")
    assert result.data == OUTPUT
    assert server.filenames == ["image.png"]


def test_a_broken_journal_line_is_a_typed_error(tmp_path: Path) -> None:
    """``{"state": []}`` is not a record: JournalCorruptError, not TypeError."""
    path = tmp_path / "j.jsonl"
    path.write_text('{"v":1,"job":"a","state":"sent"}\n{"v":1,"job":"a","state":[]}\n')
    with pytest.raises(JournalCorruptError):
        read_journal(path)


CONFIG: dict[str, Callable[[], Any]] = {
    "base URL http://[::1": lambda: InpaintClient(auth=KEY, base_url="http://[::1"),
    "base URL with a bad port": lambda: InpaintClient(auth=KEY, base_url="http://h:99999"),
    "read_timeout nan": lambda: InpaintClient(auth=KEY, read_timeout=float("nan")),
    "connect_timeout -1": lambda: InpaintClient(auth=KEY, connect_timeout=-1),
    "attempt_timeout inf": lambda: InpaintClient(auth=KEY, attempt_timeout=float("inf")),
    "max_image_bytes 0": lambda: InpaintClient(auth=KEY, max_image_bytes=0),
    "default header with a newline": lambda: InpaintClient(
        auth=KEY, default_headers={"x-tag": "a\r\nEvil: 1"}
    ),
}


@pytest.mark.parametrize("name", sorted(CONFIG))
def test_bad_options_are_configuration_errors(name: str) -> None:
    """Each becomes a ConfigurationError with a message, never a raw ValueError."""
    with pytest.raises(ConfigurationError):
        CONFIG[name]()


@pytest.mark.parametrize("value", [-1.0, 0.0, float("nan"), float("inf")])
async def test_a_bad_job_timeout_is_refused_before_anything_runs(value: float) -> None:
    """--job-timeout -1 / nan: refused, instead of journalling never-sent jobs as unknown."""
    async with InpaintClient(auth=KEY) as c:
        with pytest.raises(ValidationError, match="job_timeout"):
            BatchRunner(c, [], job_timeout=value)


def test_cli_bad_job_timeout_and_base_url_exit_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command line prints one error line and exits 2; no traceback."""
    monkeypatch.setenv("VENICE_API_KEY", KEY)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.png").write_bytes(IMAGE)
    batch = ["batch", str(tmp_path / "src"), "--prompt", "p", "--out", str(tmp_path / "out")]
    local = ["--base-url", "http://127.0.0.1:9/api/v1"]  # nothing may leave loopback
    assert cli_main([*local, *batch, "--job-timeout", "nan", "--quiet"]) == 2
    assert cli_main(["--base-url", "http://[::1", *batch, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "job_timeout" in err and "base_url" in err


async def test_extra_headers_with_a_newline_are_refused_before_sending() -> None:
    """aiohttp would raise a bare ValueError mid-send; we refuse first."""
    with aioresponses() as m:
        async with InpaintClient(auth=KEY, base_url="http://api.test/api/v1") as c:
            with pytest.raises(ConfigurationError, match="line break"):
                await c.images.edit(IMAGE, "p", extra_headers={"x-a": "1\nx-b: 2"})
        assert not m.requests


async def test_transactions_null_is_a_typed_error() -> None:
    """A transactions page with ``transactions: null`` raises UnexpectedResponseError."""
    wallet = WalletAuth("0x" + "11" * 32)
    with aioresponses() as m:
        m.get(
            f"http://api.test/api/v1/x402/transactions/{wallet.address}?limit=50&offset=0",
            payload={"success": True, "data": {"transactions": None}},
        )
        async with InpaintClient(auth=wallet, base_url="http://api.test/api/v1") as c:
            with pytest.raises(UnexpectedResponseError, match="transactions"):
                async for _ in c.wallet.transactions():
                    pass


async def test_a_deeply_nested_error_body_is_a_typed_error(server: Server) -> None:
    """A 400 body of 30,000 nested lists: BadRequestError, not RecursionError."""

    async def answer(request: web.Request) -> web.Response:
        return web.Response(
            status=400, body=b"[" * 30_000 + b"]" * 30_000, content_type="application/json"
        )

    server.answer = answer
    async with client(server) as c:
        with pytest.raises(BadRequestError):
            await c.images.edit(IMAGE, "add a hat")


# --- 14. no credential reachable from an exception we raise -----------------------------------------


def reachable_text(exc: BaseException) -> str:
    """repr and str of the exception, its notes, attributes, cause and context, recursively."""
    seen: set[int] = set()
    texts: list[str] = []

    def visit(obj: Any, depth: int) -> None:
        if id(obj) in seen or depth > 6:
            return
        seen.add(id(obj))
        texts.append(repr(obj))
        texts.append(str(obj))
        if isinstance(obj, BaseException):
            for attr in ("__cause__", "__context__"):
                if getattr(obj, attr) is not None:
                    visit(getattr(obj, attr), depth + 1)
            texts.extend(getattr(obj, "__notes__", []))
            for value in vars(obj).values():
                visit(value, depth + 1)
            for arg in obj.args:
                visit(arg, depth + 1)
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            for value in vars(obj).values():
                visit(value, depth + 1)

    visit(exc, 0)
    return "\n".join(texts)


async def test_a_malformed_response_leaks_no_credential(unused_tcp_port: int) -> None:
    """A garbled status line (aiohttp's ClientResponseError holds the request's headers): the
    OutcomeUnknownError we raise, its cause and its context carry no Authorization value."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\nxx")
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", unused_tcp_port)
    try:
        base = f"http://127.0.0.1:{unused_tcp_port}/api/v1"
        async with InpaintClient(auth=KEY, base_url=base, retry=FAST) as c:
            with pytest.raises(OutcomeUnknownError) as info:
                await c.images.edit("https://example.org/a.png", "add a hat")
    finally:
        srv.close()
        await srv.wait_closed()
    text = reachable_text(info.value)
    assert "caused by aiohttp" in text
    assert KEY not in text


# --- 15. errors pickle and unpickle; auth objects refuse alike --------------------------------------


def roundtrip(exc: BaseException) -> Any:
    return pickle.loads(pickle.dumps(exc))


async def test_raised_status_errors_round_trip_through_pickle() -> None:
    """A real 429 and a real 400 from the client (CIMultiDictProxy headers) pickle and unpickle."""
    with aioresponses() as m:
        m.post(
            "http://api.test/api/v1/image/edit",
            status=429,
            payload={"error": "Rate limit exceeded", "code": "RATE_LIMIT_EXCEEDED"},
            headers={"Retry-After": "7", "CF-RAY": "r429"},
        )
        m.post(
            "http://api.test/api/v1/image/edit",
            status=400,
            payload={"error": "Invalid", "details": {"prompt": {"_errors": ["bad"]}}},
        )
        async with InpaintClient(
            auth=KEY, base_url="http://api.test/api/v1", retry=RetryPolicy.no_retry()
        ) as c:
            errors = []
            for _ in range(2):
                with pytest.raises(APIStatusError) as info:
                    await c.images.edit(IMAGE, "p")
                errors.append(info.value)
    rate, bad = (roundtrip(e) for e in errors)
    assert isinstance(rate, RateLimitError) and rate.retry_after == 7.0
    assert rate.headers["cf-ray"] == "r429" and rate.request_id == "r429"
    assert rate.code == "RATE_LIMIT_EXCEEDED" and str(rate) == str(errors[0])
    assert isinstance(bad, BadRequestError) and bad.details == {"prompt": {"_errors": ["bad"]}}


@pytest.mark.parametrize(
    "exc",
    [
        RateLimitError(
            "slow down",
            status_code=429,
            body={"error": "x"},
            headers=CIMultiDict(a="1"),
            retry_after=3.0,
            reset_at=datetime(2026, 1, 1, tzinfo=UTC),
        ),
        SettlementPendingError("pending", amount_usd=Decimal("5"), valid_before=1_900_000_000),
        SpendCapError(
            "cap",
            cap_name="max_total_usd",
            cap_usd=Decimal(5),
            spent_usd=Decimal(4),
            requested_usd=Decimal(2),
        ),
        OutputWriteError("disk full", request_id="r", output=Path("o.png"), data=b"img"),
        OutcomeUnknownError("lost", request_id="r"),
        ValidationError("bad", param="image"),
        make_status_error(402, {"error": "Payment required", "code": "PAYMENT_REQUIRED"}, {}),
    ],
    ids=lambda e: type(e).__name__,
)
def test_every_error_class_round_trips(exc: InpaintError) -> None:
    """Keyword-only constructors no longer break unpickling (multiprocessing, Celery, Ray)."""
    back = roundtrip(exc)
    assert type(back) is type(exc) and str(back) == str(exc)
    assert {k: v for k, v in vars(back).items() if k != "headers"} == {
        k: v for k, v in vars(exc).items() if k != "headers"
    }


@pytest.mark.parametrize(
    "make",
    [lambda: BearerAuth(KEY), lambda: WalletAuth("0x" + "11" * 32)],
    ids=["bearer", "wallet"],
)
def test_auth_objects_refuse_pickling_alike(make: Callable[[], Any]) -> None:
    """Neither auth object can be pickled or copied, so no secret is written out in clear."""
    auth = make()
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(auth)
    with pytest.raises(TypeError, match="cannot be pickled"):
        copy.copy(auth)
