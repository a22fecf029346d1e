"""Image routes: edit, multi-edit, upscale and background removal, from validation to the charge."""

from __future__ import annotations

import asyncio
import math
import urllib.parse
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .. import _constants as C
from . import _images
from ._catalogue import (
    ALL_ASPECT_RATIOS,
    BG_REMOVER_ID,
    DEFAULT_EDIT_MODEL,
    UPSCALER_ID,
    edit_price,
)
from ._common import API_PREFIX, MIN_WALLET, RECORD, VENICE_VERSION, Caller, Job, drop
from ._limits import TIMEOUT_TEXT
from ._parse import ApiError, Field, detailed_error, image_bytes, read_body, validate
from ._x402 import low_credit_402

if TYPE_CHECKING:
    from ._app import Emulator

__all__ = ["BG_SCHEMA", "EDIT_SCHEMA", "MULTI_EDIT_SCHEMA", "UPSCALE_SCHEMA", "ImageRoutes"]

INSUFFICIENT_BALANCE = (
    "Insufficient USD or Diem balance to complete request. "
    "Visit https://venice.ai/settings/api to add credits."
)
CONTENT_VIOLATION = "Your prompt violates the content policy of Venice.ai or the model provider"

_ASPECT = (*ALL_ASPECT_RATIOS, "4:3")
_FORMATS = ("jpeg", "png", "webp", "jpg")
_COMMON: dict[str, Field] = {
    "prompt": Field("string", required=True, min_length=1, max_length=C.MAX_PROMPT_CHARS),
    "aspect_ratio": Field("string", enum=_ASPECT),
    "resolution": Field("string", min_length=1, max_length=10),
    "output_format": Field("string", enum=_FORMATS),
    "safe_mode": Field("boolean"),
    "enhance_prompt": Field("boolean"),
    "disable_prompt_optimization_thinking": Field("boolean"),
}
EDIT_SCHEMA: dict[str, Field] = {
    "image": Field("string", required=True, min_length=1),
    "model": Field("string", min_length=1),
    "modelId": Field("string", min_length=1),
    **_COMMON,
}
MULTI_EDIT_SCHEMA: dict[str, Field] = {
    "images": Field("string[]", required=True, min_length=1),
    "modelId": Field("string", min_length=1),
    "quality": Field("string", enum=("low", "medium", "high")),
    **_COMMON,
}
UPSCALE_SCHEMA: dict[str, Field] = {
    "image": Field("string", required=True, min_length=1),
    "scale": Field("number", minimum=2, maximum=4),
    "creativity": Field("number", nullable=True),
}
BG_SCHEMA: dict[str, Field] = {
    "image": Field("string", min_length=1),
    "image_url": Field("string", min_length=1),
}

_Prepare = Callable[[web.Request, Caller], Awaitable[Job]]


