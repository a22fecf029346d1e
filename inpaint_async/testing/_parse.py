"""Request bodies as the real server reads them: size caps, Content-Type rules, strict schemas.

Errors are raised as `ApiError` carrying the exact status and JSON body the API would send.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from .. import _constants as C

__all__ = [
    "ApiError",
    "Body",
    "Field",
    "detailed_error",
    "image_bytes",
    "read_body",
    "validate",
]

_JSON_TOO_LARGE = {
    "code": "PAYLOAD_TOO_LARGE",
    "error": "Request body exceeds the maximum allowed size.",
}
_FILE_TOO_LARGE = {
    "code": "PAYLOAD_TOO_LARGE",
    "error": "File exceeds the maximum allowed size of 25 MB.",
}
# Reading stops (and the connection is dropped) past this much; nothing legitimate is this big.
_HARD_LIMIT = 128 * 1024 * 1024
_CHUNK = 256 * 1024


class ApiError(Exception):
    """An error answer: status, JSON body, and whether it is exempt from the error budget."""

    def __init__(
        self,
        status: int,
        body: Mapping[str, Any] | str,
        *,
        exempt: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(str(body))
        self.status = status
        self.body: dict[str, Any] = {"error": body} if isinstance(body, str) else dict(body)
        self.exempt = exempt
        self.headers = dict(headers or {})


def detailed_error(issues: list[dict[str, Any]]) -> ApiError:
    """A 400 DetailedError: a Zod `format()` tree in `details` plus the raw `issues`."""
    details: dict[str, Any] = {"_errors": []}
    for issue in issues:
        node = details
        for part in issue.get("path", []):
            node = node.setdefault(str(part), {"_errors": []})
        node["_errors"].append(issue["message"])
    return ApiError(
        400, {"error": "Invalid request parameters", "details": details, "issues": issues}
    )


@dataclass
class Body:
    """A parsed request: JSON fields or multipart text fields, plus multipart files."""

    fields: dict[str, Any]
    files: list[tuple[str, bytes]] = field(default_factory=list)
    multipart: bool = False


async def _read_capped(read: Callable[[int], Awaitable[bytes]], cap: int) -> bytes | None:
    """Read everything, returning None when it exceeds `cap` (the rest is drained, bounded)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await read(_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > _HARD_LIMIT:
            raise ApiError(413, _JSON_TOO_LARGE, exempt=True)
        if size <= cap:
            chunks.append(chunk)
    return None if size > cap else b"".join(chunks)


async def read_body(
    request: web.Request, *, allow_multipart: bool = True, empty_status: int = 400
) -> Body:
    """Read a JSON or multipart body under the API's size limits and Content-Type rules."""
    ctype = request.content_type
    length = request.content_length
    if length is not None and length > _HARD_LIMIT:
        raise ApiError(413, _JSON_TOO_LARGE, exempt=True)
    if ctype == "multipart/form-data" and allow_multipart:
        return await _read_multipart(request)
    if ctype != "application/json":
        empty = length == 0 or (length is None and not request.can_read_body)
        if empty and empty_status == 415:
            raise ApiError(415, "Invalid request content-type", exempt=True)
        raise ApiError(400, "'Content-Type' must be 'application/json'", exempt=True)
    raw = await _read_capped(request.content.read, C.MAX_JSON_BYTES)
    if raw is None:
        raise ApiError(413, _JSON_TOO_LARGE, exempt=True)
    if not raw.strip():
        if empty_status == 415:
            raise ApiError(415, "Invalid request content-type", exempt=True)
        raise ApiError(400, "Invalid JSON request", exempt=True)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "Invalid JSON request", exempt=True) from None
    if not isinstance(data, dict):
        raise detailed_error(
            [
                {
                    "code": "invalid_type",
                    "expected": "object",
                    "received": _type_name(data),
                    "path": [],
                    "message": f"Expected object, received {_type_name(data)}",
                }
            ]
        )
    return Body(fields=data)


async def _read_multipart(request: web.Request) -> Body:
    body = Body(fields={}, multipart=True)
    try:
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                raise ApiError(400, "Nested multipart bodies are not supported")
            name = part.name or ""
            if part.filename is not None:
                data = await _read_capped(part.read_chunk, C.MAX_IMAGE_BYTES)
                if data is None:
                    raise ApiError(413, _FILE_TOO_LARGE)
                body.files.append((name, data))
            else:
                text = await _read_capped(part.read_chunk, 1024 * 1024)
                if text is None:
                    raise ApiError(413, _JSON_TOO_LARGE, exempt=True)
                value = text.decode("utf-8", errors="replace")
                existing = body.fields.get(name)
                if existing is None:
                    body.fields[name] = value
                elif isinstance(existing, list):
                    existing.append(value)
                else:
                    body.fields[name] = [existing, value]
    except (ValueError, AssertionError, RuntimeError):
        raise ApiError(400, "Malformed multipart body", exempt=True) from None
    return body


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@dataclass(frozen=True)
class Field:
    """A schema entry: type ('string', 'boolean', 'number', 'string[]'), enum, bounds."""

    type: str
    required: bool = False
    enum: tuple[str, ...] | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False


