"""What the soak and the crash-resume run share: inputs, journal reading, ledger attribution."""

from __future__ import annotations

import contextlib
import io
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from inpaint_async.testing import LedgerEntry

#: Journal states that end a job's attempt.
TERMINAL = frozenset({"succeeded", "failed", "unknown"})


def write_pngs(folder: Path, count: int) -> list[Path]:
    """Write ``count`` distinct 256x256 PNGs (the smallest size the client accepts)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        buf = io.BytesIO()
        colour = (i * 37 % 256, i * 91 % 256, (i // 7) * 53 % 256)
        Image.new("RGB", (256, 256), colour).save(buf, format="PNG")
        path = folder / f"in{i:05d}.png"
        path.write_bytes(buf.getvalue())
        paths.append(path)
    return paths


def decodes(path: Path) -> bool:
    """Whether a file is a complete image Pillow can decode."""
    try:
        with Image.open(path) as img:
            img.load()
    except (OSError, ValueError, SyntaxError):
        return False
    return True


def read_records(journal: Path) -> list[dict[str, Any]]:
    """Every complete record of a journal; a torn last line (a writer killed mid-write) is skipped."""
    if not journal.exists():
        return []
    records = []
    for line in journal.read_text().splitlines():
        if line.strip():
            with contextlib.suppress(ValueError):
                records.append(json.loads(line))
    return records


def states_by_job(records: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Each job's journal states, in order."""
    states: dict[str, list[str]] = {}
    for record in records:
        states.setdefault(str(record["job"]), []).append(str(record["state"]))
    return states


def part_files(folder: Path) -> list[Path]:
    """Temporary ``.NAME.*.part`` files left under ``folder``."""
    return sorted(folder.rglob(".*.part")) if folder.exists() else []


def undecodable_outputs(
    folder: Path, suffixes: Sequence[str] = (".png", ".jpeg", ".jpg", ".webp")
) -> list[Path]:
    """Image files under their final names in ``folder`` that Pillow cannot decode."""
    if not folder.exists():
        return []
    return [p for p in sorted(folder.iterdir()) if p.suffix in suffixes and not decodes(p)]


def attribute_charges(
    charges: Sequence[LedgerEntry], records: Iterable[Mapping[str, Any]]
) -> tuple[dict[str, list[LedgerEntry]], list[LedgerEntry]]:
    """Map each charge to the job whose journal names its request id.

    Returns the charges per job and the charges no journal record names.
    """
    owner: dict[str, str] = {}
    for record in records:
        request_id = record.get("request_id")
        if request_id:
            owner[str(request_id)] = str(record["job"])
    per_job: dict[str, list[LedgerEntry]] = {}
    orphans: list[LedgerEntry] = []
    for charge in charges:
        job = owner.get(charge.request_id or "")
        if job is None:
            orphans.append(charge)
        else:
            per_job.setdefault(job, []).append(charge)
    return per_job, orphans


def duplicate_request_ids(charges: Sequence[LedgerEntry]) -> int:
    """Charges whose request id was charged before (one request billed twice)."""
    counts = Counter(c.request_id for c in charges)
    return sum(n - 1 for n in counts.values() if n > 1)
