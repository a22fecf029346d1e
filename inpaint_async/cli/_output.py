"""Everything the ``inpaint-async`` commands print goes through here.

The rules (every command module follows them; new commands get them by using :class:`Output`):

* **Results on stdout, everything else on stderr.** Progress bars, logs, warnings, prompts and
  errors go to ``Output.err``; a script piping stdout gets only the result.
* **``--json``**: stdout carries exactly one JSON document (:meth:`Output.emit`), or one JSON
  object per line for a stream of events (:meth:`Output.event`, the batch). An error is the
  document ``{"error": {...}}`` (:meth:`Output.fail`) and the usual line on stderr.
* **Untrusted text is never markup.** A server message, a file name or anything read from a file
  may contain ``[/]`` (Rich markup: printing it crashed the CLI) or escape sequences (they would
  drive the terminal). Interpolate such text into a markup string only through :func:`safe`
  (control characters stripped, markup escaped); use :func:`clean` for plain text.
* **Not a terminal: no colour, no control codes, no wrapping.** Lines stay whole for ``grep``.

A command module of its own uses it like this::

    from ._output import Output, safe

    def run(args: argparse.Namespace) -> int:
        output = Output.from_args(args)
        if output.json:
            output.emit({"pages": 3})
        else:
            output.say(f"wrote [bold]{safe(path)}[/]")
        return 0
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import IO, Any

from rich.console import Console
from rich.markup import escape

__all__ = ["Output", "clean", "error_document", "jsonable", "make_console", "safe"]

# Escape sequences first (so their parameters go with them), then any remaining control
# character. CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), the 8-bit CSI, other two-byte
# ESC sequences.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|\x1b[@-Z\\-_]?"
)
# C0 and C1 controls and DEL; the bidirectional overrides that reorder what a reader sees.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile(r"[\t\n\r]+")


def clean(value: object) -> str:
    """``str(value)`` on one line, without control characters or terminal escape sequences.

    Tabs and line breaks become one space (a server message cannot forge a second output line);
    every other control character, ANSI/OSC escape sequence and bidi override is removed.
    Surrogates from undecodable file names are replaced, so the text always encodes.
    """
    text = value if isinstance(value, str) else str(value)
    text = _ESCAPES.sub("", text)
    text = _LINE_BREAKS.sub(" ", text)
    text = _CONTROLS.sub("", text)
    return text.encode("utf-8", "replace").decode("utf-8")


def safe(value: object) -> str:
    """:func:`clean` text, escaped for interpolation into a Rich markup string."""
    return escape(clean(value))


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: Decimals and paths as strings, models and dataclasses as
    objects, datetimes in ISO 8601."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return jsonable(dump(mode="json"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return str(value)


def error_document(exc: BaseException, exit_code: int) -> dict[str, Any]:
    """The ``{"error": {...}}`` document of ``--json`` for an error."""
    body: dict[str, Any] = {
        "type": type(exc).__name__,
        "message": clean(getattr(exc, "message", None) or exc),
        "exit_code": exit_code,
    }
    for name in ("status_code", "request_id", "code", "param"):
        value = getattr(exc, name, None)
        if value is not None:
            body[name] = jsonable(value)
    return {"error": body}


def make_console(file: IO[str] | None = None, *, stderr: bool = False) -> Console:
    """A Rich console for the CLI: no highlighting or emoji codes; when ``file`` is not a
    terminal, no colour, no control codes and no wrapping."""
    console = Console(file=file, stderr=stderr, highlight=False, emoji=False, soft_wrap=True)
    if not console.is_terminal:
        # Rich only styles terminals (or FORCE_COLOR); a pipe also gets no hyperlinks and
        # no width: long lines stay whole.
        console.no_color = True
    else:
        console.soft_wrap = False
    return console


class Output:
    """Where a command writes: its result on stdout (text or JSON), the rest on stderr.

    Attributes:
        json: ``--json`` was given: stdout is one JSON document or JSON lines.
        out: The stdout console (results in text mode only).
        err: The stderr console (progress, logs, warnings, errors; in both modes).
    """

    def __init__(
        self,
        *,
        json: bool = False,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
    ) -> None:
        self.json = json
        self._stdout = stdout
        self.out = make_console(stdout)
        self.err = make_console(stderr, stderr=stderr is None)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Output:
        """The output of a parsed command line (its ``--json`` flag)."""
        return cls(json=bool(getattr(args, "json", False)))

    def _write(self, line: str) -> None:
        stream = self._stdout if self._stdout is not None else sys.stdout
        stream.write(line + "\n")
        stream.flush()

    def emit(self, document: Any) -> None:
        """Write ``document`` as the command's one JSON document on stdout."""
        self._write(json.dumps(jsonable(document), indent=2))

    def event(self, document: Any) -> None:
        """Write ``document`` as one JSON line on stdout (a stream of events), flushed."""
        self._write(json.dumps(jsonable(document), separators=(",", ":")))

    def say(self, markup: str) -> None:
        """A human line of the result: stdout in text mode, stderr under ``--json``.

        ``markup`` is Rich markup: wrap anything from a server or a file in :func:`safe`.
        """
        (self.err if self.json else self.out).print(markup)

    def note(self, markup: str) -> None:
        """A line for the person at the terminal (progress, hints, warnings): always stderr."""
        self.err.print(markup)

    def fail(self, exc: BaseException, exit_code: int) -> int:
        """Report an error: ``error: Class: message (request id …)`` on stderr and, under
        ``--json``, the error document on stdout. Returns ``exit_code``."""
        from ._errors import describe_error

        self.err.print(f"[red]error:[/] {safe(describe_error(exc))}")
        if self.json:
            self.emit(error_document(exc, exit_code))
        return exit_code
