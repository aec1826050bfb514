"""ort-attention: 4-D Attention between head split and merge → ONNX Runtime's com.microsoft.MultiHeadAttention.

Exporters write multi-head attention as ``[B, S, N*H]`` projections reshaped to ``[B, S, N, H]`` and transposed to
``[B, N, S, H]``, and the result transposed and reshaped back; replace-patterns turns the core into ONNX's
Attention. For ``target="onnxruntime"`` (named explicitly) this pass replaces the whole of it,

    Reshape(Transpose(Attention(Transpose(Reshape(q)), Transpose(Reshape(k)), Transpose(Reshape(v))[, mask]),
            perm=[0, 2, 1, 3]))

with ``MultiHeadAttention(q, k, v, attention_bias=mask, num_heads=N)`` on the 3-D projections (a final Reshape
stays only when the model wanted another shape, e.g. GPT-2's ``[B*S, D]``). It refuses, with a reason, when a
split is not ``[B, S, N, H]`` with perm ``[0, 2, 1, 3]``, the head counts differ, the operands are not float32,
the Attention is causal or soft-capped or has past state, or the mask is not 2-D to 4-D. Anything else keeps
the portable Attention.
"""

from __future__ import annotations

from typing import ClassVar

from graphopt.ir.core import Value
from graphopt.ir.dtypes import DType
from graphopt.ir.ops.fused import ORT_DOMAIN
from graphopt.passes.base import register_pass
from graphopt.passes.optimize.patterns_common import either
from graphopt.passes.rewrite import Builder, Match, Op, Rule, RulePass, RuleSet, op, var

HEADS_PERM = [0, 2, 1, 3]


def _heads(name: str) -> Op:
    """``[B, S, N*H]`` → ``[B, N, S, H]``: a Reshape to four dims, then Transpose ``[0, 2, 1, 3]``."""
    return op("Transpose", op("Reshape", var(name), var(), name=f"{name}_split"), name=f"{name}_heads")


_ATTENTION = [_heads("q"), _heads("k"), _heads("v")]
_PATTERN = op("Reshape", op("Transpose", either(op("Attention", *_ATTENTION, var("mask"), name="attention"),
                                                op("Attention", *_ATTENTION, name="attention")),
                            name="merge"), var(), name="merged")


def _split_heads(m: Match, name: str) -> tuple[int, int] | str:
    """(heads, head size) of operand ``name``, or why it is not a plain head split."""
    x, split, heads = m[name], m.node(f"{name}_split").output, m.node(f"{name}_heads")
    if list(heads.attr("perm")) != HEADS_PERM:
        return f"{name}'s head transpose has perm {list(heads.attr('perm'))}, not {HEADS_PERM}"
    xs, ss = x.shape, split.shape
    if xs is None or ss is None or len(xs) != 3 or len(ss) != 4:
        return f"{name} is not reshaped from 3-D to 4-D (shapes {xs} -> {ss})"
    n, h, hidden = ss[2], ss[3], xs[2]
    if not (isinstance(n, int) and isinstance(h, int) and isinstance(hidden, int) and n * h == hidden):
        return f"{name}'s split {list(ss)} does not divide its hidden size {hidden} into heads"
    if xs[0] != ss[0] or xs[1] != ss[1] or xs[0] is None or xs[1] is None:
        return f"{name}'s split {list(ss)} does not keep batch and sequence of {list(xs)}"
    return n, h


def _check(m: Match) -> str | None:
    attention = m.node("attention")
    for attr in ("is_causal", "softcap", "qk_matmul_output_mode"):
        if attention.attr(attr):
            return f"Attention has {attr}={attention.attr(attr)}"
    if any(o is not None and o.has_uses for o in attention.outputs[1:]):
        return "Attention's present key/value or scores are used"
    if m["q"].dtype != DType.FLOAT:
        return f"operands are {m['q'].dtype}, ONNX Runtime's CPU MultiHeadAttention runs float32"
    found = [_split_heads(m, name) for name in ("q", "k", "v")]
    splits = [f for f in found if not isinstance(f, str)]
    if len(splits) != 3:
        return next(f for f in found if isinstance(f, str))
    (nq, hq), (nk, hk), (nv, _) = splits
    if not nq == nk == nv or hq != hk:
        return f"head counts {nq}, {nk}, {nv} or query/key head sizes {hq}, {hk} differ"
    if list(m.node("merge").attr("perm")) != HEADS_PERM:
        return f"the merge transpose has perm {list(m.node('merge').attr('perm'))}, not {HEADS_PERM}"
    mask = m.get("mask")
    if mask is not None and (mask.shape is None or not 2 <= len(mask.shape) <= 4):
        return f"mask of shape {mask.shape} is not 2-D to 4-D"
    out = m.node("merged").output.shape
    if out is None or (not all(isinstance(d, int) for d in out) and list(out) != list(_merged_shape(m))):
        return f"the merged result's shape {out} is neither [batch, seq, hidden] nor static"
    return None


def _merged_shape(m: Match) -> tuple[object, ...]:
    q, v = m["q"].shape, m.node("v_split").output.shape
    return (q[0], q[1], v[2] * v[3])


def _rewrite(m: Match, b: Builder) -> Value:
    attention = m.node("attention")
    inputs: list[Value | None] = [m["q"], m["k"], m["v"]]
    mask = m.get("mask")
    if mask is not None:
        if len(mask.shape) < 4:
            mask = b.op("Unsqueeze", [mask, b.const(list(range(4 - len(mask.shape))), "int64")])
        inputs += [None, None, mask]
    attrs = {"num_heads": m.node("q_split").output.shape[2]}
    if attention.attr("scale", None) is not None:
        attrs["scale"] = attention.attr("scale")
    y = b.op("MultiHeadAttention", inputs, attrs, domain=ORT_DOMAIN)
    out = m.node("merged").output.shape
    if list(out) == list(_merged_shape(m)):
        return y
    return b.op("Reshape", [y, b.const(list(out), "int64")])


RULES = RuleSet([Rule.define("ort-multi-head-attention", _PATTERN, _rewrite, _check)])


@register_pass
class OrtAttention(RulePass):
    name = "ort-attention"
    level = 2
    stage = "post"
    targets = frozenset({"onnxruntime"})
    doc = "head split + Attention + head merge → com.microsoft.MultiHeadAttention (target onnxruntime)"
    rules: ClassVar[RuleSet] = RULES

    def suits(self, target: str | None) -> bool:
        return target == "onnxruntime"  # a contrib op: never for an unnamed target
