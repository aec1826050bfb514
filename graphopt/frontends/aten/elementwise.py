"""Element-wise ATen ops: math, activations, arithmetic with torch's type promotion, comparisons."""

from __future__ import annotations

import math
from collections.abc import Callable

from graphopt.frontends.aten.common import (
    DEFAULT_FLOAT,
    Scalar,
    cast,
    dtype_of,
    ints,
    promote,
    rank_of,
    result_dtype,
    scalar,
)
from graphopt.frontends.aten.indexing import nonzero_numpy
from graphopt.frontends.aten.registry import Lowering, converter
from graphopt.ir.core import Value
from graphopt.ir.dtypes import DType


def floating(cx: Lowering, x: Value) -> Value:
    """``x`` as a float tensor: ops like exp and sqrt turn integer inputs into torch's default dtype."""
    dt = dtype_of(x)
    return x if dt.is_float else cast(cx, x, DEFAULT_FLOAT)


# -- unary --------------------------------------------------------------------------------------

_FLOAT_UNARY = {
    "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "sin": "Sin", "cos": "Cos", "tan": "Tan", "asin": "Asin",
    "acos": "Acos", "atan": "Atan", "sinh": "Sinh", "cosh": "Cosh", "asinh": "Asinh", "acosh": "Acosh",
    "atanh": "Atanh", "tanh": "Tanh", "sigmoid": "Sigmoid", "erf": "Erf", "reciprocal": "Reciprocal",
}
"""ATen op → ONNX op, for ops whose result is floating even on integer inputs."""
_ROUNDING = {"ceil": "Ceil", "floor": "Floor", "round": "Round"}
"""Rounding ops: the identity on integer tensors."""
_SAME_TYPE_UNARY = {"abs": "Abs", "neg": "Neg", "relu": "Relu", "sign": "Sign"}


def _unary(op: str, to_float: bool) -> Callable[[Lowering, Value], Value]:
    def convert(cx: Lowering, x: Value) -> Value:
        return cx.op(op, [floating(cx, x) if to_float else x])

    return convert


def _rounding(op: str) -> Callable[..., Value]:
    def convert(cx: Lowering, x: Value, decimals: int = 0) -> Value:
        if not dtype_of(x).is_float:
            return x
        if decimals == 0:
            return cx.op(op, [x])
        factor = scalar(cx, 10.0 ** decimals, dtype_of(x))
        return cx.op("Div", [cx.op(op, [cx.op("Mul", [x, factor])]), factor])

    return convert


for _name, _op in _FLOAT_UNARY.items():
    converter(f"aten::{_name}")(_unary(_op, to_float=True))
for _name, _op in _SAME_TYPE_UNARY.items():
    converter(f"aten::{_name}")(_unary(_op, to_float=False))
for _name, _op in _ROUNDING.items():
    converter(f"aten::{_name}")(_rounding(_op))


@converter("aten::rsqrt")
def rsqrt(cx: Lowering, x: Value) -> Value:
    return cx.op("Reciprocal", [cx.op("Sqrt", [floating(cx, x)])])


@converter("aten::trunc")
def trunc(cx: Lowering, x: Value) -> Value:
    if not dtype_of(x).is_float:
        return x
    negative = cx.op("Less", [x, scalar(cx, 0, dtype_of(x))])
    return cx.op("Where", [negative, cx.op("Ceil", [x]), cx.op("Floor", [x])])


@converter("aten::log1p")
def log1p(cx: Lowering, x: Value) -> Value:
    x = floating(cx, x)
    return cx.op("Log", [cx.op("Add", [x, scalar(cx, 1, dtype_of(x))])])


@converter("aten::expm1")
def expm1(cx: Lowering, x: Value) -> Value:
    x = floating(cx, x)
    return cx.op("Sub", [cx.op("Exp", [x]), scalar(cx, 1, dtype_of(x))])


def _log_base(base: float) -> Callable[[Lowering, Value], Value]:
    def convert(cx: Lowering, x: Value) -> Value:
        x = floating(cx, x)
        return cx.op("Div", [cx.op("Log", [x]), scalar(cx, math.log(base), dtype_of(x))])

    return convert


