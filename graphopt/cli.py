"""The ``graphopt`` command: load a model, optimize it, print its IR and a summary, write the result."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

import graphopt
from graphopt.errors import GraphoptError
from graphopt.ir.summary import summarize


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="graphopt", description="graph-optimizing compiler for DL models")
    commands = parser.add_subparsers(dest="command", required=True)
    opt = commands.add_parser("optimize", help="optimize a model and write the result")
    opt.add_argument("model", type=Path, help="input model (.onnx)")
    opt.add_argument("-o", "--output", type=Path, required=True, help="where to write the result (.onnx)")
    opt.add_argument("-p", "--pipeline", default="O2", help="O0..O3 or a pass list like \"dce,cse\" (default: O2)")
    opt.add_argument("--opset", type=int, help="ONNX opset to emit (default: the source model's)")
    opt.add_argument("--print-ir", action="store_true", help="print the optimized IR as text")
    opt.add_argument("--dump-dir", type=Path, default=os.environ.get("GRAPHOPT_DUMP_DIR") or None,
                     help="write a per-pass IR dump with diffs here (default: $GRAPHOPT_DUMP_DIR)")
    show = commands.add_parser("show", help="print a model's IR and summary")
    show.add_argument("model", type=Path, help="model (.onnx)")
    args = parser.parse_args(argv)
    try:
        return _optimize(args) if args.command == "optimize" else _show(args)
    except GraphoptError as e:
        print(f"graphopt: error: {e}", file=sys.stderr)
        return 1


def _show(args: argparse.Namespace) -> int:
    graph = graphopt.load(args.model)
    print(graph)
    print()
    print(summarize(graph))
    return 0


def _optimize(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    graph = graphopt.load(args.model)
    loaded = time.perf_counter()
    result = graphopt.optimize(graph, pipeline=args.pipeline, dump_dir=args.dump_dir)
    if args.print_ir:
        print(result)
        print()
    print(summarize(result))
    model = graphopt.to_onnx(result, opset=args.opset)
    emitted = time.perf_counter()
    print(f"\nload {1000 * (loaded - start):.1f} ms, optimize + emit {1000 * (emitted - loaded):.1f} ms "
          f"(pipeline {args.pipeline}, opset {model.opset_import[0].version})")
    _check_against_original(args.model, model)
    graphopt.save(result, args.output, opset=args.opset)
    print(f"wrote {args.output}")
    return 0


def _check_against_original(path: Path, model: object) -> None:
    """Run the original and the emitted model in ONNX Runtime on the same random inputs and compare."""
    import onnxruntime as ort

    original = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    emitted = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])  # type: ignore[attr-defined]
    rng = np.random.default_rng(0)
    feeds = {i.name: _random_input(i, rng) for i in original.get_inputs()}
    worst = max(float(np.max(np.abs(a - b), initial=0.0)) for a, b in zip(original.run(None, feeds),
                                                                          emitted.run(None, feeds)))
    print(f"ONNX Runtime: original vs emitted outputs, max abs difference {worst:.3g}")


def _random_input(info: object, rng: np.random.Generator) -> np.ndarray:
    shape = [d if isinstance(d, int) else 1 for d in info.shape]  # type: ignore[attr-defined]
    dtype = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
             "tensor(int32)": np.int32, "tensor(bool)": np.bool_}.get(info.type, np.float32)  # type: ignore[attr-defined]
    return rng.standard_normal(shape).astype(dtype)


if __name__ == "__main__":
    sys.exit(main())
