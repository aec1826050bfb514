"""Kernels and shape inference for elementwise ops: math, activations, comparisons, logic, bitwise, Where.

Kernels keep ONNX's output dtypes exactly. Types numpy cannot compute in
(bfloat16, float8 … from ml_dtypes) are widened to float32 and rounded back;
transcendental functions also widen float16 and integers. Shape inference
broadcasts symbolic dims and carries the symbolic values of small integer
tensors through integer arithmetic, so shape computations stay symbolic.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from functools import reduce
from typing import Any

import numpy as np

from graphopt.errors import EvaluationError
from graphopt.ir.dtypes import DType
from graphopt.ir.inference import InferContext, SymValue, broadcast_shapes
from graphopt.ir.registry import kernel, shape_inference
from graphopt.ir.types import Dim, Shape, TensorType, Type, merge_types

# -- dtype helpers -----------------------------------------------------------------------

def _widen(a: np.ndarray) -> np.ndarray:
    """``a`` in a dtype numpy computes in: ml_dtypes types (bfloat16, float8 …) become float32."""
    return a.astype(np.float32) if a.dtype.kind == "V" else a


def _to_float(a: np.ndarray) -> np.ndarray:
    """``a`` as float32/float64 for transcendental math (integers take float64 to stay exact)."""
    if a.dtype in (np.float32, np.float64):
        return a
    return a.astype(np.float64 if a.dtype.kind in "iub" else np.float32)


def _run(fn: Callable[..., Any], *xs: np.ndarray, out: Any = None) -> np.ndarray:
    """``fn`` on widened inputs, returned in ``out`` (default: the first input's dtype)."""
    with np.errstate(all="ignore"):
        return np.asarray(fn(*(_widen(x) for x in xs))).astype(out or xs[0].dtype, copy=False)


def _float_run(fn: Callable[..., Any], *xs: np.ndarray, **attrs: Any) -> np.ndarray:
    """``fn`` in float32/float64, rounded back to the first input's dtype."""
    with np.errstate(all="ignore"):
        return np.asarray(fn(*(_to_float(x) for x in xs), **attrs)).astype(xs[0].dtype, copy=False)


# -- unary float math and activations --------------------------------------------------

_erf_scalar = np.frompyfunc(math.erf, 1, 1)


def _erf(x: np.ndarray) -> np.ndarray:
    return np.asarray(_erf_scalar(x.astype(np.float64)), dtype=np.float64)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))  # never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0, x)


def _gelu(x: np.ndarray, *, approximate: str) -> np.ndarray:
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


def _elu(x: np.ndarray, *, alpha: float) -> np.ndarray:
    return np.where(x < 0, alpha * np.expm1(x), x)


def _celu(x: np.ndarray, *, alpha: float) -> np.ndarray:
    return np.maximum(x, 0) + np.minimum(0, alpha * np.expm1(x / alpha))


def _selu(x: np.ndarray, *, alpha: float, gamma: float) -> np.ndarray:
    return gamma * np.where(x > 0, x, alpha * np.expm1(x))


def _hard_sigmoid(x: np.ndarray, *, alpha: float, beta: float) -> np.ndarray:
    return np.clip(alpha * x + beta, 0, 1)


def _shrink(x: np.ndarray, *, bias: float, lambd: float) -> np.ndarray:
    return np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, 0))


_FLOAT_UNARY: dict[str, Callable[..., Any]] = {
    "Acos": np.arccos, "Acosh": np.arccosh, "Asin": np.arcsin, "Asinh": np.arcsinh, "Atan": np.arctan,
    "Atanh": np.arctanh, "Ceil": np.ceil, "Cos": np.cos, "Cosh": np.cosh, "Erf": _erf, "Exp": np.exp,
    "Floor": np.floor, "Log": np.log, "Reciprocal": np.reciprocal, "Round": np.rint, "Sin": np.sin,
    "Sinh": np.sinh, "Sqrt": np.sqrt, "Tan": np.tan, "Tanh": np.tanh,
    "Sigmoid": _sigmoid, "Softplus": _softplus, "Softsign": lambda x: x / (1 + np.abs(x)),
    "Mish": lambda x: x * np.tanh(_softplus(x)), "Gelu": _gelu, "Elu": _elu, "Celu": _celu, "Selu": _selu,
    "HardSigmoid": _hard_sigmoid, "HardSwish": lambda x: x * np.clip(x / 6 + 0.5, 0, 1),
    "LeakyRelu": lambda x, *, alpha: np.where(x < 0, alpha * x, x),
    "ThresholdedRelu": lambda x, *, alpha: np.where(x > alpha, x, 0),
    "Swish": lambda x, *, alpha: x * _sigmoid(alpha * x), "Shrink": _shrink,
}


