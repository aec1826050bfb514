"""mypy checks graphopt.codegen.tensorrt against tensorrt-stubs, the only TensorRT API check possible here.

tensorrt-stubs 10.13 installs with ``pip install --no-deps tensorrt-stubs`` (its dependencies are TensorRT
itself, which cannot be installed here). Its .pyi files have a few syntax errors that stop mypy (parameters
named ``in``; a parameter without a default after defaults), and the ``tensorrt`` directory has no
``py.typed``; the test copies them, repairs those lines, and puts the copy on ``MYPYPATH``. By hand:
``python -m tests.codegen.test_tensorrt_mypy`` prints the mypy command it runs.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """\
[mypy]
python_version = 3.10
ignore_missing_imports = True
follow_imports = silent
[mypy-tensorrt,tensorrt.*,tensorrt_bindings,tensorrt_bindings.*]
ignore_errors = True
"""


def repaired_stubs(directory: Path) -> Path | None:
    """Copies of tensorrt-stubs' ``tensorrt`` and ``tensorrt_bindings`` stubs that mypy can parse, or ``None``."""
    found = {}
    for package in ("tensorrt", "tensorrt_bindings"):
        spec = importlib.util.find_spec(package)
        locations = list(spec.submodule_search_locations or []) if spec else []
        stub_dirs = [Path(p) for p in locations if (Path(p) / "__init__.pyi").exists()]
        if not stub_dirs:
            return None
        found[package] = stub_dirs[0]
    for package, source in found.items():
        shutil.copytree(source, directory / package, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    bindings = directory / "tensorrt_bindings" / "tensorrt.pyi"
    text = re.sub(r"\bin: ", "in_: ", bindings.read_text())
    text = text.replace("power: Weights = None, channel_axis: int)", "power: Weights = None, channel_axis: int = ...)")
    bindings.write_text(text)
    (directory / "mypy.ini").write_text(CONFIG)
    return directory


def mypy_command(stubs: Path) -> list[str]:
    return [sys.executable, "-m", "mypy", "--config-file", str(stubs / "mypy.ini"), "graphopt/codegen/tensorrt"]


def test_tensorrt_emitter_type_checks_against_tensorrt_stubs(tmp_path):
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed")
    stubs = repaired_stubs(tmp_path)
    if stubs is None:
        pytest.skip("tensorrt-stubs is not installed (pip install --no-deps tensorrt-stubs)")
    result = subprocess.run(mypy_command(stubs), cwd=ROOT, capture_output=True, text=True,
                            env={"MYPYPATH": str(stubs), "PATH": "/usr/bin:/bin"}, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout


if __name__ == "__main__":
    import tempfile

    made = repaired_stubs(Path(tempfile.mkdtemp()))
    print("tensorrt-stubs not installed" if made is None else f"MYPYPATH={made} {' '.join(mypy_command(made))}")