converter("aten::log2")(_log_base(2.0))
converter("aten::log10")(_log_base(10.0))


@converter("aten::isnan")
def isnan(cx: Lowering, x: Value) -> Value:
    return cx.op("IsNaN", [floating(cx, x)])


@converter("aten::isinf")
def isinf(cx: Lowering, x: Value) -> Value:
    return cx.op("IsInf", [floating(cx, x)])


@converter("aten::logical_not")
def logical_not(cx: Lowering, x: Value) -> Value:
    return cx.op("Not", [cast(cx, x, DType.BOOL)])


@converter("aten::bitwise_not")
def bitwise_not(cx: Lowering, x: Value) -> Value:
    return cx.op("Not" if dtype_of(x) == DType.BOOL else "BitwiseNot", [x])


# -- activations --------------------------------------------------------------------------------

@converter("aten::gelu")
def gelu(cx: Lowering, x: Value, approximate: str = "none") -> Value:
    return cx.op("Gelu", [x], {"approximate": approximate})


@converter("aten::silu")
def silu(cx: Lowering, x: Value) -> Value:
    return cx.op("Mul", [x, cx.op("Sigmoid", [x])])


@converter("aten::mish")
def mish(cx: Lowering, x: Value) -> Value:
    return cx.op("Mish", [x])


@converter("aten::hardswish")
def hardswish(cx: Lowering, x: Value) -> Value:
    return cx.op("HardSwish", [x])


@converter("aten::hardsigmoid")
def hardsigmoid(cx: Lowering, x: Value) -> Value:
    return cx.op("HardSigmoid", [x], {"alpha": 1.0 / 6.0, "beta": 0.5})


@converter("aten::leaky_relu")
def leaky_relu(cx: Lowering, x: Value, negative_slope: float = 0.01) -> Value:
    return cx.op("LeakyRelu", [x], {"alpha": float(negative_slope)})


@converter("aten::elu")
def elu(cx: Lowering, x: Value, alpha: float = 1.0, scale: float = 1.0, input_scale: float = 1.0) -> Value:
    if scale == 1 and input_scale == 1:
        return cx.op("Elu", [x], {"alpha": float(alpha)})
    dt = dtype_of(x)
    scaled = cx.op("Mul", [x, scalar(cx, input_scale, dt)])
    negative = cx.op("Mul", [cx.op("Sub", [cx.op("Exp", [scaled]), scalar(cx, 1, dt)]), scalar(cx, alpha, dt)])
    positive = cx.op("Greater", [x, scalar(cx, 0, dt)])
    return cx.op("Mul", [cx.op("Where", [positive, x, negative]), scalar(cx, scale, dt)])


@converter("aten::softplus")
def softplus(cx: Lowering, x: Value, beta: float = 1.0, threshold: float = 20.0) -> Value:
    dt = dtype_of(x)
    scaled = x if beta == 1 else cx.op("Mul", [x, scalar(cx, beta, dt)])
    soft = cx.op("Softplus", [scaled])
    if beta != 1:
        soft = cx.op("Div", [soft, scalar(cx, beta, dt)])
    linear = cx.op("Greater", [scaled, scalar(cx, threshold, dt)])
    return cx.op("Where", [linear, x, soft])


@converter("aten::hardtanh")
def hardtanh(cx: Lowering, x: Value, min_val: float = -1.0, max_val: float = 1.0) -> Value:
    dt = dtype_of(x)
    return cx.op("Clip", [x, scalar(cx, min_val, dt), scalar(cx, max_val, dt)])


@converter("aten::prelu")
def prelu(cx: Lowering, x: Value, weight: Value) -> Value:
    rank = rank_of(x)
    if rank_of(weight) == 1 and rank > 2:  # one slope per channel (dim 1)
        weight = cx.op("Unsqueeze", [weight, ints(cx, list(range(1, rank - 1)))])
    return cx.op("PRelu", [x, weight])


@converter("aten::_prelu_kernel")
def prelu_kernel(cx: Lowering, x: Value, weight: Value) -> Value:
    """The weight is already shaped to broadcast."""
    return cx.op("PRelu", [x, weight])


