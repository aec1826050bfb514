"""Written-out activations back to single ops: GELU (erf and tanh forms), HardSwish, Softmax.

SiLU (``x * Sigmoid(x)``) is deliberately left alone: ONNX's Swish exists only from opset 24, and ONNX
Runtime 1.31 has no kernel for it in models of opset 25 or 26 (measured), so emitting it breaks the default
output; the activation fusion recognizes ``Mul(x, Sigmoid(x))`` directly.
"""

from __future__ import annotations

import math

from graphopt.ir.core import Value
from graphopt.passes.optimize.patterns_common import Near, constants_keep_shape, either, internal
from graphopt.passes.rewrite import Builder, Match, Op, Pattern, Rule, RuleSet, const, op, var

X = var("x")


def _times_half(inner: Pattern) -> list[Op]:
    """``0.5 * x * (1 + inner)`` in the operand orders exporters produce."""
    one_plus = op("Add", inner, Near(1.0), commutative=True)
    return [
        op("Mul", op("Mul", X, one_plus, commutative=True), Near(0.5), commutative=True),
        op("Mul", op("Mul", X, Near(0.5), commutative=True), one_plus, commutative=True),
        op("Mul", X, op("Mul", one_plus, Near(0.5), commutative=True), commutative=True),
        op("Div", op("Mul", X, one_plus, commutative=True), Near(2.0)),
    ]


_ERF = op("Erf", either(op("Div", X, Near(math.sqrt(2.0))), op("Mul", X, Near(math.sqrt(0.5)), commutative=True)))
_CUBE = either(op("Pow", X, Near(3.0)), op("Mul", X, op("Mul", X, X), commutative=True))
_TANH = op("Tanh", op("Mul", Near(math.sqrt(2.0 / math.pi)),
                      op("Add", X, op("Mul", Near(0.044715), _CUBE, commutative=True), commutative=True),
                      commutative=True))


def _gelu_rules(name: str, inner: Op, approximate: str) -> list[Rule]:
    def rewrite(m: Match, b: Builder) -> Value:
        return b.op("Gelu", [m["x"]], {"approximate": approximate})

    return [Rule.define(name, p, rewrite, lambda m: constants_keep_shape(m, m["x"])) for p in _times_half(inner)]


# -- HardSwish: x * relu6(x + 3) / 6 ----------------------------------------------------------------

_RELU6 = op("Clip", op("Add", X, Near(3.0), commutative=True), Near(0.0), Near(6.0))
_HARD_SWISH_FORMS = [
    op("Div", op("Mul", X, _RELU6, commutative=True), Near(6.0)),
    op("Mul", op("Mul", X, _RELU6, commutative=True), Near(1 / 6), commutative=True),
    op("Mul", X, either(op("Div", _RELU6, Near(6.0)), op("Mul", _RELU6, Near(1 / 6), commutative=True)),
       commutative=True),
]


def _hard_swish(m: Match, b: Builder) -> Value:
    return b.op("HardSwish", [m["x"]])


def _check_hard_sigmoid(m: Match) -> str | None:
    node = m.node("hsig")
    alpha, beta = node.attr("alpha"), node.attr("beta")
    if not (math.isclose(alpha, 1 / 6, rel_tol=1e-6) and math.isclose(beta, 0.5, rel_tol=1e-6)):
        return f"HardSigmoid(alpha={alpha:g}, beta={beta:g}) is not relu6(x + 3) / 6"
    return constants_keep_shape(m, m["x"])


# -- Softmax: Exp(x) / ReduceSum(Exp(x)), and the max subtraction that softmax does not need ------

def _reduce_axis(m: Match, node_name: str, axes_name: str) -> int | str:
    """The single axis a keepdims reduction bound in ``m`` reduces, or a refusal reason."""
    rank = len(m["x"].shape)
    if m.node(node_name).attr("keepdims") != 1:
        return f"{m.node(node_name).op} drops the reduced axis"
    axes = m.const(axes_name)
    if axes.size != 1 or not -rank <= int(axes.reshape(-1)[0]) < rank:
        return f"{m.node(node_name).op} reduces over {axes.tolist()}, not one axis"
    return int(axes.reshape(-1)[0]) % rank


def _check_softmax(m: Match) -> str | None:
    reason = constants_keep_shape(m, m["x"]) or internal(m, m.node("exp").output)
    if reason is not None:
        return reason
    axis = _reduce_axis(m, "sum", "axes")
    return axis if isinstance(axis, str) else None


def _softmax(m: Match, b: Builder) -> Value:
    axis = _reduce_axis(m, "sum", "axes")
    assert isinstance(axis, int), "_check_softmax refuses other reductions"
    return b.op("Softmax", [m["x"]], {"axis": axis - len(m["x"].shape)})


def _check_shift(m: Match) -> str | None:
    reason = constants_keep_shape(m, m["x"])
    if reason is not None:
        return reason
    rank = len(m["x"].shape)
    axis = _reduce_axis(m, "max", "axes")
    if isinstance(axis, str):
        return axis
    if axis != m.node("softmax").attr("axis") % rank:
        return "the max is taken over another axis than the softmax"
    return None


def _unshifted_softmax(m: Match, b: Builder) -> Value:
    return b.op("Softmax", [m["x"]], {"axis": m.node("softmax").attr("axis")})


_EXP = op("Exp", X, name="exp", shared=True)

RULES = RuleSet([
    *_gelu_rules("gelu-erf", _ERF, "none"),
    *_gelu_rules("gelu-tanh", _TANH, "tanh"),
    *(Rule.define("hard-swish", p, _hard_swish, lambda m: constants_keep_shape(m, m["x"]))
      for p in _HARD_SWISH_FORMS),
    Rule.define("hard-swish", op("Mul", X, op("HardSigmoid", X, name="hsig"), commutative=True), _hard_swish,
                _check_hard_sigmoid),
    Rule.define("softmax", op("Div", _EXP, op("ReduceSum", _EXP, const("axes"), name="sum")), _softmax,
                _check_softmax),
    Rule.define("softmax-shift", op("Softmax", op("Sub", X, op("ReduceMax", X, const("axes"), name="max")),
                                    name="softmax"), _unshifted_softmax, _check_shift),
])
