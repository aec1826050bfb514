"""Scaled-dot-product attention to ONNX's Attention (opset 23), and matmul-shaped Einsum to MatMul.

Attention: ``MatMul(Softmax(MatMul(Q, Kt) * scale [+ mask]), V)`` on 4-D ``[batch, heads, seq, head]``
operands, with the scale written after the product (``Mul``/``Div``), split over both operands
(``Mul(Q, s) @ Mul(Kt, s)``, torch's legacy exporter) or absent. ONNX Runtime 1.31's CPU Attention needs
the mask's query dimension in full (it does not broadcast it), so such masks are refused. Float16 is refused:
ONNX Runtime's CPU Attention runs the scaled, masked Q·Kᵀ as one float32 GEMM where the written-out graph
rounds to float16 after the scale, the product and the mask (ONNX's ``test_attention_4d_causal_fp16_expanded``
moves by 2 ulp, past its tolerance).
"""

from __future__ import annotations

from graphopt.ir.core import Value
from graphopt.ir.dtypes import DType
from graphopt.passes.optimize.patterns_common import Scalar, either, scalar_value
from graphopt.passes.rewrite import Builder, Match, Rule, RuleSet, op, var

_QK = op("MatMul", either(op("Mul", var("q"), Scalar("q_scale"), commutative=True), var("q")),
         either(op("Mul", var("kt"), Scalar("k_scale"), commutative=True), var("kt")), name="qk")
_SCALED = either(op("Mul", _QK, Scalar("scale"), commutative=True), op("Div", _QK, Scalar("divisor")), _QK)
_SCORES = either(op("Add", _SCALED, var("mask"), commutative=True), _SCALED)
_PATTERN = op("MatMul", op("Softmax", _SCORES, name="softmax"), var("v"))


def _same(*dims: object) -> bool:
    return None not in dims and len(set(dims)) == 1


def _check_attention(m: Match) -> str | None:
    q, kt, v, mask = m["q"], m["kt"], m["v"], m.get("mask")
    if q.dtype == DType.FLOAT16:
        return ("float16 operands: ONNX Runtime's Attention computes Q·Kᵀ, scale and mask in float32 and rounds "
                "once, the written-out graph rounds after each op; outputs would move by 1-2 ulp")
    if not q.dtype == kt.dtype == v.dtype == DType.FLOAT:
        return f"operand dtypes {q.dtype}, {kt.dtype}, {v.dtype} are not all float32"
    shapes = [t.shape for t in (q, kt, v)]
    if any(s is None or len(s) != 4 for s in shapes):
        return "Q, K and V are not all of known rank 4"
    (b, h, sq, d), (kb, kh, kd, skv), (vb, vh, vs, _) = shapes
    if not (_same(b, kb, vb) and _same(h, kh, vh)):
        return f"batch and head dimensions of Q, K, V differ or are unknown: {shapes}"
    if not (_same(d, kd) and _same(skv, vs)):
        return f"Q, K, V shapes {shapes} do not chain as attention"
    if m.node("softmax").attr("axis") not in (-1, 3):
        return "softmax is not over the last axis"
    return None if mask is None else _check_mask(mask, (b, h, sq, skv), q.dtype)


def _check_mask(mask: Value, scores: tuple[object, ...], dtype: DType) -> str | None:
    if mask.dtype != dtype:
        return f"mask dtype {mask.dtype} is not the scores' {dtype}"
    shape = mask.shape
    if shape is None or not 2 <= len(shape) <= 4:
        return f"mask shape {shape} is not of rank 2 to 4"
    if not (_same(shape[-2], scores[2]) and _same(shape[-1], scores[3])):
        return f"mask shape {list(shape)} does not cover the full {scores[2]}x{scores[3]} score matrix"
    if any(dim != 1 and not _same(dim, full) for dim, full in zip(shape[:-2][::-1], scores[:2][::-1])):
        return f"mask shape {list(shape)} does not broadcast to the scores {list(scores)}"
    return None


