"""The testing kit from a user's point of view: a separate project, written from
docs/testing.md alone, passes its tests in its own pytest process (none of our conftest files)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent / "fixtures" / "userproject"


def test_a_user_project_passes_with_the_emulator_and_aioresponses(tmp_path: Path) -> None:
    """The `emulator` and `aioresponses_mock` fixtures work in a project of its own, with a
    developer's real-looking credentials in the environment that never reach the tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COV_", "COVERAGE"))}
    env.update(
        VENICE_API_KEY="VENICE_INFERENCE_KEY_developer_canary",
        VENICE_WALLET_KEY="0x" + "22" * 32,
        VENICE_BASE_URL="https://api.venice.ai/api/v1",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(PROJECT),
         "-c", str(PROJECT / "pyproject.toml"), str(PROJECT / "tests")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 passed" in proc.stdout
