"""Optimization pipelines: graphopt O1/O2 beside onnxsim, onnxslim, onnxscript's optimizer and onnxoptimizer.

    python benchmarks/bench_passes.py [--runs 5] [--quick] [--models resnet,gpt2,...] [--sizes 1000,10000,...]

Three parts, written to benchmarks/out/passes.md and passes.json:

(a) node counts: every zoo model (tests/zoo.py) through each tool, and whether the result still gives the
    original's ONNX Runtime outputs (rtol 1e-4, atol 1e-5);
(b) compile time on the zoo: the optimize call alone, model already in memory (for graphopt also
    load + optimize + to_onnx, since the peers take and return a ModelProto);
(c) scaling: synthetic graphs of 1k to 1M nodes (``--quick`` stops at 100k), and the exponent of a
    log-log least-squares fit of time against nodes for each tool.

Tools alternate within each round. The zoo runs in one subprocess per model: each tool's first call
(untimed) warms it up and gives the node counts, then ``--runs`` rounds time it. Each scaling
measurement is a fresh subprocess that warms the tool up on the 1k graph and times one call.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import ROOT, machine, run_worker, summary, write_json, write_text

RTOL, ATOL = 1e-4, 1e-5
PEERS = ("onnxsim", "onnxslim", "onnxscript", "onnxoptimizer")
COUNTED = ("graphopt O1", "graphopt O2", *PEERS)
"""Tools whose output (a different model from the others') is counted and checked."""
TIMED = ("graphopt O1", "graphopt O1 e2e", "graphopt O2", "graphopt O2 e2e", *PEERS)
SIZES = (1_000, 10_000, 100_000, 1_000_000)
SCALING_TOOLS = ("graphopt O1", *PEERS)
CHECK_UP_TO = 10_000
"""Synthetic graphs up to this many nodes have each tool's output checked in ONNX Runtime."""


# -- the tools ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tool:
    """``prepare`` makes the timed call's argument (untimed, fresh for every call); ``emit`` makes its result
    a ModelProto (untimed)."""

    name: str
    prepare: Callable[[Any], Any]
    run: Callable[[Any], Any]
    emit: Callable[[Any], Any]


def tool(name: str) -> Tool:
    """Import and wrap one tool; every tool's timed call takes what ``prepare`` made from a ModelProto."""
    import onnx

    def fresh(model: onnx.ModelProto) -> onnx.ModelProto:
        copy = onnx.ModelProto()
        copy.CopyFrom(model)  # peers may edit their argument in place
        return copy

    same = lambda x: x
    if name.startswith("graphopt"):
        import graphopt

        level = name.split()[1]
        if name.endswith("e2e"):
            return Tool(name, same, lambda m: graphopt.to_onnx(graphopt.optimize(graphopt.load(m), level)), same)
        return Tool(name, graphopt.load, lambda g: graphopt.optimize(g, level), graphopt.to_onnx)
    if name == "onnxsim":
        import onnxsim

        return Tool(name, fresh, lambda m: onnxsim.simplify(m)[0], same)
    if name == "onnxslim":
        import onnxslim

        return Tool(name, fresh, onnxslim.slim, same)
    if name == "onnxscript":
        import onnxscript.optimizer

        return Tool(name, fresh, onnxscript.optimizer.optimize, same)
    if name == "onnxoptimizer":
        import onnxoptimizer

        return Tool(name, fresh, onnxoptimizer.optimize, same)
    raise ValueError(f"unknown tool {name!r}")


def timed_call(t: Tool, model: Any) -> tuple[float, Any]:
    """Seconds of ``t.run`` alone, and its output as a ModelProto."""
    arg = t.prepare(model)
    gc.collect()
    start = time.perf_counter()
    out = t.run(arg)
    seconds = time.perf_counter() - start
    return seconds, t.emit(out)


def tool_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("onnxruntime", *PEERS):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


# -- checking results --------------------------------------------------------------------------------------------

def node_counts(model: Any) -> dict[str, int]:
    """Top-level nodes apart from ``Constant`` ones (graphopt lifts those into initializers), and the latter."""
    constants = sum(n.op_type == "Constant" for n in model.graph.node)
    return {"nodes": len(model.graph.node) - constants, "constant_nodes": constants}


def ort_outputs(model: Any, inputs: list[Any]) -> list[Any]:
    """ONNX Runtime outputs with its graph optimizations off, so the graph runs as written."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs)})


def mismatch(model: Any, inputs: list[Any], expected: list[Any]) -> str | None:
    """Why ``model``'s outputs differ from ``expected`` (``None``: they match within RTOL/ATOL)."""
    import numpy as np

    try:
        actual = ort_outputs(model, inputs)
    except Exception as e:  # a peer's output that ONNX Runtime refuses is a mismatch, not a crash
        return f"ONNX Runtime fails: {str(e).splitlines()[0][:200]}"
    if len(actual) != len(expected):
        return f"{len(actual)} outputs instead of {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected)):
        if a.dtype != e.dtype or a.shape != e.shape:
            return f"output {i} is {a.dtype}{list(a.shape)} instead of {e.dtype}{list(e.shape)}"
        if not np.allclose(a, e, rtol=RTOL, atol=ATOL):
            return f"output {i} differs by up to {float(np.max(np.abs(a.astype(np.float64) - e))):.3g}"
    return None


# -- workers (run in a subprocess) ------------------------------------------------------------------------------

def zoo_worker(path: str, inputs_path: str, runs: str) -> None:
    """Node counts, ONNX Runtime check and ``runs`` alternating timed rounds of every tool on one zoo model."""
    import numpy as np
    import onnx

    model = onnx.load(path)
    with np.load(inputs_path) as data:
        inputs = [data[k] for k in sorted(data.files, key=int)]
    expected = ort_outputs(model, inputs)
    tools = [tool(name) for name in TIMED]
    result: dict[str, Any] = {"original": node_counts(model), "tools": {}}
    for t in tools:
        entry: dict[str, Any] = {"seconds": []}
        try:
            _, out = timed_call(t, model)
        except Exception as e:
            entry["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
        else:
            if t.name in COUNTED:
                entry.update(node_counts(out), mismatch=mismatch(out, inputs, expected))
        result["tools"][t.name] = entry
    working = [t for t in tools if "error" not in result["tools"][t.name]]
    for r in range(int(runs)):
        for t in rotate(working, r):
            result["tools"][t.name]["seconds"].append(timed_call(t, model)[0])
    print(json.dumps(result))


def scaling_worker(name: str, nodes: str) -> None:
    """Warm ``name`` up on the 1k synthetic graph, then time one call on the ``nodes`` graph; print JSON."""
    import numpy as np

    model = synthetic_model(int(nodes))
    t = tool(name)
    timed_call(t, synthetic_model(SIZES[0]))
    result: dict[str, Any] = {"nodes_in": node_counts(model)["nodes"]}
    if name.startswith("graphopt"):
        import graphopt

        level = name.split()[1]
        gc.collect()
        start = time.perf_counter()
        g = graphopt.load(model)
        loaded = time.perf_counter()
        opt = graphopt.optimize(g, level)
        optimized = time.perf_counter()
        out = graphopt.to_onnx(opt)
        emitted = time.perf_counter()
        result.update(seconds=optimized - loaded, e2e_seconds=emitted - start)
    else:
        result["seconds"], out = timed_call(t, model)
    result["nodes_out"] = node_counts(out)["nodes"]
    result["checked"] = int(nodes) <= CHECK_UP_TO
    if result["checked"]:
        x = np.random.default_rng(0).standard_normal((2, 8, 64)).astype(np.float32)
        result["mismatch"] = mismatch(out, [x], ort_outputs(model, [x]))
    print(json.dumps(result))


def rotate(items: list, r: int) -> list:
    k = r % len(items) if items else 0
    return items[k:] + items[:k]


# -- the synthetic graph -----------------------------------------------------------------------------------------

BLOCK_NODES = 23


def synthetic_model(nodes: int) -> Any:
    """A chain of ``ceil(nodes / 23)`` 23-node blocks on x: [batch, 8, 64] (batch symbolic), each block:

    Add/Mul by 64-element constants, Identity, Dropout, a Transpose pair that cancels, Relu, the same Mul
    twice (for CSE) summed, shape math Shape → Gather×2 → Unsqueeze×2 → Concat → Reshape that keeps the
    shape, a bias made from constants only (Mul then Add: folds), Mul by ones, Tanh and a residual Add.
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    graph_nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []

    def const(name: str, array: np.ndarray) -> str:
        inits.append(onnx.numpy_helper.from_array(array, name))
        return name

    def node(prefix: str, op_type: str, inputs: list[str], out: str, **attrs: Any) -> str:
        graph_nodes.append(helper.make_node(op_type, inputs, [prefix + out], name=prefix + out, **attrs))
        return prefix + out

    axes0, minus1 = const("axes0", np.array([0], np.int64)), const("minus1", np.array([-1], np.int64))
    index0, index1 = const("index0", np.array(0, np.int64)), const("index1", np.array(1, np.int64))
    h = "x"
    for i in range(-(-nodes // BLOCK_NODES)):
        p = f"/block{i}/"
        c0, c1, c2, c3 = (const(f"{p}c{k}", rng.standard_normal(64).astype(np.float32)) for k in range(4))
        ones = const(f"{p}ones", np.ones(64, np.float32))
        y = node(p, "Mul", [node(p, "Add", [h, c0], "add"), c1], "mul")
        y = node(p, "Dropout", [node(p, "Identity", [y], "identity")], "dropout")
        y = node(p, "Transpose", [node(p, "Transpose", [y], "t1", perm=[0, 2, 1])], "t2", perm=[0, 2, 1])
        y = node(p, "Relu", [y], "relu")
        y = node(p, "Add", [node(p, "Mul", [y, c2], "e1"), node(p, "Mul", [y, c2], "e2")], "sum")
        shape = node(p, "Shape", [y], "shape")
        dims = [node(p, "Unsqueeze", [node(p, "Gather", [shape, index], f"g{k}", axis=0), axes0], f"u{k}")
                for k, index in enumerate((index0, index1))]
        y = node(p, "Reshape", [y, node(p, "Concat", [*dims, minus1], "concat", axis=0)], "reshape")
        bias = node(p, "Add", [node(p, "Mul", [c3, c3], "k"), c0], "kk")
        y = node(p, "Mul", [node(p, "Add", [y, bias], "bias"), ones], "by_one")
        h = node(p, "Add", [node(p, "Tanh", [y], "tanh"), h], "residual")
    value = helper.make_tensor_value_info
    graph = helper.make_graph(graph_nodes, "synthetic", [value("x", TensorProto.FLOAT, ["batch", 8, 64])],
                              [value(h, TensorProto.FLOAT, ["batch", 8, 64])], initializer=inits)
    return helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 18)])


# -- the driver --------------------------------------------------------------------------------------------------

def measure_zoo(names: list[str], runs: int, directory: Path) -> dict[str, Any]:
    import numpy as np

    from tests import zoo

    results = {}
    script = Path(__file__).resolve()
    for name in names:
        model = zoo.export(name, directory)
        inputs_path = directory / f"{name}.inputs.npz"
        np.savez(inputs_path, **{str(i): x for i, x in enumerate(model.inputs)})
        results[name] = run_worker(script, "zoo", str(model.path), str(inputs_path), str(runs))
        times = results[name]["tools"]
        print(f"{name}: " + ", ".join(f"{t} {_median(times[t]['seconds']) * 1e3:.1f} ms" for t in TIMED
                                      if times[t]["seconds"]), flush=True)
    return results


def _median(values: list[float]) -> float:
    return summary(values)["median"]


def run_scaling_worker(name: str, nodes: int, timeout: float | None) -> dict[str, Any] | None:
    """One scaling measurement in a fresh subprocess; ``None`` when it exceeds ``timeout`` seconds."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    try:
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", "scaling", name, str(nodes)],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        raise RuntimeError(f"scaling worker {name} at {nodes} nodes failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_scaling(sizes: list[int], runs: int, limit: float, budget: float) -> dict[str, Any]:
    """Time each tool at each size; :func:`report_scaling` states the rules on runs and skipping.

    Only the peers are held to ``limit``: graphopt runs at every size, however long it takes.
    """
    caps = {name: None if name.startswith("graphopt") else limit for name in SCALING_TOOLS}
    points: dict[str, dict[int, Any]] = {name: {} for name in SCALING_TOOLS}
    stopped: dict[str, str] = {}
    for nodes in sizes:
        for name, cap in caps.items():
            if name not in stopped and cap is not None:
                reason = _predicted_too_slow(points[name], nodes, cap)
                if reason:
                    stopped[name] = reason
        samples: dict[str, list[dict]] = {name: [] for name in SCALING_TOOLS if name not in stopped}
        for r in range(1 if nodes >= 1_000_000 else runs):
            for name in rotate(list(samples), r):
                cap = caps[name]
                if name in stopped or sum(s["seconds"] for s in samples[name]) >= budget:
                    continue
                result = run_scaling_worker(name, nodes, None if cap is None else cap + 120)  # + start-up, warm-up
                if result is None or (cap is not None and result["seconds"] > cap):
                    stopped[name] = f"a run at {nodes} nodes took over {cap:.0f} s"
                else:
                    samples[name].append(result)
        for name in SCALING_TOOLS:
            rows = samples.get(name)
            points[name][nodes] = _point(rows) if rows else {"skipped": stopped[name]}
            if rows:
                print(f"{nodes} nodes: {name} {points[name][nodes]['seconds']['median']:.2f} s ({len(rows)} runs)",
                      flush=True)
    return {"points": points, "exponents": exponents(points)}


def _point(rows: list[dict[str, Any]]) -> dict[str, Any]:
    entry = {key: rows[0].get(key) for key in ("nodes_in", "nodes_out", "checked", "mismatch")}
    entry["seconds"] = summary([s["seconds"] for s in rows])
    if "e2e_seconds" in rows[0]:
        entry["e2e_seconds"] = summary([s["e2e_seconds"] for s in rows])
    return entry


def _predicted_too_slow(done: dict[int, Any], nodes: int, limit: float) -> str | None:
    """A reason to skip ``nodes`` when the fit through the tool's last two sizes predicts more than ``limit``."""
    timed = sorted((n, p["seconds"]["median"]) for n, p in done.items() if "seconds" in p)
    if len(timed) < 2:
        return None
    (n1, t1), (n2, t2) = timed[-2:]
    k = _slope((n1, t1), (n2, t2))
    predicted = t2 * (nodes / n2) ** k
    if predicted <= limit:
        return None
    return f"predicted {predicted:.0f} s at {nodes} nodes (time ~ nodes^{k:.2f} from {n1} and {n2}) > {limit:.0f} s"


def _slope(a: tuple[int, float], b: tuple[int, float]) -> float:
    """The exponent k of time ~ nodes^k through two (nodes, seconds) points."""
    return math.log(b[1] / a[1]) / math.log(b[0] / a[0])


def exponents(points: dict[str, dict[int, Any]]) -> dict[str, Any]:
    """Least-squares slope of log(time) against log(nodes), per tool (and graphopt's end-to-end time), and the
    slopes between consecutive sizes."""
    import numpy as np

    fits = {}
    series = {name: {"seconds": p} for name, p in points.items()}
    series["graphopt O1 e2e"] = {"e2e_seconds": points["graphopt O1"]}
    for name, spec in series.items():
        ((key, p),) = spec.items()
        xs = [(v["nodes_in"], v[key]["median"]) for v in p.values() if key in v]
        if len(xs) >= 2:
            slope = float(np.polyfit(np.log([n for n, _ in xs]), np.log([t for _, t in xs]), 1)[0])
            steps = [_slope(a, b) for a, b in itertools.pairwise(xs)]
            fits[name] = {"exponent": slope, "sizes": [n for n, _ in xs], "steps": steps}
    return fits


# -- the report --------------------------------------------------------------------------------------------------

def _cell(s: dict[str, float], scale: float, fmt: str) -> str:
    return f"{s['median'] * scale:{fmt}} ({s['min'] * scale:{fmt}}–{s['max'] * scale:{fmt}})"


def _count_cell(entry: dict[str, Any]) -> str:
    if "error" in entry:
        return "error"
    text = str(entry["nodes"])
    if entry["constant_nodes"]:
        text += f" (+{entry['constant_nodes']} Constant)"
    return text + (" ✗" if entry.get("mismatch") else "")


def report_counts(zoo_results: dict[str, Any]) -> list[str]:
    lines = ["## (a) Node counts", "",
             "Top-level nodes after each tool, `Constant` nodes counted apart (graphopt lifts them into initializers, "
             f"as most tools do). ✗: ONNX Runtime outputs differ from the original's (rtol {RTOL:g}, atol {ATOL:g}); "
             "such a result is never the fewest.", "",
             "| model | original | " + " | ".join(COUNTED) + " | fewest (outputs match) |",
             "|---|" + "---:|" * (len(COUNTED) + 1) + "---|"]
    problems = []
    for model, r in zoo_results.items():
        tools = r["tools"]
        ok = {t: tools[t]["nodes"] for t in COUNTED if "error" not in tools[t] and not tools[t]["mismatch"]}
        best = min(ok.values(), default=None)
        fewest = ", ".join(t for t, n in ok.items() if n == best)
        lines.append(f"| {model} | {_count_cell(r['original'])} | " + " | ".join(_count_cell(tools[t]) for t in COUNTED)
                     + f" | {fewest} |")
        problems += [f"- {model}, {t}: {tools[t].get('error') or tools[t]['mismatch']}" for t in COUNTED
                     if tools[t].get("error") or tools[t].get("mismatch")]
    lines += ["", "graphopt O1 against each peer, on the models where both outputs match:", "",
              "| peer | graphopt fewer | same | graphopt more |", "|---|---:|---:|---:|"]
    for peer in PEERS:
        diffs = [r["tools"]["graphopt O1"]["nodes"] - r["tools"][peer]["nodes"] for r in zoo_results.values()
                 if all("error" not in r["tools"][t] and not r["tools"][t]["mismatch"] for t in ("graphopt O1", peer))]
        lines.append(f"| {peer} | {sum(d < 0 for d in diffs)} | {sum(d == 0 for d in diffs)} | "
                     f"{sum(d > 0 for d in diffs)} |")
    if problems:
        lines += ["", "Errors and mismatches:", "", *problems]
    return lines


def report_times(zoo_results: dict[str, Any], runs: int) -> list[str]:
    lines = ["## (b) Compile time on the zoo", "",
             f"Milliseconds, median of {runs} rounds (min–max) after one warm-up call, tools alternating; one "
             "subprocess per model. The optimize call alone, model in memory: `graphopt.optimize(graph, level)` on a "
             "loaded graph, the peers on a ModelProto; *e2e* adds graphopt's load and to_onnx (ModelProto → "
             "ModelProto, like the peers).", "",
             "| model | " + " | ".join(TIMED) + " |", "|---|" + "---:|" * len(TIMED)]
    for model, r in zoo_results.items():
        cells = [_cell(summary(r["tools"][t]["seconds"]), 1e3, ".1f") if r["tools"][t]["seconds"] else "error"
                 for t in TIMED]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    ours = [t for t in TIMED if t.startswith("graphopt")]
    lines += ["", "Ratios of medians, graphopt / peer (below 1: graphopt is faster):", "",
              "| model | peer | " + " | ".join(ours) + " |", "|---|---|" + "---:|" * len(ours)]
    for model, r in zoo_results.items():
        for peer in PEERS:
            if not r["tools"][peer]["seconds"]:
                continue
            theirs = _median(r["tools"][peer]["seconds"])
            lines.append(f"| {model} | {peer} | " + " | ".join(
                f"{_median(r['tools'][t]['seconds']) / theirs:.2f}" if r["tools"][t]["seconds"] else ""
                for t in ours) + " |")
    return lines


def report_scaling(scaling: dict[str, Any], runs: int, limit: float, budget: float) -> list[str]:
    lines = ["## (c) Scaling on synthetic graphs", "",
             "A chain of 23-node blocks on x: [batch, 8, 64] (see `synthetic_model`): Add/Mul by small constants, "
             "Identity, Dropout, a Transpose pair that cancels, a duplicated Mul, Shape → Gather → Unsqueeze → "
             "Concat → Reshape shape math, a bias computed from constants, Mul by ones, Tanh, a residual Add.", "",
             f"Seconds of one call in a fresh subprocess (after a warm-up call on the 1k graph), median of up to "
             f"{runs} runs (min–max); a tool stops repeating a size once its runs there add up to {budget:.0f} s, and "
             f"the 1M graph is run once. A peer skips a size when the fit through its last two sizes predicts more "
             f"than {limit:.0f} s, or a run went over that; graphopt runs at every size. graphopt's time is the "
             f"optimize call; *e2e* adds load and to_onnx. Outputs are checked in ONNX Runtime up to {CHECK_UP_TO} "
             "requested nodes.", "",
             "| size | tool | runs | seconds | graphopt O1 e2e | nodes before → after | outputs match |",
             "|---:|---|---:|---:|---:|---:|---|"]
    points = scaling["points"]
    sizes = sorted({n for p in points.values() for n in p})
    for nodes in sizes:
        for name in SCALING_TOOLS:
            p = points[name].get(nodes)
            if p is None:
                continue
            if "skipped" in p:
                lines.append(f"| {nodes} | {name} | 0 | not run: {p['skipped']} | | | |")
                continue
            e2e = _cell(p["e2e_seconds"], 1, ".3g") if "e2e_seconds" in p else ""
            match = "" if not p["checked"] else "yes" if p["mismatch"] is None else f"✗ {p['mismatch']}"
            lines.append(f"| {nodes} | {name} | {p['seconds']['runs']} | {_cell(p['seconds'], 1, '.3g')} | {e2e} | "
                         f"{p['nodes_in']} → {p['nodes_out']} | {match} |")
    lines += ["", "Exponent k in time ~ nodes^k: least squares on log-log over the sizes each tool completed, and "
              "the slope between each pair of consecutive sizes:", "",
              "| tool | k | sizes | slope between consecutive sizes |", "|---|---:|---|---|"]
    for name, fit in scaling["exponents"].items():
        steps = ", ".join(f"{s:.2f}" for s in fit["steps"])
        lines.append(f"| {name} | {fit['exponent']:.2f} | {', '.join(str(n) for n in fit['sizes'])} | {steps} |")
    return lines


def pipeline_text(level: str) -> str:
    """The stages and passes an O-level runs, e.g. ``pre (infer-shapes, dce, to a fixed point) → post (...)``."""
    import graphopt.passes.library  # noqa: F401  (registers the built-in passes)
    from graphopt.passes.pipeline import build_stages

    parts = []
    for st in build_stages(level):
        repeat = ", to a fixed point" if st.fixed_point else ""
        parts.append(f"{st.name} ({', '.join(p.name for p in st.passes)}{repeat})")
    return " → ".join(parts)


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    lines = ["# Optimization pipelines: graphopt vs onnxsim, onnxslim, onnxscript, onnxoptimizer", "",
             f"graphopt pipelines: O1 = {pipeline_text('O1')}; O2 = {pipeline_text('O2')}. Peers with their default "
             "settings: `onnxsim.simplify(model)`, `onnxslim.slim(model)`, `onnxscript.optimizer.optimize(model)`, "
             "`onnxoptimizer.optimize(model)`.", ""]
    if results["zoo"]:
        lines += [*report_counts(results["zoo"]), "", *report_times(results["zoo"], args.runs), ""]
    if results["scaling"]:
        lines += [*report_scaling(results["scaling"], args.runs, args.limit, args.budget), ""]
    info = {**machine(), **tool_versions()}
    lines += ["Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()), ""]
    return "\n".join(lines)


def main() -> None:
    from tests import zoo

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed rounds per model and per scaling size")
    parser.add_argument("--quick", action="store_true", help="skip the 1M-node graph")
    parser.add_argument("--models", default=",".join(zoo.NAMES), help="zoo models, comma-separated ('' skips the zoo)")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)),
                        help="synthetic graph sizes, comma-separated ('' skips scaling)")
    parser.add_argument("--limit", type=float, default=300.0, help="seconds one scaling run may take")
    parser.add_argument("--budget", type=float, default=40.0, help="seconds of repeated runs per tool and size")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s and not (args.quick and int(s) >= 1_000_000)]
    logging.disable(logging.WARNING)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        zoo_results = measure_zoo([m for m in args.models.split(",") if m], args.runs, Path(tmp))
    scaling = measure_scaling(sizes, args.runs, args.limit, args.budget) if sizes else {}
    results = {"runs": args.runs, "machine": {**machine(), **tool_versions()}, "zoo": zoo_results,
               "scaling": scaling, "wall_seconds": time.perf_counter() - started}
    write_json("passes.json", results)
    print(write_text("passes.md", report(results, args)).read_text())


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        logging.disable(logging.WARNING)
        {"zoo": zoo_worker, "scaling": scaling_worker}[sys.argv[2]](*sys.argv[3:])
    else:
        main()
