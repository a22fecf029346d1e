"""The real transports: a stdio round trip (two server processes sharing one ledger file), and
streamable HTTP on 127.0.0.1 behind a bearer token."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client, StdioServerParameters

from inpaint_async.cli._app import main
from inpaint_async.cli._mcp import (
    ENV_HTTP_TOKEN,
    BearerTokenMiddleware,
    check_http_host,
    http_app,
)
from inpaint_async.testing import Emulator

from .conftest import edit_calls, error_of


def server_env(emu: Emulator) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VENICE_", "INPAINT_"))}
    env.update({"VENICE_API_KEY": emu.api_key, "VENICE_BASE_URL": emu.base_url})
    return env


async def test_stdio_round_trip_and_a_restart(
    key_env: Emulator, dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    """`inpaint-async mcp` over stdio edits an image; a second process on the same ledger file
    refuses the next edit at the per-day cap."""
    in_dir, out_dir = dirs
    args = [
        "-m", "inpaint_async.cli", "mcp", "--in-dir", str(in_dir), "--out-dir", str(out_dir),
        "--ledger", str(tmp_path / "stdio.sqlite3"), "--max-per-day-usd", "0.05", "--no-confirm",
    ]  # fmt: skip
    params = StdioServerParameters(command=sys.executable, args=args, env=server_env(key_env))
    with anyio.fail_after(60):
        async with Client(params) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            result = await client.call_tool("edit_image", {"image": "a.png", "prompt": "x"})
        assert "edit_image" in tools and "top_up_wallet" not in tools
        assert not result.is_error, result.structured_content
        assert Path(result.structured_content["path"]).is_file()  # type: ignore[index]
        async with Client(params) as client:
            again = await client.call_tool("edit_image", {"image": "b.png", "prompt": "y"})
    assert error_of(again)["code"] == "per_day_cap_exceeded"
    assert edit_calls(key_env) == 1


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def test_http_on_loopback_with_a_bearer_token(key_env: Emulator, make_app: Any) -> None:
    """Streamable HTTP on 127.0.0.1: no token or a wrong one is a 401; with the token, an MCP
    client lists the tools and edits."""
    import httpx2
    import uvicorn
    from mcp.client.streamable_http import streamable_http_client

    token = "tok-" + "9f" * 16
    app = make_app(no_confirm=True)
    sock = free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(http_app(app, "127.0.0.1", token), log_level="warning", lifespan="on")
    )
    url = f"http://127.0.0.1:{port}/mcp"
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: server.serve(sockets=[sock]))
        with anyio.fail_after(30):
            while not server.started:
                await anyio.sleep(0.02)
            async with httpx.AsyncClient() as plain:
                anon = await plain.post(url, json={})
                wrong = await plain.post(url, json={}, headers={"Authorization": "Bearer nope"})
            assert anon.status_code == wrong.status_code == 401
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as hc:
                async with Client(streamable_http_client(url, http_client=hc)) as client:
                    names = {t.name for t in (await client.list_tools()).tools}
                    result = await client.call_tool("edit_image", {"image": "a.png", "prompt": "x"})
        server.should_exit = True
    sock.close()
    assert "spend_status" in names
    assert not result.is_error, result.structured_content
    assert edit_calls(key_env) == 1


def test_other_hosts_need_a_token() -> None:
    """Binding beyond loopback without a token is refused; loopback is fine without one."""
    check_http_host("127.0.0.1", None)
    check_http_host("::1", None)
    check_http_host("0.0.0.0", "secret")
    with pytest.raises(Exception, match=ENV_HTTP_TOKEN):
        check_http_host("0.0.0.0", None)


async def test_bearer_middleware_passes_only_the_token() -> None:
    """The middleware answers 401 itself and hands the right token through."""
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    transport = httpx.ASGITransport(app=BearerTokenMiddleware(inner, "s3cret"))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
        assert (await c.get("/mcp")).status_code == 401
        assert (await c.get("/mcp", headers={"authorization": "Bearer s3cre"})).status_code == 401
        assert (await c.get("/mcp", headers={"authorization": "Bearer s3cret"})).status_code == 204
    assert seen == ["/mcp"]


def test_cli_refuses_a_public_host_without_a_token(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`inpaint-async mcp --http 8000 --host 0.0.0.0` without INPAINT_MCP_TOKEN: exit 2, no server."""
    monkeypatch.delenv(ENV_HTTP_TOKEN, raising=False)
    code = main(["mcp", "--in-dir", str(dirs[0]), "--out-dir", str(dirs[1]),
                 "--http", "8000", "--host", "0.0.0.0"])  # fmt: skip
    assert code == 2
    assert "refusing to serve on 0.0.0.0" in capsys.readouterr().err


def test_no_confirm_is_announced_loudly_on_stderr(
    key_env: Emulator, dirs: tuple[Path, Path]
) -> None:
    """--no-confirm: a warning block on stderr at start-up; stdout (the protocol) stays empty."""
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-m", "inpaint_async.cli", "mcp", "--in-dir", str(dirs[0]),
         "--out-dir", str(dirs[1]), "--ledger", ":memory:", "--no-confirm",
         "--max-per-day-usd", "none"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        env=server_env(key_env),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "WARNING: --no-confirm: paid calls run WITHOUT asking the user" in proc.stderr
    assert "per day none" in proc.stderr and "auth: API key" in proc.stderr


def test_without_the_extra_the_command_says_what_to_install(dirs: tuple[Path, Path]) -> None:
    """The CLI parses `mcp` without the extra; running it names `pip install 'inpaint-async[mcp]'`."""
    import subprocess

    script = (
        "import sys; sys.modules['mcp'] = None; from inpaint_async.cli import main; "
        f"sys.exit(main(['mcp', '--in-dir', {str(dirs[0])!r}, '--out-dir', {str(dirs[1])!r}]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "pip install 'inpaint-async[mcp]'" in proc.stderr
