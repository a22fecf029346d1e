"""``client.images``: the image endpoints."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._constants import MAX_JSON_BYTES
from .._exceptions import ValidationError
from .._inputs import ImageInput, prepare_image
from .._retry import RetryPolicy
from .._transport import Body
from ..types.params import EditParams, RequestModel, build_params, wire_fields
from ..types.results import EditResult

if TYPE_CHECKING:
    from .._client import InpaintClient

__all__ = ["Images"]


def resolve_output(output: str | os.PathLike[str] | None) -> Path | None:
    """Check an ``output=`` path locally: its folder must exist and it must not be a folder."""
    if output is None:
        return None
    path = Path(output)
    if path.is_dir():
        raise ValidationError(f"output: {path} is a directory; give a file path", param="output")
    if not path.parent.is_dir():
        raise ValidationError(f"output: the folder {path.parent} does not exist", param="output")
    return path


def form_value(value: Any) -> str:
    """A field value as a multipart text part (booleans as ``true``/``false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build_body(params: RequestModel, images: Mapping[str, Any]) -> Body:
    """JSON when every image is a string value, else multipart with streamed file parts."""
    fields = wire_fields(params)
    prepared = {name: prepare_image(img, field=name, param=name) for name, img in images.items()}
    if all(p.part is None for p in prepared.values()):
        payload = {**{name: p.json_value for name, p in prepared.items()}, **fields}
        size = sum(len(str(v)) for v in payload.values())
        if size > MAX_JSON_BYTES:
            raise ValidationError("the JSON body would exceed the API's 35 MB limit", param="image")
        return Body(json=payload)
    if any(p.part is None for p in prepared.values()):
        raise ValidationError(
            "mixing files with URLs/base64 in one request is not supported; pass all images "
            "the same way",
            param="image",
        )
    return Body(
        fields=[(k, form_value(v)) for k, v in fields.items()],
        files=[p.part for p in prepared.values() if p.part is not None],
    )


class Images:
    """Image endpoints. Reached as ``client.images``."""

    def __init__(self, client: InpaintClient) -> None:
        self._client = client

    async def edit(
        self,
        image: ImageInput,
        prompt: str,
        *,
        model: str | None = None,
        aspect_ratio: str | None = None,
        resolution: str | None = None,
        output_format: str | None = None,
        safe_mode: bool | None = None,
        enhance_prompt: bool | None = None,
        disable_prompt_optimization_thinking: bool | None = None,
        output: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        extra_headers: Mapping[str, str] | None = None,
        **unknown: Any,
    ) -> EditResult:
        """Edit (inpaint) one image from a text prompt: ``POST /image/edit``.

        Only the parameters you set are sent; the server applies its defaults for the rest
        (model ``firered-image-edit``, PNG at 1K).

        Args:
            image: Bytes, a path, a binary file object, an ``http(s)://`` URL, base64 or a data
                URI. Files and bytes are streamed as multipart; strings travel as JSON.
            prompt: What to change, 1 to 32,768 characters (the model may allow fewer).
            model: A ``type=inpaint`` model id. ``modelId=`` is accepted as a deprecated alias.
            aspect_ratio: ``"16:9"`` etc.; omit for the ratio closest to the input.
            resolution: ``"1K"``, ``"2K"`` or ``"4K"`` for models with resolution tiers.
            output_format: ``"png"``, ``"jpeg"`` (``"jpg"`` is accepted) or ``"webp"``.
            safe_mode: Blur adult output (server default ``True``).
            enhance_prompt: Let the server rewrite the prompt first (+$0.04 when applied).
            disable_prompt_optimization_thinking: For models that support it.
            output: Stream the image to this file (atomically) instead of keeping it in memory.
            timeout: Read timeout for this call, per attempt (seconds).
            retry: A :class:`RetryPolicy` for this call only.
            extra_headers: Extra request headers.

        Raises:
            ValidationError: A local mistake (file, prompt, parameter); nothing was sent.
            APIStatusError: The server refused (a subclass per status).
            OutcomeUnknownError: Sent, but no answer; the edit may have been charged.
        """
        if "modelId" in unknown:
            model_id = unknown.pop("modelId")
            warnings.warn("modelId is deprecated; use model=", DeprecationWarning, stacklevel=2)
            model = model or model_id
        if "quality" in unknown:
            raise ValidationError(
                "/image/edit does not accept quality (the server answers 400); to choose a "
                "quality tier use images.multi_edit(images=[image], quality=...)",
                param="quality",
            )
        params = build_params(
            EditParams,
            {
                **unknown,
                "prompt": prompt,
                "model": model,
                "aspect_ratio": aspect_ratio,
                "resolution": resolution,
                "output_format": output_format,
                "safe_mode": safe_mode,
                "enhance_prompt": enhance_prompt,
                "disable_prompt_optimization_thinking": disable_prompt_optimization_thinking,
            },
        )
        out = resolve_output(output)
        body = build_body(params, {"image": image})
        raw = await self._client.request(
            "POST",
            "/image/edit",
            body=body,
            output=out,
            timeout=timeout,
            retry=retry,
            extra_headers=extra_headers,
        )
        return self._client.image_result(raw, EditResult)