@kernel(*_FLOAT_UNARY)
def float_unary(ctx: Any, x: np.ndarray, **attrs: Any) -> np.ndarray:
    """Math functions and activations, computed in float32/float64."""
    return _float_run(_FLOAT_UNARY[ctx.node.op], x, **attrs)


_NUMERIC_UNARY: dict[str, Callable[[np.ndarray], Any]] = {
    "Abs": np.abs, "Neg": np.negative, "Sign": np.sign, "Relu": lambda x: np.maximum(x, 0),
    "BitwiseNot": np.invert, "Not": np.logical_not,
}


@kernel(*_NUMERIC_UNARY)
def numeric_unary(ctx: Any, x: np.ndarray) -> np.ndarray:
    """Unary ops that are exact in the input's own dtype (integers stay integers)."""
    return _run(_NUMERIC_UNARY[ctx.node.op], x)


@kernel("IsNaN")
def is_nan(x: np.ndarray) -> np.ndarray:
    return np.isnan(_widen(x))


@kernel("IsInf")
def is_inf(x: np.ndarray, *, detect_negative: int, detect_positive: int) -> np.ndarray:
    x = _widen(x)
    return (np.isposinf(x) & bool(detect_positive)) | (np.isneginf(x) & bool(detect_negative))


@kernel("Clip")
def clip(x: np.ndarray, low: np.ndarray | None = None, high: np.ndarray | None = None) -> np.ndarray:
    def bound(v: np.ndarray) -> np.ndarray:
        if low is not None:
            v = np.maximum(v, _widen(low))
        return v if high is None else np.minimum(v, _widen(high))

    return _run(bound, x)


@kernel("Identity")
def identity(x: Any) -> Any:
    return x


@kernel("Dropout")
def dropout(ctx: Any, data: np.ndarray, ratio: np.ndarray | None = None,
            training_mode: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Inference dropout: the data unchanged and a mask of ones. Training mode (random) is refused."""
    if training_mode is not None and bool(training_mode) and (ratio is None or float(ratio) != 0):
        raise EvaluationError(f"{ctx.node.label}: Dropout in training mode is random and graphopt's reference "
                              "interpreter does not evaluate it; feed training_mode=false or drop the input")
    return data, np.ones(data.shape, np.bool_) if ctx.output_present(1) else None


@kernel("SwiGLU")
def swiglu(a: np.ndarray, b: np.ndarray, *, alpha: float) -> np.ndarray:
    return _float_run(lambda x, y: x * _sigmoid(alpha * x) * y, a, b)


# -- binary and variadic ops -----------------------------------------------------------

_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], Any]] = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply,
    "BitwiseAnd": np.bitwise_and, "BitwiseOr": np.bitwise_or, "BitwiseXor": np.bitwise_xor,
    "And": np.logical_and, "Or": np.logical_or, "Xor": np.logical_xor,
    "PRelu": lambda x, slope: np.where(x < 0, x * slope, x),
}


@kernel(*_BINARY)
def binary(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _run(_BINARY[ctx.node.op], a, b)


@kernel("Div")
def div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """True division for floats; integers truncate toward zero as in C."""
    if a.dtype.kind in "iu":
        return _run(lambda x, y: (x - np.fmod(x, y)) // y, a, b)
    return _run(np.true_divide, a, b)


@kernel("Mod")
def mod(a: np.ndarray, b: np.ndarray, *, fmod: int) -> np.ndarray:
    """``fmod=0``: the result takes the divisor's sign (Python's %); ``fmod=1``: the dividend's (C's fmod)."""
    return _run(np.fmod if fmod else np.mod, a, b)


@kernel("Pow")
def pow_(base: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """``base ** exponent`` in the base's dtype."""
    if base.dtype.kind in "iu" and exponent.dtype.kind in "iu":
        return _run(_int_pow, base, exponent)
    if base.dtype == exponent.dtype == np.float32:
        return _run(np.power, base, exponent)
    return _run(lambda x, y: np.power(x.astype(np.float64), y.astype(np.float64)), base, exponent)


