"""TensorRT engines built by graphopt's emitter vs TensorRT's own ONNX parser (the `trtexec --onnx` path).

For each zoo model (fp32, strongly typed networks, one optimization profile at the model's fixed shapes):

- **graphopt**: `graphopt.load` → `optimize(O2, target="tensorrt")` → `to_tensorrt` (network definition layer by
  layer, then `build_serialized_network`);
- **parser**: `trt.OnnxParser(network).parse(model bytes)` → `build_serialized_network`, the path `trtexec --onnx`
  takes.

Build time (wall, median of ``--builds`` builds) and engine latency (median of ``--runs`` timed runs after warm-up,
the two engines alternating) are reported side by side with their ratio; both engines' outputs are checked against
ONNX Runtime first, and a row that does not match is marked and its speed not counted.

Where ``import tensorrt`` fails or no CUDA GPU is visible, the engine figures are skipped with the reason, and the
report gives what can be measured without TensorRT: the layers graphopt's emitter defines per model and how long
populating the network definition takes, on the test emulator (tests/tensorrt_emulator).

    .venv/bin/python benchmarks/bench_tensorrt.py [--runs 50] [--builds 3] [--models resnet,bert]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import graphopt  # noqa: E402
from benchmarks.common import machine, summary, write_json, write_text  # noqa: E402
from graphopt.codegen import tensorrt as gt  # noqa: E402
from tests import zoo  # noqa: E402

MODELS = zoo.NAMES


def _ort(path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs)})


def unavailable() -> str | None:
    try:
        gt.load_tensorrt()
    except gt.TensorRTUnavailableError as e:
        return str(e)
    import torch

    return None if torch.cuda.is_available() else "no CUDA GPU is visible to torch"


# -- with TensorRT ---------------------------------------------------------------------------------------


def _parser_engine(trt: Any, path: Path) -> bytes:
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(path.read_bytes()):
        raise RuntimeError("; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)))
    engine = builder.build_serialized_network(network, builder.create_builder_config())
    if engine is None:
        raise RuntimeError("TensorRT failed to build the parsed network")
    return bytes(engine)


class _Runner:
    """One engine with device buffers bound, ready to run on a stream."""

    def __init__(self, trt: Any, engine_bytes: bytes, feeds: dict[str, np.ndarray]) -> None:
        import torch

        self.torch = torch
        self.engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(engine_bytes)
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self.buffers = {}
        for name in names:
            if name not in self.outputs:
                self.buffers[name] = torch.from_numpy(np.ascontiguousarray(feeds[name])).cuda()
                self.context.set_input_shape(name, tuple(self.buffers[name].shape))
        for name in self.outputs:
            dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
            self.buffers[name] = torch.empty(tuple(self.context.get_tensor_shape(name)),
                                             dtype=torch.from_numpy(np.empty(0, dtype)).dtype, device="cuda")
        for name, t in self.buffers.items():
            self.context.set_tensor_address(name, t.data_ptr())
        self.stream = torch.cuda.Stream()

    def run(self) -> float:
        start = time.perf_counter()
        self.context.execute_async_v3(self.stream.cuda_stream)
        self.stream.synchronize()
        return time.perf_counter() - start

    def results(self) -> list[np.ndarray]:
        return [self.buffers[n].cpu().numpy() for n in self.outputs]


def _matches(actual: list[np.ndarray], expected: list[np.ndarray]) -> bool:
    return len(actual) == len(expected) and all(
        a.shape == e.shape and np.allclose(a, e, rtol=1e-3, atol=1e-3) for a, e in zip(actual, expected))


def bench_engines(names: list[str], runs: int, builds: int, directory: Path) -> list[dict[str, Any]]:
    trt = gt.load_tensorrt()
    rows = []
    for name in names:
        model = zoo.export(name, directory)
        expected = _ort(model.path, model.inputs)
        times: dict[str, list[float]] = {"graphopt": [], "parser": []}
        engines: dict[str, bytes] = {}
        for _ in range(builds):  # alternate the two paths
            start = time.perf_counter()
            graph = graphopt.optimize(graphopt.load(model.path), "O2", target="tensorrt")
            engines["graphopt"] = gt.to_tensorrt(graph)
            times["graphopt"].append(time.perf_counter() - start)
            start = time.perf_counter()
            engines["parser"] = _parser_engine(trt, model.path)
            times["parser"].append(time.perf_counter() - start)
        feeds = {v.name: x for v, x in zip(graph.inputs, model.inputs)}
        runners = {k: _Runner(trt, e, feeds) for k, e in engines.items()}
        ok = {}
        for k, r in runners.items():
            r.run()
            ok[k] = _matches(r.results(), expected)
        latency: dict[str, list[float]] = {"graphopt": [], "parser": []}
        for _ in range(10):
            for r in runners.values():
                r.run()
        for _ in range(runs):
            for k, r in runners.items():
                latency[k].append(r.run())
        rows.append({"model": name, "build": {k: summary(v) for k, v in times.items()},
                     "latency": {k: summary(v) for k, v in latency.items()}, "matches_ort": ok,
                     "engine_bytes": {k: len(v) for k, v in engines.items()}})
    return rows


# -- without TensorRT: the network definition on the emulator -------------------------------------------------


def bench_definitions(names: list[str], runs: int, directory: Path) -> list[dict[str, Any]]:
    from tests import tensorrt_emulator as emulator

    rows = []
    for name in names:
        model = zoo.export(name, directory)
        onnx_nodes = len(graphopt.load(model.path))
        graph = graphopt.optimize(graphopt.load(model.path), "O2", target="tensorrt")
        seconds, layers = [], 0
        for _ in range(runs):
            network = emulator.Builder(emulator.Logger()).create_network(
                1 << int(emulator.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
            start = time.perf_counter()
            gt.populate(graph, network, trt=emulator)
            seconds.append(time.perf_counter() - start)
            layers = network.num_layers
        engine = gt.to_tensorrt(graph, trt=emulator)
        actual = emulator.run(engine, {v.name: x for v, x in zip(graph.inputs, model.inputs)})
        ok = _matches([actual[n] for n in gt.output_names(graph)], _ort(model.path, model.inputs))
        kinds: dict[str, int] = {}
        for layer in network.layers:
            kinds[layer.kind] = kinds.get(layer.kind, 0) + 1
        rows.append({"model": name, "onnx_nodes": onnx_nodes, "ir_nodes": len(graph), "layers": layers,
                     "layer_kinds": dict(sorted(kinds.items(), key=lambda kv: -kv[1])),
                     "populate": summary(seconds), "emulated_matches_ort": ok})
    return rows


# -- report ----------------------------------------------------------------------------------------------------


def _ms(s: dict[str, float]) -> str:
    return f"{s['median'] * 1e3:.2f} ({s['min'] * 1e3:.2f}–{s['max'] * 1e3:.2f})"


def report(data: dict[str, Any]) -> str:
    lines = ["# TensorRT: graphopt's emitter vs TensorRT's ONNX parser", ""]
    if data["skipped"]:
        lines += [f"**Engine build and latency skipped**: {data['skipped']}", "",
                  "What is measured without TensorRT: the network definition graphopt's emitter writes for each zoo "
                  "model (O2, target tensorrt, fp32), populated into the test emulator "
                  f"(tests/tensorrt_emulator), median of {data['runs']} runs (min–max) on a busy shared 2-core "
                  "machine; the emulated engine's outputs are checked against ONNX Runtime.", "",
                  "| model | ONNX nodes | IR nodes (O2) | TensorRT layers | populate ms | emulated = ORT | "
                  "most common layers |", "|---|---:|---:|---:|---:|:---:|---|"]
        for r in data["definitions"]:
            kinds = ", ".join(f"{k} {v}" for k, v in list(r["layer_kinds"].items())[:4])
            lines.append(f"| {r['model']} | {r['onnx_nodes']} | {r['ir_nodes']} | {r['layers']} | "
                         f"{_ms(r['populate'])} | {'yes' if r['emulated_matches_ort'] else 'NO'} | {kinds} |")
        return "\n".join(lines) + "\n"
    lines += [f"fp32, strongly typed; build: median of {data['builds']} builds; latency: median of {data['runs']} "
              "runs after 10 warm-up runs, the two engines alternating. Ratio: graphopt / parser (below 1: graphopt "
              "faster). Rows whose outputs differ from ONNX Runtime are marked and their ratios not counted.", "",
              "| model | build graphopt s | build parser s | ratio | latency graphopt ms | latency parser ms | ratio "
              "| outputs |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in data["engines"]:
        ok = all(r["matches_ort"].values())
        b, lat = r["build"], r["latency"]
        ratio_b = b["graphopt"]["median"] / b["parser"]["median"]
        ratio_l = lat["graphopt"]["median"] / lat["parser"]["median"]
        lines.append(f"| {r['model']} | {b['graphopt']['median']:.2f} | {b['parser']['median']:.2f} | "
                     f"{ratio_b:.2f} | {_ms(lat['graphopt'])} | {_ms(lat['parser'])} | "
                     f"{ratio_l:.2f}{'' if ok else ' (not counted)'} | "
                     f"{'match ORT' if ok else 'MISMATCH ' + str(r['matches_ort'])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--builds", type=int, default=3)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    names = [n for n in args.models.split(",") if n]
    reason = unavailable()
    data: dict[str, Any] = {"machine": machine(), "skipped": reason, "runs": args.runs, "builds": args.builds}
    with tempfile.TemporaryDirectory() as tmp:
        if reason is None:
            data["engines"] = bench_engines(names, args.runs, args.builds, Path(tmp))
        else:
            print(f"skipping engine builds: {reason}", file=sys.stderr)
            data["definitions"] = bench_definitions(names, min(args.runs, 20), Path(tmp))
    write_json("tensorrt.json", data)
    path = write_text("tensorrt.md", report(data))
    print(path.read_text())


if __name__ == "__main__":
    main()
