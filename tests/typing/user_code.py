"""Code as a user writes it, type-checked by tests/typing/test_typing.py (never executed).

Lines marked ``# type: ignore[...]`` MUST be type errors: both checkers run with unused-ignore
reporting on, so a line that stops being an error fails the test.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import assert_type

from inpaint_async import (
    EditResult,
    InpaintClient,
    MultiEditResult,
    SyncInpaintClient,
    TopUpPolicy,
    UpscaleResult,
    WalletAuth,
)
from inpaint_async.types import AspectRatio, Quality


async def quickstart(client: InpaintClient) -> None:
    result = await client.images.edit(
        Path("photo.png"),
        "add a red hat",
        model="gpt-image-2-edit",
        aspect_ratio="16:9",
        resolution="2K",
        output_format="jpg",
    )
    assert_type(result, EditResult)
    assert_type(result.read_bytes(), bytes)
    assert_type(result.balance_remaining, Decimal | None)
    multi = await client.images.multi_edit([b"..."], "merge", quality="low")
    assert_type(multi, MultiEditResult)
    assert_type(await client.images.upscale(b"...", scale=2), UpscaleResult)
    price = await client.estimate_cost("gpt-image-2-edit", quality="low", resolution="1K")
    assert_type(price, Decimal)
    ratio: AspectRatio = "auto"
    tier: Quality = "medium"
    await client.images.edit(b"...", "x", aspect_ratio=ratio, extra_body={"seed": 1})
    await client.images.multi_edit([b"..."], "x", quality=tier)


async def mistakes(client: InpaintClient) -> None:
    await client.images.edit(b"...", "x", output_format="gif")  # type: ignore[arg-type]
    await client.images.edit(b"...", "x", aspect_ratio="16-9")  # type: ignore[arg-type]
    await client.images.edit(b"...", "x", resolution="8K")  # type: ignore[arg-type]
    await client.images.multi_edit([b"..."], "x", quality="ultra")  # type: ignore[arg-type]
    await client.images.edit(b"...", "x", ouput_format="png")  # type: ignore[call-arg]


def money() -> None:
    # The docs' examples: amounts as str, int or Decimal all type-check.
    TopUpPolicy(amount_usd="10", max_total_usd=50)
    TopUpPolicy(amount_usd=Decimal("5.50"), max_total_usd="100", below_usd="1")
    policy = TopUpPolicy(amount_usd=10, max_total_usd=50)
    assert_type(policy.amount_usd, Decimal)
    assert_type(policy.below_usd, Decimal | None)


async def spend_guard() -> None:
    from inpaint_async.spend import open_ledger

    ledger = open_ledger("0x" + "ab" * 20)
    hold = await ledger.reserve_edit("0.04", max_per_day_usd=5)
    await ledger.commit_edit(hold, Decimal("0.04"))


def wallet() -> None:
    auth = WalletAuth("0x" + "11" * 32)
    assert_type(auth.address, str)


def sync_script() -> None:
    with SyncInpaintClient("key", proxy="http://127.0.0.1:3128", verify="/etc/ca.pem") as client:
        result = client.images.edit(Path("photo.png"), "add a red hat", output_format="png")
        assert_type(result, EditResult)
        assert_type(client.images.multi_edit([b"..."], "x", quality="low"), MultiEditResult)
        assert_type(client.estimate_cost("gpt-image-2-edit"), Decimal)
        client.images.edit(b"...", "x", output_format="gif")  # type: ignore[arg-type]
        client.images.edit(b"...", "x", qualty="low")  # type: ignore[call-arg]
        assert_type(client.with_options(read_timeout=30), SyncInpaintClient)
        client.with_options(read_timout=30)  # type: ignore[call-arg]
