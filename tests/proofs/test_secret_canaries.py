"""Secret canaries: a canary API key and wallet key run through every kind of scenario under
INPAINT_LOG=debug, and neither may appear in logs, reprs, exception strings, journals or CLI output.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from inpaint_async import (
    InpaintClient,
    InpaintError,
    RetryPolicy,
    TopUpPolicy,
    WalletAuth,
)
from inpaint_async.batch import EditJob
from inpaint_async.testing import Emulator, FaultPlan

FAST = RetryPolicy(initial_wait=0.01, max_wait=0.02, max_attempts=2)


def png(shade: int = 50) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (300, 300), (shade, 90, 140)).save(buf, "PNG")
    return buf.getvalue()


class Canaries:
    """The secrets of one run, and every text the run produced."""

    def __init__(self) -> None:
        self.api_key = "VENICE_INFERENCE_KEY_canary" + secrets.token_hex(12)
        self.wallet_key = "0x" + secrets.token_hex(32)
        self.password = "canary-password-" + secrets.token_hex(6)
        self.texts: list[str] = []

    def forms(self) -> list[str]:
        """Every way a secret could be written out (the wallet key with and without 0x)."""
        return [self.api_key, self.wallet_key, self.wallet_key[2:], self.password]

    def see(self, *objects: object) -> None:
        for obj in objects:
            self.texts.append(str(obj))
            self.texts.append(repr(obj))
            if isinstance(obj, BaseException):
                for attr in ("body", "headers", "details", "info", "payment_required"):
                    self.texts.append(repr(getattr(obj, attr, "")))
                for linked in (obj.__cause__, obj.__context__):
                    if linked is not None:
                        self.see(linked)
                self.texts.extend(getattr(obj, "__notes__", []))

    def assert_clean(self, min_texts: int = 50) -> None:
        assert len(self.texts) >= min_texts, "the scenarios produced text to check"
        for text in self.texts:
            for secret in self.forms():
                assert secret not in text, f"a secret leaked into: {text[:200]!r}"


@pytest.fixture
def canaries(monkeypatch: pytest.MonkeyPatch) -> Iterator[Canaries]:
    """Debug logging on (as INPAINT_LOG=debug would), every record captured."""
    c = Canaries()
    monkeypatch.setenv("INPAINT_LOG", "debug")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield c
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    c.texts += [r.getMessage() for r in records]
    c.texts += [logging.Formatter().format(r) for r in records if r.exc_info]
    assert any(r.name.startswith("inpaint_async") for r in records), "SDK debug logs were seen"


async def test_api_key_scenarios(canaries: Canaries, tmp_path: Path) -> None:
    """Success, retries, every error status, outcome unknown and a batch journal: no key."""
    faults = FaultPlan(
        script={
            "/image/edit": ["503", None, "504_after_charge", "truncate", "html_502", "html_502"]
        }
    )
    async with Emulator(
        max_output_side=64, api_keys={canaries.api_key: "10"}, faults=faults
    ) as emu:
        emu.add_api_key(canaries.api_key + "-empty", 0)
        client = InpaintClient(auth=canaries.api_key, base_url=emu.base_url, retry=FAST)
        canaries.see(client, client.auth, emu.base_url)
        async with client:
            canaries.see(await client.images.edit(png(), "a hat"))  # 503 then success
            for _ in range(3):  # 504 after charge, truncated body, HTML 502 twice
                with pytest.raises(InpaintError) as info:
                    await client.images.edit(png(), "a hat", output=tmp_path / "o.png")
                canaries.see(info.value)
            for kwargs in ({"model": "nope"}, {"prompt": "forbidden"}, {"aspect_ratio": "7:3"}):
                with pytest.raises(InpaintError) as info:
                    await client.images.edit(png(), **{"prompt": "a hat", **kwargs})  # type: ignore[arg-type]
                canaries.see(info.value)
            canaries.see(await client.models.list())
            journal = tmp_path / "journal.jsonl"
            jobs = [
                EditJob(image=png(i), prompt="a hat", output=tmp_path / f"b{i}.png")
                for i in range(6)
            ]
            runner = client.batch(jobs, journal=journal)
            async for outcome in runner:
                canaries.see(outcome)
            canaries.see(runner.summary)
            canaries.texts.append(journal.read_text())
        for bad in (canaries.api_key + "-empty", canaries.api_key + "x"):
            async with InpaintClient(auth=bad, base_url=emu.base_url, retry=FAST) as other:
                with pytest.raises(InpaintError) as info:
                    await other.images.edit(png(), "a hat")
                canaries.see(info.value)
    canaries.assert_clean()


async def test_wallet_scenarios(canaries: Canaries, tmp_path: Path) -> None:
    """SIWX on every attempt, a 402, a capped top-up, settlement faults, balance, a keystore."""
    from eth_account import Account

    keystore = tmp_path / "wallet.json"
    keystore.write_text(
        json.dumps(
            Account.encrypt(canaries.wallet_key, canaries.password, kdf="pbkdf2", iterations=2)
        )
    )
    wallet = WalletAuth.from_env(
        environ={
            "VENICE_WALLET_KEYSTORE": str(keystore),
            "VENICE_WALLET_PASSWORD": canaries.password,
        }
    )
    canaries.see(wallet)
    faults = FaultPlan(
        script={"/image/edit": ["503"], "/x402/top-up": [None, "payment_in_progress"]}
    )
    async with Emulator(max_output_side=64, faults=faults, settlement_delay=0.05) as emu:
        emu.fund_wallet(wallet.address, "0.05")
        policy = TopUpPolicy(
            amount_usd=5, max_total_usd=5, poll_interval=0.05, in_progress_backoff=0.05
        )
        client = InpaintClient(auth=wallet, base_url=emu.base_url, retry=FAST, top_up=policy)
        canaries.see(client, policy)
        async with client:
            results = await asyncio.gather(*(client.images.edit(png(i), "a hat") for i in range(4)))
            canaries.see(*results, await client.wallet.balance())
            async for tx in client.wallet.transactions(limit=2):
                canaries.see(tx)
            emu.fund_wallet(wallet.address, "0.05")  # drained: the next 402 would exceed the cap
            errors = []
            for i in range(40):  # spends the $0.05, then the 402 would need a top-up over the cap
                try:
                    await client.images.edit(png(i), "a hat")
                except InpaintError as exc:
                    errors.append(exc)
                    break
            assert errors, "the cap stopped the wallet"
            canaries.see(*errors)
            with pytest.raises(InpaintError) as info:
                await client.wallet.top_up("20000")
            canaries.see(info.value)
        for bad_key in (canaries.wallet_key[:-2] + "zz", canaries.wallet_key[:20]):
            with pytest.raises(InpaintError) as info:
                WalletAuth(bad_key)
            canaries.see(info.value)
        with pytest.raises(InpaintError) as info:
            WalletAuth.from_env(
                environ={"VENICE_WALLET_KEYSTORE": str(keystore), "VENICE_WALLET_PASSWORD": "wrong"}
            )
        canaries.see(info.value)
    canaries.assert_clean()


async def _cli(*args: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "inpaint_async.cli", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_cli_output(tmp_path: Path) -> None:
    """Every CLI command, with the secrets in the environment and debug logs on, prints neither."""
    canaries = Canaries()
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        (src / f"{i}.png").write_bytes(png(i * 20))
    base = {k: v for k, v in os.environ.items() if not k.startswith("VENICE_")}
    base.update({"INPAINT_LOG": "debug", "NO_COLOR": "1", "COLUMNS": "120"})
    async with Emulator(max_output_side=64, api_keys={canaries.api_key: "10"}) as emu:
        key_env = {**base, "VENICE_API_KEY": canaries.api_key, "VENICE_BASE_URL": emu.base_url}
        wallet_env = {
            **base,
            "VENICE_WALLET_KEY": canaries.wallet_key,
            "VENICE_BASE_URL": emu.base_url,
        }
        emu.fund_wallet(WalletAuth(canaries.wallet_key).address, "1")
        runs = [
            await _cli(
                "edit", str(src / "0.png"), "a hat", "-o", str(tmp_path / "e.png"), env=key_env
            ),
            await _cli(
                "batch",
                str(src),
                "--prompt",
                "a hat",
                "--out",
                str(tmp_path / "o"),
                "--quiet",
                env=key_env,
            ),
            await _cli("models", env=key_env),
            await _cli("balance", env=wallet_env),
            await _cli("top-up", "5", "--yes", env=wallet_env),
            await _cli(
                "edit", str(src / "1.png"), "a hat", "-o", str(tmp_path / "w.png"), env=wallet_env
            ),
            await _cli(
                "edit",
                str(src / "1.png"),
                "a hat",
                "-o",
                str(tmp_path / "x.png"),
                env={**key_env, "VENICE_API_KEY": canaries.api_key + "bad"},
            ),
        ]
        journal = tmp_path / "o" / "inpaint-journal.jsonl"
        canaries.texts.append(journal.read_text())
    codes = [code for code, _ in runs]
    assert codes[:6] == [0, 0, 0, 0, 0, 0] and codes[6] == 3, codes
    assert any("DEBUG" in out or "-> POST" in out for _, out in runs), "debug logs were printed"
    canaries.texts += [out for _, out in runs]
    canaries.assert_clean(min_texts=len(runs) + 1)
