"""If as TensorRT's if-conditional: the condition, an input boundary layer for each outer value a branch
reads, both branches' layers, and an output layer pairing each result."""

from __future__ import annotations

from typing import TYPE_CHECKING

from graphopt.codegen.tensorrt.emitter import Emitter, ir_shape
from graphopt.codegen.tensorrt.registry import converter, unsupported_reason
from graphopt.ir.core import Graph, Node, outer_references
from graphopt.ir.dtypes import DType

if TYPE_CHECKING:
    from tensorrt import IIfConditional, ITensor

_OUTPUT_TYPES = frozenset({DType.BOOL, DType.INT32, DType.FLOAT16, DType.FLOAT, DType.BFLOAT16})
"""Types a conditional's outputs may have (TensorRT's operator reference for If)."""


def _if_check(node: Node) -> str | None:
    cond = node.inputs[0]
    if cond is None or cond.dtype != DType.BOOL or cond.shape not in ((), (1,)):
        return "If condition that is not one BOOL element"
    then_g, else_g = node.attr("then_branch"), node.attr("else_branch")
    for name, branch in (("then", then_g), ("else", else_g)):
        for inner in branch:
            if (reason := unsupported_reason(inner)) is not None:
                return f"{name} branch: {inner.label}: {reason}"
    for i, (a, b) in enumerate(zip(then_g.outputs, else_g.outputs)):
        if a.dtype != b.dtype or a.dtype not in _OUTPUT_TYPES:
            return f"output {i}: branch types {a.dtype} and {b.dtype} (TensorRT needs one of BOOL, INT32, HALF, " \
                   "FLOAT, BF16)"
        if a.shape is None or a.shape != b.shape or not all(isinstance(d, int) for d in a.shape):
            return f"output {i}: branch shapes {a.shape} and {b.shape} are not one static shape"
    return None


@converter("If", check=_if_check)
def convert_if(em: Emitter, node: Node) -> None:
    conditional = em.network.add_if_conditional()
    conditional.name = node.name or "If"
    cond_value = node.inputs[0]
    assert cond_value is not None
    cond = em.tensor(cond_value)
    if em.rank(cond):
        cond = em.reshape(cond, [], tag="condition")
    conditional.set_condition(cond)
    results = [_branch(em, conditional, node.attr(name)) for name in ("then_branch", "else_branch")]
    for i, (a, b) in enumerate(zip(*results)):
        out = node.outputs[i]
        if out is not None:
            layer = conditional.add_output(a, b)
            em.bind(out, em.layer_output(layer, ir_shape(out), em.info(a).dtype, tag=f"output{i}"))


def _branch(em: Emitter, conditional: IIfConditional, branch: Graph) -> list[ITensor]:
    """Emit one branch; the outer values it reads enter through input boundary layers."""
    saved = {}
    for v in outer_references(branch):
        outer = em.tensor(v)
        saved[v] = outer
        layer = conditional.add_input(outer)
        em.tensors[v] = em.layer_output(layer, em.shape(outer), em.info(outer).dtype, tag="input")
    em.emit_nodes(branch)
    outputs = [em.tensor(v) for v in branch.outputs]
    em.tensors.update(saved)
    return outputs
