"""fuse-matmul-add: ``Add(MatMul(A, B), c)`` becomes ``Gemm(A, B, c)`` where Gemm can express it.

Gemm takes a 2-D ``A``, a 2-D ``B`` and a ``c`` that broadcasts to ``[M, N]``; the rule asks for a
constant ``B`` (the weight of a linear layer) and a ``c`` of shape ``[]``, ``[N]`` or ``[1, N]`` so the
output shape stays ``[M, N]``. A of rank 3 or more is refused: Gemm would need Reshapes around it.
The rewrite is exact (Gemm computes the product, then adds ``c``).
"""

from __future__ import annotations

from graphopt.ir.core import Value
from graphopt.passes.base import register_pass
from graphopt.passes.rewrite import Builder, Match, Rule, RulePass, RuleSet, const, op, var


class FuseMatMulAddRule(Rule):
    name = "fuse-matmul-add"
    pattern = op("Add", op("MatMul", var("a"), const("b"), name="mm"), var("c"), commutative=True)

    def check(self, m: Match) -> str | None:
        a, bw, c = m["a"], m["b"], m["c"]
        if a.shape is None or len(a.shape) != 2:
            rank = "unknown" if a.shape is None else len(a.shape)
            return f"A has rank {rank}; Gemm takes only a 2-D A (a rank-3+ A would need Reshapes around it)"
        if len(bw.shape) != 2:
            return f"B has rank {len(bw.shape)}, not 2"
        shape = c.shape
        if shape is None or len(shape) > 2 or any(d != 1 for d in shape[:-1]) \
                or (shape and shape[-1] not in (1, bw.shape[1])):
            return f"the addend's shape {c.shape} does not broadcast to [N] = [{bw.shape[1]}]"
        if len({a.dtype, bw.dtype, c.dtype}) != 1 or a.dtype is None or a.dtype.numpy.kind != "f":
            return "operand dtypes differ (or are not floating point)"
        return None

    def rewrite(self, m: Match, b: Builder) -> Value:
        return b.op("Gemm", [m["a"], m["b"], m["c"]])


@register_pass
class FuseMatMulAdd(RulePass):
    name = "fuse-matmul-add"
    level = 2
    stage = "optimize"
    targets = frozenset({"onnxruntime", "openvino"})  # not tensorrt: it has no Gemm layer and fuses the bias itself
    doc = "Turn Add(MatMul(A, B), c) with a 2-D A and constant 2-D B into Gemm(A, B, c)."
    rules = RuleSet([FuseMatMulAddRule()])
