"""Written-out normalizations back to LayerNormalization and RMSNormalization.

The core ``(x - mean) / sqrt(var + eps)`` (or ``x / sqrt(mean(x^2) + eps)``) becomes the op with a ones
scale; separate rules then fold a following constant ``Mul`` (gamma) and ``Add`` (beta) into the op's
scale and bias, so forms with or without gamma and beta are all covered.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from graphopt.ir.core import Value
from graphopt.passes.optimize.patterns_common import (
    Near,
    constants_keep_shape,
    either,
    float_input,
    internal,
    trailing_axes,
)
from graphopt.passes.rewrite import Builder, Match, Op, Pattern, Rule, RuleSet, const, op, optional, var

X = var("x")
MAX_SCALE_ELEMENTS = 1 << 22
"""The rewrite materializes a ones scale of the normalized shape; past this size (16 MB of f32) it refuses."""


def _sqrt_plus_eps(mean: Pattern) -> Op:
    return op("Sqrt", op("Add", mean, const("eps"), commutative=True))


def _normalized_axes(m: Match) -> int | str:
    """How many trailing axes the matched reductions normalize over, or a refusal reason."""
    x = m["x"]
    rank = len(x.shape)
    ks = set()
    for name in ("mean", "var"):
        node = m.get(name)
        if node is None:
            continue
        if node.attr("keepdims") != 1:
            return "a ReduceMean drops the reduced axes"
        if len(node.inputs) < 2 or node.inputs[1] is None or node.inputs[1].const is None:
            return "a ReduceMean's axes are not constant"
        k = trailing_axes(node.inputs[1].numpy(), rank)
        if k is None:
            return f"ReduceMean over axes {node.inputs[1].numpy().tolist()}, not the last axes of rank {rank}"
        ks.add(k)
    if len(ks) != 1:
        return "the two ReduceMeans reduce over different axes"
    k = ks.pop()
    if any(not isinstance(d, int) for d in x.shape[rank - k:]):
        return "the normalized dimensions are not static"
    if math.prod(x.shape[rank - k:]) > MAX_SCALE_ELEMENTS:
        return f"the normalized part has more than {MAX_SCALE_ELEMENTS} elements, too many for a ones scale"
    return k


def _check_norm(m: Match) -> str | None:
    reason = constants_keep_shape(m, m["x"])
    if reason is None and m.get("centered") is not None:
        reason = internal(m, m.node("centered").output)
    if reason is None:
        eps = m.const("eps")
        if eps.size != 1 or not float(eps.reshape(())) >= 0:
            return "epsilon is not a non-negative scalar"
    if reason is None:
        k = _normalized_axes(m)
        reason = k if isinstance(k, str) else None
    return reason


def _norm_rewrite(op_type: str) -> Callable[[Match, Builder], Value]:
    def rewrite(m: Match, b: Builder) -> Value:
        x = m["x"]
        k = _normalized_axes(m)
        assert isinstance(k, int)
        scale = b.const(np.ones(x.shape[len(x.shape) - k:], x.dtype.numpy))
        eps = float(m.const("eps").reshape(()))
        return b.op(op_type, [x, scale], {"axis": -k, "epsilon": eps})

    return rewrite


# the centered value feeds both the variance and the division: the same named pattern twice binds one node
_CENTERED = op("Sub", X, op("ReduceMean", X, const(), name="mean"), name="centered", shared=True)
_LN_DENOM = _sqrt_plus_eps(op("ReduceMean", either(op("Pow", _CENTERED, Near(2.0)), op("Mul", _CENTERED, _CENTERED)),
                              const(), name="var"))
_RMS_DENOM = _sqrt_plus_eps(op("ReduceMean", either(op("Mul", X, X), op("Pow", X, Near(2.0))), const(),
                               name="mean"))


# -- folding gamma and beta into the op ----------------------------------------------------------

def _fold_shape(c: np.ndarray, x: Value, axis: int) -> np.ndarray | None:
    """``c`` as an array of the normalized shape, when multiplying or adding it only varies over those axes."""
    rank = len(x.shape)
    norm_shape = tuple(x.shape[axis % rank:])
    if c.ndim > rank or any(not isinstance(d, int) for d in norm_shape):
        return None
    lead, tail = c.shape[:max(0, c.ndim - len(norm_shape))], c.shape[max(0, c.ndim - len(norm_shape)):]
    if any(d != 1 for d in lead) or any(t not in (1, n) for t, n in zip(tail[::-1], norm_shape[::-1])):
        return None
    return np.broadcast_to(c.reshape(tail), norm_shape)


def _check_fold(m: Match) -> str | None:
    node = m.node("norm")
    x = m["x"]
    reason = float_input(x)
    if reason is not None:
        return reason
    if any(o is not None and o.has_uses for o in node.outputs[1:]):
        return f"{node.op}'s statistics outputs are used"
    for name in ("scale", "bias"):
        if m.get(name) is not None and m[name].const is None:
            return f"the {node.op}'s {name} is not constant"
    c = m["c"]
    if c.dtype != x.dtype:
        return f"constant of dtype {c.dtype} next to a {x.dtype} tensor"
    if _fold_shape(c.numpy(), x, node.attr("axis")) is None:
        return f"constant of shape {list(c.numpy().shape)} varies over axes the {node.op} does not normalize"
    return None


def _folded(m: Match, b: Builder, *, multiply: bool) -> Value:
    node, x = m.node("norm"), m["x"]
    axis = node.attr("axis")
    c = _fold_shape(m.const("c"), x, axis)
    scale = _fold_shape(m.const("scale"), x, axis)
    assert c is not None and scale is not None, "the rule's check refuses constants that don't fold"
    bias = m.get("bias")
    bias_arr = None if bias is None else _fold_shape(bias.numpy(), x, axis)
    if multiply:
        scale = scale * c
        bias_arr = None if bias_arr is None else bias_arr * c
    else:
        bias_arr = c if bias_arr is None else bias_arr + c
    inputs = [x, b.const(np.ascontiguousarray(scale))]
    if bias_arr is not None:
        inputs.append(b.const(np.ascontiguousarray(bias_arr)))
    attrs = {"axis": axis, "epsilon": node.attr("epsilon")}
    if node.attr("stash_type") != 1:
        attrs["stash_type"] = node.attr("stash_type")
    return b.op(node.op, inputs, attrs)


def _fold_rules() -> list[Rule]:
    ln = op("LayerNormalization", X, const("scale"), optional("bias"), name="norm")
    rms = op("RMSNormalization", X, const("scale"), name="norm")
    return [
        Rule.define("layer-norm-gamma", op("Mul", ln, const("c"), commutative=True),
                    lambda m, b: _folded(m, b, multiply=True), _check_fold),
        Rule.define("layer-norm-beta", op("Add", ln, const("c"), commutative=True),
                    lambda m, b: _folded(m, b, multiply=False), _check_fold),
        Rule.define("rms-norm-gamma", op("Mul", rms, const("c"), commutative=True),
                    lambda m, b: _folded(m, b, multiply=True), _check_fold),
    ]


_LAYER_NORM, _RMS_NORM = _norm_rewrite("LayerNormalization"), _norm_rewrite("RMSNormalization")

# layer norm first: its Div(centered, ...) is also an RMS norm of the centered value
RULES = RuleSet([
    Rule.define("layer-norm", op("Div", _CENTERED, _LN_DENOM), _LAYER_NORM, _check_norm),
    Rule.define("layer-norm", op("Mul", _CENTERED, op("Reciprocal", _LN_DENOM), commutative=True), _LAYER_NORM,
                _check_norm),
    Rule.define("rms-norm", op("Div", X, _RMS_DENOM), _RMS_NORM, _check_norm),
    Rule.define("rms-norm", op("Mul", X, either(op("Reciprocal", _RMS_DENOM), op("Div", Near(1.0), _RMS_DENOM)),
                               commutative=True), _RMS_NORM, _check_norm),
    *_fold_rules(),
])
