"""Reductions: sum, mean, prod, amax/amin, max/min, var/std, argmax/argmin, any/all, cumsum, logsumexp."""

from __future__ import annotations

from collections.abc import Sequence

from graphopt.errors import UnsupportedOpError
from graphopt.frontends.aten.common import (
    Scalar,
    axis,
    cast,
    dim_size,
    dtype_of,
    ints,
    promote,
    rank_of,
    scalar,
    to_dtype,
)
from graphopt.frontends.aten.elementwise import floating, maximum, minimum
from graphopt.frontends.aten.registry import Converter, Lowering, converter
from graphopt.ir.core import Value
from graphopt.ir.dtypes import DType

Dims = int | Sequence[int] | None


def _axes(x: Value, dim: Dims) -> list[int]:
    """Reduced axes, non-negative; ``[]`` means every axis (as torch's ``dim=None`` or ``[]``)."""
    rank = rank_of(x)
    dims = [] if dim is None else [dim] if isinstance(dim, int) else list(dim)
    return sorted(axis(d, rank) for d in dims)


def _reduce(cx: Lowering, op: str, x: Value, dim: Dims, keepdim: bool) -> Value:
    axes = _axes(x, dim)
    if rank_of(x) == 0:
        return x
    inputs = [x] + ([ints(cx, axes)] if axes else [])
    return cx.op(op, inputs, {"keepdims": int(keepdim)})


def _accumulator(cx: Lowering, x: Value, dtype: object) -> Value:
    """sum/prod/cumsum accumulate bools and integers in int64 unless a dtype is given."""
    if dtype is not None:
        return cast(cx, x, to_dtype(dtype))
    dt = dtype_of(x)
    return x if dt.is_float or dt in (DType.COMPLEX64, DType.COMPLEX128) else cast(cx, x, DType.INT64)


@converter("aten::sum")
def sum_(cx: Lowering, x: Value, dim: Dims = None, keepdim: bool = False, dtype: object = None) -> Value:
    if not isinstance(dim, (int, list, tuple)) and dim is not None:  # sum.default(self, dtype)
        dim, dtype = None, dim
    return _reduce(cx, "ReduceSum", _accumulator(cx, x, dtype), dim, keepdim)


@converter("aten::prod")
def prod(cx: Lowering, x: Value, dim: Dims = None, keepdim: bool = False, dtype: object = None) -> Value:
    if not isinstance(dim, (int, list, tuple)) and dim is not None:
        dim, dtype = None, dim
    return _reduce(cx, "ReduceProd", _accumulator(cx, x, dtype), dim, keepdim)


@converter("aten::mean")
def mean(cx: Lowering, x: Value, dim: Dims = None, keepdim: bool = False, dtype: object = None) -> Value:
    if not isinstance(dim, (int, list, tuple)) and dim is not None:
        dim, dtype = None, dim
    if dtype is not None:
        x = cast(cx, x, to_dtype(dtype))
    return _reduce(cx, "ReduceMean", x, dim, keepdim)


@converter("aten::amax")
def amax(cx: Lowering, x: Value, dim: Dims = (), keepdim: bool = False) -> Value:
    return _reduce(cx, "ReduceMax", x, dim, keepdim)


@converter("aten::amin")
def amin(cx: Lowering, x: Value, dim: Dims = (), keepdim: bool = False) -> Value:
    return _reduce(cx, "ReduceMin", x, dim, keepdim)


def _extreme(op: str, arg_op: str, binary: object) -> Converter:
    """max/min in all three overloads: of everything, along a dim (values and indices), of two tensors."""

    def convert(cx: Lowering, x: Value, dim_or_other: int | Value | None = None,
                keepdim: bool = False) -> Value | tuple[Value, Value]:
        if isinstance(dim_or_other, Value):
            return binary(cx, x, dim_or_other)  # type: ignore[operator]
        if dim_or_other is None:
            return _reduce(cx, op, x, None, False)
        d = axis(dim_or_other, rank_of(x))
        values = _reduce(cx, op, x, d, keepdim)
        indices = cx.op(arg_op, [x], {"axis": d, "keepdims": int(keepdim)})
        return values, indices

    return convert


converter("aten::max")(_extreme("ReduceMax", "ArgMax", maximum))
converter("aten::min")(_extreme("ReduceMin", "ArgMin", minimum))


def _arg(op: str) -> Converter:
    def convert(cx: Lowering, x: Value, dim: int | None = None, keepdim: bool = False) -> Value:
        if dim is not None:
            return cx.op(op, [x], {"axis": axis(dim, rank_of(x)), "keepdims": int(keepdim)})
        rank = rank_of(x)
        flat = cx.op(op, [cx.op("Reshape", [x, ints(cx, [-1])])], {"axis": 0, "keepdims": 0})
        return cx.op("Reshape", [flat, ints(cx, [1] * rank)]) if keepdim else flat

    return convert