@converter("aten::clamp", "aten::clip")
def clamp(cx: Lowering, x: Value, min: Value | Scalar | None = None, max: Value | Scalar | None = None) -> Value:
    dt = result_dtype(x, min, max)
    x = cast(cx, x, dt)
    if not isinstance(min, Value) and not isinstance(max, Value):
        lo = None if min is None else scalar(cx, min, dt)
        hi = None if max is None else scalar(cx, max, dt)
        return cx.op("Clip", [x, lo, hi])
    if min is not None:
        x = cx.op("Max", [x, *promote(cx, min, dtype=dt)])
    if max is not None:
        x = cx.op("Min", [x, *promote(cx, max, dtype=dt)])
    return x


@converter("aten::clamp_min")
def clamp_min(cx: Lowering, x: Value, min: Value | Scalar) -> Value:
    return clamp(cx, x, min, None)


@converter("aten::clamp_max")
def clamp_max(cx: Lowering, x: Value, max: Value | Scalar) -> Value:
    return clamp(cx, x, None, max)


# -- binary arithmetic --------------------------------------------------------------------------

def _scaled(cx: Lowering, v: Value | Scalar, alpha: Scalar) -> Value | Scalar:
    if alpha == 1:
        return v
    if isinstance(v, Value):
        return cx.op("Mul", [v, scalar(cx, alpha, dtype_of(v))])
    return v * alpha


@converter("aten::add")
def add(cx: Lowering, x: Value | Scalar, other: Value | Scalar, alpha: Scalar = 1) -> Value:
    return cx.op("Add", promote(cx, x, _scaled(cx, other, alpha)))


@converter("aten::sub")
def sub(cx: Lowering, x: Value | Scalar, other: Value | Scalar, alpha: Scalar = 1) -> Value:
    return cx.op("Sub", promote(cx, x, _scaled(cx, other, alpha)))


@converter("aten::rsub")
def rsub(cx: Lowering, x: Value, other: Value | Scalar, alpha: Scalar = 1) -> Value:
    return cx.op("Sub", promote(cx, other, _scaled(cx, x, alpha)))


@converter("aten::mul")
def mul(cx: Lowering, x: Value | Scalar, other: Value | Scalar) -> Value:
    dt = result_dtype(x, other)
    if dt == DType.BOOL:
        return cx.op("And", promote(cx, x, other, dtype=dt))
    return cx.op("Mul", promote(cx, x, other, dtype=dt))


@converter("aten::div")
def div(cx: Lowering, x: Value | Scalar, other: Value | Scalar, rounding_mode: str | None = None) -> Value:
    dt = result_dtype(x, other)
    if rounding_mode is None:
        a, b = promote(cx, x, other, dtype=dt if dt.is_float else DEFAULT_FLOAT)
        return cx.op("Div", [a, b])
    a, b = promote(cx, x, other, dtype=dt)
    if rounding_mode == "trunc":
        return trunc(cx, cx.op("Div", [a, b])) if dt.is_float else cx.op("Div", [a, b])
    if dt.is_float:
        return cx.op("Floor", [cx.op("Div", [a, b])])
    # floor division of integers: subtract the floored remainder, then divide exactly
    return cx.op("Div", [cx.op("Sub", [a, cx.op("Mod", [a, b], {"fmod": 0})]), b])


@converter("aten::floor_divide")
def floor_divide(cx: Lowering, x: Value, other: Value | Scalar) -> Value:
    return div(cx, x, other, "floor")


@converter("aten::remainder")
def remainder(cx: Lowering, x: Value | Scalar, other: Value | Scalar) -> Value:
    dt = result_dtype(x, other)
    a, b = promote(cx, x, other, dtype=dt)
    if not dt.is_float:
        return cx.op("Mod", [a, b], {"fmod": 0})
    # Python's modulo for floats (ONNX Mod with fmod=0 is integer-only): a - floor(a / b) * b
    return cx.op("Sub", [a, cx.op("Mul", [cx.op("Floor", [cx.op("Div", [a, b])]), b])])


