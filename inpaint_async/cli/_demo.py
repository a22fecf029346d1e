"""``inpaint-async demo``: the whole SDK in half a minute, offline.

An emulator of the API on 127.0.0.1, a throwaway wallet generated at runtime and funded below the
minimum, a dozen generated images, and a batch with a capped ``TopUpPolicy``: the first request
meets a 402, one top-up is signed and settled, every edit completes. It ends with the path of the
batch's report page (``report.html``), the thing to open.
"""

from __future__ import annotations

import secrets
import shutil
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from .._constants import H_PAYMENT_RESPONSE
from ._errors import EXIT_OK, EXIT_OTHER, describe_error
from ._output import Output, safe

if TYPE_CHECKING:
    from .._wire import RawResponse

__all__ = ["run_demo"]

_PROMPTS = [
    "add a red knitted hat",
    "turn the sky into a sunset",
    "make it look like a watercolour",
    "add falling snow",
    "paint it in the style of a mosaic",
    "add a small sailing boat",
    "make it night with a full moon",
    "add autumn leaves",
    "turn it into a pencil sketch",
    "add a rainbow",
    "make the colours neon",
    "add a friendly robot",
]
START_USD = Decimal("0.05")
TOP_UP_USD = Decimal(5)
CAP_USD = Decimal(20)


def make_samples(folder: Path, count: int) -> list[Path]:
    """Draw ``count`` small, distinct images (256x256 PNGs) with Pillow."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        hue = (i * 37) % 255
        image = Image.new("RGB", (256, 256), (hue, 120, 255 - hue))
        draw = ImageDraw.Draw(image)
        draw.ellipse((48 + i * 3, 48, 208, 208 - i * 3), fill=(255 - hue, 220, hue))
        draw.rectangle((0, 200, 256, 256), fill=(40, 90 + i * 10, 40))
        path = folder / f"sample-{i + 1:02d}.png"
        image.save(path, format="PNG")
        paths.append(path)
    return paths


async def run_demo(output: Output, *, out_dir: Path, jobs: int = 12, quiet: bool = False) -> int:
    """Run the demo; return the exit code."""
    from eth_account import Account

    from .._client import InpaintClient
    from ..auth.wallet import WalletAuth
    from ..batch import BatchRunner, EditJob
    from ..spend import TopUpPolicy
    from ..testing import Emulator
    from ._progress import BatchDisplay, print_summary

    say = output.say
    inputs, edited = out_dir / "inputs", out_dir / "edited"
    journal = out_dir / "journal.jsonl"
    # A fresh demo every time: only what an earlier demo wrote here is removed.
    for old in (inputs, edited, out_dir / "report_files"):
        shutil.rmtree(old, ignore_errors=True)
    journal.unlink(missing_ok=True)
    samples = make_samples(inputs, jobs)

    # A throwaway key, generated here and never printed or stored.
    wallet = WalletAuth("0x" + Account.create(secrets.token_hex(16)).key.hex().removeprefix("0x"))
    emulator = Emulator(
        rate_limit_rpm=600,
        max_output_side=256,
        settlement_delay=0.3,
        latency=0.2,  # slow enough to watch the bar
        wallets={wallet.address: START_USD},
    )
    await emulator.start()
    try:
        say(
            f"[bold]inpaint-async demo[/] — offline; an emulator of the Venice API at {emulator.base_url}"
        )
        say(f"throwaway wallet {wallet.address} with ${START_USD} of credit (minimum $0.10)")
        say(
            f"policy: top up ${TOP_UP_USD} of USDC on Base when needed, at most ${CAP_USD} in total"
        )
        policy = TopUpPolicy(
            amount_usd=TOP_UP_USD, max_total_usd=CAP_USD, poll_interval=0.2, settlement_timeout=30
        )
        async with InpaintClient(wallet, base_url=emulator.base_url, top_up=policy) as client:
            seen = {"402": False, "paid": False}
            display = BatchDisplay(output, total=len(samples), quiet=quiet)

            def narrate(raw: RawResponse) -> None:
                # Through the display: above the progress bar while it is drawn.
                if raw.status == 402 and not seen["402"]:
                    seen["402"] = True
                    display.say(
                        "[yellow]402 Payment Required[/]: the wallet is below the minimum → "
                        f"signing one ${TOP_UP_USD} top-up (EIP-3009), the other jobs wait"
                    )
                elif raw.headers.get(H_PAYMENT_RESPONSE) and not seen["paid"]:
                    seen["paid"] = True
                    display.say("[green]top-up settled[/]: jobs resume, freshly signed")

            client._shared.setdefault("observers", []).append(narrate)
            job_list = [
                EditJob(
                    image=path,
                    prompt=_PROMPTS[i % len(_PROMPTS)],
                    output=edited / path.name,
                )
                for i, path in enumerate(samples)
            ]
            runner = BatchRunner(
                client, job_list, journal=journal, job_timeout=60, on_event=display.on_event
            )
            summary = await display.run(runner)
            print_summary(summary, output, outputs=edited)
        charges = emulator.charges_for(wallet.address)
        credits = emulator.credits_for(wallet.address)
        spent = sum((c.amount_usd for c in charges), Decimal(0))
        say(
            f"ledger: started at ${START_USD}; {len(credits)} top-up(s) "
            f"+${sum((c.amount_usd for c in credits), Decimal(0)):.2f}; {len(charges)} edits "
            f"-${spent:.2f}; balance now ${emulator.balance_of(wallet.address):.2f}"
        )
        report = summary.write_report(out_dir / "report.html", title="inpaint-async demo")
        ok = summary.ok and summary.succeeded == len(job_list) and len(credits) == 1
        if ok:
            say(
                f"[bold green]done[/]: {summary.succeeded} edited images in {safe(edited.resolve())}"
            )
            say(f"[bold]open the report:[/] {safe(report.resolve().as_uri())}")
            return EXIT_OK
        output.note(f"report: {safe(report.resolve())}")
        if summary.stop_error is not None:
            output.note(f"error: {safe(describe_error(summary.stop_error))}")
        output.note("[red]the demo did not complete as expected[/]")
        return EXIT_OTHER
    finally:
        await emulator.stop()
