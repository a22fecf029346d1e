"""The CLI's output helpers: untrusted text is inert, JSON is plain, pipes get plain text."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from rich.text import Text

from inpaint_async import BadRequestError
from inpaint_async.cli._output import Output, clean, error_document, jsonable, make_console, safe


def test_clean_strips_escape_sequences_and_control_characters() -> None:
    """CSI colours, OSC hyperlinks and titles, C1 controls, bidi overrides and BEL are removed."""
    hostile = (
        "a\x1b[31mred\x1b[0m b\x1b]8;;http://evil\x07link\x1b]8;;\x07 c\x1b]0;title\x1b\\"
        "\x9b2J d\u202eevil\x07\x00e"
    )
    assert clean(hostile) == "ared blink c devile"


def test_clean_puts_everything_on_one_line() -> None:
    """A server message cannot forge a second output line."""
    assert clean("one\r\ntwo\tthree\n") == "one two three "


def test_clean_replaces_undecodable_file_name_bytes() -> None:
    """A surrogate-escaped file name still prints (and encodes) instead of raising."""
    name = b"photo-\xff.png".decode("utf-8", "surrogateescape")
    assert clean(name).encode("utf-8") == b"photo-?.png"


def test_safe_text_renders_literally_in_markup() -> None:
    """`[/]`, `[bold]` and a trailing backslash render as typed, inside any markup string."""
    message = "bad [/] and [bold red]not bold[/bold red] \\"
    rendered = Text.from_markup(f"[red]error:[/] [yellow]{safe(message)}[/]")
    assert rendered.plain == f"error: {message}"


def test_jsonable_turns_sdk_values_into_plain_json() -> None:
    """Decimals and paths become strings, dataclasses objects, datetimes ISO text."""

    @dataclass
    class Point:
        x: Decimal
        where: Path

    when = datetime(2026, 1, 2, tzinfo=UTC)
    value = {"p": Point(Decimal("0.04"), Path("/tmp/a.png")), "at": when, "b": b"xyz", 3: (1,)}
    assert jsonable(value) == {
        "p": {"x": "0.04", "where": "/tmp/a.png"},
        "at": "2026-01-02T00:00:00+00:00",
        "b": "<3 bytes>",
        "3": [1],
    }


def test_error_document_carries_status_and_request_id_without_control_codes() -> None:
    """The --json error object names the class, the status, the request id and the exit code."""
    exc = _bad_request("bad \x1b[2J[/]")
    doc = error_document(exc, 2)
    assert doc["error"]["type"] == "BadRequestError"
    assert doc["error"]["status_code"] == 400
    assert doc["error"]["exit_code"] == 2
    assert doc["error"]["request_id"] == "rid-1"
    assert "\x1b" not in doc["error"]["message"]
    assert "[/]" in doc["error"]["message"]


def _bad_request(message: str) -> BadRequestError:
    return BadRequestError(
        message, status_code=400, body={"error": message}, headers={}, request_id="rid-1"
    )


def test_a_pipe_gets_no_colour_and_no_wrapping() -> None:
    """Not a terminal: styles are dropped and a long line stays whole."""
    buf = io.StringIO()
    console = make_console(buf)
    long = " ".join(["word"] * 60)
    console.print(f"[red]{long}[/]")
    assert buf.getvalue() == long + "\n"


def test_output_json_mode_writes_one_document_and_sends_prose_to_stderr() -> None:
    """Under --json, stdout is exactly one JSON document; `say` goes to stderr."""
    out, err = io.StringIO(), io.StringIO()
    output = Output(json=True, stdout=out, stderr=err)
    output.say("hello [b]there[/b]")
    output.emit({"usd": Decimal("1.50")})
    assert json.loads(out.getvalue()) == {"usd": "1.50"}
    assert err.getvalue() == "hello there\n"


def test_output_fail_prints_hostile_messages_literally() -> None:
    """A 400 whose message holds markup and escapes is printed as text, not interpreted."""
    out, err = io.StringIO(), io.StringIO()
    output = Output(json=True, stdout=out, stderr=err)
    assert output.fail(_bad_request("nope [/] \x1b[31mred"), 2) == 2
    assert "nope [/] red" in err.getvalue()
    assert json.loads(out.getvalue())["error"]["message"].endswith("nope [/] red")
