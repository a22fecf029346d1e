"""The only module of the client that imports aiohttp: one HTTP attempt out, one response in.

Every aiohttp error is mapped to ours here, at this single boundary:

* the connection could not be made (refused, DNS, connect timeout) → :class:`APIConnectionError`
  / :class:`APITimeoutError`: the server did no work, a retry is safe;
* anything after the request started to go out (reset, read timeout, truncated body) →
  :class:`OutcomeUnknownError`: the server may have done, and charged, the work.

Bodies are replayable: a :class:`Body` is turned into an aiohttp payload afresh for each attempt, and
files are streamed from disk in chunks (a path is reopened, a file object is rewound), never read
whole. With ``output=`` a success image is streamed to a temporary file in the destination folder;
the transport never renames it: :mod:`._response` moves it into place only after the answer was
validated, so a rejected answer never touches the destination.

Hostile servers are bounded here: a per-attempt deadline (``Timeouts.total``) caps a trickling
body, and success bodies are read up to :class:`BodyLimits` (decompressed bytes, so a gzip bomb is
stopped at the limit). aiohttp exceptions never travel as ``__cause__`` or ``__context__`` of ours
(aiohttp's ``request_info`` carries the request headers, ``Authorization`` included): they are
summarised in the message and a note.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import aiohttp
import aiohttp.payload
from aiohttp.helpers import content_disposition_header
from yarl import URL

from ._constants import (
    H_CF_RAY,
)
from ._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    OutcomeUnknownError,
    ResponseTooLargeError,
    ValidationError,
)
from ._files import open_regular_sized, read_at
from ._network import NetworkOptions
from ._wire import Body, BodyLimits, FilePart, RawResponse, Timeouts, encode_json

__all__ = ["Transport"]

_CHUNK = 64 * 1024
_MAX_ERROR_BODY = 64 * 1024
_INLINE_READ = 256 * 1024
_WRITE_SLICE = 256 * 1024


class _MultipartBody(aiohttp.payload.Payload):
    """A multipart/form-data body, byte for byte what ``aiohttp.FormData`` sends, in few writes.

    ``FormData`` frames each part through its own payload object and issues four socket writes
    per part (boundary, headers, value, CRLF), each a ``send`` system call on an idle socket.
    Here the text parts and each file part's head go out in one write, the file in slices, and
    the closing boundary with the file's trailing CRLF: three writes for an edit. The part
    headers are aiohttp's (its ``content_disposition_header`` quotes the names), and a test
    compares the bytes with ``FormData``'s for the same boundary. Files stream from disk in
    chunks (a path is reopened, a file object read at the part's offset without moving its
    position, bytes written as slices of a view).

    A file that changed size since it was checked, vanished or cannot be read any more (a retry
    minutes later, another program rewriting it) would leave the body short of its
    Content-Length, and the server waiting for the rest until a timeout called it an unknown
    outcome; or, grown, send a cut-off prefix of another image. Every file is opened and its
    size compared before the first byte of the body is written, and a short read stops the
    body: :attr:`failure` then holds the :class:`ValidationError` the transport raises (the
    request was cut off before it was complete, so no server can have processed it).
    """

    _autoclose = False
    failure: ValidationError | None = None

    def __init__(self, body: Body, boundary: str | None = None) -> None:
        self._boundary = (boundary or os.urandom(16).hex()).encode("ascii")
        super().__init__(
            b"", content_type="multipart/form-data; boundary=" + self._boundary.decode("ascii")
        )
        dash = b"--" + self._boundary + b"\r\n"
        head = [
            dash + _text_head(name) + _utf8(name, value) + b"\r\n" for name, value in body.fields
        ]
        self._heads: list[bytes] = []
        for part in body.files:
            head.append(dash + _file_head(part.name, part.filename, part.content_type))
            self._heads.append(b"".join(head))
            head = [b"\r\n"]
        head.append(b"--" + self._boundary + b"--\r\n")
        self._tail = b"".join(head)
        self._files = body.files
        self._length = (
            sum(map(len, self._heads)) + len(self._tail) + sum(f.size for f in body.files)
        )
        self._size = self._length  # aiohttp's Payload.size: the Content-Length

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("a multipart body cannot be decoded to text")

    async def write(self, writer: Any) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(self, writer: Any, content_length: int | None) -> None:
        budget = [self._length if content_length is None else content_length]
        sources: list[IO[bytes] | bytes] = []  # files opened before the first write
        try:
            for part in self._files:
                sources.append(self._open(part))
            for head, part, source in zip(self._heads, self._files, sources, strict=True):
                if not await _write_capped(writer, head, budget):
                    return
                if isinstance(source, bytes):
                    await _write_bytes(writer, source, budget)
                elif not await self._write_file(writer, part, source, budget):
                    return
            await _write_capped(writer, self._tail, budget)
        finally:
            for part, source in zip(self._files, sources, strict=False):
                if isinstance(part.source, Path) and not isinstance(source, bytes):
                    source.close()

    def _open(self, part: FilePart) -> IO[bytes] | bytes:
        """What to read ``part`` from: its bytes, or a file (a path's size checked)."""
        source = part.source
        if isinstance(source, bytes):
            return source
        try:
            if not isinstance(source, Path):
                # Read at the part's offset (its position is never relied on); a caller's
                # read-write file's pending writes first reach the descriptor read from.
                flush = getattr(source, "flush", None)
                if flush is not None:
                    flush()
                return source
            fh, size = open_regular_sized(source)
        except (OSError, ValueError) as exc:  # ValueError: a file object closed since
            raise self._fail(part, f"it cannot be read any more ({_reason(exc)})") from None
        if size != part.size:
            fh.close()
            raise self._fail(
                part, f"it was {part.size:,} bytes when it was checked and is {size:,} now"
            )
        return fh

    async def _write_file(
        self, writer: Any, part: FilePart, fh: IO[bytes], budget: list[int]
    ) -> bool:
        """Stream one file part from ``fh``; ``False`` once the body's length is used up."""
        loop = asyncio.get_running_loop()
        # Reading a small file from the page cache costs less than one hop to the executor
        # (tens of microseconds); big files are read in chunks off the event loop.
        inline = part.size <= _INLINE_READ
        remaining = part.size
        offset = part.start  # 0 for a path
        while remaining > 0:
            n = remaining if inline else min(_CHUNK, remaining)
            try:
                if inline:
                    chunk = read_at(fh, offset, n)
                else:
                    chunk = await loop.run_in_executor(None, read_at, fh, offset, n)
            except (OSError, ValueError) as exc:
                raise self._fail(part, f"reading it failed ({_reason(exc)})") from None
            if not chunk:
                raise self._fail(
                    part, f"it ended after {part.size - remaining:,} of {part.size:,} bytes"
                )
            remaining -= len(chunk)
            offset += len(chunk)
            if not await _write_capped(writer, chunk, budget):
                return False
        return True

    def _fail(self, part: FilePart, problem: str) -> ValidationError:
        what = repr(str(part.source)) if isinstance(part.source, Path) else "object"
        self.failure = ValidationError(
            f"{part.name}: the file {what} changed after it was checked: {problem}; the "
            "request was cut off before it was complete, so it was not processed",
            param=part.name,
        )
        return self.failure


def _utf8(name: str, value: str) -> bytes:
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(
            f"the value of {name!r} is not valid text (a lone surrogate?); nothing was sent",
            param=name,
        ) from None


@functools.lru_cache(maxsize=256)
def _text_head(name: str) -> bytes:
    disposition = content_disposition_header("form-data", quote_fields=True, name=name)
    if "name*=" in disposition:
        # FormData would send RFC 5987 ``name*=`` and then trip aiohttp's own writer; servers
        # parse a field name from ``name="..."`` only.
        raise ValidationError(
            f"a multipart field name must be printable ASCII, not {name[:40]!r}; nothing was sent",
            param=name,
        )
    return (
        f"Content-Type: text/plain; charset=utf-8\r\nContent-Disposition: {disposition}\r\n\r\n"
    ).encode()


@functools.lru_cache(maxsize=256)
def _file_head(name: str, filename: str, content_type: str) -> bytes:
    disposition = content_disposition_header(
        "form-data", quote_fields=True, name=name, filename=filename
    )
    return f"Content-Type: {content_type}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()


async def _write_capped(writer: Any, data: bytes | memoryview, budget: list[int]) -> bool:
    """Write ``data``, cut to what is left of the body's length; ``False`` once it is used up."""
    left = budget[0]
    if len(data) > left:
        data = data[:left]
    budget[0] = left - len(data)
    if data:
        await writer.write(data)
    return budget[0] > 0


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


async def _write_bytes(writer: Any, data: bytes, budget: list[int]) -> None:
    """Write a file part held as bytes: slices of a view, no copy of the caller's bytes, and the
    socket's buffer holds one slice at a time instead of the whole image (aiohttp drains between
    writes)."""
    view = memoryview(data)
    for start in range(0, len(view), _WRITE_SLICE):
        if not await _write_capped(writer, view[start : start + _WRITE_SLICE], budget):
            return


class Transport:
    """Owns (or borrows) one ``aiohttp.ClientSession``, created lazily inside the running loop."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None = None,
        connection_limit: int = 100,
        network: NetworkOptions | None = None,
    ) -> None:
        self._session = session
        # Proxy and TLS trust are passed per request, so they hold for a borrowed session too.
        self.network = network or NetworkOptions()
        self._owns_session = session is None
        self._connection_limit = connection_limit
        self._closed = False

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session; created on first use inside the running event loop."""
        if self._session is None or (self._owns_session and self._session.closed):
            if self._closed:
                raise RuntimeError("this client is closed")
            connector = aiohttp.TCPConnector(limit=self._connection_limit, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=True, raise_for_status=False
            )
        return self._session

    async def close(self) -> None:
        """Close the session if this transport created it; a borrowed session stays open."""
        self._closed = True
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: Body | None,
        params: Mapping[str, str] | None,
        timeouts: Timeouts,
        output: Path | None = None,
        limits: BodyLimits | None = None,
    ) -> RawResponse:
        """Send one attempt and read the response; errors are mapped to ours.

        Our errors are raised outside the ``except`` blocks that caught aiohttp's, so neither
        ``__cause__`` nor ``__context__`` leads back to aiohttp's request headers. One coroutine
        from here to aiohttp (the deadline, the request and the mapping): every layer between
        the client and the socket costs CPU on each resumption after I/O.
        """
        limits = limits or _DEFAULT_LIMITS
        kwargs: dict[str, Any] = {
            "headers": headers,
            "params": params,
            "timeout": _client_timeout(timeouts.connect, timeouts.read, timeouts.total),
            "allow_redirects": False,
        }
        self.network.apply(url, kwargs)
        multipart = None
        if body is not None:
            if body.is_multipart:
                kwargs["data"] = multipart = _MultipartBody(body)
            elif body.json is not None:
                kwargs["data"] = aiohttp.payload.BytesPayload(
                    encode_json(body.json), content_type="application/json"
                )
        failure: APIError
        # Known once the status line and headers are in: an error after that point (a
        # body cut off mid-way) still names the request, so the charge can be traced.
        request_id: str | None = None
        try:
            async with self.session.request(method, url, **kwargs) as resp:
                request_id = resp.headers.get(H_CF_RAY)
                if not 200 <= resp.status < 300:
                    # Error bodies are capped: a huge one (an HTML page, a runaway
                    # server) is cut.
                    data = await resp.content.read(_MAX_ERROR_BODY)
                    return RawResponse(resp.status, resp.headers, content=data)
                ctype = resp.headers.get("content-type", "")
                is_image = ctype.lower().startswith("image/")
                cap = limits.image if is_image else limits.json
                if resp.content_length is not None and resp.content_length > cap:
                    raise _too_large(url, cap, request_id)
                if output is not None and is_image:
                    return await _stream_to_temp(resp, output, cap, url, request_id)
                data = await _read_capped(resp, cap, url, request_id)
                return RawResponse(resp.status, resp.headers, content=data, output=output)
        except aiohttp.ConnectionTimeoutError as exc:
            failure = APITimeoutError(f"connection to {_origin(url)} timed out")
            cause: BaseException = exc
        except aiohttp.ClientConnectorError as exc:
            failure = APIConnectionError(f"could not connect to {_origin(url)}: {exc.os_error}")
            cause = exc
        except TimeoutError as exc:
            if timeouts.total is not None and not isinstance(exc, aiohttp.ServerTimeoutError):
                # aiohttp's total timer (our per-attempt deadline) cancels the read it
                # interrupts; a connect it cuts short is a ConnectionTimeoutError, caught above.
                message = (
                    f"no complete answer from {_origin(url)} within the per-attempt deadline of "
                    f"{timeouts.total:g}s; the request may have been processed (and charged)"
                )
            else:  # the read timeout: aiohttp's ServerTimeoutError (a TimeoutError)
                message = (
                    f"no answer from {_origin(url)} within the read timeout; the request was "
                    "sent and may have been processed (and charged)"
                )
            failure = OutcomeUnknownError(message, request_id=request_id)
            cause = exc
        except aiohttp.ClientPayloadError as exc:
            failure = OutcomeUnknownError(
                f"the response from {_origin(url)} was cut off mid-body; the request may "
                "have been processed (and charged)",
                request_id=request_id,
            )
            cause = exc
        except (aiohttp.ClientError, OSError, ValueError, UnicodeError) as exc:
            # ValueError/UnicodeError: aiohttp refusing something it had to encode. The
            # client checks names and headers first, so this is unexpected: assume the
            # worst.
            failure = OutcomeUnknownError(
                f"the connection to {_origin(url)} failed after the request was sent "
                f"({type(exc).__name__}); it may have been processed (and charged)",
                request_id=request_id,
            )
            cause = exc
        if multipart is not None and multipart.failure is not None:
            raise multipart.failure  # a file changed under the body: cut off, never processed
        failure.add_note(f"caused by {type(cause).__module__}.{type(cause).__name__}")
        del cause
        raise failure


