"""Run every benchmark, each in its own process, and print one table of figures against targets.

    python -m bench            # the full set (a few minutes)
    python -m bench --quick    # smaller N, for a smoke run

Each benchmark module prints JSON; this runner collects the figures, compares them with the targets
from the issues and prints a table (and the raw JSON with --json).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Check:
    bench: str
    key: str
    label: str
    target: str
    ok: Callable[[float], bool]


CHECKS = [
    Check(
        "overhead",
        "ratio_base64_input_vs_aiohttp",
        "CPU per edit / raw aiohttp, base64 input (JSON)",
        "≤ 1.0",
        lambda v: v <= 1.0,
    ),
    Check(
        "overhead",
        "ratio_bytes_input_vs_aiohttp",
        "CPU per edit / raw multipart, bytes input",
        "≤ 1.1",
        lambda v: v <= 1.1,
    ),
    Check(
        "overhead",
        "ratio_inpaint_vs_aiohttp_bytes",
        "CPU per edit / raw multipart, path input",
        "≤ 1.1",
        lambda v: v <= 1.1,
    ),
    Check(
        "overhead",
        "ratio_inpaint_vs_aiohttp",
        "CPU per edit / raw aiohttp with an open file",
        "≤ 1.15",
        lambda v: v <= 1.15,
    ),
    Check("overhead", "ratio_inpaint_vs_httpx", "client CPU / raw httpx", "< 1", lambda v: v < 1),
    Check(
        "wallet",
        "cpu_ms_added_per_request",
        "wallet auth CPU added per request (ms)",
        "≤ 0.15",
        lambda v: v <= 0.15,
    ),
    Check(
        "wallet",
        "stall_ratio_vs_bearer",
        "longest loop stall, 256 wallet requests / Bearer",
        "≤ 1.2",
        lambda v: v <= 1.2,
    ),
    Check(
        "memory",
        "peak_rss_mb",
        "peak RSS, 64 × 20 MB uploads + output= (MB)",
        "≤ 150",
        lambda v: v <= 150,
    ),
    Check(
        "memory_bytes",
        "added_over_caller_mb",
        "RSS over the caller's, 64 × 20 MB bytes (MB)",
        "≤ 150",
        lambda v: v <= 150,
    ),
    Check(
        "batch_scale",
        "scale_ratio",
        "batch CPU per job, 100k / 1k jobs in one folder",
        "≤ 1.2",
        lambda v: v <= 1.2,
    ),
    Check(
        "batch_scale",
        "batch_added_ms_per_job",
        "client.batch over a plain gather (ms per job)",
        "≤ 0.3",
        lambda v: v <= 0.3,
    ),
    Check(
        "ratelimit", "limit_share", "share of the rate limit used", "≥ 0.95", lambda v: v >= 0.95
    ),
    Check(
        "ratelimit", "share_429", "share of requests answered 429", "≤ 0.02", lambda v: v <= 0.02
    ),
    Check(
        "imports", "ratio_vs_openai", "import time / import openai", "≤ 0.45", lambda v: v <= 0.45
    ),
    Check(
        "report",
        "open_dom_s",
        "batch report (10,000 jobs): open to DOMContentLoaded (s)",
        "≤ 3",
        lambda v: v <= 3,
    ),
]

#: Benchmarks that are one module run with other arguments.
ALIASES = {"memory_bytes": ("memory", ["--input", "bytes"])}

QUICK_ARGS = {
    "overhead": ["--n", "500", "--rounds", "1"],
    "memory": ["--uploads", "16"],
    "memory_bytes": ["--uploads", "16"],
    "batch_scale": ["--sizes", "1000,10000", "--n", "500", "--rounds", "1"],
    "report": ["--jobs", "1000"],
}


def run_bench(name: str, quick: bool) -> dict[str, object]:
    module, extra = ALIASES.get(name, (name, []))
    if not (ROOT / "bench" / f"{module}.py").exists():
        return {"error": "not present"}
    args = [*extra, *(QUICK_ARGS.get(name, []) if quick else [])]
    proc = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *args], cwd=ROOT, capture_output=True, text=True
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    start = proc.stdout.find("{")
    result: dict[str, object] = json.loads(proc.stdout[start:])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true", help="also print every raw figure")
    args = parser.parse_args()
    results = {name: run_bench(name, args.quick) for name in dict.fromkeys(c.bench for c in CHECKS)}
    width = max(len(c.label) for c in CHECKS)
    print(f"{'figure':<{width}}  {'value':>10}  {'target':>8}  ok")
    for c in CHECKS:
        value = results[c.bench].get(c.key)
        if isinstance(value, int | float):
            mark = "yes" if c.ok(float(value)) else "NO"
            print(f"{c.label:<{width}}  {value:>10}  {c.target:>8}  {mark}")
        else:
            err = results[c.bench].get("error", "missing")
            print(f"{c.label:<{width}}  {'-':>10}  {c.target:>8}  ({err})")
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