def _coerce(value: Any, spec: Field) -> Any:
    """Multipart text parts arrive as strings; read booleans and numbers like the server."""
    if not isinstance(value, str):
        return value
    if spec.type == "boolean" and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if spec.type == "number":
        try:
            return float(value)
        except ValueError:
            return value
    return value


def validate(body: Body, schema: Mapping[str, Field], *, strict: bool = True) -> dict[str, Any]:
    """Check `body.fields` against `schema`; unknown keys are an error when `strict`."""
    issues: list[dict[str, Any]] = []
    fields = dict(body.fields)
    if strict:
        unknown = [k for k in fields if k not in schema]
        if unknown:
            keys = ", ".join(f"'{k}'" for k in unknown)
            issues.append(
                {
                    "code": "unrecognized_keys",
                    "keys": unknown,
                    "path": [],
                    "message": f"Unrecognized key(s) in object: {keys}",
                }
            )
    out: dict[str, Any] = {}
    for name, spec in schema.items():
        if name not in fields:
            if spec.required:
                issues.append(
                    {
                        "code": "invalid_type",
                        "expected": spec.type,
                        "received": "undefined",
                        "path": [name],
                        "message": "Required",
                    }
                )
            continue
        value = fields[name]
        if body.multipart:
            value = [_coerce(v, spec) for v in value] if isinstance(value, list) else value
            value = _coerce(value, spec)
        issue = _check(name, value, spec)
        if issue:
            issues.append(issue)
        else:
            out[name] = value
    if issues:
        raise detailed_error(issues)
    return out


def _as_any(value: object) -> Any:
    return value


_PY_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "boolean": bool,
    "number": (int, float),
    "string[]": list,
}


def _check(name: str, value: Any, spec: Field) -> dict[str, Any] | None:
    path: list[Any] = [name]
    if value is None and spec.nullable:
        return None
    expected = _PY_TYPES[spec.type]
    if not isinstance(value, expected) or (spec.type == "number" and isinstance(value, bool)):
        received = _type_name(value)
        exp = "array" if spec.type == "string[]" else spec.type
        return {
            "code": "invalid_type",
            "expected": exp,
            "received": received,
            "path": path,
            "message": f"Expected {exp}, received {received}",
        }
    value = _as_any(value)
    if spec.type == "string[]":
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item:
                return {
                    "code": "invalid_type",
                    "expected": "string",
                    "received": _type_name(item),
                    "path": [name, i],
                    "message": "Expected a non-empty string",
                }
        if spec.min_length is not None and len(value) < spec.min_length:
            return _too_small(path, spec.min_length, "array")
        return None
    if spec.type == "string":
        if spec.enum is not None and value not in spec.enum:
            options = " | ".join(f"'{o}'" for o in spec.enum)
            return {
                "code": "invalid_enum_value",
                "options": list(spec.enum),
                "received": value,
                "path": path,
                "message": f"Invalid enum value. Expected {options}, received '{value}'",
            }
        if spec.min_length is not None and len(value) < spec.min_length:
            return _too_small(path, spec.min_length, "string")
        if spec.max_length is not None and len(value) > spec.max_length:
            return _too_big(path, spec.max_length, "string")
    if spec.type == "number":
        if spec.minimum is not None and value < spec.minimum:
            return _too_small(path, spec.minimum, "number")
        if spec.maximum is not None and value > spec.maximum:
            return _too_big(path, spec.maximum, "number")
    return None


def _too_small(path: list[Any], minimum: float, kind: str) -> dict[str, Any]:
    unit = {"string": " character(s)", "array": " element(s)"}.get(kind, "")
    return {
        "code": "too_small",
        "minimum": minimum,
        "type": kind,
        "inclusive": True,
        "exact": False,
        "path": path,
        "message": f"{kind.capitalize()} must contain at least {minimum:g}{unit}"
        if unit
        else f"Number must be greater than or equal to {minimum:g}",
    }


def _too_big(path: list[Any], maximum: float, kind: str) -> dict[str, Any]:
    unit = {"string": " character(s)", "array": " element(s)"}.get(kind, "")
    return {
        "code": "too_big",
        "maximum": maximum,
        "type": kind,
        "inclusive": True,
        "exact": False,
        "path": path,
        "message": f"{kind.capitalize()} must contain at most {maximum:g}{unit}"
        if unit
        else f"Number must be less than or equal to {maximum:g}",
    }


_DATA_URI = re.compile(r"^data:image/[A-Za-z0-9.+-]+;base64,(?P<data>.*)$", re.DOTALL)


def image_bytes(
    value: str,
    *,
    field_name: str,
    allow_data_uri: bool = True,
    allow_url: bool = True,
    fetch: Callable[[str], bytes | None] | None = None,
) -> bytes:
    """Bytes of a JSON image field: raw base64, a data URI or an http(s) URL."""
    text = value.strip()
    if text.startswith(("http://", "https://")):
        if not allow_url:
            raise ApiError(400, f"{field_name} must be base64-encoded image data, not a URL")
        data = fetch(text) if fetch else None
        if data is None:
            raise ApiError(404, f"Failed to fetch image from URL: {text}")
        return data
    match = _DATA_URI.match(text)
    if match:
        if not allow_data_uri:
            raise ApiError(400, f"{field_name} must be raw base64, not a data URI")
        text = match.group("data")
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, f"Invalid base64 data in {field_name}") from None
