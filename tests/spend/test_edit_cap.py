"""max_edit_spend_per_day_usd: paid edits reserve their estimate before they are sent."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from inpaint_async import (
    InpaintClient,
    OutcomeUnknownError,
    ServerError,
    SpendCapError,
    WalletAuth,
)

from .conftest import KEY, NO_RETRY, PNG, policy


def edits_sent(emu: Any) -> int:
    return len([r for r in emu.requests if r.path.endswith("/image/edit")])


async def test_the_daily_edit_cap_refuses_before_sending(make_emulator: Any) -> None:
    """$0.04 edits under a $0.10 cap: two are sent, the third raises SpendCapError unsent."""
    emu = await make_emulator()
    emu.fund_wallet(WalletAuth(KEY).address, 5)
    async with InpaintClient(
        auth=WalletAuth(KEY),
        base_url=emu.base_url,
        top_up=policy(max_edit_spend_per_day_usd="0.10"),
    ) as client:
        await client.images.edit(PNG, "one")
        await client.images.edit(PNG, "two")
        with pytest.raises(SpendCapError) as info:
            await client.images.edit(PNG, "three")
        status = await client.wallet.spend_status()
    assert info.value.cap_name == "max_edit_spend_per_day_usd"
    assert info.value.requested_usd == Decimal("0.04")
    assert edits_sent(emu) == 2
    assert status.edit_spent_24h_usd == Decimal("0.08") and status.edit_reserved_usd == 0


async def test_a_refused_edit_gives_its_reservation_back(make_emulator: Any) -> None:
    """A 503 the server did not charge: its estimate is released and the next edit fits; a
    504 after the charge (outcome unknown) keeps counting."""
    from inpaint_async.testing import FaultPlan

    emu = await make_emulator(
        faults=FaultPlan(script={"/image/edit": ["503", None, "504_after_charge"]})
    )
    emu.fund_wallet(WalletAuth(KEY).address, 5)
    async with InpaintClient(
        auth=WalletAuth(KEY),
        base_url=emu.base_url,
        retry=NO_RETRY,
        top_up=policy(max_edit_spend_per_day_usd="0.08"),
    ) as client:
        with pytest.raises(ServerError):
            await client.images.edit(PNG, "refused")
        await client.images.edit(PNG, "fits again")
        with pytest.raises(OutcomeUnknownError):
            await client.images.edit(PNG, "charged, no answer")
        with pytest.raises(SpendCapError):
            await client.images.edit(PNG, "over the cap")
        status = await client.wallet.spend_status()
    assert status.edit_spent_24h_usd == Decimal("0.08")
    assert edits_sent(emu) == 3
