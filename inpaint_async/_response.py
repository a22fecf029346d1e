"""From a raw success response to a validated image, or a typed error.

An answer is checked in full *before* anything reaches the caller's ``output=`` name:

1. a content-violation flag → :class:`ContentPolicyError`;
2. a content type that is not ``image/*`` (JSON, a captive portal's HTML, none at all) →
   :class:`UnexpectedResponseError`;
3. an empty body, or bytes that are not a PNG, JPEG, WebP, HEIC or AVIF image with a readable
   header → :class:`UnexpectedResponseError`;
4. only then is the temporary file moved onto ``output`` (one ``os.replace``).

A rejected answer removes its temporary file and leaves an existing file at ``output``
untouched. A local write failure after a paid answer raises :class:`OutputWriteError` with the
request id and the bytes (or where they are). Metadata (rate limits, balances) never fails a
result: :mod:`._headers` turns unusable values into ``None``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ._constants import H_CF_RAY, H_IS_CONTENT_VIOLATION
from ._exceptions import ContentPolicyError, OutputWriteError, UnexpectedResponseError
from ._headers import parse_bool
from ._inputs import image_size, sniff_image_type
from ._transport import RawResponse

__all__ = ["commit_image", "validate_image"]

_SNIPPET = 200


def _discard(raw: RawResponse) -> None:
    if raw.path is not None:
        with contextlib.suppress(OSError):
            raw.path.unlink(missing_ok=True)
        raw.path = None


def _head(raw: RawResponse) -> bytes:
    return raw.head or raw.content[:65536]


def _size(raw: RawResponse) -> int:
    return raw.size if raw.path is not None or raw.write_error is not None else len(raw.content)


def _looks_like_image(head: bytes, size: int) -> str | None:
    """Why ``head`` is not a usable image, or ``None`` when it is one."""
    if size == 0:
        return "the server sent an empty image"
    mime = sniff_image_type(head)
    if mime is None:
        return f"the server's {size:,}-byte body is not a PNG, JPEG, WebP, HEIC or AVIF image"
    if mime in ("image/png", "image/webp") and image_size(head, mime) is None:
        return f"the server's {size:,}-byte body has an unreadable {mime} header"
    if mime == "image/jpeg" and image_size(head, mime) is None and size < 1024:
        return f"the server's {size:,}-byte body is not a complete JPEG image"
    return None


def validate_image(raw: RawResponse) -> str:
    """Check a 2xx answer of an image endpoint; return its content type.

    Raises:
        ContentPolicyError: The answer is flagged as a content violation.
        UnexpectedResponseError: It is not an image (type, emptiness, bytes).
    """
    h = raw.headers
    request_id = h.get(H_CF_RAY)
    content_type = h.get("content-type", "")
    if parse_bool(h.get(H_IS_CONTENT_VIOLATION)):
        _discard(raw)
        raise ContentPolicyError(
            "the server flagged the output as a content violation",
            status_code=raw.status,
            body=None,
            headers=h,
            request_id=request_id,
        )
    if not content_type.lower().startswith("image/"):
        snippet = raw.content[:_SNIPPET].decode("utf-8", errors="replace") if raw.content else ""
        _discard(raw)
        raise UnexpectedResponseError(
            f"expected an image but the server sent {content_type or 'no content type'}"
            f"{f': {snippet!r}' if snippet else ''}",
            request_id=request_id,
        )
    problem = _looks_like_image(_head(raw), _size(raw))
    if problem is not None:
        _discard(raw)
        raise UnexpectedResponseError(problem, request_id=request_id)
    return content_type.split(";")[0].strip()


def commit_image(raw: RawResponse) -> Path | None:
    """Move a validated image onto ``raw.output``; ``None`` when it stays in memory.

    Raises:
        OutputWriteError: Writing failed; the bytes are on the exception or in ``saved_to``.
    """
    output = raw.output
    request_id = raw.headers.get(H_CF_RAY)
    content_type = raw.headers.get("content-type")
    if output is None:
        return None
    if raw.write_error is not None:
        err = raw.write_error
        raise OutputWriteError(
            f"the image was paid for but could not be written to {output}: "
            f"{err.strerror or type(err).__name__}",
            request_id=request_id,
            output=output,
            data=raw.content or None,
            content_type=content_type,
        )
    tmp = raw.path
    if tmp is None:
        # A success body that was not streamed (the transport only streams images): keep it.
        return None
    try:
        os.replace(tmp, output)
    except OSError as exc:
        raise OutputWriteError(
            f"the image was paid for but could not be moved onto {output}: "
            f"{exc.strerror or type(exc).__name__}",
            request_id=request_id,
            output=output,
            saved_to=tmp,
            content_type=content_type,
        ) from None
    raw.path = output
    return output
