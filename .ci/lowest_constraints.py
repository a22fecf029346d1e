"""Print pip constraints that pin every direct dependency of pyproject.toml to its floor.

    python .ci/lowest_constraints.py > lowest.txt
    pip install -c lowest.txt -e '.[dev]'

Covers `[project].dependencies` and every extra (the self-referencing `dev` extra included), so
the lowest-versions CI job tests exactly the versions pyproject claims to support. A requirement
without a `>=` floor is left to the resolver. Stdlib only: it runs before anything is installed.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

#: Where an extra's own dependency needs more than our floor, the lowest version that installs
#: together with everything else (uv's "lowest-direct" would pick the same). The floor itself
#: still holds for an install without that extra. Checked by `pip install --dry-run`.
RAISED_BY_EXTRAS = {
    "pydantic": "2.12",  # mcp 2.3 needs pydantic>=2.12
}

_FLOOR = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;]*)")


def floors(pyproject: Path) -> dict[str, str]:
    """Canonical distribution name -> floor version, over the dependencies and all extras."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    own = _canonical(project["name"])
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements.extend(extra)
    result: dict[str, str] = {}
    for requirement in requirements:
        match = _FLOOR.match(requirement)
        if match is None:
            raise SystemExit(f"cannot read the requirement {requirement!r}")
        name, spec = _canonical(match.group(1)), match.group(2)
        if name == own:
            continue
        for clause in spec.split(","):
            clause = clause.strip()
            if clause.startswith(">="):
                version = clause[2:].strip()
                if name in result and result[name] != version:
                    raise SystemExit(f"{name} has two floors: {result[name]} and {version}")
                result[name] = version
    return result


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    pins = {**floors(root / "pyproject.toml"), **RAISED_BY_EXTRAS}
    for name, version in sorted(pins.items()):
        print(f"{name}=={version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
