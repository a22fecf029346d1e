"""Proxies and TLS trust, through a loopback forward proxy that counts what passes."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme
from aiohttp import web

from inpaint_async import APIConnectionError, ConfigurationError, InpaintClient
from inpaint_async._network import NetworkOptions
from inpaint_async.testing import Emulator
from inpaint_async.testing.pytest_plugin import FIXTURE_SETTINGS

_REQUEST_LINE = re.compile(rb"(?m)^([A-Z]+) (\S+) HTTP/1\.1\r$")


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (320, 240), (10, 20, 30)).save(out, format="PNG")
    return out.getvalue()


PNG = _png()


@dataclass
class ForwardProxy:
    """An HTTP forward proxy on 127.0.0.1 (absolute-form requests and CONNECT tunnels) that
    records every request line and Proxy-Authorization it relays; it only dials 127.0.0.1."""

    url: str = ""
    lines: list[tuple[str, str]] = field(default_factory=list)
    proxy_auth: list[str] = field(default_factory=list)

    @property
    def targets(self) -> list[str]:
        return [target for _, target in self.lines]


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, box: ForwardProxy | None
) -> None:
    try:
        while chunk := await reader.read(65536):
            if box is not None:  # plain HTTP: count every request on the kept-alive connection
                for method, target in _REQUEST_LINE.findall(chunk):
                    box.lines.append((method.decode(), target.decode()))
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@pytest.fixture
async def forward_proxy() -> AsyncIterator[ForwardProxy]:
    box = ForwardProxy()
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        first, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, _ = first.split(" ")
        for line in header_lines:
            if line.lower().startswith("proxy-authorization:"):
                box.proxy_auth.append(line.split(":", 1)[1].strip())
        if method == "CONNECT":
            box.lines.append((method, target))
            host, port = target.rsplit(":", 1)
            assert host == "127.0.0.1"
            up_r, up_w = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            counted = None
        else:
            m = re.match(r"http://127\.0\.0\.1:(\d+)/", target)
            assert m, target
            up_r, up_w = await asyncio.open_connection("127.0.0.1", int(m.group(1)))
            up_w.write(head)
            box.lines.append((method, target))
            counted = box
        t1 = asyncio.ensure_future(_pipe(reader, up_w, counted))
        t2 = asyncio.ensure_future(_pipe(up_r, writer, None))
        tasks.update((t1, t2))
        await asyncio.gather(t1, t2)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    box.url = f"http://127.0.0.1:{port}"
    yield box
    server.close()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await server.wait_closed()


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


@pytest.fixture
async def emu(no_proxy_env: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    async with Emulator(**FIXTURE_SETTINGS) as emulator:
        yield emulator


async def test_http_proxy_from_the_environment_is_used_by_default(
    emu: Emulator, forward_proxy: ForwardProxy, no_proxy_env: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY set: every request passes through the proxy and the edit succeeds."""
    no_proxy_env.setenv("HTTP_PROXY", forward_proxy.url)
    async with InpaintClient(emu.api_key, base_url=emu.base_url) as client:
        await client.models.list()
        result = await client.images.edit(PNG, "add a hat")
        await client.images.edit(PNG, "add a scarf")
    assert result.content_type == "image/png"
    assert forward_proxy.targets == [
        f"{emu.base_url}/models?type=inpaint",
        f"{emu.base_url}/image/edit",
        f"{emu.base_url}/image/edit",
    ]
    assert len(emu.requests) == 3


@pytest.mark.parametrize(
    "setting",
    ["no_proxy=127.0.0.1", "NO_PROXY=*", "NO_PROXY=localhost,127.0.0.1:{port}", "trust_env"],
)
async def test_no_proxy_and_trust_env_false_bypass_it(
    emu: Emulator, forward_proxy: ForwardProxy, no_proxy_env: pytest.MonkeyPatch, setting: str
) -> None:
    """NO_PROXY (host, *, host:port) and trust_env=False send straight to the server."""
    no_proxy_env.setenv("http_proxy", forward_proxy.url)
    kwargs = {}
    if setting == "trust_env":
        kwargs["trust_env"] = False
    else:
        name, value = setting.split("=")
        no_proxy_env.setenv(name, value.format(port=emu.port))
    async with InpaintClient(emu.api_key, base_url=emu.base_url, **kwargs) as client:
        await client.images.edit(PNG, "add a hat")
    assert forward_proxy.lines == []
    assert len(emu.requests) == 1


