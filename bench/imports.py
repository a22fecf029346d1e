"""Import time: ``import inpaint_async`` vs ``import openai`` (when installed), fresh processes.

    python -m bench.imports [--repeat 7]

Each import runs in a new interpreter; its CPU time (user + system) is measured, the bare
interpreter start-up is subtracted; best of N. Also checks that eth-account, tenacity and the x402
models are not loaded by ``import inpaint_async`` (they load on first use). ``openai`` is in the
``dev`` extra for this baseline only. Target: inpaint_async ≤ 0.45 × openai.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys


def _best(code: str, repeat: int) -> float:
    """Best CPU seconds (user + system) of a fresh interpreter running ``code``.

    CPU rather than wall time: on a shared machine a process waiting for a core is not slower.
    """
    best = float("inf")
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-c", code], check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best = min(best, cpu)
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
    lazy = subprocess.run(
        [sys.executable, "-c", "import sys, inpaint_async; print(sorted(m for m in sys.modules "
         "if m.split('.')[0] == 'tenacity' or m.startswith('inpaint_async.x402')))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    out["lazy_modules_loaded_by_import"] = lazy
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
