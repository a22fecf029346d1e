"""Request checks against the model catalogue: pure functions, raising before anything is sent.

They run when the catalogue is loaded (``client.models.list()`` was called, or a cost estimate
loaded it) and the client validates (``InpaintClient(validate=True)``, the default). Each message
names the allowed values, so the fix is in the error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._exceptions import ValidationError

if TYPE_CHECKING:
    from .types.catalogue import Model, ModelCatalogue
    from .types.params import Endpoint

__all__ = ["check_request", "resolve_model"]


def _allowed(values: list[str]) -> str:
    return ", ".join(values) if values else "none"


def resolve_model(catalogue: ModelCatalogue, model_id: str | None) -> Model | None:
    """The catalogue entry for ``model_id``; ``None`` when no id is given and no default is tagged.

    Raises:
        ValidationError: ``model_id`` is not in the catalogue (the message lists close matches).
    """
    if model_id is None:
        return catalogue.default
    model = catalogue.get(model_id)
    if model is not None:
        return model
    close = catalogue.close_matches(model_id)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    kind = catalogue.type or "this"
    raise ValidationError(
        f"unknown model {model_id!r}: it is not in the {kind} catalogue{hint} "
        f"(client.models.list() shows all {len(catalogue)}; InpaintClient(validate=False) skips "
        "this check)",
        param="model",
    )


def check_request(
    model: Model,
    *,
    endpoint: Endpoint,
    prompt: str | None = None,
    aspect_ratio: str | None = None,
    resolution: str | None = None,
    quality: str | None = None,
    images: int = 1,
) -> None:
    """Check one edit or multi-edit request against ``model``'s constraints.

    A ``resolution`` for a model without tiers is an error on edit (the server answers 400) and
    is allowed on multi-edit (the server drops it). A ``quality`` for a model without qualities is
    allowed (the model ignores it). ``aspect_ratio="auto"`` is always allowed: the SDK omits it
    where the model does not list it, and an omitted ratio means auto.

    Raises:
        ValidationError: the request breaks a constraint; the message names the allowed values.
    """
    c = model.constraints
    mid = model.id
    limit = c.prompt_character_limit
    if prompt is not None and limit is not None and len(prompt) > limit:
        raise ValidationError(
            f"prompt is {len(prompt):,} characters; {mid} takes at most {limit:,}",
            param="prompt",
        )
    if (
        aspect_ratio is not None
        and aspect_ratio != "auto"
        and c.aspect_ratios
        and aspect_ratio not in c.aspect_ratios
    ):
        raise ValidationError(
            f"aspect_ratio {aspect_ratio!r} is not supported by {mid}; allowed: "
            f"{_allowed(c.aspect_ratios)} (or auto)",
            param="aspect_ratio",
        )
    if resolution is not None:
        if not c.resolutions:
            if endpoint == "edit":
                raise ValidationError(
                    f"{mid} has no resolution tiers; omit resolution (the server answers 400)",
                    param="resolution",
                )
        elif resolution not in c.resolutions:
            raise ValidationError(
                f"resolution {resolution!r} is not supported by {mid}; allowed: "
                f"{_allowed(c.resolutions)}",
                param="resolution",
            )
    if quality is not None and c.qualities and quality not in c.qualities:
        raise ValidationError(
            f"quality {quality!r} is not supported by {mid}; allowed: {_allowed(c.qualities)}",
            param="quality",
        )
    if endpoint == "multi_edit" and images > c.max_input_images:
        raise ValidationError(
            f"{mid} takes at most {c.max_input_images} input image(s) on multi-edit; got {images}",
            param="images",
        )
