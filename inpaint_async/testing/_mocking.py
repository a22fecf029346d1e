"""Mocking the SDK with aioresponses on current aiohttp.

aiohttp 3.14 (a security release) made ``stream_writer`` a required keyword of
``ClientResponse.__init__``; aioresponses 0.7.9 does not pass it, so every mocked response fails
with ``TypeError: ... missing 1 required keyword-only argument: 'stream_writer'`` (aioresponses
issue #289; the fix, PR #288, is not released). :func:`aioresponses_compat` installs a
``ClientResponse`` subclass that supplies a stub writer, only while it is active and only when the
installed aiohttp asks for the argument; it does nothing once aioresponses passes it itself.

Why a patch of aioresponses rather than a mock transport of our own: users already write
aioresponses mocks, the mock stays at aiohttp's boundary (our transport, retries and error mapping
run for real), and the shim is a dozen lines to delete when aioresponses releases its fix.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp

__all__ = ["aioresponses_compat", "needs_aioresponses_compat"]


class _StubStreamWriter:
    """What aiohttp reads from the writer of a response that was never written: its size."""

    output_size = 0


def needs_aioresponses_compat() -> bool:
    """Whether this aiohttp requires ``stream_writer`` and the installed aioresponses omits it."""
    if "stream_writer" not in inspect.signature(aiohttp.ClientResponse.__init__).parameters:
        return False
    import aioresponses.core

    source = inspect.getsource(aioresponses.core.RequestMatch._build_response)
    return "stream_writer" not in source


@contextmanager
def aioresponses_compat() -> Iterator[None]:
    """Make aioresponses work on aiohttp >= 3.14 for the duration of the ``with`` block.

    ``from inpaint_async.testing import aioresponses_compat``; in pytest, prefer the
    ``aioresponses_mock`` fixture, which applies it for you.
    """
    try:
        import aioresponses.core as core_module
    except ImportError:  # pragma: no cover - depends on the install
        raise ImportError(
            "mocking with aioresponses needs it installed: pip install 'inpaint-async[testing]'"
        ) from None
    if not needs_aioresponses_compat():
        yield
        return
    core: Any = core_module
    original = core.ClientResponse

    class CompatClientResponse(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("stream_writer", _StubStreamWriter())
            super().__init__(*args, **kwargs)

    core.ClientResponse = CompatClientResponse
    try:
        yield
    finally:
        core.ClientResponse = original
