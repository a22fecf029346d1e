"""The per-request options object: everything one API call carries through the pipeline.

Built once per call (by a resource method or :meth:`InpaintClient.request`) and handed, whole, to
the retry loop and every attempt, instead of a chain of positional arguments (as openai-python's
``FinalRequestOptions``). It also carries the caller's ``extra_body`` / ``extra_headers`` /
``extra_query``: fields the SDK does not know yet, sent exactly as given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._exceptions import ValidationError
from ._wire import Body

if TYPE_CHECKING:
    from ._retry import RetryPolicy

__all__ = ["RequestOptions", "merge_extra_body"]

Query = Mapping[str, str | int | float | bool]


@dataclass(slots=True)
class RequestOptions:
    """One API call: method, path, body and the per-call knobs (treat it as read-only: it is
    not frozen only because a frozen dataclass costs a few microseconds more per call).

    Attributes:
        method: HTTP method.
        path: API path such as ``/image/edit`` (joined to the client's base URL).
        body: The request body, ``extra_body`` already merged (see :func:`merge_extra_body`).
        params: Query parameters, ``extra_query`` already merged.
        output: Stream a success body to this file instead of memory.
        timeout: Read timeout of each attempt (seconds); ``None`` = the client's.
        retry: The retry policy of this call; ``None`` = the client's.
        headers: Per-call headers (``extra_headers``); they override the client's defaults but
            never the auth header of the attempt.
        idempotent: Whether the call may be retried after it was sent; ``None`` = by method.
        authenticate: Whether each attempt is authenticated.
    """

    method: str
    path: str
    body: Body | None = None
    params: Mapping[str, str] | None = None
    output: Path | None = None
    timeout: float | None = None
    retry: RetryPolicy | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotent: bool | None = None
    authenticate: bool = True

    @classmethod
    def build(
        cls,
        method: str,
        path: str,
        *,
        body: Body | None = None,
        params: Mapping[str, str] | None = None,
        output: Path | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Query | None = None,
        extra_body: Mapping[str, object] | None = None,
        idempotent: bool | None = None,
        authenticate: bool = True,
    ) -> RequestOptions:
        """Check the ``extra_*`` arguments and fold them into one options object.

        Raises:
            ValidationError: an ``extra_*`` argument is not a mapping of the right shape; nothing
                was sent.
        """
        if extra_headers is None and extra_query is None and extra_body is None and not params:
            # The usual call: nothing to check or merge.
            return cls(method.upper(), path, body, None, output, timeout, retry, {}, idempotent,
                       authenticate)  # fmt: skip
        headers = _str_mapping(extra_headers, "extra_headers")
        query = dict(params or {})
        if extra_query is not None:
            if not isinstance(extra_query, Mapping):
                raise ValidationError("extra_query must be a mapping", param="extra_query")
            for key, value in extra_query.items():
                if not isinstance(key, str) or not isinstance(value, str | int | float | bool):
                    raise ValidationError(
                        "extra_query keys must be strings and values str, int, float or bool",
                        param="extra_query",
                    )
                query[key] = _form_text(value)
        if extra_body is not None:
            body = merge_extra_body(body, extra_body)
        return cls(
            method=method.upper(),
            path=path,
            body=body,
            params=query or None,
            output=output,
            timeout=timeout,
            retry=retry,
            headers={k.lower(): v for k, v in headers.items()},
            idempotent=idempotent,
            authenticate=authenticate,
        )

    @property
    def is_idempotent(self) -> bool:
        """Whether a failed attempt may be sent again even after the request went out."""
        if self.idempotent is not None:
            return self.idempotent
        return self.method in ("GET", "HEAD")

    def with_changes(self, **changes: Any) -> RequestOptions:
        """A copy with some fields replaced."""
        return replace(self, **changes)


def _str_mapping(value: Mapping[str, str] | None, name: str) -> Mapping[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValidationError(f"{name} must be a mapping of str to str", param=name)
    return value


def _form_text(value: object) -> str:
    """A value as text: booleans as ``true``/``false`` (as JSON and the API spell them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def merge_extra_body(body: Body | None, extra: Mapping[str, object]) -> Body:
    """``body`` with ``extra`` fields added as given (they win over the SDK's fields).

    A JSON body gets them as JSON values; a multipart body as text parts (booleans as
    ``true``/``false``, lists and objects as compact JSON). A call without a body gets a JSON
    body of ``extra`` alone.

    Raises:
        ValidationError: ``extra`` is not a mapping with string keys, or a JSON value cannot be
            encoded; nothing was sent.
    """
    if not isinstance(extra, Mapping) or not all(isinstance(k, str) for k in extra):
        raise ValidationError("extra_body must be a mapping with string keys", param="extra_body")
    if body is not None and body.is_multipart:
        fields = [(k, v) for k, v in body.fields if k not in extra]
        fields += [(k, _form_text(v)) for k, v in extra.items()]
        return Body(fields=fields, files=body.files)
    try:
        json.dumps(dict(extra))
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"extra_body is not JSON-serialisable: {exc}", param="extra_body"
        ) from None
    base = body.json if body is not None and isinstance(body.json, Mapping) else {}
    return Body(json={**base, **extra})
