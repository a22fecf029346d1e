"""Import time: ``import inpaint_async`` vs ``import openai`` (when installed), fresh processes.

    python -m bench.imports [--repeat 7]

Each import runs in a new interpreter; the bare interpreter start-up is subtracted; best of N.
Also checks that eth-account is not loaded by ``import inpaint_async`` (it loads only for a wallet).
Target: inpaint_async ≤ 0.5 × openai.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time


def _best(code: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        best = min(best, time.perf_counter() - start)
    return best


def run(repeat: int = 7) -> dict[str, object]:
    base = _best("pass", repeat)
    out: dict[str, object] = {
        "import_inpaint_async_ms": round((_best("import inpaint_async", repeat) - base) * 1000, 1)
    }
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, inpaint_async; print('eth_account' in sys.modules)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    out["eth_account_loaded_by_import"] = loaded == "True"
    if importlib.util.find_spec("openai") is not None:
        openai_ms = (_best("import openai", repeat) - base) * 1000
        out["import_openai_ms"] = round(openai_ms, 1)
        out["ratio_vs_openai"] = round(float(out["import_inpaint_async_ms"]) / openai_ms, 3)  # type: ignore[arg-type]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    print(json.dumps(run(parser.parse_args().repeat), indent=2))


if __name__ == "__main__":
    main()
