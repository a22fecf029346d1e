"""``client.models``: the model catalogue (``GET /models``), typed and cached with a TTL."""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

import pydantic

from .._constants import H_CF_RAY
from .._exceptions import UnexpectedResponseError, ValidationError
from .._logging import logger
from ..auth import BearerAuth
from ..types.catalogue import Model, ModelCatalogue

if TYPE_CHECKING:
    from .._client import InpaintClient

__all__ = ["DEFAULT_CATALOGUE_TTL", "Models"]

#: Seconds a fetched catalogue is reused before ``list()`` fetches it again.
DEFAULT_CATALOGUE_TTL = 3600.0


class Models:
    """The model catalogue. Reached as ``client.models``.

    Catalogues are cached per base URL and type, shared with every client derived through
    ``with_options()``. A Bearer key is sent (a key restricted by ``modelPrivacy`` sees its
    filtered list, the one its requests are checked against); wallet auth is not, because the
    endpoint needs no auth and a signature would take one of the wallet's five in-flight slots.
    """

    def __init__(self, client: InpaintClient) -> None:
        self._client = client

    @property
    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = self._client._shared.setdefault(
            "catalogues", {"ttl": DEFAULT_CATALOGUE_TTL, "cache": {}, "locks": {}}
        )
        return state

    @property
    def ttl(self) -> float:
        """Seconds a catalogue stays fresh (default one hour); settable, shared by derived clients."""
        return float(self._state["ttl"])

    @ttl.setter
    def ttl(self, seconds: float) -> None:
        if seconds < 0:
            raise ValidationError("ttl must be >= 0 seconds", param="ttl")
        self._state["ttl"] = float(seconds)

    def _key(self, type: str) -> tuple[str, str]:
        return (self._client.base_url, type)

    def cached(self, type: str = "inpaint") -> ModelCatalogue | None:
        """The last catalogue fetched for ``type``, however old, without any I/O (or ``None``)."""
        cat: ModelCatalogue | None = self._state["cache"].get(self._key(type))
        return cat

    def clear_cache(self) -> None:
        """Forget every cached catalogue (validation stays off until the next ``list()``)."""
        self._state["cache"].clear()

    async def list(self, type: str = "inpaint", *, refresh: bool = False) -> ModelCatalogue:
        """The models of one type: ``GET /models?type=inpaint``.

        Args:
            type: ``inpaint`` (edit models, the default), ``upscale``, ``image``, ``all``, ...
                There is no ``edit`` type.
            refresh: Fetch even when the cached catalogue is still fresh.

        Returns:
            The typed catalogue. Loading the ``inpaint`` catalogue switches on the local request
            checks of ``images.edit`` and ``images.multi_edit`` (unless ``validate=False``).
        """
        if type == "edit":
            # The server's list of types is open, so only this well-known mistake is caught here.
            raise ValidationError("there is no model type 'edit'; use type='inpaint'", param="type")
        key = self._key(type)
        if not refresh and (fresh := self._fresh(key)) is not None:
            return fresh
        lock: asyncio.Lock = self._state["locks"].setdefault(key, asyncio.Lock())
        async with lock:
            # Concurrent first callers wait here and reuse the one fetch.
            if not refresh and (fresh := self._fresh(key)) is not None:
                return fresh
            catalogue = await self._fetch(type)
            self._state["cache"][key] = catalogue
            return catalogue

    def _fresh(self, key: tuple[str, str]) -> ModelCatalogue | None:
        cat: ModelCatalogue | None = self._state["cache"].get(key)
        if cat is not None and time.monotonic() - cat.fetched_at < self.ttl:
            return cat
        return None

    async def _fetch(self, type: str) -> ModelCatalogue:
        client = self._client
        raw = await client.request(
            "GET",
            "/models",
            params={"type": type},
            authenticate=isinstance(client.auth, BearerAuth),
        )
        request_id = raw.headers.get(H_CF_RAY)
        try:
            payload = json.loads(raw.content)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise UnexpectedResponseError(
                "GET /models did not return JSON", request_id=request_id
            ) from None
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise UnexpectedResponseError(
                "GET /models returned no data list", request_id=request_id
            )
        models: list[Model] = []
        for entry in payload["data"]:
            try:
                models.append(Model.model_validate(entry))
            except pydantic.ValidationError as exc:
                # One odd entry (a new model type, a half-filled spec) must not hide the rest.
                mid = entry.get("id") if isinstance(entry, dict) else None
                logger.warning("skipping catalogue entry %r: %s", mid, exc.errors()[0]["msg"])
        return ModelCatalogue.model_construct(
            object=payload.get("object", "list"),
            type=payload.get("type", type),
            data=models,
            fetched_at=time.monotonic(),
        )