_DEFAULT_LIMITS = BodyLimits()


@functools.lru_cache(maxsize=64)
def _client_timeout(
    connect: float | None, read: float | None, total: float | None
) -> aiohttp.ClientTimeout:
    """aiohttp's per-request timeouts (immutable, so shared between requests).

    ``total`` is the per-attempt deadline: aiohttp's one timer covers the connection, the upload
    and every read of the body, so no second timer (an ``asyncio.timeout``) is armed per attempt.
    """
    return aiohttp.ClientTimeout(total=total, connect=None, sock_connect=connect, sock_read=read)


def _origin(url: str) -> str:
    try:
        u = URL(url)
        return f"{u.scheme}://{u.host}" + (f":{u.port}" if u.explicit_port else "")
    except (ValueError, TypeError):
        return "the server"


def _too_large(url: str, cap: int, request_id: str | None) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"the response from {_origin(url)} is larger than the client's limit of "
        f"{cap:,} bytes; it was not read (raise max_image_bytes / max_json_bytes if it is "
        "legitimate)",
        request_id=request_id,
    )


async def _read_capped(
    resp: aiohttp.ClientResponse, cap: int, url: str, request_id: str | None
) -> bytes:
    """The whole (decompressed) body, refusing to hold more than ``cap`` bytes of it."""
    if resp.content_length is not None and "content-encoding" not in resp.headers:
        return await resp.read()  # the length is known and within the cap: one read
    buf = bytearray()
    async for chunk in resp.content.iter_chunked(_CHUNK):
        buf += chunk
        if len(buf) > cap:
            raise _too_large(url, cap, request_id)
    return bytes(buf)