async def test_explicit_proxy_with_credentials(
    emu: Emulator, forward_proxy: ForwardProxy, caplog: pytest.LogCaptureFixture
) -> None:
    """proxy= wins over the environment; its credentials go as Proxy-Authorization, never shown."""
    proxy = forward_proxy.url.replace("http://", "http://alice:s3cret@")
    client = InpaintClient(emu.api_key, base_url=emu.base_url, proxy=proxy, trust_env=False)
    with caplog.at_level("DEBUG", logger="inpaint_async"):
        async with client:
            await client.images.edit(PNG, "add a hat")
    assert caplog.records and "s3cret" not in caplog.text
    assert base64.b64encode(b"alice:s3cret").decode() not in caplog.text
    assert forward_proxy.targets == [f"{emu.base_url}/image/edit"]
    assert forward_proxy.proxy_auth == ["Basic " + base64.b64encode(b"alice:s3cret").decode()]
    assert "s3cret" not in repr(client)
    assert client._transport.network.describe(emu.base_url) == f"proxy {forward_proxy.url}"


async def test_unreachable_proxy_is_a_connection_error(emu: Emulator) -> None:
    """A dead proxy is an APIConnectionError (nothing was sent, so safe to retry)."""
    async with InpaintClient(
        emu.api_key, base_url=emu.base_url, proxy="http://127.0.0.1:9", retry=None
    ) as client:
        with pytest.raises(APIConnectionError):
            await client.with_options(retry=client.retry.with_changes(max_attempts=1)).models.list()
    assert emu.requests == []


# -- TLS --------------------------------------------------------------------------------------


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_emu(ca: trustme.CA, no_proxy_env: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    """The emulator served over HTTPS with a certificate from a private test CA."""
    emulator = Emulator(**FIXTURE_SETTINGS)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    runner = web.AppRunner(emulator.make_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    emulator.port = runner.addresses[0][1]
    emulator.tls_base_url = f"https://127.0.0.1:{emulator.port}/api/v1"  # type: ignore[attr-defined]
    yield emulator
    await runner.cleanup()


async def test_a_private_ca_is_refused_by_default_and_trusted_with_verify(
    tls_emu: Emulator, ca: trustme.CA, tmp_path: Path
) -> None:
    """System trust refuses the private CA; verify=<bundle path> or an SSLContext accepts it."""
    url = tls_emu.tls_base_url  # type: ignore[attr-defined]
    async with InpaintClient(tls_emu.api_key, base_url=url) as client:
        with pytest.raises(APIConnectionError, match="could not connect"):
            await client.models.list()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    async with InpaintClient(tls_emu.api_key, base_url=url, verify=bundle) as client:
        assert (await client.images.edit(PNG, "add a hat")).content_type == "image/png"
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    async with InpaintClient(tls_emu.api_key, base_url=url, verify=ctx) as client:
        await client.models.list()
    async with InpaintClient(tls_emu.api_key, base_url=url, verify=False) as client:
        await client.models.list()


async def test_https_goes_through_a_connect_tunnel(
    tls_emu: Emulator,
    ca: trustme.CA,
    forward_proxy: ForwardProxy,
    no_proxy_env: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """HTTPS_PROXY: an https API is reached through CONNECT, TLS verified end to end."""
    no_proxy_env.setenv("HTTPS_PROXY", forward_proxy.url)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    url = tls_emu.tls_base_url  # type: ignore[attr-defined]
    async with InpaintClient(tls_emu.api_key, base_url=url, verify=str(bundle)) as client:
        await client.images.edit(PNG, "add a hat")
    assert forward_proxy.lines == [("CONNECT", f"127.0.0.1:{tls_emu.port}")]


def test_environment_rules() -> None:
    """Lower case wins, HTTP_PROXY is ignored under CGI, ALL_PROXY is the fallback."""
    env = {"HTTP_PROXY": "http://upper:1", "http_proxy": "http://lower:2"}
    assert NetworkOptions(environ=env).describe("http://api.x/") == "proxy http://lower:2"
    cgi = {"HTTP_PROXY": "http://evil:1", "REQUEST_METHOD": "GET"}
    assert NetworkOptions(environ=cgi).describe("http://api.x/") == "direct"
    fallback = {"ALL_PROXY": "http://all:3", "NO_PROXY": ".venice.ai"}
    assert NetworkOptions(environ=fallback).describe("https://api.x/") == "proxy http://all:3"
    assert NetworkOptions(environ=fallback).describe("https://api.venice.ai/") == "direct"
    assert NetworkOptions(environ={"HTTPS_PROXY": "http://p:1"}).describe("http://a/") == "direct"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"proxy": "socks5://user:pw@h:1"}, "http:// or https://"),
        ({"proxy": 3128}, "URL string"),
        ({"verify": "/nonexistent/ca.pem"}, "cannot load the CA bundle"),
        ({"verify": 1.5}, "verify must be"),
    ],
)
def test_bad_settings_are_configuration_errors(kwargs: dict[str, object], fragment: str) -> None:
    """A bad proxy or trust setting fails when the client is built, never echoing credentials."""
    with pytest.raises(ConfigurationError, match=fragment) as info:
        InpaintClient("key", **kwargs)  # type: ignore[arg-type]
    assert "pw" not in str(info.value)
