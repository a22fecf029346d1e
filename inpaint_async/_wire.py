"""The request and response data the client and the transport exchange: no I/O, no aiohttp.

:class:`Body` (a replayable JSON or multipart body, its :class:`FilePart` s and pre-serialized
:class:`JSONFragment` s), :class:`RawResponse` (what came back), :class:`Timeouts` and
:class:`BodyLimits` (per attempt). :mod:`._transport` turns them into aiohttp calls; everything
else reads them without importing aiohttp.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ._constants import DEFAULT_MAX_IMAGE_RESPONSE_BYTES, DEFAULT_MAX_JSON_RESPONSE_BYTES

if TYPE_CHECKING:
    from multidict import CIMultiDictProxy

__all__ = [
    "Body",
    "BodyLimits",
    "FilePart",
    "JSONFragment",
    "RawResponse",
    "Timeouts",
    "encode_json",
]


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-attempt timeouts in seconds (``None`` = no limit).

    ``read`` bounds the silence between two reads; ``total`` bounds the whole attempt (connect,
    upload and download), so a server trickling one byte at a time cannot hold a call for ever.
    """

    connect: float | None
    read: float | None
    total: float | None = None


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """The largest success bodies read, in (decompressed) bytes: images and anything else."""

    image: int = DEFAULT_MAX_IMAGE_RESPONSE_BYTES
    json: int = DEFAULT_MAX_JSON_RESPONSE_BYTES


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
class JSONFragment:
    """A JSON value already serialized (a string proven to need no escaping, in its quotes).

    A body value of this type, or a list of them, is spliced into the JSON body as is: a 260 KB
    base64 image is then copied once instead of being scanned for characters to escape.
    """

    data: bytes


def encode_json(obj: Any) -> bytes:
    """``obj`` as UTF-8 JSON, splicing top-level :class:`JSONFragment` values unescaped."""
    if not isinstance(obj, dict):
        return json.dumps(obj).encode()
    parts = [b"{"]
    for i, (key, value) in enumerate(obj.items()):
        if i:
            parts.append(b", ")
        parts.append(json.dumps(key).encode() + b": ")
        if isinstance(value, JSONFragment):
            parts.append(value.data)
        elif isinstance(value, list) and any(isinstance(v, JSONFragment) for v in value):
            parts.append(b"[")
            parts.append(b", ".join(_fragment(v) for v in value))
            parts.append(b"]")
        else:
            parts.append(json.dumps(value).encode())
    parts.append(b"}")
    return b"".join(parts)


def _fragment(value: Any) -> bytes:
    return value.data if isinstance(value, JSONFragment) else json.dumps(value).encode()


@dataclass(frozen=True, slots=True)
class Body:
    """A replayable request body: JSON, or multipart text fields plus file parts.

    ``json`` is a JSON-able object whose top-level values may be :class:`JSONFragment` s.
    """

    json: Any = None
    fields: Sequence[tuple[str, str]] = ()
    files: Sequence[FilePart] = ()

    @property
    def is_multipart(self) -> bool:
        return bool(self.files)


@dataclass(slots=True)
class RawResponse:
    """What came back: status, headers, and the body.

    With ``output=``, a success image is in the temporary file ``path`` (not yet at ``output``)
    and ``head`` holds its first bytes; when writing it failed, ``write_error`` is set and
    ``content`` holds the bytes instead (as far as they could be kept).
    """

    status: int
    headers: CIMultiDictProxy[str]
    content: bytes = b""
    path: Path | None = None
    output: Path | None = None
    head: bytes = b""
    size: int = 0
    write_error: OSError | None = None
