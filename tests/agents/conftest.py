"""Helpers for the agent-server tests: an emulator, a sandbox with images, in-memory MCP clients."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult, ElicitResult
from PIL import Image

from inpaint_async.mcp import InpaintMCP, ServerOptions, build_server
from inpaint_async.spend import forget_ledgers
from inpaint_async.testing import Emulator

WALLET_KEY = "0x" + "5a" * 32


def png_bytes(shade: int = 60, side: int = 256) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (shade, 90, 150)).save(buf, format="PNG")
    return buf.getvalue()


class Answers:
    """An elicitation callback that answers with a fixed action and records every question."""

    def __init__(self, action: str = "accept", confirm: bool = True) -> None:
        self.action = action
        self.confirm = confirm
        self.questions: list[str] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        self.questions.append(params.message)
        if self.action == "accept":
            return ElicitResult(action="accept", content={"confirm": self.confirm})
        return ElicitResult(action=self.action)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _fresh_ledgers() -> Iterator[None]:
    """Each test starts with no ledger open in this process (and closes the files it opened)."""
    forget_ledgers()
    yield
    forget_ledgers()


@pytest.fixture
async def emu(make_emulator: Callable[..., Any]) -> Emulator:
    emulator: Emulator = await make_emulator()
    return emulator


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """An input folder with a.png and b.png, and an output folder."""
    in_dir = tmp_path / "in"
    in_dir.mkdir()
    (in_dir / "a.png").write_bytes(png_bytes(40))
    (in_dir / "b.png").write_bytes(png_bytes(90))
    return in_dir, tmp_path / "out"


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch, emu: Emulator) -> Emulator:
    """The server's environment: the emulator's API key and base URL, no wallet."""
    for name in ("VENICE_WALLET_KEY", "VENICE_WALLET_KEYSTORE", "VENICE_WALLET_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VENICE_API_KEY", emu.api_key)
    monkeypatch.setenv("VENICE_BASE_URL", emu.base_url)
    return emu


@pytest.fixture
async def make_app(
    dirs: tuple[Path, Path], tmp_path: Path
) -> AsyncIterator[Callable[..., InpaintMCP]]:
    """Build servers over the sandbox folders (ledger file in tmp_path unless given)."""
    built: list[InpaintMCP] = []

    def make(**overrides: Any) -> InpaintMCP:
        settings: dict[str, Any] = {
            "in_dir": dirs[0],
            "out_dir": dirs[1],
            "ledger_path": tmp_path / "ledger.sqlite3",
            **overrides,
        }
        app = build_server(ServerOptions(**settings))
        built.append(app)
        return app

    yield make
    for app in built:
        await app.aclose()


def connect(app: InpaintMCP, answers: Answers | None = None, *, mode: str = "legacy") -> Client:
    """An in-memory MCP client session on ``app`` (elicitation capability only with answers)."""
    return Client(app.server, elicitation_callback=answers, mode=mode)


def edit_calls(emu: Emulator, path: str = "/image/edit") -> int:
    """How many requests reached an image endpoint of the emulator."""
    return sum(1 for r in emu.requests if r.path.endswith(path))


def error_of(result: CallToolResult) -> dict[str, Any]:
    assert result.is_error, result
    assert isinstance(result.structured_content, dict)
    return result.structured_content
