"""The Ray pieces run in this process (no cluster): the actor's class, RayCoordinator over a
handle, the UDF's row parsing and batches, and WorkerCredentials. Coverage sees them here; the
cluster tests in tests/cluster run them in real workers."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from inpaint_async import BearerAuth, ConfigurationError, RetryPolicy, WalletAuth
from inpaint_async.coordination import Coordinator

pytest.importorskip("ray")

from inpaint_async.ray import (
    OUTCOME_COLUMNS,
    EditBatch,
    RayCoordinator,
    WorkerCredentials,
    actor_name,
)
from inpaint_async.ray._actor import _CoordinatorActor
from inpaint_async.ray._dataset import _Config, _job


def png(shade: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (shade, 60, 90)).save(buf, format="PNG")
    return buf.getvalue()


class _Method:
    def __init__(self, fn: Any) -> None:
        self._fn = fn

    def remote(self, *args: Any) -> Any:
        return self._fn(*args)  # a coroutine: awaited like an ObjectRef


class FakeHandle:
    """Calls an actor instance the way a Ray actor handle is called."""

    def __init__(self, actor: Any) -> None:
        self._actor = actor

    def __getattr__(self, name: str) -> _Method:
        return _Method(getattr(self._actor, name))


def config(emu: Any, tmp_path: Path, **overrides: Any) -> _Config:
    settings: dict[str, Any] = {
        "credentials": WorkerCredentials.api_key("INPAINT_TEST_KEY"),
        "actor": FakeHandle(_CoordinatorActor("key:test")),
        "base_url": emu.base_url,
        "out_dir": str(tmp_path / "out"),
        "prompt": "add a hat",
        "journal": str(tmp_path / "run.jsonl"),
        "run_id": "r1",
        "retry": RetryPolicy(initial_wait=0.01, max_wait=0.05),
    }
    settings.update(overrides)
    return _Config(**settings)


async def test_a_batch_runs_through_the_actor_and_its_journal(
    make_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows in, outcome rows out (input order); the second pass skips what the first did."""
    emu = await make_emulator()
    monkeypatch.setenv("INPAINT_TEST_KEY", emu.api_key)
    udf = EditBatch(config(emu, tmp_path))
    batch = {
        "id": np.array(["a", "b", "c"], dtype=object),
        "image": np.array([png(1), png(2), None], dtype=object),
        "params": np.array(['{"model": "firered-image-edit"}', None, None], dtype=object),
    }
    out = await udf(batch)
    assert list(out) == list(OUTCOME_COLUMNS)
    assert out["job_id"][:2] == ["a", "b"]
    assert out["status"] == ["succeeded", "succeeded", "failed"]
    assert out["reason"][2].startswith("invalid row")
    assert all(Path(p).stat().st_size > 0 for p in out["output"][:2])
    again = await udf(batch)
    assert again["status"][:2] == ["skipped", "skipped"]
    assert again["reason"][:2] == ["already succeeded", "already succeeded"]
    records = [json.loads(line) for line in (tmp_path / "run.jsonl").read_text().splitlines()]
    assert sorted(r["state"] for r in records) == ["sent", "sent", "succeeded", "succeeded"]
    assert all(r["run"] == "r1" for r in records)
    assert len([r for r in emu.requests if r.path.endswith("/image/edit")]) == 2


