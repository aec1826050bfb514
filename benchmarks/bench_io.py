"""ONNX load + emit: time and peak memory of graphopt beside onnx and onnx-graphsurgeon.

    python benchmarks/bench_io.py [--runs 5] [--nodes 100000] [--models resnet,gpt2,...]

Each tool turns a serialized model (bytes in memory) into its own form and back into serialized bytes:

- graphopt: ``graphopt.load(bytes)`` (parse, lift to IR, shape inference) → ``to_onnx`` → ``SerializeToString``
- onnx: ``onnx.load_from_string`` → ``SerializeToString``
- onnx-graphsurgeon: ``gs.import_onnx(onnx.load_from_string(...))`` → ``gs.export_onnx`` → ``SerializeToString``

Every measurement runs in a fresh subprocess: a round trip of a one-node model does the imports and
one-time setup, then the model's first round trip gives the peak RSS above the RSS just before it, and
its second round trip (warm) gives the time. Tools alternate within each run. Writes benchmarks/out/io.md and io.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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

TOOLS = ("graphopt", "onnx", "onnx-graphsurgeon")
PEERS = TOOLS[1:]


def round_trip(tool: str) -> Callable[[bytes], bytes]:
    """Serialized model → the tool's in-memory form → serialized model."""
    import onnx

    if tool == "graphopt":
        import graphopt

        return lambda data: graphopt.to_onnx(graphopt.load(data)).SerializeToString()
    if tool == "onnx":
        return lambda data: onnx.load_from_string(data).SerializeToString()
    if tool == "onnx-graphsurgeon":
        import onnx_graphsurgeon as gs

        return lambda data: gs.export_onnx(gs.import_onnx(onnx.load_from_string(data))).SerializeToString()
    raise ValueError(f"unknown tool {tool!r}")


def worker(tool: str, path: str) -> None:
    """Measure ``tool`` on ``path``: peak memory of its first round trip, time of a later one; print JSON.

    A round trip of a one-node model first does the lazy imports and one-time setup, leaving little
    freed memory behind that the measured round trip could reuse unseen.
    """
    import logging

    logging.disable(logging.WARNING)
    fn = round_trip(tool)
    fn(tiny_model())
    data = Path(path).read_bytes()
    gc.collect()
    before = current_rss()
    reset_peak_rss()
    out = fn(data)
    peak = peak_rss()
    del out
    gc.collect()
    start = time.perf_counter()
    out = fn(data)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_rss_delta": max(peak - before, 0), "out_bytes": len(out)}))


def tiny_model() -> bytes:
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "tiny", [value("x", TensorProto.FLOAT, [1])],
                              [value("y", TensorProto.FLOAT, [1])])
    return helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


