"""Client CPU per edit with no network: Bearer and wallet auth over a transport that answers at once.

    python -m bench.inprocess [--n 5000] [--rounds 3]

Sequential ``images.edit`` calls (a 2 KB PNG held as ``bytes``) on an ``InpaintClient`` whose
transport returns a 1 KB image without any I/O, so the figure is the client's own Python work:
checks, body, auth, gate, result. Each round measures Bearer, then a wallet (a fresh SIWX
signature per edit); the best round of each is kept. An analysis aid for ``bench/wallet.py``
(whose target is measured over the loopback server), not a target of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from ._util import cpu_seconds, png_file
from .batch_scale import _instant_client

_KEY = "0x" + "5a" * 32  # a throwaway benchmark key


async def _per_edit(auth: Any, n: int, image: bytes) -> float:
    client = _instant_client().with_options(auth=auth)
    async with client:
        for _ in range(200):  # warm-up
            await client.images.edit(image, "add a red hat")
        start = cpu_seconds()
        for _ in range(n):
            await client.images.edit(image, "add a red hat")
        return (cpu_seconds() - start) / n


def run(n: int = 5000, rounds: int = 3) -> dict[str, float]:
    from inpaint_async import BearerAuth, WalletAuth

    with tempfile.TemporaryDirectory() as tmp:
        image = png_file(Path(tmp), "input.png", 2048).read_bytes()
    best: dict[str, float] = {}
    for _ in range(rounds):
        for kind in ("bearer", "wallet"):
            auth = BearerAuth("bench-key") if kind == "bearer" else WalletAuth(_KEY)
            per = asyncio.run(_per_edit(auth, n, image))
            best[kind] = min(best.get(kind, per), per)
    return {
        "edits": n,
        "us_per_edit_bearer": round(best["bearer"] * 1e6, 1),
        "us_per_edit_wallet": round(best["wallet"] * 1e6, 1),
        "us_added_by_wallet": round((best["wallet"] - best["bearer"]) * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(run(args.n, args.rounds), indent=2))


if __name__ == "__main__":
    main()
