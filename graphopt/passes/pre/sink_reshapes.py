"""Move a Reshape below the elementwise ops that follow it, so Reshape pairs meet and cancel.

Exporters wrap elementwise chains in Reshapes (``Gemm [32,256] → Reshape [2,16,256] → GELU written
out → Reshape [32,256] → Gemm``). Elementwise ops commute with a Reshape when their other operands
are single-element constants, so the whole chain can run on the Reshape's input instead; the Reshapes
that read the chain then take the chain's result directly, and ``eliminate-noops`` removes those
that no longer change anything.

The pass works on regions: all elementwise nodes reachable from one Reshape whose every other input
is either in the region or a one-element constant. It rewrites a region only when everything that
leaves it is read by Reshapes (so no reader sees a different shape) and nothing in it is a graph output.
"""

from __future__ import annotations

from collections import Counter

from graphopt.ir.core import Graph, Node, Value
from graphopt.ir.types import TensorType
from graphopt.passes.base import Pass, PassResult, register_pass

ELEMENTWISE = frozenset({
    "Abs", "Add", "And", "Cast", "Ceil", "Celu", "Clip", "Cos", "Div", "Elu", "Equal", "Erf", "Exp", "Floor",
    "Gelu", "Greater", "GreaterOrEqual", "HardSigmoid", "HardSwish", "Identity", "IsInf", "IsNaN", "LeakyRelu",
    "Less", "LessOrEqual", "Log", "Max", "Min", "Mish", "Mod", "Mul", "Neg", "Not", "Or", "Pow", "Reciprocal",
    "Relu", "Round", "Selu", "Sigmoid", "Sign", "Sin", "Softplus", "Softsign", "Sqrt", "Sub", "Tan", "Tanh",
    "ThresholdedRelu", "Where", "Xor",
})


@register_pass
class SinkReshapes(Pass):
    """Run elementwise chains on a Reshape's input so the Reshape pairs around them cancel."""

    name = "sink-reshapes"
    level = 1
    stage = "pre"
    doc = "move Reshapes below elementwise chains (scalar operands) so Reshape pairs cancel"

    def run(self, graph: Graph) -> PassResult:
        counts: Counter[str] = Counter()
        _sink(graph, counts)
        return PassResult(counts["reshapes_removed"] > 0, dict(counts))


def _sink(graph: Graph, counts: Counter[str]) -> None:
    for node in list(graph):
        for sub in node.subgraphs():
            _sink(sub, counts)
        if node.graph is graph and node.op == "Reshape" and _try(node, graph):
            counts["reshapes_removed"] += 1


def _static(v: Value | None) -> tuple[int, ...] | None:
    shape = None if v is None else v.shape
    return shape if shape is not None and all(isinstance(d, int) for d in shape) else None


def _try(reshape: Node, graph: Graph) -> bool:
    x, out = reshape.inputs[0], reshape.output
    source, target = _static(x), _static(out)
    if x is None or source is None or target is None or out.is_graph_output:
        return False
    region = _region(out, target, min(len(source), len(target)))
    if not region:
        return False
    values = {out} | {o for n in region for o in n.outputs if o is not None}
    for v in values:
        if v.is_graph_output or any(u.node not in region and u.node.op != "Reshape" for u in v.uses):
            return False
        if any(u.node.op == "Reshape" and u.index != 0 for u in v.uses):
            return False  # a region value used as a shape, not reshaped
    for n in region:
        for i, inp in enumerate(n.inputs):
            if inp is out:
                n.set_input(i, x)
        for o in n.outputs:
            if o is not None and isinstance(o.type, TensorType):
                o.type = TensorType(o.type.dtype, source)
    graph.replace_all_uses(out, x)  # the Reshapes reading it directly now reshape x
    graph.remove(reshape)
    return True


def _region(start: Value, shape: tuple[int, ...], max_scalar_rank: int) -> set[Node]:
    """Elementwise nodes fed by ``start`` whose other inputs are region values or one-element constants."""
    region: set[Node] = set()
    inside = {start}
    frontier = [u.node for u in start.uses]
    while frontier:
        node = frontier.pop()
        if node in region or node.op not in ELEMENTWISE or node.domain or len(node.outputs) != 1:
            continue
        if _static(node.output) != shape or not all(v in inside or _scalar(v, max_scalar_rank) for v in node.inputs):
            continue
        region.add(node)
        inside.add(node.output)
        frontier.extend(u.node for u in node.output.uses)
    return region


def _scalar(v: Value | None, max_rank: int) -> bool:
    """A one-element constant that broadcasts the same way against both shapes."""
    return v is not None and v.const is not None and v.const.size == 1 and len(v.const.shape) <= max_rank
