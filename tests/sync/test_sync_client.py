"""SyncInpaintClient: the async client on a private loop, for scripts and notebooks."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from inpaint_async import (
    AuthenticationError,
    ConfigurationError,
    EditResult,
    EventLoopMismatchError,
    InpaintClient,
    MultiEditResult,
    SyncInpaintClient,
    ValidationError,
    WalletAuth,
)
from inpaint_async.testing import Emulator, emulator_in_thread
from inpaint_async.testing.pytest_plugin import FIXTURE_SETTINGS


def _png(width: int, height: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (128, 64, 32)).save(out, format="PNG")
    return out.getvalue()


PNG = _png(320, 240)
KEY = "0x" + "11" * 32


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with emulator_in_thread(**FIXTURE_SETTINGS) as emulator:
        yield emulator


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate()}


def test_quickstart_in_a_plain_script(tmp_path: Path) -> None:
    """The README quickstart, synchronously, as a script: no asyncio in sight."""
    script = textwrap.dedent(
        f"""
        from inpaint_async import SyncInpaintClient
        from inpaint_async.testing import emulator_in_thread

        with emulator_in_thread() as emu:
            with SyncInpaintClient(emu.api_key, base_url=emu.base_url) as client:
                result = client.images.edit({str(tmp_path / "in.png")!r}, "add a red hat",
                                            output={str(tmp_path / "out.png")!r})
                print(type(result).__name__, result.path.stat().st_size > 0, result.model_id)
        """
    )
    (tmp_path / "in.png").write_bytes(PNG)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["EditResult", "True", "firered-image-edit"]


def test_an_answer_still_pending_at_the_end_of_the_block_leaves_no_noise(tmp_path: Path) -> None:
    """The client gave up on a slow answer (read timeout): leaving ``emulator_in_thread``
    cancels the emulator's pending handler instead of destroying it with the loop, which
    printed "Task was destroyed but it is pending!" on the way out."""
    script = textwrap.dedent(
        f"""
        from inpaint_async import OutcomeUnknownError, SyncInpaintClient
        from inpaint_async.testing import emulator_in_thread

        with emulator_in_thread(latency=5) as emu:
            with SyncInpaintClient(emu.api_key, base_url=emu.base_url, read_timeout=0.3) as c:
                try:
                    c.images.edit({str(tmp_path / "in.png")!r}, "add a red hat")
                except OutcomeUnknownError:
                    print("gave up")
        """
    )
    (tmp_path / "in.png").write_bytes(PNG)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["gave", "up"]
    assert "destroyed" not in proc.stderr, proc.stderr


def test_same_resources_and_results(emu: Emulator) -> None:
    """Every resource answers with the async client's result types, and closing stops the thread."""
    before = _threads()
    with SyncInpaintClient(emu.api_key, base_url=emu.base_url) as client:
        catalogue = client.models.list()
        assert client.models.cached() is catalogue
        result = client.images.edit(PNG, "add a hat", model="gpt-image-2-edit")
        assert isinstance(result, EditResult) and result.read_bytes()[:4] == b"\x89PNG"
        multi = client.images.multi_edit([PNG, PNG], "merge", quality="low")
        assert isinstance(multi, MultiEditResult)
        assert client.images.upscale(PNG).content_type == "image/png"
        assert client.images.background_remove(PNG).format == "png"
        assert client.estimate_cost("gpt-image-2-edit", quality="low", endpoint="multi_edit") > 0
        assert client.request("GET", "/models").status == 200
        assert "inpaint-async-sync" in _threads()
    assert "inpaint-async-sync" not in _threads() - before
    with pytest.raises(ConfigurationError, match="closed"):
        client.images.edit(PNG, "again")
    client.close()  # idempotent


def test_errors_arrive_typed(emu: Emulator) -> None:
    """Local and server errors are the async client's typed exceptions."""
    with SyncInpaintClient("wrong-key", base_url=emu.base_url) as client:
        with pytest.raises(ValidationError):
            client.images.edit(PNG, "")
        with pytest.raises(AuthenticationError):
            client.images.edit(PNG, "a hat")


