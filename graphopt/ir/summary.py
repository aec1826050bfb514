"""A short human-readable summary of a graph: interface, op histogram, weights."""

from __future__ import annotations

from collections import Counter

from graphopt.ir.core import Graph


def summarize(graph: Graph) -> str:
    ops = Counter(n.qualified_op for n in graph.walk())
    consts = [c.const for c in graph.constants if c.const is not None]
    n_params = sum(t.size for t in consts)
    n_bytes = sum(t.nbytes for t in consts)
    lines = [f"graph {graph.name!r}: {sum(ops.values())} nodes, {len(ops)} distinct ops, "
             f"{len(consts)} constants ({n_params:,} elements, {_bytes(n_bytes)})"]
    lines += [f"  input  {v.name}: {v.type}" for v in graph.inputs]
    lines += [f"  output {name}: {v.type}" for v, name in zip(graph.outputs, graph.output_names)]
    histogram = sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))
    lines.append("  ops: " + ", ".join(f"{op} x{count}" for op, count in histogram))
    if graph.memory_plan is not None:
        lines.append("  memory: " + graph.memory_plan.describe())
    return "\n".join(lines)


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"