def _keys(kt: Value, b: Builder) -> Value:
    """K as [batch, heads, seq, head] from its transposed form, composing with a Transpose that made it."""
    node = kt.producer
    if node is not None and node.op == "Transpose" and node.attr("perm", None) is not None:
        perm = list(node.attr("perm"))
        composed = [perm[i] for i in (0, 1, 3, 2)]
        if composed == [0, 1, 2, 3]:
            return node.inputs[0]  # type: ignore[return-value]
        return b.op("Transpose", [node.inputs[0]], {"perm": composed})
    return b.op("Transpose", [kt], {"perm": [0, 1, 3, 2]})


def _attention(m: Match, b: Builder) -> Value:
    scale = (scalar_value(m, "q_scale", 1.0) * scalar_value(m, "k_scale", 1.0) * scalar_value(m, "scale", 1.0)
             / scalar_value(m, "divisor", 1.0))
    inputs = [m["q"], _keys(m["kt"], b), m["v"]]
    if m.get("mask") is not None:
        inputs.append(m["mask"])
    return b.op("Attention", inputs, {"scale": scale})


# -- Einsum ------------------------------------------------------------------------------------------

def _einsum_plan(equation: str) -> tuple[list[int], list[int], list[int]] | str:
    """Permutations (of A to [batch..., m, k], of B to [batch..., k, n], of [batch..., m, n] to the output)
    for a two-operand Einsum that is one batched matrix product, or a refusal reason."""
    eq = equation.replace(" ", "")
    if "->" not in eq or "." in eq:
        return "equation has no explicit output or uses an ellipsis"
    lhs, out = eq.split("->")
    terms = lhs.split(",")
    if len(terms) != 2:
        return f"{len(terms)} operands, not 2"
    a, b = terms
    if any(len(set(t)) != len(t) for t in (a, b, out)):
        return "a subscript repeats within one term (a diagonal or trace)"
    batch = [c for c in out if c in a and c in b]
    ms, ns = [c for c in a if c in out and c not in b], [c for c in b if c in out and c not in a]
    ks = [c for c in a if c in b and c not in out]
    if set(out) - set(a) - set(b) or set(a) | set(b) != set(batch) | set(ms) | set(ns) | set(ks):
        return "a subscript is summed within one operand only"
    if (len(ms), len(ns), len(ks)) != (1, 1, 1):
        return f"{len(ms)} row, {len(ns)} column and {len(ks)} contracted subscripts (needs one of each)"
    a_order, b_order = batch + ms + ks, batch + ks + ns
    mid = batch + ms + ns
    return [a.index(c) for c in a_order], [b.index(c) for c in b_order], [mid.index(c) for c in out]


def _check_einsum(m: Match) -> str | None:
    plan = _einsum_plan(m.node("einsum").attr("equation"))
    if isinstance(plan, str):
        return plan
    if m["a"].shape is None or m["b"].shape is None:
        return "operand ranks are unknown"
    a_batch = [m["a"].shape[i] for i in plan[0][:-2]]
    b_batch = [m["b"].shape[i] for i in plan[1][:-2]]
    if any(not _same(x, y) for x, y in zip(a_batch, b_batch)):
        return f"batch dimensions {list(a_batch)} and {list(b_batch)} are not known to be equal"
    return None


def _transposed(x: Value, perm: list[int], b: Builder) -> Value:
    return x if perm == sorted(perm) else b.op("Transpose", [x], {"perm": perm})


def _einsum(m: Match, b: Builder) -> Value:
    plan = _einsum_plan(m.node("einsum").attr("equation"))
    assert not isinstance(plan, str)
    pa, pb, pout = plan
    product = b.op("MatMul", [_transposed(m["a"], pa, b), _transposed(m["b"], pb, b)])
    return _transposed(product, pout, b)


RULES = RuleSet([
    Rule.define("attention", _PATTERN, _attention, _check_attention),
    Rule.define("einsum-matmul", op("Einsum", var("a"), var("b"), name="einsum"), _einsum, _check_einsum),
])
