"""From a raw response to a result or a typed error: the client's one place for reading answers.

* :func:`status_error`: an error status → the typed exception (:func:`make_status_error` reads the
  body, never failing on an odd one; a 402 is classified into its three shapes by
  :mod:`inpaint_async.x402`; a 504 on a paid request becomes :class:`OutcomeUnknownError`);
* :func:`image_result`: a success → an :class:`~inpaint_async.EditResult` (or a sibling) that keeps
  the headers (request id, balances, rate limits, deprecation notices).

A success is checked in full *before* anything reaches the caller's ``output=`` name:

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
import json
import os
import time
import urllib.parse
import warnings
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ._constants import (
    H_BALANCE_REMAINING,
    H_BALANCE_USD,
    H_CF_RAY,
    H_DEPRECATED,
    H_DEPRECATED_REPLACEMENT,
    H_DEPRECATION_DATE,
    H_DEPRECATION_WARNING,
    H_ENHANCED_PROMPT,
    H_IS_BLURRED,
    H_IS_CONTENT_VIOLATION,
    H_MODEL_ID,
    H_MODEL_NAME,
    H_RL_RESET,
    H_VENICE_VERSION,
)
from ._exceptions import (
    APIStatusError,
    ContentPolicyError,
    GatewayTimeoutError,
    OutcomeUnknownError,
    OutputWriteError,
    RateLimitError,
    UnexpectedResponseError,
    status_class,
)
from ._headers import (
    parse_bool,
    parse_decimal,
    parse_reset,
    parse_retry_after,
    rate_limit_state,
)
from ._inputs import image_size, sniff_head, sniff_image_type
from ._wire import RawResponse

if TYPE_CHECKING:
    from .types.results import ImageResult, ModelDeprecation

__all__ = [
    "commit_image",
    "image_result",
    "make_status_error",
    "parse_body",
    "status_error",
    "validate_image",
]

R = TypeVar("R", bound="ImageResult")

_warned_deprecations: set[str] = set()
#: An error message quotes at most this much of the server's text.
_MAX_MESSAGE_CHARS = 300

_SNIPPET = 200


def _discard(raw: RawResponse) -> None:
    if raw.path is not None:
        with contextlib.suppress(OSError):
            raw.path.unlink(missing_ok=True)
        raw.path = None


def _head(raw: RawResponse) -> bytes:
    # 4 KB (64 KB for a JPEG with its size marker further on): what the checks below read.
    return raw.head or sniff_head(raw.content)


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


# -- errors -------------------------------------------------------------------------------------


def parse_body(raw: bytes) -> Any:
    """Decode an error body: JSON when it parses, else text (an HTML page stays text)."""
    text = raw.decode("utf-8", errors="replace")
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested 100k deep
            pass
    return text


def _message_of(body: Any, status: int) -> str:
    if isinstance(body, dict):
        for key in ("message", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:_MAX_MESSAGE_CHARS]
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])[:_MAX_MESSAGE_CHARS]
    if isinstance(body, str) and body.strip():
        text = " ".join(body.split())
        if text.lower().startswith(("<!doctype", "<html")):
            return f"HTTP {status} (non-JSON error page)"
        return text[:_MAX_MESSAGE_CHARS]
    return f"HTTP {status}"


def make_status_error(
    status: int,
    body: Any,
    headers: Mapping[str, str],
    *,
    retry_after: float | None = None,
    reset_at: datetime | None = None,
) -> APIStatusError:
    """Build the typed error for an error response. Never raises on an unexpected body."""
    request_id = headers.get(H_CF_RAY) or headers.get(H_CF_RAY.upper())
    message = _message_of(body, status)
    if status == 402:
        from .x402._parse import payment_required_error

        return payment_required_error(message, body=body, headers=headers, request_id=request_id)
    cls = status_class(status)
    if cls is RateLimitError:
        return RateLimitError(
            message,
            status_code=status,
            body=body,
            headers=headers,
            request_id=request_id,
            retry_after=retry_after,
            reset_at=reset_at,
        )
    return cls(message, status_code=status, body=body, headers=headers, request_id=request_id)


def status_error(raw: RawResponse, idempotent: bool) -> Exception:
    """The exception for an error answer; a 504 to a paid request is an unknown outcome."""
    now = time.time()
    body = parse_body(raw.content)
    err = make_status_error(
        raw.status,
        body,
        raw.headers,
        retry_after=parse_retry_after(raw.headers, now),
        reset_at=parse_reset(raw.headers.get(H_RL_RESET), now),
    )
    if isinstance(err, GatewayTimeoutError) and not idempotent:
        unknown = OutcomeUnknownError(
            "the gateway timed out (504) after the request was sent; it may have been "
            "processed and charged",
            request_id=err.request_id,
        )
        unknown.__cause__ = err
        return unknown
    return err


# -- results ------------------------------------------------------------------------------------


def image_result(
    raw: RawResponse, cls: type[R], *, endpoint: str | None = None, quality: str | None = None
) -> R:
    """Build a result model from a successful image response, keeping its headers.

    ``endpoint`` and ``quality`` record what the SDK sent (the route of ``edit(quality=...)``).
    """
    h = raw.headers
    request_id = h.get(H_CF_RAY)
    # Validated in full before anything reaches output=, then moved into place.
    content_type = validate_image(raw)
    path = commit_image(raw)
    enhanced = h.get(H_ENHANCED_PROMPT)
    deprecation = None
    if h.get(H_DEPRECATION_WARNING) or parse_bool(h.get(H_DEPRECATED)):
        from .types.results import ModelDeprecation

        deprecation = ModelDeprecation(
            warning=h.get(H_DEPRECATION_WARNING),
            date=h.get(H_DEPRECATION_DATE),
            deprecated=parse_bool(h.get(H_DEPRECATED)),
            replacement=h.get(H_DEPRECATED_REPLACEMENT),
        )
        _warn_deprecation(h.get(H_MODEL_ID) or "?", deprecation)
    return _construct(
        cls,
        data=raw.content if path is None else None,
        path=path,
        content_type=content_type,
        model_id=h.get(H_MODEL_ID),
        model_name=h.get(H_MODEL_NAME),
        request_id=request_id,
        venice_version=h.get(H_VENICE_VERSION),
        is_blurred=parse_bool(h.get(H_IS_BLURRED)),
        is_content_violation=False,
        enhanced_prompt=urllib.parse.unquote(enhanced) if enhanced else None,
        balance_remaining=parse_decimal(h.get(H_BALANCE_REMAINING)),
        balance_usd=parse_decimal(h.get(H_BALANCE_USD)),
        rate_limit=rate_limit_state(h, time.time()),
        deprecation=deprecation,
        headers=dict(h),
        endpoint=endpoint,
        quality=quality,
    )


#: Per result class: its field names, when the fast construction below applies to it.
_FAST_FIELDS: dict[type[Any], frozenset[str] | None] = {}


def _construct(cls: type[R], **values: Any) -> R:
    """``cls.model_construct(**values)`` when ``values`` names every field, in field order.

    pydantic's ``model_construct`` walks every field looking for aliases and defaults (about
    5 us for a result, a sixth of the client's own work per edit); with every field given there
    is nothing to look up, so this sets what it would set. Classes with a post-init hook, a root
    model, or values that do not name exactly the fields go through ``model_construct``.
    A test compares the two for every result class.
    """
    fields = _FAST_FIELDS.get(cls, ())
    if fields == ():
        fast = not cls.__pydantic_post_init__ and not cls.__pydantic_root_model__
        fields = _FAST_FIELDS[cls] = frozenset(cls.model_fields) if fast else None
    if fields is None or values.keys() != fields:
        return cast(R, cls.model_construct(**values))
    model = cls.__new__(cls)
    setattr_ = object.__setattr__
    setattr_(model, "__dict__", values)
    setattr_(model, "__pydantic_fields_set__", set(values))
    setattr_(model, "__pydantic_extra__", {} if cls.model_config.get("extra") == "allow" else None)
    setattr_(model, "__pydantic_private__", None)
    return model


def _warn_deprecation(model_id: str, deprecation: ModelDeprecation) -> None:
    """One DeprecationWarning per model and process."""
    if model_id in _warned_deprecations:
        return
    _warned_deprecations.add(model_id)
    text = deprecation.warning or f"model {model_id} is deprecated"
    if deprecation.replacement:
        text += f" (replacement: {deprecation.replacement})"
    if deprecation.date:
        text += f" (date: {deprecation.date})"
    # Attributed to the resource method (edit, multi_edit, ...): this function, image_result,
    # InpaintClient.image_result and Images._post sit above it.
    warnings.warn(text, DeprecationWarning, stacklevel=5)
