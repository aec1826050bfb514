"""The ``infer-shapes`` pass: refine every value's type with :func:`graphopt.ir.inference.infer_shapes`."""

from __future__ import annotations

from graphopt.ir.core import Graph, Value
from graphopt.ir.inference import infer_shapes
from graphopt.ir.types import Type
from graphopt.passes.base import Pass, PassResult, register_pass


@register_pass
class InferShapes(Pass):
    """Type and shape inference (keeping symbolic dims); modified only when some type got more precise."""

    name = "infer-shapes"
    level = 1
    stage = "pre"
    doc = "infer dtypes and shapes, keeping symbolic dims; strict=true raises on an inference failure"
    strict: bool = False

    def run(self, graph: Graph) -> PassResult:
        before = _types(graph)
        infer_shapes(graph, strict=self.strict)
        # infer_shapes' own flag misses subgraph inputs that If/Loop/Scan inference refines, so compare
        refined = sum(1 for v, t in before.items() if v.type != t)
        return PassResult(refined > 0, {"types_refined": refined})


def _types(graph: Graph) -> dict[Value, Type]:
    """The type of every value inference may refine: subgraph inputs and node outputs, at any depth."""
    types: dict[Value, Type] = {}
    for node in graph.walk():
        for sub in node.subgraphs():
            types.update((v, v.type) for v in sub.inputs)
        types.update((o, o.type) for o in node.outputs if o is not None)
    return types