async def test_a_budget_stop_leaves_rows_not_started(
    make_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jobs the budget never let start still get a row, saying so."""
    from decimal import Decimal

    emu = await make_emulator()
    monkeypatch.setenv("INPAINT_TEST_KEY", emu.api_key)
    udf = EditBatch(config(emu, tmp_path, budget_usd=Decimal("0.05"), journal=None))
    out = await udf({"image": np.array([png(i) for i in range(4)], dtype=object)})
    assert out["status"].count("succeeded") == 1
    assert [r for r in out["reason"] if r.startswith("not started: budget reached")]


async def test_the_actor_class_and_ray_coordinator(tmp_path: Path) -> None:
    """Every Coordinator call goes through the handle; stats and closing a run work."""
    actor = _CoordinatorActor("0x" + "aa" * 20)
    coordinator = RayCoordinator(FakeHandle(actor), journal=str(tmp_path / "j.jsonl"), run_id="r")
    assert isinstance(coordinator, Coordinator)
    spender = "0x" + "aa" * 20
    slot = await coordinator.acquire_slot(spender, max_in_flight=5)
    await actor.heartbeat(coordinator._holder)
    assert (await actor.stats())["in_flight"] == 1
    await coordinator.release_slot(
        slot, status=200, headers={"x-ratelimit-remaining-requests": "9"}
    )
    turn = await coordinator.begin_top_up(spender, generation=slot.generation, epoch=slot.epoch)
    assert turn.action == "lead"
    await coordinator.end_top_up(turn, ok=True)
    assert (await actor.stats())["top_ups"] == 1
    from decimal import Decimal

    reservation = await coordinator.reserve(Decimal("0.04"), budget_usd=Decimal(1))
    assert reservation is not None
    await coordinator.commit(reservation, Decimal("0.04"))
    other = await coordinator.reserve(Decimal("0.04"), budget_usd=Decimal(1))
    assert other is not None
    await coordinator.release(other)
    assert (await coordinator.claim("j", owner="o")).run
    await coordinator.record("j", "succeeded", cost_usd=Decimal("0.04"))
    assert (await coordinator.claim("j", owner="p")).decision == "skip-succeeded"
    assert (await actor.stats())["journals"] == [str(tmp_path / "j.jsonl")]
    await actor.close_run(str(tmp_path / "j.jsonl"))
    assert (await actor.stats())["journals"] == []
    if coordinator._beating is not None:
        coordinator._beating.cancel()


def test_rows_become_jobs_like_manifest_lines(tmp_path: Path) -> None:
    """Paths, URLs and bytes; outputs under out_dir; params as dict or JSON; prompts required."""
    cfg = _Config(
        credentials=WorkerCredentials.api_key(),
        actor=None,
        base_url=None,
        out_dir=str(tmp_path),
        prompt=None,
        params={"model": "m", "seed": None},
    )
    job = _job({"image": "in/a.png", "prompt": "p", "params": {"seed": 3}}, cfg)
    assert job.image == Path("in/a.png") and job.output == tmp_path / "a.png"
    assert job.params == {"model": "m", "seed": 3}
    job = _job({"image": "https://x/y.png", "prompt": "p", "id": "k", "output": "o/z.png"}, cfg)
    assert job.image == "https://x/y.png" and job.output == tmp_path / "o" / "z.png"
    assert job.id == "k"
    job = _job(
        {"image": bytearray(b"abc"), "prompt": "p", "output": str(tmp_path / "abs.png")}, cfg
    )
    assert job.image == b"abc" and job.output == tmp_path / "abs.png"
    job = _job({"image": b"abc", "prompt": "p", "params": ""}, cfg)
    assert job.output.suffix == ".png" and len(job.output.stem) == 16
    job = _job({"image": "a.png", "prompt": np.str_("p"), "id": np.int64(7)}, cfg)
    assert job.id == "7" and job.output == tmp_path / "7.png"
    with pytest.raises(ConfigurationError, match="prompt"):
        _job({"image": "a.png", "prompt": float("nan")}, cfg)
    with pytest.raises(ConfigurationError, match="image"):
        _job({"prompt": "p"}, cfg)


def test_worker_credentials_point_at_the_environment(tmp_path: Path) -> None:
    """from_env picks what a client would read; load reads it in the worker; errors name no key."""
    key = "VENICE_INFERENCE_KEY_" + "q" * 20
    wallet = "0x" + "2b" * 32
    assert WorkerCredentials.from_env({"VENICE_API_KEY": key}) == WorkerCredentials.api_key()
    assert WorkerCredentials.from_env({"VENICE_WALLET_KEY": wallet}).kind == "wallet_key"
    ks = WorkerCredentials.from_env({"VENICE_WALLET_KEYSTORE": "/k.json"})
    assert (ks.kind, ks.keystore, ks.env) == (
        "wallet_keystore",
        "/k.json",
        "VENICE_WALLET_PASSWORD",
    )
    with pytest.raises(ConfigurationError, match="no credentials"):
        WorkerCredentials.from_env({})
    assert isinstance(WorkerCredentials.api_key().load({"VENICE_API_KEY": key}), BearerAuth)
    auth = WorkerCredentials.wallet_key().load({"VENICE_WALLET_KEY": wallet})
    assert isinstance(auth, WalletAuth)
    with pytest.raises(ConfigurationError, match="VENICE_API_KEY") as err:
        WorkerCredentials.api_key().load({})
    assert key not in str(err.value)
    from eth_account import Account

    keystore = tmp_path / "k.json"
    keystore.write_text(json.dumps(Account.encrypt("0x" + "2b" * 32, "pw", iterations=2)))
    loaded = WorkerCredentials.wallet_keystore(keystore, "PW").load({"PW": "pw"})
    assert isinstance(loaded, WalletAuth) and loaded.address == auth.address  # type: ignore[union-attr]
    assert actor_name("key:abc") == "inpaint-async-coordinator-key:abc"
