"""Shared benchmark plumbing: one subprocess per measurement, peak-RSS probes, summaries, reports."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"


def current_rss() -> int:
    """Resident set size of this process now, in bytes."""
    return _status_kib("VmRSS") * 1024


def peak_rss() -> int:
    """Peak resident set size of this process since start or since :func:`reset_peak_rss`, in bytes."""
    return _status_kib("VmHWM") * 1024


def reset_peak_rss() -> None:
    """Restart the kernel's peak-RSS counter (Linux: writing 5 to clear_refs resets VmHWM)."""
    Path("/proc/self/clear_refs").write_text("5")


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {key}")


def run_worker(script: Path, *args: str) -> dict[str, Any]:
    """Run ``python script --worker args...`` and return the JSON object it prints last."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(script), "--worker", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def machine() -> dict[str, Any]:
    import numpy
    import onnx

    info: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                            "platform": platform.platform(), "numpy": numpy.__version__, "onnx": onnx.__version__}
    try:
        import onnx_graphsurgeon

        info["onnx_graphsurgeon"] = onnx_graphsurgeon.__version__
    except ImportError:
        pass
    return info


def mib(n: float) -> str:
    return f"{n / 2**20:.1f}"


def write_json(name: str, data: Any) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def write_text(name: str, text: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    path.write_text(text)
    return path
