"""The auth protocol: asked for headers once per HTTP attempt, given the method and full URL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NoReturn, Protocol, runtime_checkable

from .._constants import H_AUTHORIZATION
from .._exceptions import ConfigurationError


@runtime_checkable
class Auth(Protocol):
    """Anything that can authenticate one HTTP attempt.

    ``headers`` is awaited immediately before every attempt (retries included), so an
    implementation can sign each attempt freshly. It must not return the same single-use
    credential twice.
    """

    async def headers(self, method: str, url: str) -> Mapping[str, str]:
        """The headers that authenticate this attempt of ``method url``."""
        ...


class BearerAuth:
    """``Authorization: Bearer <api key>``. The key never appears in ``repr`` or logs."""

    __slots__ = ("_header",)

    def __init__(self, api_key: str) -> None:
        key = api_key.strip() if isinstance(api_key, str) else ""
        if not key:
            raise ConfigurationError("BearerAuth needs a non-empty API key")
        if any(c.isspace() for c in key):
            raise ConfigurationError("the API key contains whitespace; check how it was pasted")
        self._header = {H_AUTHORIZATION: f"Bearer {key}"}

    async def headers(self, method: str, url: str) -> Mapping[str, str]:
        """The same bearer header for every attempt."""
        return self._header

    def __repr__(self) -> str:
        return "BearerAuth(api_key='***')"

    def __reduce__(self) -> NoReturn:
        # Like WalletAuth: pickling would write the key in clear text (into a Ray object store,
        # a Celery broker, a core dump of a queue). Rebuild it in the worker from the environment.
        raise TypeError(
            "BearerAuth holds an API key and cannot be pickled or copied; build it again in "
            "the other process (BearerAuth(os.environ['VENICE_API_KEY']))"
        )