converter("aten::argmax")(_arg("ArgMax"))
converter("aten::argmin")(_arg("ArgMin"))


def _count(cx: Lowering, x: Value, axes: list[int]) -> Value:
    """How many elements a reduction over ``axes`` (all when empty) combines, as a float scalar."""
    dims = axes or list(range(rank_of(x)))
    sizes = [dim_size(cx, x, d) for d in dims]
    dt = dtype_of(x)
    if all(isinstance(s, int) for s in sizes):
        total = 1
        for s in sizes:
            total *= s  # type: ignore[operator]
        return scalar(cx, total, dt)
    product = cx.op("ReduceProd", [ints(cx, sizes)], {"keepdims": 0})
    return cast(cx, product, dt)


def _variance(cx: Lowering, x: Value, dim: Dims, correction: Scalar, keepdim: bool) -> Value:
    x = floating(cx, x)
    axes = _axes(x, dim)
    centered = cx.op("Sub", [x, _reduce(cx, "ReduceMean", x, axes, True)])
    squares = _reduce(cx, "ReduceSum", cx.op("Mul", [centered, centered]), axes, keepdim)
    if correction == 0:
        return cx.op("Div", [squares, _count(cx, x, axes)])
    count = cx.op("Sub", [_count(cx, x, axes), scalar(cx, correction, dtype_of(x))])
    return cx.op("Div", [squares, count])


def _correction(args: tuple[object, ...], correction: Scalar | None) -> tuple[Dims, Scalar, bool]:
    """var/std's overloads: (dim, unbiased, keepdim), (unbiased,), or (dim, *, correction, keepdim)."""
    dim: Dims = None
    unbiased: bool | None = None
    keepdim = False
    rest = list(args)
    if rest and isinstance(rest[0], bool):
        unbiased = bool(rest.pop(0))
    elif rest:
        dim = rest.pop(0)  # type: ignore[assignment]
    if rest and isinstance(rest[0], bool) and len(rest) == 2:
        unbiased = bool(rest.pop(0))
    if rest:
        keepdim = bool(rest.pop(0))
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    return dim, correction, keepdim


@converter("aten::var")
def var(cx: Lowering, x: Value, *args: object, correction: Scalar | None = None, keepdim: bool = False) -> Value:
    dim, corr, keep = _correction(args, correction)
    return _variance(cx, x, dim, corr, keep or keepdim)


@converter("aten::std")
def std(cx: Lowering, x: Value, *args: object, correction: Scalar | None = None, keepdim: bool = False) -> Value:
    dim, corr, keep = _correction(args, correction)
    return cx.op("Sqrt", [_variance(cx, x, dim, corr, keep or keepdim)])


def _boolean(op: str) -> Converter:
    def convert(cx: Lowering, x: Value, dim: Dims = None, keepdim: bool = False) -> Value:
        truth = x if dtype_of(x) == DType.BOOL else cx.op("Not", [cx.op("Equal", promote(cx, x, 0, dtype=dtype_of(x)))])
        as_int = cast(cx, truth, DType.INT32)  # ReduceMax/Min on bool is newer than most runtimes
        return cast(cx, _reduce(cx, op, as_int, dim, keepdim), DType.BOOL)

    return convert


converter("aten::any")(_boolean("ReduceMax"))
converter("aten::all")(_boolean("ReduceMin"))


@converter("aten::cumsum")
def cumsum(cx: Lowering, x: Value, dim: int, dtype: object = None) -> Value:
    x = _accumulator(cx, x, dtype)
    return cx.op("CumSum", [x, scalar(cx, axis(dim, rank_of(x)), DType.INT64)])


@converter("aten::logsumexp")
def logsumexp(cx: Lowering, x: Value, dim: Sequence[int], keepdim: bool = False) -> Value:
    return _reduce(cx, "ReduceLogSumExp", floating(cx, x), dim, keepdim)


@converter("aten::linalg_vector_norm", "aten::norm")
def vector_norm(cx: Lowering, x: Value, ord: Scalar | None = 2, dim: Dims = None, keepdim: bool = False,
                dtype: object = None) -> Value:
    x = floating(cx, x) if dtype is None else cast(cx, x, to_dtype(dtype))
    p = 2 if ord is None else ord
    if p == 2:
        return _reduce(cx, "ReduceL2", x, dim, keepdim)
    if p == 1:
        return _reduce(cx, "ReduceL1", x, dim, keepdim)
    if p == float("inf"):
        return _reduce(cx, "ReduceMax", cx.op("Abs", [x]), dim, keepdim)
    raise UnsupportedOpError(f"vector norm of order {p}; graphopt lowers orders 1, 2 and inf")

