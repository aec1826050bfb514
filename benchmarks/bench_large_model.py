"""Load + save of a model over 2 GiB: peak memory and time of graphopt beside onnx.

    python benchmarks/bench_large_model.py [--runs 3]

The model (tests/zoo.py: ``large_model``) holds three 750 MB float32 weights (2.25 GB) in a sparse
external data file. Each tool loads it and saves it to a new path with external data:

- graphopt: ``graphopt.save(graphopt.load(src), dst)`` (weights stay on disk, streamed to ``dst.data``)
- onnx: ``onnx.load(src)`` (reads external data into the proto) →
  ``onnx.save_model(..., save_as_external_data=True, all_tensors_to_one_file=True)``

After one unrecorded warm-up round, each measurement is a fresh subprocess; peak RSS is measured from
just before the load, and the time includes an fsync of the written files. The output is
deleted after every measurement, so the benchmark needs about 2.3 GB of disk. Writes
benchmarks/out/large_model.md and large_model.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    current_rss,
    machine,
    mib,
    peak_rss,
    reset_peak_rss,
    run_worker,
    summary,
    write_json,
    write_text,
)

TOOLS = ("graphopt", "onnx")


def worker(tool: str, source: str, target: str) -> None:
    """Load ``source`` and save it to ``target`` with ``tool``; print time and peak RSS as JSON."""
    import onnx

    if tool == "graphopt":
        import graphopt
    before = current_rss()
    reset_peak_rss()
    start = time.perf_counter()
    if tool == "graphopt":
        graphopt.save(graphopt.load(source), target)
    else:
        model = onnx.load(source)
        onnx.save_model(model, target, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=Path(target).name + ".data", size_threshold=1024)
    for path in (target, target + ".data"):  # time the writes themselves, not the page cache filling
        with open(path, "rb") as f:
            os.fsync(f.fileno())
    seconds = time.perf_counter() - start
    peak = peak_rss()
    data = Path(target + ".data")
    print(json.dumps({"seconds": seconds, "peak_rss": peak, "rss_before": before,
                      "peak_rss_delta": max(peak - before, 0),
                      "data_bytes": data.stat().st_size if data.exists() else 0}))


def main() -> None:
    from tests import zoo

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    script = Path(__file__).resolve()
    samples: dict[str, list[dict]] = {tool: [] for tool in TOOLS}
    with tempfile.TemporaryDirectory() as tmp:
        source = zoo.large_model(tmp)
        weight_bytes = 3 * zoo.LARGE_DIMS[0] * zoo.LARGE_DIMS[1] * 4
        out = Path(tmp) / "out"
        out.mkdir()
        for run in range(args.runs + 1):  # run 0 warms the disk and page cache; it is not recorded
            for tool in TOOLS if run % 2 else TOOLS[::-1]:
                target = out / f"{tool}.onnx"
                result = run_worker(script, tool, str(source), str(target))
                for f in out.iterdir():
                    f.unlink()
                print(f"run {run} {tool}: {result['seconds']:.1f} s, peak RSS {mib(result['peak_rss'])} MiB",
                      flush=True)
                if run:
                    samples[tool].append(result)
    results = {tool: {"seconds": summary([r["seconds"] for r in rows]),
                      "peak_rss": summary([r["peak_rss"] for r in rows]),
                      "peak_rss_delta": summary([r["peak_rss_delta"] for r in rows]),
                      "data_bytes": rows[0]["data_bytes"]} for tool, rows in samples.items()}
    write_json("large_model.json", {"runs": args.runs, "weight_bytes": weight_bytes, "machine": machine(),
                                    "tools": results})
    print(write_text("large_model.md", report(results, weight_bytes, args.runs)).read_text())


def report(results: dict[str, dict], weight_bytes: int, runs: int) -> str:
    def cell(s: dict[str, float], fmt: str, scale: float = 1.0) -> str:
        return f"{s['median'] * scale:{fmt}} ({s['min'] * scale:{fmt}}–{s['max'] * scale:{fmt}})"

    scale = 1 / 2**20
    lines = ["# Load + save of a 2.25 GB model (three 750 MB weights, external data)", "",
             f"Weights: {mib(weight_bytes)} MiB. Median of {runs} runs (min–max) after a warm-up round, one "
             "fresh subprocess each, tools alternating; times include fsync of the output. Peak RSS is the "
             "whole process's (imports included); the increase is measured from just before the load.", "",
             "| tool | time (s) | peak RSS (MiB) | increase during load+save (MiB) | data written (MiB) |",
             "|---|---:|---:|---:|---:|"]
    for tool, r in results.items():
        lines.append(f"| {tool} | {cell(r['seconds'], '.1f')} | {cell(r['peak_rss'], '.0f', scale)} | "
                     f"{cell(r['peak_rss_delta'], '.0f', scale)} | {mib(r['data_bytes'])} |")
    go, peer = results["graphopt"], results["onnx"]
    lines += ["", f"graphopt/onnx: time {go['seconds']['median'] / peer['seconds']['median']:.2f}, "
              f"peak RSS {go['peak_rss']['median'] / peer['peak_rss']['median']:.3f}, "
              f"increase {go['peak_rss_delta']['median'] / peer['peak_rss_delta']['median']:.3f}", "",
              "Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(*sys.argv[2:])
    else:
        main()
