"""Reductions (ReduceSum …), arg-reductions (ArgMax, ArgMin) and the softmax family."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from graphopt.ir.dtypes import DType
from graphopt.ir.inference import InferContext
from graphopt.ir.interpreter import EvalContext
from graphopt.ir.registry import kernel, shape_inference
from graphopt.ir.types import Dim, Shape, TensorType, Type


def widen(x: np.ndarray) -> np.ndarray:
    """``x`` in the precision kernels compute in: float32 for floats narrower than that, else as is."""
    if x.dtype.itemsize < 4 and x.dtype != np.bool_ and DType.from_numpy(x.dtype).is_float:
        return x.astype(np.float32)
    return x


def normalize_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise ValueError(f"axis {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0


# -- Reduce* ---------------------------------------------------------------------------

ReduceFn = Callable[[np.ndarray, tuple[int, ...]], np.ndarray]
"""Reduces an array over the given axes, keeping them as size-1 dims."""


def _extreme(fn: Callable[..., np.ndarray], largest: bool) -> ReduceFn:
    """max/min whose reduction of an empty set is the identity (-inf/+inf, or the integer limit)."""

    def reduce(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        initial: bool | int | float
        if x.dtype == np.bool_:
            initial = not largest
        elif x.dtype.kind in "iu":
            info = np.iinfo(x.dtype)
            initial = info.min if largest else info.max
        else:
            initial = -np.inf if largest else np.inf
        return fn(x, axis=axes, keepdims=True, initial=initial)

    return reduce


def _log_sum_exp(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    m = np.max(x, axis=axes, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0).astype(x.dtype)
    with np.errstate(divide="ignore"):
        return np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m


def _sum(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    return np.sum(x, axis=axes, keepdims=True)


def _mean(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    count = int(np.prod([x.shape[a] for a in axes]))
    with np.errstate(invalid="ignore", divide="ignore"):  # the mean of an empty set is NaN
        return np.sum(x, axis=axes, keepdims=True) / count


def _log(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(x)


# op -> (elementwise map before the reduction, reduction, elementwise map after it).
# With ``noop_with_empty_axes`` and no axes only the two maps run (ReduceSumSquare is Square).
_REDUCERS: dict[str, tuple[Callable[[np.ndarray], np.ndarray] | None, ReduceFn,
                           Callable[[np.ndarray], np.ndarray] | None]] = {
    "ReduceSum": (None, _sum, None),
    "ReduceSumSquare": (np.square, _sum, None),
    "ReduceL1": (np.abs, _sum, None),
    "ReduceL2": (np.square, _sum, np.sqrt),
    "ReduceLogSum": (None, _sum, _log),
    "ReduceLogSumExp": (None, _log_sum_exp, None),
    "ReduceMean": (None, _mean, None),
    "ReduceProd": (None, lambda x, a: np.prod(x, axis=a, keepdims=True), None),
    "ReduceMax": (None, _extreme(np.max, largest=True), None),
    "ReduceMin": (None, _extreme(np.min, largest=False), None),
}
REDUCE_OPS = tuple(_REDUCERS)


def _make_reduce_kernel(op: str) -> Callable[..., np.ndarray]:
    pre, reduce, post = _REDUCERS[op]

    def reduce_kernel(data: np.ndarray, axes: np.ndarray | None = None, *, keepdims: int,
                      noop_with_empty_axes: int) -> np.ndarray:
        x = widen(data)
        if pre is not None:
            x = pre(x)
        axes_t = () if axes is None else tuple(normalize_axis(int(a), x.ndim) for a in axes.reshape(-1))
        if axes_t or not noop_with_empty_axes:
            x = reduce(x, axes_t or tuple(range(x.ndim)))
            if not keepdims:
                x = np.squeeze(x, axis=axes_t or None) if x.ndim else x
        if post is not None:
            x = post(x)
        return np.asarray(x).astype(data.dtype, copy=False)

    reduce_kernel.__name__ = reduce_kernel.__qualname__ = f"{op}_kernel"
    return reduce_kernel


for _op in REDUCE_OPS:
    kernel(_op)(_make_reduce_kernel(_op))


def reduced_shape(shape: Shape, axes: Sequence[int] | None, keepdims: bool) -> Shape:
    """``shape`` after reducing ``axes`` (all axes when ``None``)."""
    if shape is None:
        return None
    rank = len(shape)
    drop = set(range(rank)) if axes is None else {normalize_axis(a, rank) for a in axes}
    if keepdims:
        return tuple(1 if i in drop else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in drop)


def _unknown_axes_shape(ctx: InferContext, keepdims: bool) -> Shape:
    """The shape when the axes are not known: only the rank may be."""
    rank, axes_shape = ctx.rank(0), ctx.shape(1)
    if rank is None:
        return None
    if keepdims:
        return (None,) * rank
    if axes_shape is not None and len(axes_shape) == 1 and isinstance(axes_shape[0], int):
        return (None,) * (rank - axes_shape[0]) if axes_shape[0] else None
    return None


@shape_inference(*REDUCE_OPS)
def infer_reduce(ctx: InferContext) -> list[Type]:
    t = ctx.tensor_type(0)
    if t is None:
        return [None]
    keepdims = bool(ctx.attr("keepdims"))
    axes: tuple[Dim, ...] | None = ctx.sym(1) if ctx.has_input(1) else ()
    if axes is None or not all(isinstance(a, int) for a in axes):
        return [TensorType(t.dtype, _unknown_axes_shape(ctx, keepdims))]
    if not axes:
        if ctx.attr("noop_with_empty_axes"):
            return [t]
        return [TensorType(t.dtype, reduced_shape(t.shape, None, keepdims))]
    return [TensorType(t.dtype, reduced_shape(t.shape, axes, keepdims))]  # type: ignore[arg-type]


# -- ArgMax / ArgMin -------------------------------------------------------------------

@kernel("ArgMax", "ArgMin")
def arg_reduce(ctx: EvalContext, data: np.ndarray, *, axis: int, keepdims: int, select_last_index: int) -> np.ndarray:
    find = np.argmax if ctx.node.op == "ArgMax" else np.argmin
    axis = normalize_axis(axis, data.ndim)
    x = widen(data)
    if select_last_index:
        idx = x.shape[axis] - 1 - find(np.flip(x, axis), axis=axis, keepdims=True)
    else:
        idx = find(x, axis=axis, keepdims=True)
    return (idx if keepdims else np.squeeze(idx, axis)).astype(np.int64)


@shape_inference("ArgMax", "ArgMin")
def infer_arg_reduce(ctx: InferContext) -> list[Type]:
    shape = ctx.shape(0)
    return [TensorType(DType.INT64, reduced_shape(shape, [ctx.attr("axis")], bool(ctx.attr("keepdims"))))]


# -- Softmax family --------------------------------------------------------------------

def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """Softmax along ``axis`` in ``x``'s own dtype (callers widen first)."""
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - np.where(np.isfinite(m), m, 0))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """Log-softmax along ``axis`` in ``x``'s own dtype (callers widen first)."""
    m = np.max(x, axis=axis, keepdims=True)
    shifted = x - np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def hardmax(x: np.ndarray, axis: int) -> np.ndarray:
    """1 at the first maximum along ``axis``, 0 elsewhere."""
    first = np.expand_dims(np.argmax(x, axis=axis), axis)
    out = np.zeros_like(x)
    np.put_along_axis(out, first, 1, axis=axis)
    return out


_SOFTMAXES = {"Softmax": softmax, "LogSoftmax": log_softmax, "Hardmax": hardmax}


@kernel(*_SOFTMAXES)
def softmax_kernel(ctx: EvalContext, x: np.ndarray, *, axis: int) -> np.ndarray:
    fn = _SOFTMAXES[ctx.node.op]
    return fn(widen(x), normalize_axis(axis, x.ndim)).astype(x.dtype, copy=False)


@shape_inference(*_SOFTMAXES)
def same_as_input(ctx: InferContext) -> list[Type]:
    return [ctx.tensor_type(0)]
