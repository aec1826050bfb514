"""The code stays ruff- and mypy-clean (STYLE.md's habits), checked where CI runs the tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which(tool, path=str(Path(sys.executable).parent)) is None:
        pytest.skip(f"{tool} is not installed in this environment (pip install -e '.[dev]')")
    return subprocess.run([sys.executable, "-m", tool, *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff_is_clean():
    result = _run("ruff", "check", "graphopt", "tests", "benchmarks", "examples")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_is_clean(tmp_path):
    result = _run("mypy", "--cache-dir", str(tmp_path / "cache"), "graphopt")
    assert result.returncode == 0, result.stdout + result.stderr
