"""``graphopt bench``: latency of a model before and after optimization, per backend, side by side."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import graphopt
from graphopt.cli import common
from graphopt.cli.common import UsageError, table
from graphopt.cli.pipeline_args import add_pipeline_arguments, pipeline_of, run_pipeline
from graphopt.cli.progress import Progress
from graphopt.errors import GraphoptError
from graphopt.ir.core import Graph
from graphopt.ir.types import TensorType

BACKENDS = ("ort", "openvino")
EXAMPLES = """\
examples:
  graphopt bench model.onnx                              ONNX Runtime, 1 thread, 50 runs each
  graphopt bench model.onnx --backends ort,openvino --runs 200 --threads 0
  graphopt bench model.onnx -O3 --input-shape x:8x3x224x224
"""

Runner = Callable[[dict[str, np.ndarray]], list[np.ndarray]]


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("bench", parents=parents, help="latency before and after optimization",
                            description="Time the original and the optimized model on each backend, alternating "
                                        "them run by run on the same fixed-seed inputs; report medians (with min "
                                        "and max) and the speedup. ONNX Runtime runs both at its default "
                                        "optimization level (ORT_ENABLE_ALL); OpenVINO reads the original ONNX "
                                        "itself and gets graphopt's result built with its op builders. Outputs "
                                        "are compared first: a row whose outputs differ is marked and its speedup "
                                        "is not a result.",
                            epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=common.existing_file, help="model (.onnx, .pt, .pt2)")
    p.add_argument("--backends", default="ort", help="comma-separated: ort, openvino (default: ort)")
    p.add_argument("--runs", type=_positive, default=50, help="timed runs of each model (default 50)")
    p.add_argument("--warmup", type=int, default=5, help="untimed runs first (default 5)")
    p.add_argument("--threads", type=int, default=1,
                   help="intra-op threads for every backend; 0 = the backend's default (default 1: the stable figure)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    add_pipeline_arguments(p)
    p.set_defaults(run=run)


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text}: needs at least one run")
    return n


@dataclass
class Row:
    backend: str
    before: list[float]
    after: list[float]
    match: bool


def run(args: argparse.Namespace) -> int:
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or not backends:
        raise UsageError(f"--backends {args.backends}: choose from {', '.join(BACKENDS)}")
    graph = common.load(args.model, args.input_shape)
    feeds = common.random_feeds(graph, args.seed)
    rows = []
    for backend in backends:
        before, after = _runners(backend, args, graph)
        match = all(r.ok for r in common.compare(graph.output_names, after(feeds), before(feeds),  # type: ignore[arg-type]
                                                 1e-3, 1e-4))
        times = _alternate(before, after, feeds, args, backend)
        rows.append(Row(backend, times[0], times[1], match))
    print(report(rows, args))
    loose = [f"{v.name}: {v.type}" for v in graph.inputs
             if isinstance(v.type, TensorType) and not v.type.is_static]
    if loose:
        print(f"note: inputs with symbolic dims ran with each at 1 ({'; '.join(loose)}); "
              f"time real sizes with --input-shape")
    return 0


def _runners(backend: str, args: argparse.Namespace, graph: Graph) -> tuple[Runner, Runner]:
    target = "onnxruntime" if backend == "ort" else "openvino"
    optimized, _ = run_pipeline(graph, args, target, quiet=args.quiet)
    if backend == "ort":
        original = args.model if args.model.suffix == ".onnx" else graphopt.to_onnx(graph)
        a = common.ort_session(original, args.threads)
        b = common.ort_session(graphopt.to_onnx(optimized, target=target), args.threads)
        return (lambda f: common.ort_run(a, f)), (lambda f: common.ort_run(b, f))
    return _openvino(args.model if args.model.suffix == ".onnx" else graph, args.threads), \
        _openvino(optimized, args.threads)


def _openvino(model: Path | Graph, threads: int) -> Runner:
    try:
        source = model if isinstance(model, Path) else graphopt.to_openvino(model)
    except ImportError as e:
        raise GraphoptError(f"--backends openvino: the OpenVINO emitter could not be loaded ({e})") from e
    return common.openvino_runner(source, threads)


def _alternate(before: Runner, after: Runner, feeds: dict[str, np.ndarray], args: argparse.Namespace,
               backend: str) -> tuple[list[float], list[float]]:
    """Warm both up, then time them in turn, swapping which goes first every run so drift hits both alike."""
    for _ in range(args.warmup):
        before(feeds)
        after(feeds)
    times: tuple[list[float], list[float]] = ([], [])
    progress = Progress(f"bench {backend}", args.runs, enabled=False if args.quiet else None)
    for i in range(args.runs):
        order = (0, 1) if i % 2 == 0 else (1, 0)
        for which in order:
            fn = before if which == 0 else after
            start = time.perf_counter()
            fn(feeds)
            times[which].append(time.perf_counter() - start)
        progress.update(i + 1)
    progress.close()
    return times


def report(rows: Sequence[Row], args: argparse.Namespace) -> str:
    def ms(values: list[float]) -> str:
        return f"{1000 * statistics.median(values):.3f} ({1000 * min(values):.3f}-{1000 * max(values):.3f})"

    body = [[r.backend, ms(r.before), ms(r.after),
             f"{statistics.median(r.before) / statistics.median(r.after):.2f}x" if r.match else "n/a",
             "yes" if r.match else "NO (speedup not counted)"] for r in rows]
    threads = "default threads" if args.threads == 0 else f"{args.threads} thread{'s' * (args.threads > 1)}"
    return table(["backend", "original ms median (min-max)", "optimized ms median (min-max)", "speedup",
                  "outputs match"], body,
                 title=f"{args.model}: {pipeline_of(args)}, {args.runs} runs each after {args.warmup} warm-up, "
                       f"{threads}")
