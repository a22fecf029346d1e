"""The ``inpaint_async`` logger, secret-header redaction and the ``INPAINT_LOG`` switch."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping

from ._constants import ENV_LOG, SECRET_HEADERS

logger = logging.getLogger("inpaint_async")

_configured = False


def setup_logging() -> None:
    """Switch logging on when ``INPAINT_LOG`` is ``debug`` or ``info`` (once per process)."""
    global _configured
    if _configured:
        return
    _configured = True
    level = os.environ.get(ENV_LOG, "").strip().lower()
    if level not in ("debug", "info"):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if level == "debug" else logging.INFO)


def redact_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
) -> dict[str, str]:
    """A copy of ``headers`` with every credential-bearing header replaced by ``***``."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {k: ("***" if k.lower() in SECRET_HEADERS else v) for k, v in items}