@converter("aten::fmod")
def fmod(cx: Lowering, x: Value, other: Value | Scalar) -> Value:
    return cx.op("Mod", promote(cx, x, other), {"fmod": 1})


@converter("aten::pow")
def pow_(cx: Lowering, x: Value | Scalar, exponent: Value | Scalar) -> Value:
    return cx.op("Pow", promote(cx, x, exponent))


@converter("aten::maximum", "aten::fmax")
def maximum(cx: Lowering, x: Value, other: Value) -> Value:
    return cx.op("Max", promote(cx, x, other))


@converter("aten::minimum", "aten::fmin")
def minimum(cx: Lowering, x: Value, other: Value) -> Value:
    return cx.op("Min", promote(cx, x, other))


@converter("aten::atan2")
def atan2(cx: Lowering, y: Value, x: Value) -> Value:
    dt = result_dtype(y, x)
    y, x = promote(cx, y, x, dtype=dt if dt.is_float else DEFAULT_FLOAT)
    ft = dtype_of(y)
    zero, pi = scalar(cx, 0, ft), scalar(cx, math.pi, ft)
    base = cx.op("Atan", [cx.op("Div", [y, x])])
    # quadrant fix-up where x < 0: add pi (y >= 0) or subtract it (y < 0)
    shift = cx.op("Where", [cx.op("Less", [y, zero]), cx.op("Neg", [pi]), pi])
    shifted = cx.op("Add", [base, shift])
    at_zero = cx.op("Mul", [cx.op("Sign", [y]), scalar(cx, math.pi / 2, ft)])
    left = cx.op("Where", [cx.op("Less", [x, zero]), shifted, base])
    return cx.op("Where", [cx.op("Equal", [x, zero]), at_zero, left])


# -- comparisons and logic ----------------------------------------------------------------------

_COMPARISONS = {"eq": "Equal", "lt": "Less", "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual"}


def _compare(op: str) -> Callable[[Lowering, Value | Scalar, Value | Scalar], Value]:
    def convert(cx: Lowering, x: Value | Scalar, other: Value | Scalar) -> Value:
        return cx.op(op, promote(cx, x, other))

    return convert


for _name, _op in _COMPARISONS.items():
    converter(f"aten::{_name}")(_compare(_op))


@converter("aten::ne")
def ne(cx: Lowering, x: Value | Scalar, other: Value | Scalar) -> Value:
    return cx.op("Not", [cx.op("Equal", promote(cx, x, other))])


def _logical(op: str) -> Callable[[Lowering, Value, Value], Value]:
    def convert(cx: Lowering, x: Value, other: Value) -> Value:
        return cx.op(op, promote(cx, x, other, dtype=DType.BOOL))

    return convert


def _bitwise(bool_op: str, int_op: str) -> Callable[[Lowering, Value | Scalar, Value | Scalar], Value]:
    def convert(cx: Lowering, x: Value | Scalar, other: Value | Scalar) -> Value:
        dt = result_dtype(x, other)
        return cx.op(bool_op if dt == DType.BOOL else int_op, promote(cx, x, other, dtype=dt))

    return convert


for _name, _op in (("and", "And"), ("or", "Or"), ("xor", "Xor")):
    converter(f"aten::logical_{_name}")(_logical(_op))
    converter(f"aten::bitwise_{_name}")(_bitwise(_op, f"Bitwise{_op}"))


@converter("aten::where")
def where(cx: Lowering, condition: Value, x: Value | Scalar | None = None,
          other: Value | Scalar | None = None) -> Value | tuple[Value, ...]:
    if x is None or other is None:  # where(condition): the indices of the True elements, one tensor per dim
        return nonzero_numpy(cx, condition)
    return cx.op("Where", [cast(cx, condition, DType.BOOL), *promote(cx, x, other)])


@converter("aten::masked_fill")
def masked_fill(cx: Lowering, x: Value, mask: Value, value: Value | Scalar) -> Value:
    dt = dtype_of(x)
    fill = cast(cx, value, dt) if isinstance(value, Value) else scalar(cx, value, dt)
    return cx.op("Where", [cast(cx, mask, DType.BOOL), fill, x])
