"""fuse-pad: a constant-mode Pad over spatial dims folded into the pads of the Conv or pooling after it.

Legal only where the op would pad with the same value: Conv pads with zeros, MaxPool ignores padding
(same as padding with -inf), AveragePool with ``count_include_pad=1`` averages zeros in. The Pad must
add nothing to the batch and channel dims, pad by non-negative amounts, and the op must use explicit
pads (``auto_pad=NOTSET``). The rewrite is exact.
"""

from __future__ import annotations

import numpy as np

from graphopt.ir.core import Node, Value
from graphopt.passes.base import register_pass
from graphopt.passes.rewrite import Builder, Match, Op, Rule, RulePass, RuleSet, const, op, optional, var

_PAD = op("Pad", var("x"), const("pads"), optional("value"), optional("axes"), name="pad")


def _full_pads(m: Match, rank: int) -> np.ndarray | str:
    """The Pad's amounts as (begin..., end...) over all ``rank`` axes."""
    pads = m.const("pads").astype(np.int64)
    axes_v = m.get("axes")
    if axes_v is not None and axes_v.const is None:
        return "Pad axes are not constant"
    axes = [a % rank for a in axes_v.numpy().tolist()] if axes_v is not None else list(range(rank))
    if pads.shape != (2 * len(axes),):
        return f"Pad has {pads.size} amounts for {len(axes)} axes"
    full = np.zeros(2 * rank, np.int64)
    for i, a in enumerate(axes):
        full[a], full[rank + a] = pads[i], pads[len(axes) + i]
    return full


def _pad_value(m: Match) -> float | str:
    v = m.get("value")
    if v is None:
        return 0.0
    if v.const is None:
        return "the pad value is not constant"
    a = v.numpy()
    return float(a.reshape(())) if a.size == 1 else "the pad value is not a scalar"


class _FusePad(Rule):
    def __init__(self, consumer: str, pattern: Op) -> None:
        self.name = f"fuse-pad-{consumer.lower()}"
        self.pattern = pattern

    def wanted_value(self, node: Node) -> float | str:
        if node.op == "Conv":
            return 0.0
        if node.op == "MaxPool":
            if len(node.outputs) > 1 and node.outputs[1] is not None:
                return "MaxPool's indices output is used (its indices would shift)"
            return -np.inf
        return 0.0 if node.attr("count_include_pad") else "AveragePool has count_include_pad=0 (it would skip the pad)"

    def check(self, m: Match) -> str | None:
        node: Node = m["op"]
        if m["pad"].attr("mode") != "constant":
            return f"Pad mode is {m['pad'].attr('mode')!r}, not constant"
        x: Value = m["x"]
        if x.shape is None:
            return "the Pad input's rank is unknown"
        rank = len(x.shape)
        full = _full_pads(m, rank)
        if isinstance(full, str):
            return full
        if full[[0, 1, rank, rank + 1]].any():
            return "Pad pads the batch or channel dim"
        if (full < 0).any():
            return "Pad crops (negative amounts)"
        if node.attr("auto_pad") != "NOTSET":
            return f"{node.op} uses auto_pad={node.attr('auto_pad')}"
        wanted, value = self.wanted_value(node), _pad_value(m)
        if isinstance(wanted, str) or isinstance(value, str):
            return wanted if isinstance(wanted, str) else value  # type: ignore[return-value]
        if value != wanted:
            return f"pad value {value} is not the {wanted} that {node.op} pads with"
        if node.op != "Conv":
            if node.attr("ceil_mode"):
                return f"{node.op} has ceil_mode=1 (a window starting in the padding would change)"
            kernel = node.attr("kernel_shape")
            merged = self.merged(node, full, rank)
            if any(p >= k for p, k in zip(merged, list(kernel) * 2)):
                return f"{node.op} pads would reach the kernel size {list(kernel)}"
        return None

    def merged(self, node: Node, full: np.ndarray, rank: int) -> list[int]:
        spatial = rank - 2
        old = node.attr("pads") or (0,) * (2 * spatial)
        extra = [*full[2:rank], *full[rank + 2:]]
        return [int(a) + int(e) for a, e in zip(old, extra)]

    def rewrite(self, m: Match, b: Builder) -> Value:
        node: Node = m["op"]
        rank = len(m["x"].shape)
        full = _full_pads(m, rank)
        assert not isinstance(full, str), "check() refuses pads it cannot read"
        attrs = {**node.attrs, "pads": self.merged(node, full, rank)}
        inputs = [m["x"], *node.inputs[1:]]
        return b.op(node.op, inputs, attrs)


RULES = RuleSet([
    _FusePad("Conv", op("Conv", _PAD, var(), optional(), name="op")),
    _FusePad("MaxPool", op("MaxPool", _PAD, name="op")),
    _FusePad("AveragePool", op("AveragePool", _PAD, name="op")),
])


@register_pass
class FusePad(RulePass):
    name = "fuse-pad"
    level = 2
    stage = "optimize"
    doc = "Fold a constant zero (or -inf for MaxPool) spatial Pad into the pads of the Conv or pooling after it."
    rules = RULES
