"""The file sandbox and the model rules: refused as tool errors, before anything is sent."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest

from inpaint_async.mcp import Sandbox, SandboxError
from inpaint_async.mcp._sandbox import MAX_INLINE_BYTES
from inpaint_async.testing import Emulator

from .conftest import connect, edit_calls, error_of, png_bytes


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """An image outside the sandbox, and a symlink to it inside the input folder."""
    secret = tmp_path / "private.png"
    secret.write_bytes(png_bytes(10))
    return secret


@pytest.mark.parametrize(
    "image",
    [
        "../private.png",
        "sub/../../private.png",
        "{outside}",
        "link.png",
        "linkdir/private.png",
        "~/private.png",
    ],
)
async def test_paths_outside_the_sandbox_are_refused(
    key_env: Emulator, make_app: Any, dirs: tuple[Path, Path], outside: Path, image: str
) -> None:
    """'..', absolute paths, symlinks (file or folder) leading out: refused, nothing sent."""
    in_dir = dirs[0]
    (in_dir / "link.png").symlink_to(outside)
    (in_dir / "linkdir").symlink_to(outside.parent)
    app = make_app(no_confirm=True)
    async with connect(app) as client:
        result = await client.call_tool(
            "edit_image", {"image": image.format(outside=outside), "prompt": "x"}
        )
        multi = await client.call_tool(
            "multi_edit_images", {"images": ["a.png", image.format(outside=outside)], "prompt": "x"}
        )
    assert error_of(result)["code"] == "outside_sandbox"
    assert error_of(multi)["code"] == "outside_sandbox"
    assert key_env.requests == [] or all("/image/" not in r.path for r in key_env.requests)


@pytest.mark.parametrize("name", ["../escape.png", "sub/x.png", "/tmp/x.png", "..", ".hidden"])
async def test_output_names_stay_in_the_out_dir(
    key_env: Emulator, make_app: Any, name: str
) -> None:
    """An output name with a folder part or '..' is refused."""
    app = make_app(no_confirm=True)
    async with connect(app) as client:
        result = await client.call_tool(
            "edit_image", {"image": "a.png", "prompt": "x", "output_name": name}
        )
    assert error_of(result)["code"] == "outside_sandbox"
    assert edit_calls(key_env) == 0


async def test_unknown_model_allowlist_and_unpriced_model(key_env: Emulator, make_app: Any) -> None:
    """An unknown model, a model outside --models, a model without a price: tool errors, and
    not one request reaches the image endpoints."""
    entry = key_env.model("qwen-image-2-edit")
    assert entry is not None
    del entry["model_spec"]["pricing"]["inpaint"]
    app = make_app(no_confirm=True, models=frozenset({"firered-image-edit", "qwen-image-2-edit"}))
    async with connect(app) as client:
        unknown = await client.call_tool("edit_image", {"image": "a.png", "prompt": "x",
                                                        "model": "firered-image-edt"})  # fmt: skip
        blocked = await client.call_tool("edit_image", {"image": "a.png", "prompt": "x",
                                                        "model": "flux-2-max-edit"})  # fmt: skip
        unpriced = await client.call_tool("edit_image", {"image": "a.png", "prompt": "x",
                                                         "model": "qwen-image-2-edit"})  # fmt: skip
        upscale = await client.call_tool("upscale_image", {"image": "a.png"})
    err = error_of(unknown)
    assert err["code"] == "unknown_model" and "firered-image-edit" in err["message"]
    err = error_of(blocked)
    assert err["code"] == "model_not_allowed" and "flux-2-max-edit" in err["message"]
    assert error_of(unpriced)["code"] == "no_price"
    assert error_of(upscale)["code"] == "model_not_allowed"  # the upscaler is not on the list
    assert all("/image/" not in r.path for r in key_env.requests)


async def test_missing_credentials_name_both_fixes(
    emu: Emulator, make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No key and no wallet: the server starts, the catalogue works, paid tools say how to fix it."""
    for var in ("VENICE_API_KEY", "VENICE_WALLET_KEY", "VENICE_WALLET_KEYSTORE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("VENICE_BASE_URL", emu.base_url)
    app = make_app()
    async with connect(app) as client:
        models = await client.call_tool("list_models", {})
        result = await client.call_tool("edit_image", {"image": "a.png", "prompt": "x"})
        balance = await client.call_tool("wallet_balance", {})
    assert not models.is_error
    for err in (error_of(result), error_of(balance)):
        assert err["code"] == "missing_credentials"
        assert "VENICE_API_KEY" in err["message"]
        assert "VENICE_WALLET_KEY" in err["message"]
        assert "VENICE_WALLET_KEYSTORE" in err["message"]
    assert all("/image/" not in r.path for r in emu.requests)


# -- the Sandbox class on its own ------------------------------------------------------------------


def test_sandbox_sources(dirs: tuple[Path, Path]) -> None:
    """A name gives the resolved file; a URL stays a URL; base64 and data URIs become bytes."""
    box = Sandbox(*dirs)
    assert box.image("a.png") == (dirs[0] / "a.png").resolve()
    assert box.image(str(dirs[0] / "b.png")) == (dirs[0] / "b.png").resolve()
    assert box.image("https://example.com/x.png") == "https://example.com/x.png"
    raw = png_bytes()
    b64 = base64.b64encode(raw).decode()
    assert box.image(b64) == raw
    assert box.image("data:image/png;base64," + b64) == raw
    files: list[Any] = []
    fh = box.materialize(box.image("a.png"), files)
    assert files == [fh] and fh.read(8) == b"\x89PNG\r\n\x1a\n"  # type: ignore[union-attr]
    fh.close()  # type: ignore[union-attr]


def test_base64_looking_names_are_never_opened(
    dirs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A string of base64 characters that is also a real file (relative to the working folder,
    as the SDK would read it) is decoded as data, never opened: no path escapes that way."""
    monkeypatch.chdir(tmp_path)
    name = "AAAA" + "B" * 96
    Path(name).write_bytes(png_bytes(10))
    assert Path(name).is_file()
    source = Sandbox(*dirs).image(name)
    assert isinstance(source, bytes)
    assert source == base64.b64decode(name)


def test_inline_limits_and_errors(dirs: tuple[Path, Path]) -> None:
    """Oversized inline data, bad base64, a data URI that is not base64, a missing file."""
    box = Sandbox(*dirs)
    with pytest.raises(SandboxError):
        box.input_path("a.png\x00")
    with pytest.raises(Exception, match="limited"):
        box.image("data:image/png;base64," + "A" * (MAX_INLINE_BYTES * 4 // 3 + 8))
    with pytest.raises(Exception, match="base64"):
        box.image("data:image/png;base64,@@@@")
    with pytest.raises(Exception, match="base64-encoded"):
        box.image("data:image/png,rawbytes")
    with pytest.raises(Exception, match="no such file"):
        box.image("missing.png")
    os.mkdir(dirs[0] / "folder")
    with pytest.raises(Exception, match="not a file"):
        box.image("folder")
    with pytest.raises(Exception, match="not a folder"):
        Sandbox(dirs[0] / "a.png", dirs[1])
