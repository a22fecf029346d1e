"""``client.images``: the image endpoints."""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar, Unpack

from .._checks import check_request, resolve_model
from .._constants import MAX_JSON_BYTES
from .._exceptions import ValidationError
from .._inputs import ImageInput, PreparedImage, prepare_image
from .._options import Query, RequestOptions
from .._retry import RetryPolicy
from .._wire import Body
from ..types.params import (
    AspectRatio,
    EditParams,
    Endpoint,
    MultiEditParams,
    OutputFormatChoice,
    Quality,
    RequestModel,
    Resolution,
    UpscaleParams,
    build_params,
    wire_fields,
)
from ..types.results import (
    BackgroundRemoveResult,
    EditResult,
    ImageResult,
    MultiEditResult,
    UpscaleResult,
)

if TYPE_CHECKING:
    from .._client import InpaintClient
    from ..types.catalogue import Model

__all__ = ["Images"]

R = TypeVar("R", bound=ImageResult)

#: Multipart file parts the API takes on multi-edit (a transport limit, whatever the model).
MAX_MULTIPART_IMAGES = 10

_MIXED = (
    "mixing files (bytes, paths, file objects) with URLs/base64 in one request is not "
    "supported; pass all images the same way"
)


def resolve_output(output: str | os.PathLike[str] | None) -> Path | None:
    """Check an ``output=`` path before anything is sent (and paid for).

    Its folder must exist, it must not be a folder, and a file must be creatable in that folder
    (a read-only folder or file system is found now, not after a paid answer).
    """
    if output is None:
        return None
    path = Path(output)
    if path.is_dir():
        raise ValidationError(f"output: {path} is a directory; give a file path", param="output")
    if not path.parent.is_dir():
        raise ValidationError(f"output: the folder {path.parent} does not exist", param="output")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ValidationError(
            f"output: cannot write in {path.parent} ({reason}); nothing was sent", param="output"
        ) from None
    os.close(fd)
    os.unlink(probe)
    return path


