"""The only module of the client that imports aiohttp: one HTTP attempt out, one response in.

Every aiohttp error is mapped to ours here, at this single boundary:

* the connection could not be made (refused, DNS, connect timeout) → :class:`APIConnectionError`
  / :class:`APITimeoutError`: the server did no work, a retry is safe;
* anything after the request started to go out (reset, read timeout, truncated body) →
  :class:`OutcomeUnknownError`: the server may have done, and charged, the work.

Bodies are replayable: a :class:`Body` is turned into an aiohttp payload afresh for each attempt, and
files are streamed from disk in chunks (a path is reopened, a file object is rewound), never read
whole. With ``output=`` a success body is streamed to a temporary file in the destination folder and
renamed into place only when complete.
"""

from __future__ import annotations

import asyncio
import io
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import aiohttp
import aiohttp.payload
from multidict import CIMultiDictProxy
from yarl import URL

from ._exceptions import (
    APIConnectionError,
    APITimeoutError,
    OutcomeUnknownError,
)
from ._network import NetworkOptions

__all__ = ["Body", "FilePart", "RawResponse", "Timeouts", "Transport"]

_CHUNK = 64 * 1024
_MAX_ERROR_BODY = 64 * 1024
_INLINE_READ = 256 * 1024


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-attempt timeouts in seconds (``None`` = no limit)."""

    connect: float | None
    read: float | None


@dataclass(frozen=True, slots=True)
class FilePart:
    """A file part of a multipart body, streamed from ``source`` on every attempt.

    ``source`` is a path (reopened per attempt), a binary file object (rewound to ``start`` per
    attempt, never closed by us) or bytes.
    """

    name: str
    source: Path | IO[bytes] | bytes
    filename: str
    content_type: str
    size: int
    start: int = 0


@dataclass(frozen=True, slots=True)
class Body:
    """A replayable request body: JSON, or multipart text fields plus file parts."""

    json: Any = None
    fields: Sequence[tuple[str, str]] = ()
    files: Sequence[FilePart] = ()

    @property
    def is_multipart(self) -> bool:
        return bool(self.files)


@dataclass(slots=True)
class RawResponse:
    """What came back: status, headers, and the body (bytes, or the path it was written to)."""

    status: int
    headers: CIMultiDictProxy[str]
    content: bytes = b""
    path: Path | None = None


class _FilePayload(aiohttp.payload.Payload):
    """Streams one file part in chunks from disk; knows its size, so Content-Length is set."""

    _autoclose = False

    def __init__(self, part: FilePart) -> None:
        super().__init__(part.source, content_type=part.content_type, filename=part.filename)
        self._part = part
        self._size = part.size

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("a file payload cannot be decoded to text")

    async def write(self, writer: Any) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(self, writer: Any, content_length: int | None) -> None:
        part = self._part
        if isinstance(part.source, bytes):
            data = part.source if content_length is None else part.source[:content_length]
            await writer.write(data)
            return
        loop = asyncio.get_running_loop()
        owned = isinstance(part.source, Path)
        # Opening a file and reading a small one from the page cache costs less than one hop to
        # the executor (tens of microseconds); big files are read in chunks off the event loop.
        inline = part.size <= _INLINE_READ
        fh: IO[bytes] = open(part.source, "rb") if isinstance(part.source, Path) else part.source  # noqa: SIM115
        try:
            if not owned:
                fh.seek(part.start)
            remaining = part.size if content_length is None else min(part.size, content_length)
            while remaining > 0:
                n = remaining if inline else min(_CHUNK, remaining)
                chunk = fh.read(n) if inline else await loop.run_in_executor(None, fh.read, n)
                if not chunk:
                    break
                remaining -= len(chunk)
                await writer.write(chunk)
        finally:
            if owned:
                fh.close()


def _open_rb(path: Path) -> IO[bytes]:
    return open(path, "rb")


def _form(body: Body) -> aiohttp.FormData:
    form = aiohttp.FormData(quote_fields=True)
    for name, value in body.fields:
        form.add_field(name, value)
    for part in body.files:
        form.add_field(
            part.name, _FilePayload(part), filename=part.filename, content_type=part.content_type
        )
    return form


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
    ) -> RawResponse:
        """Send one attempt and read the response; errors are mapped to ours."""
        kwargs: dict[str, Any] = {
            "headers": headers,
            "params": params,
            "timeout": aiohttp.ClientTimeout(
                total=None,
                connect=None,
                sock_connect=timeouts.connect,
                sock_read=timeouts.read,
            ),
            "allow_redirects": False,
        }
        self.network.apply(url, kwargs)
        if body is not None:
            if body.is_multipart:
                kwargs["data"] = _form(body)
            elif body.json is not None:
                kwargs["json"] = body.json
        # Known once the status line and headers are in: an error after that point (a body cut
        # off mid-way) still names the request, so the charge can be traced.
        request_id: str | None = None
        try:
            async with self.session.request(method, url, **kwargs) as resp:
                request_id = resp.headers.get("cf-ray")
                if output is not None and 200 <= resp.status < 300:
                    path = await _stream_to_file(resp, output)
                    return RawResponse(resp.status, resp.headers, path=path)
                if 200 <= resp.status < 300:
                    return RawResponse(resp.status, resp.headers, content=await resp.read())
                # Error bodies are capped: a huge one (an HTML page, a runaway server) is cut.
                data = await resp.content.read(_MAX_ERROR_BODY)
                return RawResponse(resp.status, resp.headers, content=data)
        except aiohttp.ConnectionTimeoutError as exc:
            raise APITimeoutError(f"connection to {_origin(url)} timed out") from exc
        except aiohttp.ClientConnectorError as exc:
            raise APIConnectionError(
                f"could not connect to {_origin(url)}: {exc.os_error}"
            ) from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise OutcomeUnknownError(
                f"no answer from {_origin(url)} within the read timeout; the request was sent "
                "and may have been processed (and charged)",
                request_id=request_id,
            ) from exc
        except aiohttp.ClientPayloadError as exc:
            raise OutcomeUnknownError(
                f"the response from {_origin(url)} was cut off mid-body; the request may have "
                "been processed (and charged)",
                request_id=request_id,
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise OutcomeUnknownError(
                f"the connection to {_origin(url)} failed after the request was sent "
                f"({type(exc).__name__}); it may have been processed (and charged)",
                request_id=request_id,
            ) from exc


def _origin(url: str) -> str:
    try:
        u = URL(url)
        return f"{u.scheme}://{u.host}" + (f":{u.port}" if u.explicit_port else "")
    except (ValueError, TypeError):
        return "the server"


async def _stream_to_file(resp: aiohttp.ClientResponse, output: Path) -> Path:
    """Write the body next to ``output`` in a temp file, fsync, then rename it into place."""
    loop = asyncio.get_running_loop()
    folder = output.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".part", dir=folder)
    tmp = Path(tmp_name)
    try:
        with io.FileIO(fd, "wb", closefd=True) as fh:
            async for chunk in resp.content.iter_chunked(_CHUNK):
                fh.write(chunk)
            await loop.run_in_executor(None, os.fsync, fd)
        os.replace(tmp, output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return output
