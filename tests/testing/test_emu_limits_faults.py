"""Rate limits, the error budget, and every fault kind."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from inpaint_async.testing import Emulator, Fault, FaultPlan

from .helpers import FakeClock, image_b64

EDIT = {"image": image_b64(), "prompt": "x"}


async def edit(
    http: aiohttp.ClientSession, emu: Emulator, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    async with http.post(emu.base_url + "/image/edit", json=body or EDIT, headers=headers) as r:
        return r.status, r.headers


async def test_rpm_window_per_payer_and_model(
    http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Past the RPM limit: 429 without Retry-After; a new model or window is fresh."""
    async with Emulator(max_output_side=64, clock=clock, rate_limit_rpm=2) as emu:
        status, headers = await edit(http, emu)
        assert status == 200
        assert headers["x-ratelimit-limit-requests"] == "2"
        assert headers["x-ratelimit-remaining-requests"] == "1"
        reset = int(headers["x-ratelimit-reset-requests"])
        assert reset >= 1e12  # Unix milliseconds
        assert reset == int((clock.now + 60) * 1000)
        assert (await edit(http, emu))[0] == 200
        status, headers = await edit(http, emu)
        assert status == 429
        assert "Retry-After" not in headers
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert (await edit(http, emu, {**EDIT, "model": "qwen-image-2-edit"}))[0] == 200
        clock.advance(60)
        assert (await edit(http, emu))[0] == 200
        assert len(emu.charges_for()) == 4


