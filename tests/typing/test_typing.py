"""A user-style file type-checks as documented under mypy --strict and pyright (basedpyright)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
USER_CODE = HERE / "user_code.py"


def test_user_code_passes_mypy_strict() -> None:
    """mypy --strict: the examples pass, and every marked mistake is still an error."""
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--warn-unused-ignores",
         "--no-error-summary", str(USER_CODE)],
        capture_output=True, text=True, cwd=HERE.parent.parent, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_user_code_passes_pyright() -> None:
    """pyright (strict rules, unnecessary ignores reported): the same file, the same verdict."""
    exe = shutil.which("basedpyright", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("basedpyright is not installed (it comes with the dev extra)")
    config = HERE / "pyrightconfig.json"
    proc = subprocess.run(
        [exe, "--project", str(config), "--outputjson", str(USER_CODE)],
        capture_output=True, text=True, cwd=HERE.parent.parent, check=False,
    )  # fmt: skip
    report = json.loads(proc.stdout)
    problems = [
        f"{d['range']['start']['line'] + 1}: {d['message']}"
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    assert problems == [], "\n".join(problems)