def _int_pow(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Integer power; a negative exponent gives the truncated reciprocal (0 unless the base is ±1)."""
    negative = np.where(x == 1, 1, np.where(x == -1, np.where(y % 2 == 0, 1, -1), 0))
    return np.where(y < 0, negative, np.power(x, np.maximum(y, 0)))


@kernel("BitShift")
def bit_shift(x: np.ndarray, y: np.ndarray, *, direction: str) -> np.ndarray:
    return _run(np.left_shift if direction == "LEFT" else np.right_shift, x, y)


_COMPARE: dict[str, Callable[[np.ndarray, np.ndarray], Any]] = {
    "Equal": np.equal, "Greater": np.greater, "GreaterOrEqual": np.greater_equal,
    "Less": np.less, "LessOrEqual": np.less_equal,
}


@kernel(*_COMPARE)
def compare(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype == object:
        a, b = _as_text(a), _as_text(b)
    return _run(_COMPARE[ctx.node.op], a, b, out=np.bool_)


def _as_text(a: np.ndarray) -> np.ndarray:
    """A string tensor with every item as ``str`` (protos give ``bytes``, kernels make ``str``)."""
    items = [s.decode() if isinstance(s, bytes) else s for s in a.flat]
    return np.array(items, dtype=object).reshape(a.shape)


_VARIADIC: dict[str, Callable[..., Any]] = {
    "Max": lambda *xs: reduce(np.maximum, xs), "Min": lambda *xs: reduce(np.minimum, xs),
    "Sum": lambda *xs: reduce(np.add, xs), "Mean": lambda *xs: reduce(np.add, xs) / len(xs),
}


@kernel(*_VARIADIC)
def variadic(ctx: Any, *xs: np.ndarray) -> np.ndarray:
    return _run(_VARIADIC[ctx.node.op], *xs)


@kernel("Where")
def where(condition: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.where(condition, x, y)


# -- shape inference -------------------------------------------------------------------

def _tensor(dtype: DType | None, shape: Shape) -> Type:
    if dtype is None and shape is None:
        return None
    return TensorType(DType.UNDEFINED if dtype is None else dtype, shape)


def _broadcast(ctx: InferContext) -> Shape:
    shapes = [ctx.shape(i) for i in range(ctx.num_inputs) if ctx.has_input(i)]
    return broadcast_shapes(shapes, where=ctx.node.label)


def _first_dtype(ctx: InferContext, *indices: int) -> DType | None:
    return next((d for d in map(ctx.dtype, indices) if d is not None), None)


@shape_inference(*_FLOAT_UNARY, *_NUMERIC_UNARY, "Clip")
def _same_as_input(ctx: InferContext) -> list[Type]:
    return [ctx.tensor_type(0)]


@shape_inference("IsNaN", "IsInf")
def _bool_like_input(ctx: InferContext) -> list[Type]:
    return [TensorType(DType.BOOL, ctx.shape(0))]


@shape_inference("Identity")
def _identity(ctx: InferContext) -> list[Type]:
    sym = ctx.sym(0)
    if sym is not None:
        ctx.set_sym(0, sym)
    return [ctx.type(0)]


@shape_inference("Dropout")
def _dropout(ctx: InferContext) -> list[Type]:
    types: list[Type] = [ctx.tensor_type(0), TensorType(DType.BOOL, ctx.shape(0))]
    return types[: ctx.num_outputs]


@shape_inference("SwiGLU")
def _swiglu(ctx: InferContext) -> list[Type]:
    return [merge_types(ctx.tensor_type(0), ctx.tensor_type(1))]


@shape_inference(*_BINARY, *_VARIADIC, "Div", "Mod", "Pow", "BitShift")
def _broadcast_same(ctx: InferContext) -> list[Type]:
    """Broadcast shape; dtype of the first input (Pow's exponent may differ, every other op has one T)."""
    indices = (0,) if ctx.node.op == "Pow" else tuple(range(ctx.num_inputs))
    dtype = _first_dtype(ctx, *indices)
    if dtype is not None and dtype.is_integer and ctx.node.op in _SYM_ARITH and ctx.num_inputs == 2:
        _propagate_sym(ctx)
    return [_tensor(dtype, _broadcast(ctx))]


@shape_inference(*_COMPARE)
def _compare(ctx: InferContext) -> list[Type]:
    if ctx.node.op == "Equal":
        _propagate_equal_sym(ctx)
    return [TensorType(DType.BOOL, _broadcast(ctx))]


def _propagate_equal_sym(ctx: InferContext) -> None:
    """Equal on shape values, as 0/1 items: exporters write ``Where(Equal(shape, -1), …)`` to patch shapes."""
    a, b = ctx.sym(0), ctx.sym(1)
    pairs = None if a is None or b is None else _zip_broadcast(a, b)
    if pairs is not None:
        ctx.set_sym(0, tuple(_equal_item(x, y) for x, y in pairs))


def _equal_item(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return int(a == b)
    if isinstance(a, str) and a == b:
        return 1
    # a symbol is a dim, never negative
    if (isinstance(a, str) and isinstance(b, int) and b < 0) or (isinstance(b, str) and isinstance(a, int) and a < 0):
        return 0
    return None


@shape_inference("Where")
def _where(ctx: InferContext) -> list[Type]:
    cond, x, y = ctx.sym(0), ctx.sym(1), ctx.sym(2)
    if cond is None and (c := ctx.const(0)) is not None and c.ndim <= 1 and c.size <= 64:
        cond = tuple(int(bool(v)) for v in c.reshape(-1))
    if cond is not None and None not in cond and x is not None and y is not None:
        picked = _zip_broadcast(cond, x, y)
        if picked is not None:
            ctx.set_sym(0, tuple(a if c else b for c, a, b in picked))
    return [_tensor(_first_dtype(ctx, 1, 2), _broadcast(ctx))]


# -- symbolic values through integer arithmetic ----------------------------------------

def _trunc_div(a: int, b: int) -> int | None:
    if b == 0:
        return None
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


_SYM_ARITH: dict[str, Callable[[int, int], int | None]] = {
    "Add": operator.add, "Sub": operator.sub, "Mul": operator.mul, "Div": _trunc_div, "Max": max, "Min": min,
}


def _sym_item(op: str, a: Dim, b: Dim) -> Dim:
    """One element of ``a <op> b``: computed for ints, kept for a symbol where the other side is neutral."""
    if isinstance(a, int) and isinstance(b, int):
        return _SYM_ARITH[op](a, b)
    if (op in ("Add", "Sub") and b == 0) or (op in ("Mul", "Div") and b == 1) or (op in ("Max", "Min") and a == b):
        return a
    if op == "Sub" and a == b and a is not None:
        return 0
    if (op == "Add" and a == 0) or (op == "Mul" and a == 1):
        return b
    return None


def _zip_broadcast(*items: tuple[Any, ...]) -> list[tuple[Any, ...]] | None:
    """Element tuples of 1-D values broadcast to a common length, or None when lengths clash."""
    n = max(len(t) for t in items)
    if any(len(t) not in (1, n) for t in items):
        return None
    return list(zip(*(t * n if len(t) == 1 else t for t in items), strict=True))


def _propagate_sym(ctx: InferContext) -> None:
    a, b = ctx.sym(0), ctx.sym(1)
    if a is None or b is None:
        return
    pairs = _zip_broadcast(a, b)
    if pairs is not None:
        result: SymValue = tuple(_sym_item(ctx.node.op, x, y) for x, y in pairs)
        if any(d is not None for d in result):
            ctx.set_sym(0, result)
