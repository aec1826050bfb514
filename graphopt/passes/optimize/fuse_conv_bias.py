"""fuse-conv-bias: a per-channel constant added to or multiplied with a Conv's output goes into the Conv.

``Add(Conv(x, w, b), c)`` with ``c`` a scalar or per-output-channel constant (shape ``[C,1,1]``,
``[1,C,1,1]`` …) becomes ``Conv(x, w, b + c)``; ``Mul(Conv(x, w, b), c)`` becomes ``Conv(x, w * c, b * c)``.
The Add is exact up to the order of the two roundings; the Mul rounds the scaled weights once, so
results move by a few ulp.
"""

from __future__ import annotations

import numpy as np

from graphopt.ir.core import Node, Value
from graphopt.passes.base import register_pass
from graphopt.passes.rewrite import Builder, Match, Rule, RulePass, RuleSet, const, op, optional, var


def per_channel(c: np.ndarray, out: Value, channels: int) -> np.ndarray | str:
    """``c`` as a length-``channels`` vector if it broadcasts against the Conv output only along axis 1."""
    rank = None if out.shape is None else len(out.shape)
    if rank is None:
        return "the Conv output's rank is unknown"
    if c.ndim > rank:
        return f"the constant has rank {c.ndim}, more than the Conv output's {rank}"
    full: np.ndarray = c.reshape((1,) * (rank - c.ndim) + c.shape)
    if any(d != 1 for i, d in enumerate(full.shape) if i != 1) or full.shape[1] not in (1, channels):
        return f"constant of shape {list(c.shape)} is not per-channel for {channels} channels"
    return np.broadcast_to(full.reshape(-1), (channels,))


class _ConvEltwise(Rule):
    def __init__(self, eltwise: str) -> None:
        self.name = f"fuse-conv-{eltwise.lower()}"
        self.pattern = op(eltwise, op("Conv", var("x"), const("w"), optional("b"), name="conv"), const("c"),
                          commutative=True, name="elt")

    def check(self, m: Match) -> str | None:
        conv: Node = m["conv"]
        w, c = m.const("w"), m.const("c")
        if m.get("b") is not None and m["b"].const is None:
            return "the Conv's bias is not a constant"
        if c.dtype != w.dtype or conv.output.dtype is None or conv.output.dtype.numpy != c.dtype:
            return "dtypes differ"
        got = per_channel(c, conv.output, w.shape[0])
        return got if isinstance(got, str) else None

    def rewrite(self, m: Match, b: Builder) -> Value:
        conv: Node = m["conv"]
        w = m.const("w")
        c = per_channel(m.const("c"), conv.output, w.shape[0]).astype(np.float64)  # type: ignore[union-attr]
        old_b = m["b"].numpy().astype(np.float64) if m.get("b") is not None else np.zeros(w.shape[0])
        if m["elt"].op == "Add":
            new_w, new_b = m["w"], b.const(old_b + c, w.dtype)
        else:
            new_w = b.const((w * c.reshape(-1, *(1,) * (w.ndim - 1))).astype(w.dtype))
            if m.get("b") is None:
                return b.op("Conv", [m["x"], new_w], dict(conv.attrs))
            new_b = b.const(old_b * c, w.dtype)
        return b.op("Conv", [m["x"], new_w, new_b], dict(conv.attrs))


RULES = RuleSet([_ConvEltwise("Add"), _ConvEltwise("Mul")])


@register_pass
class FuseConvBias(RulePass):
    name = "fuse-conv-bias"
    level = 2
    stage = "optimize"
    doc = "Fold a per-channel constant Add into a Conv's bias and a per-channel constant Mul into its weights."
    rules = RULES
