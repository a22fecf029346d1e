"""Shared fixtures. The emulator fixture comes from the package's own pytest plugin."""

from __future__ import annotations

import inspect

import aiohttp
import aioresponses.core

# --- aioresponses 0.7.9 vs aiohttp >= 3.14 -------------------------------------------------------
# aiohttp 3.14 (a security release) made `stream_writer` a required keyword of
# ClientResponse.__init__; aioresponses 0.7.9 does not pass it (aioresponses issue #289, fixed by the
# unreleased PR #288). Until a release carries the fix, give aioresponses a ClientResponse whose
# stream_writer defaults to a stub. Remove this block when aioresponses > 0.7.9 is out.


class _StubStreamWriter:
    output_size = 0


if "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters:

    class _CompatClientResponse(aiohttp.ClientResponse):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            kwargs.setdefault("stream_writer", _StubStreamWriter())
            super().__init__(*args, **kwargs)

    aioresponses.core.ClientResponse = _CompatClientResponse  # type: ignore[misc]
