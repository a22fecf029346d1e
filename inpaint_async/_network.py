"""Proxies and TLS trust: which proxy a URL goes through, and which certificates are trusted.

As requests and httpx do, the client honours ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` and
``NO_PROXY`` (upper or lower case) by default (``trust_env=True``); ``proxy=`` names one proxy
for every request instead. The environment is read once, when the client is built, and the
decision is cached per origin, so a request costs a dictionary lookup (aiohttp's own
``trust_env`` would hop to a thread on every request, and would also read ``~/.netrc``, whose
credentials must never be mixed with ours).

TLS: ``verify=True`` (the default) trusts the system store (OpenSSL also reads ``SSL_CERT_FILE``
and ``SSL_CERT_DIR``); a path trusts that CA bundle (a file) or folder instead; an
``ssl.SSLContext`` is used as given; ``False`` turns verification off (never do this against the
real API).
"""

from __future__ import annotations

import base64
import os
import ssl
from collections.abc import Mapping
from typing import Any

from yarl import URL

from ._exceptions import ConfigurationError

__all__ = ["NetworkOptions", "Verify"]

Verify = bool | str | os.PathLike[str] | ssl.SSLContext
"""``verify=``: ``True`` (system CAs), ``False`` (no verification), a CA bundle path, or a context."""


def _ssl_setting(verify: Verify) -> ssl.SSLContext | bool | None:
    """What aiohttp's ``ssl=`` gets: ``None`` for its default (system CAs)."""
    if verify is True:
        return None
    if verify is False:
        return False
    if isinstance(verify, ssl.SSLContext):
        return verify
    if isinstance(verify, str | os.PathLike):
        path = os.fspath(verify)
        try:
            if os.path.isdir(path):
                return ssl.create_default_context(capath=path)
            return ssl.create_default_context(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"verify: cannot load the CA bundle {path!r}: {exc}") from None
    raise ConfigurationError(
        "verify must be True, False, a CA bundle path or an ssl.SSLContext, "
        f"not {type(verify).__name__}"
    )


def _parse_proxy(value: str, source: str) -> tuple[URL, str | None]:
    try:
        url = URL(value.strip())
    except (ValueError, TypeError):
        raise ConfigurationError(f"{source}: not a valid proxy URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        # The message never echoes the value: it may carry credentials.
        raise ConfigurationError(f"{source}: the proxy must be an http:// or https:// URL")
    auth = None
    if url.user is not None:
        # What aiohttp's deprecated BasicAuth encodes (RFC 7617, latin-1 as its default).
        pair = f"{url.user}:{url.password or ''}".encode("latin-1", errors="replace")
        auth = "Basic " + base64.b64encode(pair).decode("ascii")
        url = url.with_user(None)
    return url, auth


class NetworkOptions:
    """Proxy choice and TLS trust for one client (and the clients derived from it).

    Args:
        proxy: A proxy URL (``http://[user:pass@]host:port``) for every request, or ``None``.
        trust_env: Read the proxy variables when ``proxy`` is not given.
        verify: TLS trust; see the module docstring.
        environ: The environment to read (default ``os.environ``); for tests.
    """

    __slots__ = ("_cache", "_env", "_fixed", "_ssl", "proxy", "trust_env", "verify")

    def __init__(
        self,
        *,
        proxy: str | None = None,
        trust_env: bool = True,
        verify: Verify = True,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if proxy is not None and not isinstance(proxy, str):
            raise ConfigurationError("proxy must be a URL string")
        self.proxy = proxy
        self.trust_env = bool(trust_env)
        self.verify = verify
        self._ssl = _ssl_setting(verify)
        self._fixed = _parse_proxy(proxy, "proxy") if proxy else None
        self._env: dict[str, str] = {}
        if self._fixed is None and self.trust_env:
            self._env = _proxies_from(os.environ if environ is None else environ)
        self._cache: dict[str, dict[str, Any]] = {}

    def request_kwargs(self, url: str) -> Mapping[str, Any]:
        """The ``proxy`` / ``proxy_headers`` / ``ssl`` keywords for a request to ``url``."""
        # Keyed by the URL's "scheme://authority" prefix: a string split, no URL parse per request.
        key = url[: url.find("/", url.find("//") + 2) % (len(url) + 1)]
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._decide(URL(url))
        return cached

    def apply(self, url: str, kwargs: dict[str, Any]) -> None:
        """Add the proxy and TLS keywords for ``url`` to aiohttp request ``kwargs``.

        aiohttp sends ``proxy_headers`` only on a CONNECT; a plain-HTTP request through an
        authenticated proxy carries ``Proxy-Authorization`` itself, so it is added to the headers.
        """
        extra = self.request_kwargs(url)
        kwargs.update(extra)
        proxy_headers = extra.get("proxy_headers")
        if proxy_headers and not url.startswith("https:"):
            kwargs["headers"] = {**kwargs.get("headers", {}), **proxy_headers}

    def _decide(self, url: URL) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self._ssl is not None:
            kwargs["ssl"] = self._ssl
        chosen = self._fixed
        if chosen is None and self._env:
            value = self._env.get(url.scheme) or self._env.get("all")
            host = url.host or ""
            if value and not _bypassed(host, url.port, self._env):
                chosen = _parse_proxy(value, f"{url.scheme.upper()}_PROXY")
        if chosen is not None:
            kwargs["proxy"] = chosen[0]
            if chosen[1] is not None:
                kwargs["proxy_headers"] = {"Proxy-Authorization": chosen[1]}
        return kwargs

    def describe(self, url: str) -> str:
        """Where a request to ``url`` goes: ``direct`` or the proxy's origin (no credentials)."""
        proxy = self.request_kwargs(url).get("proxy")
        return "direct" if proxy is None else f"proxy {proxy.origin()}"


def _proxies_from(environ: Mapping[str, str]) -> dict[str, str]:
    """``{scheme: proxy, "no": hosts}`` from ``*_PROXY`` variables, as urllib reads them: lower
    case wins, and ``HTTP_PROXY`` is ignored under CGI (``REQUEST_METHOD`` set; httpoxy)."""
    found: dict[str, str] = {}
    for name, value in environ.items():
        if value and name.lower().endswith("_proxy") and name != name.lower():
            found[name.lower()[: -len("_proxy")]] = value
    if "REQUEST_METHOD" in environ:
        found.pop("http", None)
    for name, value in environ.items():
        if value and name.endswith("_proxy") and name == name.lower():
            found[name[: -len("_proxy")]] = value
    return found


def _bypassed(host: str, port: int | None, proxies: Mapping[str, str]) -> bool:
    """Whether ``NO_PROXY`` exempts the host: ``*``, an exact host or ``host:port``, or a domain
    suffix (``example.com`` and ``.example.com`` both cover ``api.example.com``)."""
    host = host.lower()
    with_port = f"{host}:{port}"
    for entry in proxies.get("no", "").split(","):
        name = entry.strip().lstrip(".").lower()
        if not name:
            continue
        if name == "*" or name in (host, with_port) or host.endswith("." + name):
            return True
    return False
