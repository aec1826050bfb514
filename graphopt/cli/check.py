"""``graphopt check``: verify a model, optimize it, and compare the optimized model's outputs with the original's
in ONNX Runtime; on a mismatch, name the first pass whose outputs diverge."""

from __future__ import annotations

import argparse
from typing import Any

import graphopt
from graphopt.cli import common
from graphopt.cli.common import table
from graphopt.cli.pipeline_args import add_pipeline_arguments, disabled, pipeline_of, run_pipeline
from graphopt.errors import GraphoptError
from graphopt.ir.core import Graph
from graphopt.passes.numerics import CheckNumerics, NumericsError

EXAMPLES = """\
examples:
  graphopt check model.onnx                        O2, 2 random input sets, rtol 1e-3 atol 1e-4
  graphopt check model.onnx -O3 --target onnxruntime --trials 5
  graphopt check model.onnx --pipeline O1 --input-shape x:4x3x64x64
exit status: 0 the outputs agree, 1 an error (the model does not verify, a pass failed ...), 2 bad usage,
3 the optimized model's outputs differ.
"""


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("check", parents=parents, help="verify, optimize, and compare outputs with the original",
                            description="Verify a model, optimize it, emit it as ONNX and run it beside the "
                                        "original in ONNX Runtime on fixed-seed random inputs. Exits with 3 when "
                                        "any output differs beyond the tolerance, after naming the first pass "
                                        "whose outputs diverge in graphopt's reference interpreter.",
                            epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=common.existing_file, help="model (.onnx, .pt, .pt2)")
    p.add_argument("--rtol", type=float, default=1e-3, help="relative tolerance (default 1e-3)")
    p.add_argument("--atol", type=float, default=1e-4, help="absolute tolerance (default 1e-4)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first input set (default 0)")
    p.add_argument("--trials", type=int, default=2, help="random input sets to compare on (default 2)")
    add_pipeline_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    graph = common.load(args.model, args.input_shape)
    graphopt.verify(graph)
    print(f"{args.model}: verifies ({sum(1 for _ in graph.walk())} nodes)")
    target = common.pass_target(args.target or "onnx")
    optimized, _ = run_pipeline(graph, args, target, quiet=args.quiet)
    original = common.ort_session(args.model if args.model.suffix == ".onnx" else graphopt.to_onnx(graph))
    emitted = common.ort_session(graphopt.to_onnx(optimized, target=target))
    rows: list[list[object]] = []
    ok = True
    for trial in range(max(args.trials, 1)):
        feeds = common.random_feeds(graph, args.seed + trial)
        for r in common.compare(graph.output_names, common.ort_run(emitted, feeds),  # type: ignore[arg-type]
                                common.ort_run(original, feeds), args.rtol, args.atol):
            ok &= r.ok
            rows.append([r.output, args.seed + trial, f"{r.max_abs:.3g}", f"{r.max_rel:.3g}",
                         "yes" if r.ok else f"NO {r.note}".strip()])
    nodes = sum(1 for _ in optimized.walk())
    print(table(["output", "seed", "max abs error", "max rel error", "within tolerance"], rows,
                title=f"{pipeline_of(args)} ({nodes} nodes) vs the original in ONNX Runtime, "
                      f"rtol={args.rtol} atol={args.atol}"))
    if ok:
        print("check passed")
        return 0
    print(f"check FAILED: {culprit(graph, args, target)}")
    return 3


def culprit(graph: Graph, args: argparse.Namespace, target: str | None) -> str:
    """Rerun the pipeline under CheckNumerics on the first failing input set and say which pass diverged."""
    feeds = common.random_feeds(graph, args.seed)
    try:
        graphopt.optimize(graph, pipeline_of(args), target=target, disable=disabled(args),
                          instruments=[CheckNumerics(inputs=feeds, rtol=args.rtol, atol=args.atol)])
    except NumericsError as e:
        return str(e)
    except GraphoptError as e:
        return f"could not run the reference interpreter after each pass to find the culprit: {e}"
    return ("graphopt's reference interpreter sees no pass change the outputs, so the difference comes from "
            "emitting the model or from how ONNX Runtime runs it")
