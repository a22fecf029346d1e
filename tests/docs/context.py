"""The world a page's code blocks run in (documented in docs/testing.md, "Docs are tests").

Each page gets a fresh temporary working directory holding sample images, a fresh emulator on
127.0.0.1 (in a thread, so blocks may call ``asyncio.run``), an environment whose
``VENICE_BASE_URL`` and ``VENICE_API_KEY`` point at that emulator (no other ``VENICE_*``
variable), and, for python blocks, the names of :data:`CONTEXT_TYPES` below. A page's python
blocks share one namespace, in order, and may ``await`` at top level; the context names are set
again before each block, so a block that rebinds ``client`` does not change the next block's.

Page directives (one line anywhere in the page): ``<!-- docs-test: client=wallet -->`` makes
``client`` an ``InpaintClient(auth=wallet)``. Image URLs on ``https://example.com/`` in a page
are served by its emulator (``emu.url_images``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from .blocks import Block

#: The names a page's python blocks may use without defining them, with their types (the
#: snippets are type-checked with these as parameters of one async function per page).
CONTEXT_TYPES: dict[str, str] = {
    "client": "InpaintClient",  # InpaintClient() from the environment: an API key on the emulator
    "emu": "Emulator",  # the page's emulator
    "key": "str",  # its API key (also VENICE_API_KEY)
    "wallet": "WalletAuth",  # a throwaway wallet with $20 of credit on the emulator
    "png": "bytes",  # a 256x256 PNG
    "image": "Path",  # photo.png
    "img": "Path",  # photo.png
    "prompt": "str",
    "paths": "list[Path]",  # photos/*.jpg
    "jobs": "list[EditJob]",  # one EditJob per photo, written to out/
    "my_aiohttp_session": "aiohttp.ClientSession",
    "my_ssl_context": "ssl.SSLContext",
    "my_ca_bundle": "str",  # a PEM file of a private test CA
}

CONTEXT_IMPORTS = """\
import ssl
from pathlib import Path

import aiohttp

