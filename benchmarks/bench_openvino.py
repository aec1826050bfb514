"""OpenVINO: graphopt's direct emitter against OpenVINO's own ONNX import, for conversion time and CPU latency.

    python benchmarks/bench_openvino.py [--rounds 20] [--block 10] [--conversions 5] [--models resnet,...]
                                        [--ablation]

Every zoo model (tests/zoo.py, at its fixed inputs) runs in its own subprocess. Conversion, each route timed
``--conversions`` times, routes alternating:

- graphopt: ``to_openvino(graph)`` then ``core.compile_model`` (the graph already in memory, optimized at O2
  for ``target="openvino"``); the time to get that graph from the file (``load`` + ``optimize``) is shown apart;
- ``ov.convert_model(onnx_file)`` then ``core.compile_model``;
- ``core.read_model(onnx_file)`` then ``core.compile_model``.

Latency: the compiled models of graphopt O2 (openvino), graphopt O0 and ``ov.convert_model`` on CPU, with
``INFERENCE_NUM_THREADS=1`` and with OpenVINO's default threads (``INFERENCE_PRECISION_HINT=f32`` everywhere,
so no route gets bf16 kernels). After 5 warm-up runs, ``--rounds`` rounds visit every model in shuffled order;
a visit is one untimed run and one timed block of ``--block`` runs (one sample). Medians with min and max;
ratios are graphopt over ``convert_model`` (below 1: graphopt is faster). Outputs are checked against ONNX
Runtime on the original model (rtol 1e-4, atol 1e-5); a row that does not match is marked and not counted.

``--ablation`` also times, at one thread, O2 for OpenVINO with each optimize-stage pass disabled in turn, which
is how the passes that ``target="openvino"`` skips were chosen. Writes benchmarks/out/openvino.md and .json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import machine, run_worker, summary, write_json, write_text

RTOL, ATOL = 1e-4, 1e-5
WARMUP = 5
THREADS = {"1 thread": 1, "default threads": 0}
ABLATED = ("replace-patterns", "fuse-slices", "fuse-conv-bias", "fuse-pad", "fuse-matmul-add", "fuse-activation")
"""Optimize-stage passes the ablation disables one at a time."""


def _config(threads: int) -> dict[str, Any]:
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    return config


def _timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def _conversions(path: Path, graph: Any, runs: int) -> dict[str, Any]:
    import openvino as ov

    import graphopt

    core = ov.Core()
    config = _config(0)
    samples: dict[str, list[float]] = {k: [] for k in ("graphopt to_openvino", "graphopt compile", "graphopt total",
                                                       "convert_model", "convert compile", "convert total",
                                                       "read_model", "read compile", "read total")}
    for _ in range(runs):
        model, t_emit = _timed(lambda: graphopt.to_openvino(graph))
        _, t_compile = _timed(lambda m=model: core.compile_model(m, "CPU", config))
        samples["graphopt to_openvino"].append(t_emit)
        samples["graphopt compile"].append(t_compile)
        samples["graphopt total"].append(t_emit + t_compile)
        for route, load in (("convert", lambda: ov.convert_model(str(path))), ("read", lambda: core.read_model(path))):
            model, t_load = _timed(load)
            _, t_compile = _timed(lambda m=model: core.compile_model(m, "CPU", config))
            samples["convert_model" if route == "convert" else "read_model"].append(t_load)
            samples[f"{route} compile"].append(t_compile)
            samples[f"{route} total"].append(t_load + t_compile)
    return {k: summary(v) for k, v in samples.items()}


def _latency(forms: dict[str, Any], inputs: list[Any], reference: list[Any], rounds: int, block: int,
             threads: int) -> dict[str, Any]:
    import numpy as np
    import openvino as ov

    core = ov.Core()
    compiled: dict[str, Any] = {}
    rows: dict[str, dict[str, Any]] = {}
    for name, model in forms.items():
        c = core.compile_model(model, "CPU", _config(threads))
        request = c.create_infer_request()
        outputs = [request.infer(inputs)[o] for o in c.outputs]
        ok = len(outputs) == len(reference) and all(
            a.shape == e.shape and np.allclose(a, e, rtol=RTOL, atol=ATOL) for a, e in zip(outputs, reference))
        error = max(float(np.max(np.abs(a - e))) if a.shape == e.shape else float("inf")
                    for a, e in zip(outputs, reference))
        for _ in range(WARMUP):
            request.infer(inputs)
        compiled[name] = request
        rows[name] = {"matches": ok, "max_abs_error": error, "samples": []}
    names = list(compiled)
    for _ in range(rounds):
        random.shuffle(names)
        for name in names:
            request = compiled[name]
            request.infer(inputs)
            start = time.perf_counter()
            for _ in range(block):
                request.infer(inputs)
            rows[name]["samples"].append((time.perf_counter() - start) / block)
    for row in rows.values():
        row.update(summary(row.pop("samples")))
    return rows


def worker(path_text: str, inputs_path: str, rounds: str, block: str, conversions: str, ablation: str) -> None:
    import numpy as np
    import onnxruntime as ort
    import openvino as ov

    import graphopt

    path = Path(path_text)
    data = np.load(inputs_path)
    inputs = [data[f"arr_{i}"] for i in range(len(data.files))]
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    reference = session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs)})

    graph, t_load = _timed(lambda: graphopt.load(path))
    optimized, t_opt = _timed(lambda: graphopt.optimize(graph, pipeline="O2", target="openvino"))
    _conversions(path, optimized, 1)  # warm-up: imports, plugin start, frontend load
    result: dict[str, Any] = {"load_s": t_load, "optimize_s": t_opt, "nodes_O0": len(graph),
                              "nodes_O2": len(optimized),
                              "conversion": _conversions(path, optimized, int(conversions))}
    forms = {"graphopt O2": graphopt.to_openvino(optimized), "graphopt O0": graphopt.to_openvino(graph),
             "convert_model": ov.convert_model(str(path))}
    result["latency"] = {label: _latency(forms, inputs, reference, int(rounds), int(block), threads)
                         for label, threads in THREADS.items()}
    if ablation == "1":
        ablated = {"O2": forms["graphopt O2"], "O0": forms["graphopt O0"]}
        for name in ABLATED:
            g = graphopt.optimize(graph, pipeline="O2", target="openvino", disable=[name])
            ablated[f"O2 -{name}"] = graphopt.to_openvino(g)
        ablated["O2 all passes"] = graphopt.to_openvino(graphopt.optimize(graph, pipeline="O2"))
        result["ablation"] = _latency(ablated, inputs, reference, int(rounds), int(block), 1)
    print(json.dumps(result))


def measure(names: list[str], args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from tests import zoo

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            model = zoo.export(name, tmp)
            inputs_path = Path(tmp) / f"{name}_inputs.npz"
            np.savez(inputs_path, *model.inputs)
            print(f"{name} …", file=sys.stderr, flush=True)
            results[name] = run_worker(Path(__file__), str(model.path), str(inputs_path), str(args.rounds),
                                       str(args.block), str(args.conversions), "1" if args.ablation else "0")
    return results


def _ms(s: dict[str, float]) -> str:
    return f"{s['median'] * 1e3:.1f} ({s['min'] * 1e3:.1f}–{s['max'] * 1e3:.1f})"


def _ratio(a: dict[str, Any], b: dict[str, Any]) -> str:
    return f"{a['median'] / b['median']:.2f}x"


def _geomean(values: list[float]) -> float:
    return statistics.geometric_mean(values) if values else float("nan")


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    import openvino as ov

    lines = ["# OpenVINO: graphopt's emitter vs OpenVINO's ONNX import", "",
             f"OpenVINO {ov.get_version()}; {args.conversions} conversions per route, latency {args.rounds} "
             f"rounds × blocks of {args.block} runs; times in ms, median (min–max). Machine: "
             f"{machine()['cpus']} CPUs, shared with other jobs while this ran (busy: ratios matter, absolute "
             "times less). Generated by benchmarks/bench_openvino.py.", "",
             "## Conversion: in-memory IR → compiled model", "",
             "graphopt = `to_openvino` + `compile_model` on the O2 (openvino) graph; convert = "
             "`ov.convert_model(file)` + `compile_model`; read = `core.read_model(file)` + `compile_model`. "
             "load+optimize is graphopt's time from the file to that graph (not in the total).", "",
             "| model | nodes O0→O2 | graphopt to_openvino | graphopt compile | graphopt total | convert total "
             "| read total | graphopt / convert | graphopt / read | load+optimize |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    conv_ratios, read_ratios = [], []
    for name, r in results.items():
        c = r["conversion"]
        conv_ratios.append(c["graphopt total"]["median"] / c["convert total"]["median"])
        read_ratios.append(c["graphopt total"]["median"] / c["read total"]["median"])
        lines.append(f"| {name} | {r['nodes_O0']}→{r['nodes_O2']} | {_ms(c['graphopt to_openvino'])} | "
                     f"{_ms(c['graphopt compile'])} | {_ms(c['graphopt total'])} | {_ms(c['convert total'])} | "
                     f"{_ms(c['read total'])} | {_ratio(c['graphopt total'], c['convert total'])} | "
                     f"{_ratio(c['graphopt total'], c['read total'])} | "
                     f"{(r['load_s'] + r['optimize_s']) * 1e3:.1f} |")
    lines += ["", f"Geometric mean, graphopt total / convert total: {_geomean(conv_ratios):.2f}x; "
              f"/ read total: {_geomean(read_ratios):.2f}x.", ""]
    for label in THREADS:
        lines += [f"## CPU latency, {label}", "",
                  "| model | graphopt O2 | graphopt O0 | convert_model | O2 / convert | O0 / convert |",
                  "|---|---|---|---|---|---|"]
        ratios = []
        for name, r in results.items():
            rows = r["latency"][label]
            cells = [_ms(rows[k]) + ("" if rows[k]["matches"] else " **MISMATCH**")
                     for k in ("graphopt O2", "graphopt O0", "convert_model")]
            if rows["graphopt O2"]["matches"]:
                ratios.append(rows["graphopt O2"]["median"] / rows["convert_model"]["median"])
            lines.append(f"| {name} | {' | '.join(cells)} | {_ratio(rows['graphopt O2'], rows['convert_model'])} "
                         f"| {_ratio(rows['graphopt O0'], rows['convert_model'])} |")
        lines += ["", f"Geometric mean O2 / convert_model: {_geomean(ratios):.3f}x.", ""]
    if any("ablation" in r for r in results.values()):
        variants = list(next(r for r in results.values() if "ablation" in r)["ablation"])
        lines += ["## Pass ablation, 1 thread (latency relative to O2 for openvino; above 1: slower without it)",
                  "", "| model | " + " | ".join(variants[1:]) + " |", "|---|" + "---|" * (len(variants) - 1)]
        per_variant: dict[str, list[float]] = {v: [] for v in variants[1:]}
        for name, r in results.items():
            rows = r["ablation"]
            cells = []
            for v in variants[1:]:
                ratio = rows[v]["median"] / rows["O2"]["median"]
                per_variant[v].append(ratio)
                cells.append(f"{ratio:.2f}" + ("" if rows[v]["matches"] else " **MISMATCH**"))
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("| geomean | " + " | ".join(f"{_geomean(per_variant[v]):.3f}" for v in variants[1:]) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    from tests import zoo

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--block", type=int, default=10, help="runs per timed block (one sample)")
    parser.add_argument("--conversions", type=int, default=5)
    parser.add_argument("--models", default=",".join(zoo.NAMES), help="zoo models, comma-separated")
    parser.add_argument("--ablation", action="store_true", help="also time O2 with each optimize pass disabled")
    args = parser.parse_args()
    results = measure(args.models.split(","), args)
    write_json("openvino.json", {"machine": machine(), "args": vars(args), "results": results})
    path = write_text("openvino.md", report(results, args))
    print(path)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(*sys.argv[2:])
    else:
        main()
