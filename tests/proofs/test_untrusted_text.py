"""Issue 13 item 11: text from a server or a file name is never Rich markup, never a terminal
escape. A 400 whose message held `[/]` crashed the CLI and aborted a running batch; escape
sequences in messages reached the terminal."""

from __future__ import annotations

import io
import json
from pathlib import Path

from aiohttp import web
from PIL import Image

from inpaint_async.testing._catalogue import build_catalogue
from tests.cli.conftest import clean_env, run_cli, write_png

#: Markup that crashes a Rich print, an OSC hyperlink, a screen clear, a title change, a bell.
HOSTILE = (
    "bad [/] request [bold red]x \x1b]8;;http://evil.test\x07click\x1b]8;;\x07 "
    "\x1b[2J\x1b]0;pwned\x07\x07 end"
)
SHOWN = "bad [/] request [bold red]x click  end"


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 20, 30)).save(buf, format="PNG")
    return buf.getvalue()


async def _hostile_server(serve_app, reject: set[int]) -> tuple[str, list[int]]:
    """A server whose edits number `reject` (1-based) get a 400 carrying HOSTILE."""
    seen: list[int] = []
    catalogue = [m for m in build_catalogue() if m.get("type") == "inpaint"]
    png = _png()

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "type": "inpaint", "data": catalogue})

    async def edit(request: web.Request) -> web.Response:
        await request.read()
        seen.append(len(seen) + 1)
        headers = {"CF-RAY": f"ray-{len(seen)}"}
        if len(seen) in reject:
            return web.json_response({"error": HOSTILE}, status=400, headers=headers)
        return web.Response(body=png, content_type="image/png", headers=headers)

    app = web.Application()
    app.router.add_get("/api/v1/models", models)
    app.router.add_post("/api/v1/image/edit", edit)
    origin = await serve_app(app)
    return origin + "/api/v1", seen


async def test_a_hostile_400_message_is_printed_literally(serve_app, tmp_path: Path) -> None:
    """`edit` meeting a 400 with `[/]` and escapes: exit 2, the message as text, no ESC byte."""
    base_url, _ = await _hostile_server(serve_app, reject={1})
    image = write_png(tmp_path / "in.png")
    env = clean_env(VENICE_API_KEY="VENICE_INFERENCE_KEY_" + "t" * 8)
    run = await run_cli("--base-url", base_url, "edit", str(image), "x",
                        "-o", str(tmp_path / "out.png"), env=env)  # fmt: skip
    assert run.code == 2, run.err
    assert "Traceback" not in run.err
    assert SHOWN in run.err
    assert "\x1b" not in run.out + run.err
    assert "\x07" not in run.out + run.err


async def test_a_hostile_400_does_not_abort_a_batch(serve_app, tmp_path: Path) -> None:
    """Jobs 2 and 6 get the hostile 400; the other four complete and the batch exits 1."""
    base_url, seen = await _hostile_server(serve_app, reject={2, 6})
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(5):
        write_png(folder / f"img{i}.png", shade=i * 20)
    # A file name is untrusted text too.
    write_png(folder / "zz[bold]\x1b[31mevil.png")
    env = clean_env(VENICE_API_KEY="VENICE_INFERENCE_KEY_" + "t" * 8)
    run = await run_cli("--base-url", base_url, "batch", str(folder), "--prompt", "x",
                        "--out", str(tmp_path / "out"), "--concurrency", "1", env=env,
                        timeout=60)  # fmt: skip
    assert run.code == 1, run.err
    assert "Traceback" not in run.err
    # The file with an escape in its name fails (locally or at the server); it is named literally.
    assert len(seen) >= 5, run.out + run.err
    assert "4 succeeded, 2 failed" in run.out
    assert run.err.count(SHOWN) >= 1
    assert "zz[bold]evil.png" in run.err
    assert "\x1b" not in run.out + run.err
    assert len(list((tmp_path / "out").glob("*.png"))) == 4


async def test_json_lines_carry_the_message_escaped_not_raw(serve_app, tmp_path: Path) -> None:
    """`batch --json`: one JSON object per line; control characters are escaped or stripped."""
    base_url, _ = await _hostile_server(serve_app, reject={1})
    folder = tmp_path / "in"
    folder.mkdir()
    write_png(folder / "a.png")
    env = clean_env(VENICE_API_KEY="VENICE_INFERENCE_KEY_" + "t" * 8)
    run = await run_cli("--base-url", base_url, "batch", str(folder), "--prompt", "x",
                        "--out", str(tmp_path / "out"), "--json", "--quiet", env=env)  # fmt: skip
    assert run.code == 1, run.err
    assert "\x1b" not in run.out
    events = [json.loads(line) for line in run.out.splitlines()]
    assert [e["event"] for e in events] == ["job", "summary"]
    assert events[0]["status"] == "failed"
    assert events[0]["error"]["message"] == SHOWN
    assert events[0]["error"]["status_code"] == 400