from inpaint_async import InpaintClient, WalletAuth
from inpaint_async.batch import EditJob
from inpaint_async.testing import Emulator
"""

#: Files every page's working directory starts with.
SAMPLE_FILES = [
    "photo.png", "photo.jpg", "cat.jpg", "room.png", "sofa.png", "base.png", "layer.png",
    "mask.png", "photos/beach.jpg", "photos/city.jpg", "photos/forest.jpg",
]  # fmt: skip

WALLET_KEY = "0x" + "5a" * 32  # a throwaway key, built at runtime like every test key
BASH_TIMEOUT = 120.0


@dataclass
class Page:
    """The running context of one page."""

    directory: Path
    env: dict[str, str]
    namespace: dict[str, Any]
    loop: asyncio.AbstractEventLoop
    closers: ExitStack = field(default_factory=ExitStack)
    context: dict[str, Any] = field(default_factory=dict)

    @contextmanager
    def entered(self) -> Iterator[None]:
        """The page's working directory and environment, for in-process python blocks."""
        cwd, saved = os.getcwd(), dict(os.environ)
        os.chdir(self.directory)
        os.environ.clear()
        os.environ.update(self.env)
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)
            os.chdir(cwd)

    def run(self, block: Block) -> None:
        """Run one block; raise AssertionError naming the block when it fails."""
        if block.language == "python":
            self._run_python(block)
        else:
            self._run_bash(block)

    def _run_python(self, block: Block) -> None:
        import ast

        code = compile(block.code, f"{block.id}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        self.namespace.update(self.context)
        before = set(self.namespace)
        with self.entered():
            result = eval(code, self.namespace)
            if inspect.iscoroutine(result):
                self.loop.run_until_complete(result)
            for name in sorted(set(self.namespace) - before):
                value = self.namespace[name]
                if name.startswith("test_") and callable(value):
                    self._run_test_function(value)
        # An unclosed client or file of this block warns now, in this block's test.
        gc.collect()

    def _run_test_function(self, function: Callable[..., Any]) -> None:
        """Call a pytest-style test defined by a block, with the plugin's fixtures by name."""
        self.loop.run_until_complete(self._call_test(function))

    async def _call_test(self, function: Callable[..., Any]) -> None:
        from aioresponses import aioresponses

        from inpaint_async.testing import Emulator, aioresponses_compat
        from inpaint_async.testing.pytest_plugin import FIXTURE_SETTINGS

        saved = dict(os.environ)
        kwargs: dict[str, Any] = {}
        try:
            async with Emulator(**FIXTURE_SETTINGS) as fresh:
                with ExitStack() as stack:
                    for name in inspect.signature(function).parameters:
                        if name == "emulator":
                            kwargs[name] = fresh
                            for var in [v for v in os.environ if v.startswith("VENICE_")]:
                                del os.environ[var]
                            os.environ["VENICE_BASE_URL"] = fresh.base_url
                        elif name == "aioresponses_mock":
                            stack.enter_context(aioresponses_compat())
                            kwargs[name] = stack.enter_context(aioresponses())
                        elif name == "tmp_path":
                            kwargs[name] = Path(tempfile.mkdtemp(dir=self.directory))
                        else:
                            raise AssertionError(f"no fixture {name!r} in the docs runner")
                    if inspect.iscoroutinefunction(function):
                        await function(**kwargs)
                    else:
                        await asyncio.to_thread(function, **kwargs)
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def _run_bash(self, block: Block) -> None:
        # Its own session, so whatever the block left running (a server after a failed step)
        # is stopped with it.
        proc = subprocess.Popen(
            ["bash", "-e", "-o", "pipefail", "-c", block.code],
            cwd=self.directory, env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        try:
            stdout, stderr = proc.communicate(timeout=BASH_TIMEOUT)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        if proc.returncode != 0:
            raise AssertionError(
                f"{block.id}: bash exited {proc.returncode}\n--- block\n{block.code}"
                f"--- stdout\n{stdout}--- stderr\n{stderr}"
            )

    def close(self) -> None:
        self.closers.close()


def open_page(name: str, text: str = "") -> Page:
    """Start the context of one page: folder, emulator, environment, namespace.

    ``text`` is the page's Markdown, read for its directives and example.com image URLs.
    """
    from inpaint_async import InpaintClient, WalletAuth
    from inpaint_async.batch import EditJob
    from inpaint_async.testing import emulator_in_thread, write_sample_image

    stack = ExitStack()
    directory = Path(tempfile.mkdtemp(prefix="docs-" + Path(name).stem + "-"))
    stack.callback(shutil.rmtree, directory, ignore_errors=True)
    for i, sample in enumerate(SAMPLE_FILES):
        write_sample_image(directory / sample, seed=i)
    wallet = WalletAuth(WALLET_KEY)
    emu = stack.enter_context(
        emulator_in_thread(
            rate_limit_rpm=100_000,
            max_output_side=64,
            overloaded_retry_after=0,
            settlement_delay=0.1,
            admin=True,
            wallets={wallet.address: Decimal(20)},
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENICE_")}
    for url in set(re.findall(r"https://example\.com/[\w./-]+\.(?:png|jpe?g|webp)", text)):
        emu.url_images[url] = write_sample_image(directory / ".url.png").read_bytes()
    env.update(
        VENICE_BASE_URL=emu.base_url,
        VENICE_API_KEY=emu.api_key,
        VENICE_WALLET_KEY=WALLET_KEY,
        XDG_STATE_HOME=str(directory / ".state"),
        PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
        NO_COLOR="1",
        COLUMNS="100",
    )
    loop = asyncio.new_event_loop()
    stack.callback(loop.close)
    page = Page(directory=directory, env=env, namespace={}, loop=loop, closers=stack)
    wallet_page = re.search(r"<!--\s*docs-test:\s*client=wallet\s*-->", text) is not None
    with page.entered():
        client = InpaintClient(auth=wallet) if wallet_page else InpaintClient()

        async def session() -> Any:
            import aiohttp

            return aiohttp.ClientSession()

        my_session = loop.run_until_complete(session())
    paths = sorted((directory / "photos").glob("*.jpg"))
    page.namespace["__name__"] = "__docs__"
    page.context.update(
        client=client,
        emu=emu,
        key=emu.api_key,
        wallet=wallet,
        png=(directory / "photo.png").read_bytes(),
        image=directory / "photo.png",
        img=directory / "photo.png",
        prompt="add a red scarf",
        paths=paths,
        jobs=[
            EditJob(image=p, prompt="add a hat", output=directory / "out" / p.name) for p in paths
        ],
        my_aiohttp_session=my_session,
        my_ssl_context=ssl.create_default_context(),
        my_ca_bundle=_ca_bundle(directory),
    )

    async def close_clients() -> None:
        await client.close()
        await my_session.close()

    # Registered last, so it runs first: the clients close while the emulator still runs.
    stack.callback(lambda: loop.run_until_complete(close_clients()))
    return page


def _ca_bundle(directory: Path) -> str:
    import trustme

    path = directory / ".private-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return str(path)


def _bound_names(blocks: list[Block]) -> set[str]:
    """Names the blocks bind themselves (assignments, with/for targets, defs, imports)."""
    import ast

    bound: set[str] = set()
    for block in blocks:
        for node in ast.walk(ast.parse(block.code)):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                bound.add(node.id)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                bound.add(node.name)
            elif isinstance(node, ast.alias):
                bound.add((node.asname or node.name).split(".")[0])
    return bound


def typed_module(blocks: list[Block]) -> str:
    """One page's python blocks as a module for mypy: the page context becomes the typed
    parameters of one async function whose body is the blocks, in order. A context name a page
    binds itself is left out, so its own type is the one checked."""
    bound = _bound_names(blocks)
    params = ", ".join(
        f"{name}: {kind}" for name, kind in CONTEXT_TYPES.items() if name not in bound
    )
    body = "".join(
        f"    # {block.id}\n" + textwrap.indent(block.code, "    ") + "\n" for block in blocks
    )
    return f"{CONTEXT_IMPORTS}\n\nasync def docs_page({params}) -> None:\n{body}    pass\n"