async def test_error_budget_locks_out_then_recovers(
    http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """N counted 4xx within the window lock the payer out with 429 for the lock-out time."""
    async with Emulator(
        max_output_side=64, clock=clock, error_budget=3, error_budget_lockout=30
    ) as emu:
        bad = {**EDIT, "model": "nope"}
        for _ in range(3):
            assert (await edit(http, emu, bad))[0] == 400
        status, _ = await edit(http, emu)
        assert status == 429
        clock.advance(30)
        assert (await edit(http, emu))[0] == 200


async def test_exempt_failures_do_not_burn_the_budget(
    http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """No-credential 402s and invalid-JSON 400s are not counted."""
    async with Emulator(max_output_side=64, clock=clock, error_budget=2) as emu:
        for _ in range(3):
            async with http.post(emu.base_url + "/image/edit", json=EDIT) as r:
                assert r.status == 402
            async with http.post(
                emu.base_url + "/image/edit",
                data=b"{",
                headers={
                    "Authorization": f"Bearer {emu.api_key}",
                    "Content-Type": "application/json",
                },
            ) as r:
                assert r.status == 400
        assert (await edit(http, emu))[0] == 200


@pytest.mark.parametrize(
    ("kind", "status"), [("500", 500), ("502", 502), ("503", 503), ("504", 504)]
)
async def test_server_error_faults_charge_nothing(
    emulator: Emulator, http: aiohttp.ClientSession, kind: str, status: int
) -> None:
    """5xx faults answer before any work: nothing in the ledger."""
    emulator.faults = FaultPlan(script={"/image/edit": [kind]})
    got, headers = await edit(http, emulator)
    assert got == status
    assert headers["Content-Type"].startswith("application/json")
    assert emulator.ledger == []
    assert emulator.requests[-1].fault == kind


async def test_overloaded_has_retry_after(emulator: Emulator, http: aiohttp.ClientSession) -> None:
    """`429_overloaded` carries Retry-After, unlike the plain rate limit."""
    emulator.faults = FaultPlan(script={"/image/edit": ["429_overloaded"]})
    status, headers = await edit(http, emulator)
    assert (status, headers["Retry-After"]) == (429, "30")


async def test_504_after_charge_charges(emulator: Emulator, http: aiohttp.ClientSession) -> None:
    """`504_after_charge`: the edit is billed, the caller sees a 504."""
    emulator.faults = FaultPlan(script={"/image/edit": ["504_after_charge"]})
    status, _ = await edit(http, emulator)
    assert status == 504
    (charge,) = emulator.charges_for()
    assert charge.amount_usd == Decimal("0.04")


async def test_reset_drops_the_connection(emulator: Emulator, http: aiohttp.ClientSession) -> None:
    """`reset` closes the connection before any response; nothing is charged."""
    emulator.faults = FaultPlan(script={"/image/edit": ["reset"]})
    with pytest.raises(aiohttp.ClientConnectionError):
        await edit(http, emulator)
    assert emulator.ledger == []
    assert (await edit(http, emulator))[0] == 200


async def test_truncate_cuts_the_body(emulator: Emulator, http: aiohttp.ClientSession) -> None:
    """`truncate` sends the full Content-Length but half the body; the edit was charged."""
    emulator.faults = FaultPlan(script={"/image/edit": ["truncate"]})
    async with http.post(
        emulator.base_url + "/image/edit",
        json=EDIT,
        headers={"Authorization": f"Bearer {emulator.api_key}"},
    ) as r:
        assert r.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()
    assert len(emulator.charges_for()) == 1


async def test_html_502(emulator: Emulator, http: aiohttp.ClientSession) -> None:
    """`html_502` is a Cloudflare-style HTML page, not JSON."""
    emulator.faults = FaultPlan(script={"/image/edit": ["html_502"]})
    async with http.post(
        emulator.base_url + "/image/edit",
        json=EDIT,
        headers={"Authorization": f"Bearer {emulator.api_key}"},
    ) as r:
        assert r.status == 502
        assert r.content_type == "text/html"
        assert "Cloudflare Ray ID" in await r.text()


async def test_latency_fault_then_success(emulator: Emulator, http: aiohttp.ClientSession) -> None:
    """`latency:<s>` delays, then the request proceeds normally."""
    emulator.faults = FaultPlan(script={"/image/edit": ["latency:0.01"]})
    assert (await edit(http, emulator))[0] == 200
    assert emulator.requests[-1].fault == "latency:0.01"


async def test_script_runs_in_order_then_rules(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    """Scripted faults come first, `None` meaning a normal answer; then the rules apply."""
    emulator.faults = FaultPlan(
        rules={"/image/edit": {"503": 1.0}}, script={"/image/edit": ["500", None, "502"]}
    )
    statuses = [(await edit(http, emulator))[0] for _ in range(4)]
    assert statuses == [500, 200, 502, 503]


def test_fault_plan_is_seeded() -> None:
    """Same seed, same draws; the wildcard route applies everywhere."""
    draws = [
        [str(FaultPlan(seed=7, rules={"*": {"503": 0.3, "reset": 0.2}}).draw("/image/edit"))]
        for _ in range(2)
    ]
    assert draws[0] == draws[1]
    plan_a = FaultPlan(seed=3, rules={"*": {"503": 0.5}})
    plan_b = FaultPlan(seed=3, rules={"*": {"503": 0.5}})
    seq_a = [plan_a.draw("/models") for _ in range(50)]
    assert seq_a == [plan_b.draw("/api/v1/models") for _ in range(50)]
    assert 10 < sum(f is not None for f in seq_a) < 40


def test_fault_specs_and_validation() -> None:
    """CLI specs parse; unknown kinds and bad probabilities are refused."""
    plan = FaultPlan.from_specs(["503:0.1", "/image/edit=latency:2.5:0.5", "reset:0.2"], seed=1)
    assert plan.to_dict()["rules"] == {
        "*": {"503": 0.1, "reset": 0.2},
        "/image/edit": {"latency:2.5": 0.5},
    }
    assert FaultPlan.from_specs(["html_502"]).to_dict()["rules"] == {"*": {"html_502": 1.0}}
    assert Fault.parse("latency:3") == Fault("latency", 3.0)
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault.parse("418")
    with pytest.raises(ValueError, match="more than 1"):
        FaultPlan(rules={"*": {"500": 0.7, "503": 0.7}})
    with pytest.raises(ValueError, match="unknown keys"):
        FaultPlan.from_dict({"sede": 1})
    round_trip = FaultPlan.from_dict(FaultPlan(script={"/x402/top-up": ["reset", None]}).to_dict())
    assert round_trip.remaining_script() == {"/x402/top-up": ["reset", None]}


async def test_models_route_takes_faults_too(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    """GET routes draw faults by route key as well."""
    emulator.faults = FaultPlan(script={"/models": ["503"]})
    async with http.get(emulator.base_url + "/models?type=inpaint") as r:
        assert r.status == 503
    async with http.get(emulator.base_url + "/models?type=inpaint") as r:
        assert r.status == 200