async def test_works_inside_a_running_loop(emu: Emulator) -> None:
    """Called from a coroutine (as in a Jupyter cell), it neither re-enters nor refuses the loop."""
    asyncio.get_running_loop()
    with SyncInpaintClient(emu.api_key, base_url=emu.base_url) as client:
        assert client.images.edit(PNG, "add a hat").content_type == "image/png"


def test_one_client_from_several_threads(emu: Emulator) -> None:
    """Threads share one sync client; their calls run concurrently on the private loop."""
    results: list[EditResult] = []
    with SyncInpaintClient(emu.api_key, base_url=emu.base_url) as client:
        workers = [
            threading.Thread(target=lambda: results.append(client.images.edit(PNG, "hat")))
            for _ in range(4)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    assert len(results) == 4


def test_wallet_and_batch(emu: Emulator, tmp_path: Path) -> None:
    """The wallet resource (balance, transactions) and a batch run work synchronously."""
    from inpaint_async.batch import EditJob

    wallet = WalletAuth(KEY)
    emu.fund_wallet(wallet.address, "5")
    with SyncInpaintClient(wallet, base_url=emu.base_url) as client:
        assert client.wallet.address == wallet.address
        assert client.wallet.balance().balance_usd == Decimal("5")
        client.images.edit(PNG, "a hat")
        assert client.wallet.last_known_balance is not None
        assert len(list(client.wallet.transactions())) >= 1
        src = tmp_path / "a.png"
        src.write_bytes(PNG)
        jobs = [EditJob(image=src, prompt="hat", output=tmp_path / f"o{i}.png") for i in range(2)]
        summary = client.batch(jobs)
        assert summary.succeeded == 2


def test_an_async_client_refuses_a_second_event_loop(emu: Emulator) -> None:
    """A second asyncio.run with the same client: a clear typed error, and nothing is sent."""
    client = InpaintClient(emu.api_key, base_url=emu.base_url)
    first = asyncio.new_event_loop()
    try:
        first.run_until_complete(client.models.list())
        sent = len(emu.requests)
        with pytest.raises(EventLoopMismatchError, match="one client per event loop"):
            asyncio.run(client.images.edit(PNG, "a hat"))
        assert len(emu.requests) == sent
        # Derived clients share the binding (they share the connections).
        with pytest.raises(EventLoopMismatchError):
            asyncio.run(client.with_options(read_timeout=5).models.list(refresh=True))
    finally:
        first.run_until_complete(client.close())
        first.close()
    assert isinstance(EventLoopMismatchError("x"), ConfigurationError)


def test_a_dropped_client_releases_its_thread(emu: Emulator) -> None:
    """Garbage-collecting an unclosed sync client closes its connections and stops its thread."""
    import gc

    client = SyncInpaintClient(emu.api_key, base_url=emu.base_url)
    client.images.edit(PNG, "hat")
    runner = client._runner
    del client
    gc.collect()
    assert runner.loop.is_closed() and not runner.thread.is_alive()


def test_with_options_shares_the_loop_and_the_connections(emu: Emulator) -> None:
    """A derived sync client changes options, uses the same loop, and closing it is a no-op."""
    with SyncInpaintClient(emu.api_key, base_url=emu.base_url) as client:
        derived = client.with_options(read_timeout=30, validate=False)
        assert isinstance(derived, SyncInpaintClient)
        assert derived.async_client.timeouts.read == 30 and not derived.async_client.validate
        derived.close()
        assert derived.images.edit(PNG, "hat").content_type == "image/png"
        assert client.images.edit(PNG, "hat").content_type == "image/png"


def test_takes_every_option_of_the_async_client() -> None:
    """The sync client's keywords stay in step with InpaintClient's (session excepted)."""
    import inspect

    private = {"self", "session", "_transport", "_shared"}
    async_options = set(inspect.signature(InpaintClient.__init__).parameters) - private
    sync_options = set(inspect.signature(SyncInpaintClient.__init__).parameters) - {"self"}
    assert sync_options == async_options
