"""``graphopt diff``: how two models differ in structure (names aside), op counts, and text form."""

from __future__ import annotations

import argparse
import difflib
from collections import Counter
from typing import Any

from graphopt.cli import common
from graphopt.cli.common import table
from graphopt.ir.core import Graph
from graphopt.ir.equality import graph_difference

EXAMPLES = """\
examples:
  graphopt diff model.onnx model.opt.onnx
  graphopt diff a.onnx b.onnx --stat --exit-code       op counts only; exit 3 when they differ
"""


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("diff", parents=parents, help="structural diff of two models",
                            description="Compare two models structurally (names, metadata and provenance aside): "
                                        "the first difference in words, op counts side by side, and a unified "
                                        "diff of their IR text.",
                            epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", type=common.existing_file, help="first model")
    p.add_argument("b", type=common.existing_file, help="second model")
    p.add_argument("-U", "--context", type=int, default=3, metavar="N", help="lines of context in the text diff")
    p.add_argument("--stat", action="store_true", help="only the first difference and the op counts")
    p.add_argument("--exit-code", action="store_true", help="exit with 3 when the models differ (like git diff)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    a, b = common.load(args.a), common.load(args.b)
    difference = graph_difference(a, b)
    if difference is None:
        print(f"{args.a} and {args.b} are structurally equal")
        return 0
    print(f"first difference: {difference}")
    print()
    names = (args.a.name, args.b.name) if args.a.name != args.b.name else (str(args.a), str(args.b))
    print(op_delta(a, b, *names))
    if not args.stat:
        print()
        lines = difflib.unified_diff(str(a).splitlines(), str(b).splitlines(), fromfile=str(args.a),
                                     tofile=str(args.b), n=args.context, lineterm="")
        print("\n".join(lines))
    return 3 if args.exit_code else 0


def op_delta(a: Graph, b: Graph, name_a: str, name_b: str) -> str:
    ca, cb = Counter(n.qualified_op for n in a.walk()), Counter(n.qualified_op for n in b.walk())
    rows = [[op, ca[op], cb[op], f"{cb[op] - ca[op]:+d}"] for op in sorted(ca.keys() | cb.keys()) if ca[op] != cb[op]]
    rows.append(["total nodes", sum(ca.values()), sum(cb.values()), f"{sum(cb.values()) - sum(ca.values()):+d}"])
    return table(["op", name_a, name_b, "delta"], rows, title="op counts that differ")