def form_value(value: Any) -> str:
    """A field value as a multipart text part (booleans as ``true``/``false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build_body(
    fields: Mapping[str, Any],
    field: str,
    images: Sequence[PreparedImage],
    *,
    as_list: bool = False,
) -> Body:
    """JSON when every image is a string value (one, or a list with ``as_list``), else multipart
    with the images as streamed ``field`` file parts and ``fields`` as text parts."""
    if all(p.json_value is not None for p in images):
        size = sum(len(str(p.json_value)) for p in images)
        size += sum(len(str(v)) for v in fields.values())
        if size > MAX_JSON_BYTES:
            raise ValidationError("the JSON body would exceed the API's 35 MB limit", param=field)
        values = [p.json_item for p in images]
        return Body(json={field: values if as_list else values[0], **fields})
    files = [p.part for p in images if p.part is not None]
    if len(files) != len(images):
        raise ValidationError(_MIXED, param=field)
    return Body(fields=[(k, form_value(v)) for k, v in fields.items()], files=files)


def _is_url(value: object) -> bool:
    return isinstance(value, str) and value.strip()[:8].lower().startswith(("http://", "https:/"))


def _raw_base64(prepared: PreparedImage) -> PreparedImage:
    """A data URI's payload alone (upscale's JSON takes raw base64 only)."""
    value = prepared.json_value
    if value is not None and value[:5].lower() == "data:":
        return PreparedImage(json_value="".join(value.partition(",")[2].split()))
    return prepared


class Images:
    """Image endpoints. Reached as ``client.images``."""

    def __init__(self, client: InpaintClient) -> None:
        self._client = client

    def _check(self, endpoint: Endpoint, params: RequestModel, *, images: int) -> Model | None:
        """Check the request against the cached catalogue, when there is one and validation is on.

        Returns:
            The model's catalogue entry, or ``None`` when the catalogue is not consulted.
        """
        if not self._client.validate:
            return None
        catalogue = self._client.models.cached("inpaint")
        if catalogue is None:
            return None
        values = params.model_dump(exclude_none=True)
        model = resolve_model(catalogue, values.get("model"))
        if model is None:
            return None
        check_request(
            model,
            endpoint=endpoint,
            prompt=values.get("prompt"),
            aspect_ratio=values.get("aspect_ratio"),
            resolution=values.get("resolution"),
            quality=values.get("quality"),
            images=images,
        )
        return model

    async def _post(
        self,
        path: str,
        body: Body,
        cls: type[R],
        output: Path | None,
        call: CallOptions,
        *,
        quality: Quality | None = None,
        priced: tuple[Endpoint, RequestModel, int] | None = None,
    ) -> R:
        """Send one image call (``call`` holds the per-call keywords) and build its result.

        ``priced`` (endpoint, params, images) lets a wallet's daily edit-spend cap reserve the
        call's estimated price before it is sent (see :mod:`inpaint_async.spend`).
        """
        options = RequestOptions.build("POST", path, body=body, output=output, **call)
        hooks = self._client._wallet_hooks
        if priced is not None and hooks is not None and hooks.edit_cap is not None:
            endpoint, params, images = priced
            values = params.model_dump(exclude_none=True)

            async def price() -> Decimal:
                return await self._client.estimate_cost(
                    values.get("model"),
                    resolution=values.get("resolution"),
                    quality=values.get("quality"),
                    images=images,
                    enhance_prompt=bool(values.get("enhance_prompt")),
                    endpoint=endpoint,
                )

            raw = await hooks.paid_call(price, lambda: self._client.send(options), label=path)
        else:
            raw = await self._client.send(options)
        return self._client.image_result(raw, cls, endpoint=path, quality=quality)

    async def edit(
        self,
        image: ImageInput,
        prompt: str,
        *,
        model: str | None = None,
        quality: Quality | None = None,
        aspect_ratio: AspectRatio | None = None,
        resolution: Resolution | None = None,
        output_format: OutputFormatChoice | None = None,
        safe_mode: bool | None = None,
        enhance_prompt: bool | None = None,
        disable_prompt_optimization_thinking: bool | None = None,
        output: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Query | None = None,
        extra_body: Mapping[str, object] | None = None,
        **unknown: Unpack[DeprecatedKeywords],
    ) -> EditResult:
        """Edit (inpaint) one image from a text prompt: ``POST /image/edit``.

        Only the parameters you set are sent; the server applies its defaults for the rest
        (model ``firered-image-edit``, PNG at 1K).

        ``quality`` works as the endpoint's documentation describes, whatever the live schema
        says: by default the call goes to ``POST /image/multi-edit`` with the one image (which
        takes ``quality``); ``InpaintClient(edit_quality_route="edit")`` sends it to
        ``/image/edit`` instead. A model known (from the loaded catalogue) to have no quality
        tiers ignores it, and the call stays on ``/image/edit``. ``result.endpoint`` and
        ``result.quality`` say what was done.

        Args:
            image: Bytes, a path, a binary file object, an ``http(s)://`` URL, base64 or a data
                URI. Files and bytes are streamed as multipart; strings travel as JSON.
            prompt: What to change, 1 to 32,768 characters (the model may allow fewer).
            model: A ``type=inpaint`` model id. ``modelId=`` is accepted as a deprecated alias.
            quality: ``"low"``, ``"medium"`` or ``"high"`` for models with quality tiers (the
                price follows it); omitted = the model's ``defaultQuality`` (high for
                ``gpt-image-2-edit``).
            aspect_ratio: ``"16:9"`` etc. ``"auto"`` (or omitting it) picks the ratio closest to
                the input; ``"auto"`` is never sent, since some models reject it and an omitted
                field means the same.
            resolution: ``"1K"``, ``"2K"`` or ``"4K"`` for models with resolution tiers.
            output_format: ``"png"``, ``"jpeg"`` (``"jpg"`` is accepted) or ``"webp"``.
            safe_mode: Blur adult output (server default ``True``).
            enhance_prompt: Let the server rewrite the prompt first (+$0.04 when applied).
            disable_prompt_optimization_thinking: For models that support it.
            output: Stream the image to this file instead of keeping it in memory. The answer is
                validated first: only a valid image replaces the file (atomically); a paid image
                that cannot be written raises :class:`OutputWriteError` carrying it.
            timeout: Read timeout for this call, per attempt (seconds).
            retry: A :class:`RetryPolicy` for this call only.
            extra_headers: Headers sent as given with this call (they override the client's
                defaults, never the auth header).
            extra_query: Query parameters sent as given.
            extra_body: Body fields the SDK does not know yet, sent as given and never
                validated (JSON values, or multipart text parts); they win over the SDK's own.

        Raises:
            ValidationError: A local mistake (file, prompt, parameter); nothing was sent.
            APIStatusError: The server refused (a subclass per status).
            OutcomeUnknownError: Sent, but no answer; the edit may have been charged.
            UnexpectedResponseError: A 2xx that is not a usable image (likely charged).
            OutputWriteError: The paid image could not be written to ``output``.
        """
        given: dict[str, Any] = dict(unknown)
        model = _model_alias(model, given)
        values = {
            **given,
            "prompt": prompt,
            "model": model,
            # An omitted aspect_ratio is auto on every model; "auto" itself is refused by some.
            "aspect_ratio": None if aspect_ratio == "auto" else aspect_ratio,
            "resolution": resolution,
            "output_format": output_format,
            "safe_mode": safe_mode,
            "enhance_prompt": enhance_prompt,
            "disable_prompt_optimization_thinking": disable_prompt_optimization_thinking,
        }
        params = build_params(EditParams, {**values, "quality": quality})
        entry = self._check("edit", params, images=1)
        if quality is not None and entry is not None and not entry.constraints.qualities:
            quality = None  # the model has no quality tiers: it ignores the field
        out = resolve_output(output)
        call = _call(timeout, retry, extra_headers, extra_query, extra_body)
        # Priced as an edit at this quality whichever route it takes (a one-image multi-edit
        # costs the same), so a daily edit-spend cap reserves the right amount.
        priced: tuple[Endpoint, RequestModel, int] = ("edit", params, 1)
        if quality is not None and self._client.edit_quality_route == "multi_edit":
            multi = build_params(MultiEditParams, {**values, "quality": quality})
            prepared = prepare_image(image, field="images")
            body = build_body(wire_fields(multi), "images", [prepared], as_list=True)
            return await self._post(
                "/image/multi-edit", body, EditResult, out, call, quality=quality, priced=priced
            )
        fields = wire_fields(params)
        if quality is None:
            fields.pop("quality", None)
        body = build_body(fields, "image", [prepare_image(image)])
        return await self._post(
            "/image/edit", body, EditResult, out, call, quality=quality, priced=priced
        )

    async def multi_edit(
        self,
        images: Sequence[ImageInput],
        prompt: str,
        *,
        model: str | None = None,
        quality: Quality | None = None,
        aspect_ratio: AspectRatio | None = None,
        resolution: Resolution | None = None,
        output_format: OutputFormatChoice | None = None,
        safe_mode: bool | None = None,
        enhance_prompt: bool | None = None,
        disable_prompt_optimization_thinking: bool | None = None,
        output: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Query | None = None,
        extra_body: Mapping[str, object] | None = None,
        **unknown: Unpack[DeprecatedKeywords],
    ) -> MultiEditResult:
        """Edit from one or more images and a prompt: ``POST /image/multi-edit``.

        The first image is the base; the others are layers, references or masks. The model is
        sent as ``modelId`` (this endpoint rejects ``model``).

        Args:
            images: A list of 1..N images, all files (bytes, paths, binary file objects: streamed
                as repeated ``images`` multipart parts, at most 10) or all strings (URLs, base64,
                data URIs: a JSON list). Mixing the two is a :class:`ValidationError`. N is the
                model's ``maxInputImages`` (checked when the catalogue is loaded).
            prompt: What to make of them.
            model: A ``type=inpaint`` model id; the server default is ``firered-image-edit``.
            quality: ``"low"``, ``"medium"`` or ``"high"`` for models with quality tiers
                (ignored by the others); omitted = the model's ``defaultQuality``.
            aspect_ratio: As for :meth:`edit`; ``auto`` follows the first image.
            resolution: A tier of the model (dropped by the server for models without tiers).
            output_format: As for :meth:`edit`.
            safe_mode: As for :meth:`edit`.
            enhance_prompt: As for :meth:`edit`.
            disable_prompt_optimization_thinking: As for :meth:`edit`.
            output: As for :meth:`edit`.
            timeout: As for :meth:`edit`.
            retry: As for :meth:`edit`.
            extra_headers: As for :meth:`edit`.
            extra_query: As for :meth:`edit`.
            extra_body: As for :meth:`edit`.

        Raises:
            ValidationError: A local mistake, or a catalogue constraint; nothing was sent.
            APIStatusError: The server refused (a subclass per status).
            OutcomeUnknownError: Sent, but no answer; the edit may have been charged.
        """
        given: dict[str, Any] = dict(unknown)
        model = _model_alias(model, given)
        if isinstance(images, str | bytes | bytearray | memoryview) or not isinstance(
            images, Sequence
        ):
            raise ValidationError(
                "images must be a list of images (use images=[image] for one)", param="images"
            )
        if not images:
            raise ValidationError("images must hold at least one image", param="images")
        params = build_params(
            MultiEditParams,
            {
                **given,
                "prompt": prompt,
                "model": model,
                "quality": quality,
                "aspect_ratio": aspect_ratio,
                "resolution": resolution,
                "output_format": output_format,
                "safe_mode": safe_mode,
                "enhance_prompt": enhance_prompt,
                "disable_prompt_optimization_thinking": disable_prompt_optimization_thinking,
            },
        )
        entry = self._check("multi_edit", params, images=len(images))
        if (
            aspect_ratio == "auto"
            and entry is not None
            and "auto" not in entry.constraints.aspect_ratios
        ):
            # The model does not list "auto", and an omitted aspect_ratio means the same.
            params = params.model_copy(update={"aspect_ratio": None})
        out = resolve_output(output)
        prepared = [
            prepare_image(img, field="images", param=f"images[{i}]") for i, img in enumerate(images)
        ]
        body = build_body(wire_fields(params), "images", prepared, as_list=True)
        if len(body.files) > MAX_MULTIPART_IMAGES:
            raise ValidationError(
                f"multipart requests take at most {MAX_MULTIPART_IMAGES} files; got {len(body.files)}",
                param="images",
            )
        call = _call(timeout, retry, extra_headers, extra_query, extra_body)
        return await self._post(
            "/image/multi-edit", body, MultiEditResult, out, call, quality=quality,
            priced=("multi_edit", params, len(images)),
        )  # fmt: skip

    async def upscale(
        self,
        image: ImageInput,
        *,
        scale: float | None = None,
        creativity: float | None = None,
        output: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Query | None = None,
        extra_body: Mapping[str, object] | None = None,
    ) -> UpscaleResult:
        """Upscale one image 2x to 4x: ``POST /image/upscale`` (model ``upscaler``, PNG out).

        Args:
            image: Bytes, a path or a binary file object (streamed as multipart), raw base64, or a
                data URI (sent as its raw base64 payload: this endpoint's JSON takes nothing
                else). URLs are refused locally: the server does not fetch them here.
            scale: 2 to 4 (server default 2). The server lowers it when the output would exceed
                16,777,216 pixels. Billed $0.02 up to 2x, $0.08 above.
            creativity: 0 to 0.02 (server default 0.01).
            output: As for :meth:`edit`.
            timeout: As for :meth:`edit`.
            retry: As for :meth:`edit`.
            extra_headers: As for :meth:`edit`.
            extra_query: As for :meth:`edit`.
            extra_body: As for :meth:`edit`.
        """
        params = build_params(UpscaleParams, {"scale": scale, "creativity": creativity})
        if _is_url(image):
            raise ValidationError(
                "image: /image/upscale does not take URLs; download the image and pass its "
                "bytes or path",
                param="image",
            )
        out = resolve_output(output)
        body = build_body(wire_fields(params), "image", [_raw_base64(prepare_image(image))])
        call = _call(timeout, retry, extra_headers, extra_query, extra_body)
        return await self._post("/image/upscale", body, UpscaleResult, out, call)

    async def background_remove(
        self,
        image: ImageInput | None = None,
        *,
        image_url: str | None = None,
        output: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Query | None = None,
        extra_body: Mapping[str, object] | None = None,
    ) -> BackgroundRemoveResult:
        """Cut the subject out (PNG with alpha): ``POST /image/background-remove``.

        Give exactly one of ``image`` and ``image_url``.

        Args:
            image: Bytes, a path or a binary file object (multipart), base64 or a data URI
                (JSON). An ``http(s)://`` URL given here is sent as ``image_url``.
            image_url: A public ``http(s)://`` URL the server fetches.
            output: As for :meth:`edit`.
            timeout: As for :meth:`edit`.
            retry: As for :meth:`edit`.
            extra_headers: As for :meth:`edit`.
            extra_query: As for :meth:`edit`.
            extra_body: As for :meth:`edit`.
        """
        if (image is None) == (image_url is None):
            raise ValidationError(
                "background_remove takes exactly one of image= and image_url=", param="image"
            )
        if image is not None and _is_url(image):
            image, image_url = None, str(image).strip()
        if image_url is not None:
            if not _is_url(image_url):
                raise ValidationError(
                    f"image_url must be an http(s):// URL, got {image_url[:40]!r}",
                    param="image_url",
                )
            body = Body(json={"image_url": image_url.strip()})
        else:
            body = build_body({}, "image", [prepare_image(image)])
        out = resolve_output(output)
        call = _call(timeout, retry, extra_headers, extra_query, extra_body)
        return await self._post("/image/background-remove", body, BackgroundRemoveResult, out, call)


class DeprecatedKeywords(TypedDict, total=False):
    """Keywords accepted for compatibility only (any other unknown keyword is a type error,
    and at run time a ValidationError with a suggestion)."""

    modelId: str


class CallOptions(TypedDict):
    """The per-call keywords every image method takes besides its own fields."""

    timeout: float | None
    retry: RetryPolicy | None
    extra_headers: Mapping[str, str] | None
    extra_query: Query | None
    extra_body: Mapping[str, object] | None


def _call(
    timeout: float | None,
    retry: RetryPolicy | None,
    extra_headers: Mapping[str, str] | None,
    extra_query: Query | None,
    extra_body: Mapping[str, object] | None,
) -> CallOptions:
    return CallOptions(
        timeout=timeout,
        retry=retry,
        extra_headers=extra_headers,
        extra_query=extra_query,
        extra_body=extra_body,
    )


def _model_alias(model: str | None, unknown: dict[str, Any]) -> str | None:
    """Accept the deprecated ``modelId=`` keyword as ``model`` (``model`` wins when both)."""
    if "modelId" not in unknown:
        return model
    model_id = unknown.pop("modelId")
    warnings.warn("modelId is deprecated; use model=", DeprecationWarning, stacklevel=3)
    return model or model_id