_HEAD_BYTES = 64 * 1024  # enough for a JPEG size marker after EXIF data


async def _stream_to_temp(
    resp: aiohttp.ClientResponse, output: Path, cap: int, url: str, request_id: str | None
) -> RawResponse:
    """Stream the body to a temp file next to ``output`` and fsync it; never rename it.

    A local write failure (disk full, read-only folder) does not lose the paid image: what was
    written is read back, the rest of the body is read into memory, and the response carries
    ``write_error`` for :mod:`._response` to raise ``OutputWriteError`` with the bytes. Only
    errors of the disk operations count as write failures; a network error mid-body stays one.
    """
    loop = asyncio.get_running_loop()
    head = bytearray()
    size = 0
    written = 0
    fd: int | None = None
    tmp: Path | None = None
    disk_error: OSError | None = None
    spill: bytearray | None = None  # the body in memory once the disk failed (None: lost)
    try:
        try:
            fd, tmp_name = tempfile.mkstemp(
                prefix=f".{output.name}.", suffix=".part", dir=output.parent
            )
            tmp = Path(tmp_name)
        except OSError as exc:
            disk_error, spill = exc, bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > cap:
                raise _too_large(url, cap, request_id)
            if len(head) < _HEAD_BYTES:
                head += chunk[: _HEAD_BYTES - len(head)]
            if disk_error is not None:
                if spill is not None:
                    spill += chunk
                continue
            assert fd is not None
            view = memoryview(chunk)
            try:
                while view:
                    n = os.write(fd, view)
                    written += n
                    view = view[n:]
            except OSError as exc:
                disk_error = exc
                kept = _read_back(fd, tmp, written)
                spill = None if kept is None else bytearray(kept) + view
        if disk_error is None:
            assert fd is not None
            try:
                await loop.run_in_executor(None, os.fsync, fd)
            except OSError as exc:
                disk_error = exc
            closing, fd = fd, None
            try:
                os.close(closing)  # closed even when it fails (Linux): never closed twice
            except OSError as exc:
                disk_error = disk_error or exc
            if disk_error is not None:
                kept = _read_back(None, tmp, written)
                spill = None if kept is None else bytearray(kept)
    except BaseException:
        _discard(fd, tmp)
        raise
    if disk_error is not None:
        _discard(fd, tmp)
        return RawResponse(
            resp.status, resp.headers, content=bytes(spill) if spill is not None else b"",
            output=output, head=bytes(head), size=size, write_error=disk_error,
        )  # fmt: skip
    return RawResponse(
        resp.status, resp.headers, path=tmp, output=output, head=bytes(head), size=size
    )


def _read_back(fd: int | None, tmp: Path | None, size: int) -> bytes | None:
    """What was written to the temp file so far, or ``None`` when it cannot be read back."""
    if size == 0:
        return b""
    try:
        if fd is not None:
            data = os.pread(fd, size, 0)
        elif tmp is not None:
            data = tmp.read_bytes()[:size]
        else:
            return None
    except OSError:
        return None
    return data if len(data) == size else None


def _discard(fd: int | None, tmp: Path | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
    if tmp is not None:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
