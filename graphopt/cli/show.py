"""``graphopt show``: a model's IR text, op histogram, and parameter and activation memory."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from graphopt.cli import common
from graphopt.cli.common import human_bytes, table
from graphopt.ir.core import Graph
from graphopt.ir.memory import plan_memory
from graphopt.ir.summary import summarize

EXAMPLES = """\
examples:
  graphopt show model.onnx
  graphopt show model.onnx --no-ir --input-shape x:1x3x224x224     activation memory at batch 1
  graphopt show bert.onnx --no-ir --dims batch=8,seq=128           symbolic dims at their upper bounds
"""


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("show", parents=parents, help="print a model's IR, op histogram and memory",
                            description="Print a model's IR text, a histogram of its ops, and the memory its "
                                        "parameters and activations need.",
                            epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=common.existing_file, help="model (.onnx, .pt, .pt2)")
    p.add_argument("--no-ir", action="store_true", help="leave out the IR text (for big models)")
    p.add_argument("--input-shape", metavar="NAME:1x3x224x224", type=common.parse_input_shape, action="append",
                   default=[], help="fix an input's dims first (repeat per input)")
    p.add_argument("--dims", metavar="N=8,S=128", help="upper bounds for symbolic dims in the activation figures")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    graph = common.load(args.model, args.input_shape)
    if not args.no_ir:
        print(graph)
        print()
    print(describe(graph, common.parse_dims(args.dims)))
    return 0


def describe(graph: Graph, dims: dict[str, int]) -> str:
    ops = Counter(n.qualified_op for n in graph.walk())
    total = sum(ops.values())
    hist = table(["op", "count", "share"],
                 [[op, n, f"{100 * n / total:.0f}%"] for op, n in sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))],
                 title="op histogram")
    return "\n\n".join([summarize(graph), hist, _parameters(graph), _activations(graph, dims)])


def _parameters(graph: Graph) -> str:
    consts = [(c, c.const) for c in graph.constants if c.const is not None]
    text = (f"parameters: {len(consts)} constants, {sum(t.size for _, t in consts):,} elements, "
            f"{human_bytes(sum(t.nbytes for _, t in consts))}")
    if consts:
        big, tensor = max(consts, key=lambda ct: ct[1].nbytes)
        text += f" (largest: {big.name} {big.type}, {human_bytes(tensor.nbytes)})"
    return text


def _activations(graph: Graph, dims: dict[str, int]) -> str:
    plan = plan_memory(graph, dims=dims)
    lines = ["activations (intermediate tensors of the top graph, in the model's node order):",
             f"  no reuse:              {human_bytes(plan.no_reuse_bytes)}",
             f"  live-set lower bound:  {human_bytes(plan.lower_bound_bytes)}",
             f"  planned arena peak:    {human_bytes(plan.peak_bytes)} ({len(plan.offsets)} tensors, "
             f"{len(plan.inplace)} in place)"]
    if plan.unplanned:
        reason, _ = Counter(plan.unplanned.values()).most_common(1)[0]
        lines.append(f"  not counted: {len(plan.unplanned)} tensors of unknown size (e.g. {reason}; "
                     f"fix it with --input-shape or --dims)")
    return "\n".join(lines)