class ImageRoutes:
    """The paid image routes: each validates into a `Job`, then one path admits, renders and bills."""

    def __init__(self, emu: Emulator) -> None:
        self._emu = emu

    def register(self, app: web.Application) -> None:
        p = API_PREFIX
        app.router.add_post(p + "/image/edit", self._edit)
        app.router.add_post(p + "/image/multi-edit", self._multi_edit)
        app.router.add_post(p + "/image/upscale", self._upscale)
        app.router.add_post(p + "/image/background-remove", self._background_remove)

    # -- the shared path -------------------------------------------------------------------------

    async def _image_route(
        self, request: web.Request, route: str, prepare: _Prepare
    ) -> web.StreamResponse:
        caller = await self._emu._auth.authenticate(request)
        wallet = caller.payer if caller.kind == "wallet" else None
        with self._emu._limits.wallet_slot(wallet):
            return await self._run_job(request, route, caller, prepare)

    async def _admit(
        self, request: web.Request, caller: Caller, model_id: str, price: Decimal
    ) -> dict[str, str]:
        """Balance, then per-(payer, model) rate limit; returns the rate-limit headers."""
        emu = self._emu
        balance = emu._accounts.balance_of(caller.payer)
        if caller.kind == "wallet" and balance < MIN_WALLET:
            settings = emu.settings
            raise low_credit_402(request, balance, pay_to=settings.pay_to, now=settings.clock())
        if caller.kind == "key" and balance < price:
            raise ApiError(402, INSUFFICIENT_BALANCE)
        return emu._limits.take_rate(caller.payer, model_id)

    async def _run_job(
        self, request: web.Request, route: str, caller: Caller, prepare: _Prepare
    ) -> web.StreamResponse:
        emu = self._emu
        limits = emu._limits
        limits.check_lockout(caller.payer, limits.bucket(request, None))
        job = await prepare(request, caller)
        headers = await self._admit(request, caller, job.model_id, job.price)
        record = request[RECORD]
        fault, early = await limits.apply_fault(request, route)
        if early is not None:
            early.headers.update(headers)
            return early
        if emu.settings.latency:
            await asyncio.sleep(emu.settings.latency)
        data = await emu._run(job.render)
        balance_before = emu._accounts.balance_of(caller.payer)
        emu._accounts.charge(
            caller.payer,
            job.price,
            request_id=record.request_id,
            model=job.model_id,
            at=emu.settings.clock(),
        )
        if fault is not None and fault.kind == "504_after_charge":
            return web.json_response({"error": TIMEOUT_TEXT}, status=504)
        headers.update(self._success_headers(caller, job, balance_before))
        headers["Content-Type"] = _images.sniff_content_type(data)
        headers[C.H_CF_RAY] = record.request_id
        headers[C.H_VENICE_VERSION] = VENICE_VERSION
        if fault is not None and fault.kind == "truncate":
            response = web.StreamResponse(status=200, headers=headers)
            response.content_length = len(data)
            await response.prepare(request)
            await response.write(data[: max(1, len(data) // 2)])
            drop(request)
        return web.Response(body=data, status=200, headers=headers)

    def _success_headers(self, caller: Caller, job: Job, balance_before: Decimal) -> dict[str, str]:
        model = job.model
        headers = {
            C.H_MODEL_ID: model["id"],
            C.H_MODEL_NAME: model["model_spec"].get("name", model["id"]),
            C.H_IS_BLURRED: "true" if job.blurred else "false",
            C.H_IS_CONTENT_VIOLATION: "false",
        }
        if caller.kind == "wallet":
            if self._emu.settings.send_balance_remaining:
                balance = self._emu._accounts.balance_of(caller.payer)
                headers[C.H_BALANCE_REMAINING] = f"{balance:.6f}"
        else:
            headers[C.H_BALANCE_USD] = f"{balance_before:.6f}"
        deprecation = model["model_spec"].get("deprecation")
        if deprecation:
            headers[C.H_DEPRECATED] = "true"
            headers[C.H_DEPRECATION_WARNING] = (
                f"{model['id']} is deprecated and will be removed on {deprecation.get('removesAt')}"
            )
            headers[C.H_DEPRECATION_DATE] = str(
                deprecation.get("removesAt") or deprecation.get("date")
            )
            if deprecation.get("replacementModelId"):
                headers[C.H_DEPRECATED_REPLACEMENT] = deprecation["replacementModelId"]
        if job.enhanced_prompt is not None:
            headers[C.H_ENHANCED_PROMPT] = urllib.parse.quote(job.enhanced_prompt, safe="")
        if "no_model_headers" in self._emu.settings.deviations:
            del headers[C.H_MODEL_ID], headers[C.H_MODEL_NAME]
        return headers

    # -- validation ------------------------------------------------------------------------------

    def _fetch(self, url: str) -> bytes | None:
        return self._emu.url_images.get(url)

    def _resolve_model(self, model_id: str, *, type_: str = "inpaint") -> dict[str, Any]:
        model = self._emu.model(model_id)
        if model is None or model.get("type") != type_:
            raise ApiError(400, "Invalid model id")
        return model

    def _check_prompt(self, prompt: str, model: dict[str, Any]) -> None:
        limit = int(model["model_spec"].get("constraints", {}).get("promptCharacterLimit", 1500))
        if len(prompt) > limit:
            raise detailed_error(
                [
                    {
                        "code": "too_big",
                        "maximum": limit,
                        "type": "string",
                        "inclusive": True,
                        "exact": False,
                        "path": ["prompt"],
                        "message": f"Prompt must be at most {limit} characters for {model['id']}",
                    }
                ]
            )
        phrase = self._emu.settings.content_policy_phrase
        if phrase and phrase.lower() in prompt.lower():
            raise ApiError(422, CONTENT_VIOLATION)

    @staticmethod
    def _check_constraints(
        fields: dict[str, Any], model: dict[str, Any], *, multi: bool
    ) -> tuple[str | None, str | None]:
        """Validate ratio/resolution/quality; return (tier, quality) to render and bill."""
        constraints = model["model_spec"].get("constraints", {})
        ratio = fields.get("aspect_ratio")
        allowed = constraints.get("aspectRatios", ALL_ASPECT_RATIOS)
        if ratio is not None and ratio not in allowed:
            raise ApiError(
                400,
                f"Aspect ratio {ratio} is not supported by {model['id']}. "
                f"Supported: {', '.join(allowed)}",
            )
        resolutions = constraints.get("resolutions")
        tier = fields.get("resolution")
        if tier is not None:
            if not resolutions:
                if not multi:
                    raise ApiError(400, f"{model['id']} does not support the resolution parameter")
                tier = None
            elif tier not in resolutions:
                raise ApiError(
                    400,
                    f"Resolution {tier} is not supported by {model['id']}. "
                    f"Supported: {', '.join(resolutions)}",
                )
        if tier is None and resolutions:
            tier = constraints.get("defaultResolution", resolutions[0])
        quality = fields.get("quality")
        qualities = constraints.get("qualities")
        if quality is not None:
            if not qualities:
                quality = None
            elif quality not in qualities:
                raise ApiError(
                    400,
                    f"Quality {quality} is not supported by {model['id']}. "
                    f"Supported: {', '.join(qualities)}",
                )
        return tier, quality

    @staticmethod
    def _default_format(fields: dict[str, Any], tier: str | None) -> str:
        fmt = fields.get("output_format")
        if fmt:
            return str(fmt)
        return "jpeg" if tier in ("2K", "4K") else "png"

    async def _decode(self, data: bytes, *, too_large_status: int = 422) -> _images.Decoded:
        try:
            decoded: _images.Decoded = await self._emu._run(
                lambda: _images.decode(data, too_large_status=too_large_status)
            )
        except _images.BadImage as exc:
            raise ApiError(exc.status, exc.message) from None
        return decoded

    def _edit_job(
        self,
        model: dict[str, Any],
        fields: dict[str, Any],
        images: list[_images.Decoded],
        *,
        multi: bool,
    ) -> Job:
        settings = self._emu.settings
        prompt: str = fields["prompt"]
        self._check_prompt(prompt, model)
        tier, quality = self._check_constraints(fields, model, multi=multi)
        constraints = model["model_spec"].get("constraints", {})
        enhance = bool(fields.get("enhance_prompt", False))
        enhanced = f"{prompt}, highly detailed, sharp focus" if enhance else None
        final_prompt = enhanced or prompt
        safe = bool(fields.get("safe_mode", True))
        blur = settings.blur_phrase
        blurred = safe and bool(blur) and blur.lower() in prompt.lower()
        base = images[0]
        if constraints.get("singleImageAspectRatio", True) is False and len(images) == 1:
            size = (base.width, base.height)
        else:
            size = _images.output_size(
                (base.width, base.height),
                aspect_ratio=fields.get("aspect_ratio"),
                supported=constraints.get("aspectRatios", ALL_ASPECT_RATIOS),
                tier=tier or "1K",
                max_side=settings.max_output_side,
            )
        fmt = self._default_format(fields, tier)
        price = edit_price(
            model, resolution=tier, quality=quality, images=len(images), enhance_prompt=enhance
        )

        def render() -> bytes:
            return _images.edit(
                base.image,
                [d.image for d in images[1:]],
                prompt=final_prompt,
                size=size,
                fmt=fmt,
                blur=blurred,
            )

        return Job(model, price, render, blurred=blurred, enhanced_prompt=enhanced)

    # -- routes ----------------------------------------------------------------------------------

    async def _edit(self, request: web.Request) -> web.StreamResponse:
        async def prepare(request: web.Request, caller: Caller) -> Job:
            body = await read_body(request)
            schema = dict(EDIT_SCHEMA)
            deviations = self._emu.settings.deviations
            if not self._emu.settings.strict_quality:
                schema["quality"] = Field("string", enum=("low", "medium", "high"))
            files = body.files
            if len(files) > 1:
                raise ApiError(400, "Only one file is allowed")
            if files:
                name = files[0][0]
                if name != "image" or "image" in body.fields:
                    raise ApiError(400, "The file must be sent in the 'image' field")
                body.fields["image"] = "<file>"
            if "lenient_unknown_fields" in deviations and not body.multipart:
                body.fields = {k: v for k, v in body.fields.items() if k in schema}
            fields = validate(body, schema)
            model_id = fields.get("model") or fields.get("modelId") or DEFAULT_EDIT_MODEL
            model = self._resolve_model(model_id)
            raw = (
                files[0][1]
                if files
                else image_bytes(fields["image"], field_name="image", fetch=self._fetch)
            )
            self._check_prompt(fields["prompt"], model)
            self._check_constraints(fields, model, multi=False)
            decoded = await self._decode(raw, too_large_status=422)
            return self._edit_job(model, fields, [decoded], multi=False)

        return await self._image_route(request, "/image/edit", prepare)

    async def _multi_edit(self, request: web.Request) -> web.StreamResponse:
        async def prepare(request: web.Request, caller: Caller) -> Job:
            body = await read_body(request, empty_status=415)
            if body.multipart:
                if "model" in body.fields:
                    raise detailed_error(
                        [
                            {
                                "code": "unrecognized_keys",
                                "keys": ["model"],
                                "path": [],
                                "message": "Unrecognized key(s) in object: 'model'",
                            }
                        ]
                    )
                if any(name != "images" for name, _ in body.files):
                    raise ApiError(400, "Files must be sent in the 'images' field")
                if len(body.files) > 10:
                    raise ApiError(400, "At most 10 files are allowed")
                text_images = body.fields.pop("images", [])
                text_images = text_images if isinstance(text_images, list) else [text_images]
                body.fields = {k: v for k, v in body.fields.items() if k in MULTI_EDIT_SCHEMA}
                body.fields["images"] = ["<file>"] * len(body.files) + list(text_images)
            if "multi_edit_rejects_quality" in self._emu.settings.deviations and (
                "quality" in body.fields
            ):
                raise ApiError(400, "Unrecognized key(s) in object: 'quality'")
            fields = validate(body, MULTI_EDIT_SCHEMA, strict=not body.multipart)
            model = self._resolve_model(fields.get("modelId") or DEFAULT_EDIT_MODEL)
            constraints = model["model_spec"].get("constraints", {})
            limit = constraints.get("maxInputImages") or (
                3 if constraints.get("combineImages", True) else 1
            )
            if len(fields["images"]) > limit:
                raise ApiError(400, f"{model['id']} accepts at most {limit} input image(s)")
            raws = [data for _, data in body.files]
            for item in fields["images"][len(raws) :]:
                raws.append(image_bytes(item, field_name="images", fetch=self._fetch))
            self._check_prompt(fields["prompt"], model)
            self._check_constraints(fields, model, multi=True)
            decoded = [await self._decode(raw, too_large_status=400) for raw in raws]
            return self._edit_job(model, fields, decoded, multi=True)

        return await self._image_route(request, "/image/multi-edit", prepare)

    async def _upscale(self, request: web.Request) -> web.StreamResponse:
        async def prepare(request: web.Request, caller: Caller) -> Job:
            body = await read_body(request)
            if body.files:
                if len(body.files) > 1:
                    raise ApiError(400, "Only one file is allowed")
                body.fields["image"] = "<file>"
            fields = validate(body, UPSCALE_SCHEMA, strict=False)
            raw = (
                body.files[0][1]
                if body.files
                else image_bytes(
                    fields["image"], field_name="image", allow_data_uri=False, allow_url=False
                )
            )
            scale = float(fields.get("scale", 2))
            decoded = await self._decode(raw, too_large_status=400)
            w, h = decoded.width, decoded.height
            effective = min(scale, math.sqrt(_images.UPSCALE_MAX_PIXELS / (w * h)))
            if effective < 1.0:
                raise ApiError(400, "Image is too large to upscale")
            price = Decimal("0.02") if effective <= 2 else Decimal("0.08")
            model = self._emu.model(UPSCALER_ID) or {
                "id": UPSCALER_ID,
                "model_spec": {"name": "Upscaler"},
            }
            max_side = self._emu.settings.max_output_side

            def render() -> bytes:
                data, _ = _images.upscale(decoded.image, scale=effective, max_side=max_side)
                return data

            return Job(model, price, render)

        return await self._image_route(request, "/image/upscale", prepare)

    async def _background_remove(self, request: web.Request) -> web.StreamResponse:
        async def prepare(request: web.Request, caller: Caller) -> Job:
            body = await read_body(request)
            if body.multipart:
                if "model" in body.fields:
                    raise ApiError(400, "invalid model id")
                if "image_url" in body.fields:
                    raise ApiError(400, "image_url is not accepted in multipart requests")
                if len(body.files) != 1 or body.files[0][0] != "image":
                    raise ApiError(400, "Send exactly one file in the 'image' field")
                raw = body.files[0][1]
            else:
                if "model" in body.fields:
                    raise ApiError(400, "invalid model id")
                fields = validate(body, BG_SCHEMA)
                if ("image" in fields) == ("image_url" in fields):
                    raise detailed_error(
                        [
                            {
                                "code": "custom",
                                "path": [],
                                "message": "Provide exactly one of image or image_url",
                            }
                        ]
                    )
                if "image" in fields:
                    raw = image_bytes(fields["image"], field_name="image", allow_url=False)
                else:
                    url = fields["image_url"]
                    if not url.startswith(("http://", "https://")):
                        raise ApiError(400, "image_url must be an http(s) URL")
                    raw = image_bytes(url, field_name="image_url", fetch=self._fetch)
            decoded = await self._decode(raw, too_large_status=400)
            model = self._emu.model(BG_REMOVER_ID) or {
                "id": BG_REMOVER_ID,
                "model_spec": {"name": "Bria Background Remover"},
            }
            max_side = self._emu.settings.max_output_side

            def render() -> bytes:
                return _images.background_remove(decoded.image, max_side=max_side)

            return Job(model, Decimal("0.03"), render)

        return await self._image_route(request, "/image/background-remove", prepare)
