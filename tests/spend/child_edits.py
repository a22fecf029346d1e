"""A child process of the cross-process proofs: N concurrent edits with a top-up policy on a
shared ledger file. Prints one JSON line: successes and error class names.

Usage: python child_edits.py BASE_URL LEDGER EDITS AMOUNT_USD MAX_TOTAL_USD [BARRIER_DIR]
(the throwaway test key comes in the environment variable SPEND_PROOF_KEY). With BARRIER_DIR the
child announces itself there once its client is built and sends nothing until a file ``go``
appears: the processes then meet the 402 together.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from collections import Counter
from pathlib import Path


async def main() -> None:
    from PIL import Image

    from inpaint_async import InpaintClient, RetryPolicy, TopUpPolicy, WalletAuth

    base, ledger, edits, amount, total = sys.argv[1:6]
    barrier = Path(sys.argv[6]) if len(sys.argv) > 6 else None
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (0, 90, 40)).save(buf, format="PNG")
    png = buf.getvalue()
    policy = TopUpPolicy(
        amount_usd=amount,
        max_total_usd=total,
        ledger=ledger,
        poll_interval=0.05,
        in_progress_backoff=0.05,
        settlement_timeout=10,
        request_timeout=10,
        wait_timeout=60,
    )
    async with InpaintClient(
        auth=WalletAuth(os.environ["SPEND_PROOF_KEY"]),
        base_url=base,
        retry=RetryPolicy(initial_wait=0.01, max_wait=0.05),
        top_up=policy,
    ) as client:
        if barrier is not None:
            (barrier / f"ready-{os.getpid()}").touch()
            while not (barrier / "go").exists():
                await asyncio.sleep(0.01)
        results = await asyncio.gather(
            *(client.images.edit(png, f"hat {i}") for i in range(int(edits))),
            return_exceptions=True,
        )
    errors = Counter(type(r).__name__ for r in results if isinstance(r, BaseException))
    ok = sum(1 for r in results if not isinstance(r, BaseException))
    print(json.dumps({"ok": ok, "errors": dict(errors)}))


if __name__ == "__main__":
    asyncio.run(main())