def synthetic_model(nodes: int, named: bool = True) -> bytes:
    """A ``nodes``-long ladder: blocks of Add(const) → Mul(const) → Relu → Add(residual), on [1, 64].

    Nodes get unique names, as exporters give them, unless ``named`` is false.
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    graph_nodes, inits = [], []
    h = "x"
    for i in range(nodes // 4):
        for name in (f"c{i}", f"s{i}"):
            inits.append(onnx.numpy_helper.from_array(rng.standard_normal(64).astype(np.float32), name))
        block = [helper.make_node("Add", [h, f"c{i}"], [f"a{i}"]),
                 helper.make_node("Mul", [f"a{i}", f"s{i}"], [f"m{i}"]),
                 helper.make_node("Relu", [f"m{i}"], [f"r{i}"]),
                 helper.make_node("Add", [f"r{i}", h], [f"h{i}"])]
        if named:
            for n in block:
                n.name = f"/block{i}/{n.output[0]}"
        graph_nodes += block
        h = f"h{i}"
    value = helper.make_tensor_value_info
    graph = helper.make_graph(graph_nodes, "ladder", [value("x", TensorProto.FLOAT, [1, 64])],
                              [value(h, TensorProto.FLOAT, [1, 64])], initializer=inits)
    model = helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 18)])
    return model.SerializeToString()


def prepare(directory: Path, nodes: int, unnamed_nodes: int, names: list[str]) -> dict[str, Path]:
    """Write the synthetic models and export the zoo models into ``directory``."""
    from tests import zoo

    paths = {}
    for count, named in ((nodes, True), (unnamed_nodes, False)):
        if count:
            path = directory / f"ladder_{count // 1000}k{'' if named else '_unnamed'}.onnx"
            path.write_bytes(synthetic_model(count, named))
            paths[path.stem] = path
    for name in names:
        paths[name] = zoo.export(name, directory).path
    return paths


def measure(paths: dict[str, Path], runs: int) -> dict[str, dict]:
    import onnx

    results = {}
    script = Path(__file__).resolve()
    for model, path in paths.items():
        samples: dict[str, list[dict]] = {tool: [] for tool in TOOLS}
        for run in range(runs + 1):  # run 0 warms the page cache and imports; it is not recorded
            order = TOOLS[run % len(TOOLS):] + TOOLS[:run % len(TOOLS)]
            for tool in order:
                result = run_worker(script, tool, str(path))
                if run:
                    samples[tool].append(result)
        proto = onnx.load(path)
        entry: dict[str, Any] = {"nodes": len(proto.graph.node), "initializers": len(proto.graph.initializer),
                 "file_bytes": path.stat().st_size, "tools": {}}
        for tool, rows in samples.items():
            entry["tools"][tool] = {"seconds": summary([r["seconds"] for r in rows]),
                                    "peak_rss_delta": summary([r["peak_rss_delta"] for r in rows]),
                                    "out_bytes": rows[0]["out_bytes"]}
        go = entry["tools"]["graphopt"]
        entry["ratios"] = {peer: {key: go[key]["median"] / max(entry["tools"][peer][key]["median"], 1e-12)
                                  for key in ("seconds", "peak_rss_delta")} for peer in PEERS}
        results[model] = entry
        print(f"{model}: " + ", ".join(f"{t} {entry['tools'][t]['seconds']['median'] * 1e3:.1f} ms" for t in TOOLS),
              flush=True)
    return results


def report(results: dict[str, dict], runs: int) -> str:
    def cell(s: dict[str, float], scale: float, fmt: str) -> str:
        return f"{s['median'] * scale:{fmt}} ({s['min'] * scale:{fmt}}–{s['max'] * scale:{fmt}})"

    lines = ["# ONNX load + emit: graphopt vs onnx vs onnx-graphsurgeon", "",
             f"Median of {runs} runs (min–max), each in a fresh subprocess; tools alternate within each run.",
             "Time (ms): a warm round trip (the model's second in the process). Memory (MiB): peak RSS above "
             "the RSS just before the model's first round trip, after a one-node model did the imports.", "",
             "| model | nodes | tool | time (ms) | peak memory (MiB) | time ratio graphopt/tool | "
             "memory ratio graphopt/tool |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for model, e in results.items():
        for tool in TOOLS:
            t = e["tools"][tool]
            ratio = e["ratios"].get(tool)
            time_ratio = f"{ratio['seconds']:.2f}" if ratio else ""
            mem_ratio = f"{ratio['peak_rss_delta']:.2f}" if ratio else ""
            mem = f"{mib(t['peak_rss_delta']['median'])} ({mib(t['peak_rss_delta']['min'])}–" \
                  f"{mib(t['peak_rss_delta']['max'])})"
            lines.append(f"| {model} | {e['nodes']} | {tool} | {cell(t['seconds'], 1e3, '.1f')} | {mem} | "
                         f"{time_ratio} | {mem_ratio} |")
    lines += ["", "Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()), ""]
    return "\n".join(lines)


def main() -> None:
    from tests import zoo

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--unnamed-nodes", type=int, default=10_000,
                        help="size of a second synthetic graph whose nodes have no names (0: skip it)")
    parser.add_argument("--models", default=",".join(zoo.NAMES), help="zoo models, comma-separated")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = prepare(Path(tmp), args.nodes, args.unnamed_nodes, [m for m in args.models.split(",") if m])
        results = measure(paths, args.runs)
    write_json("io.json", {"runs": args.runs, "machine": machine(), "models": results})
    print(write_text("io.md", report(results, args.runs)).read_text())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(*sys.argv[2:])
    else:
        main()
