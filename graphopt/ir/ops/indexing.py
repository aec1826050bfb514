"""Gather/scatter-like ops and ops whose output is chosen by value (TopK, Unique, NonZero, Compress …)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from graphopt.ir.dtypes import DType
from graphopt.ir.inference import InferContext
from graphopt.ir.ops.tensor import dim_prod, ints, like_input, normalize_axis, small_sym, static_sym, tensor_of
from graphopt.ir.registry import kernel, shape_inference
from graphopt.ir.types import Dim, TensorType, Type

shape_inference("ScatterElements", "ScatterND", "TensorScatter", "ReverseSequence", "CumSum", "CumProd")(like_input)

# -- Gather, GatherElements, GatherND -----------------------------------------------------------

@kernel("Gather")
def gather(data: np.ndarray, indices: np.ndarray, *, axis: int = 0) -> np.ndarray:
    return np.take(data, indices, axis=normalize_axis(axis, data.ndim))


@shape_inference("Gather")
def _infer_gather(ctx: InferContext) -> list[Type]:
    data, idx = ctx.shape(0), ctx.shape(1)
    if data is None or idx is None:
        return [tensor_of(ctx, 0, None)]
    axis = normalize_axis(ctx.attr("axis"), len(data), ctx)
    value = small_sym(ctx, 0) if len(data) == 1 else None
    picks = None if value is None else static_sym(ctx, 1)
    if value is not None and picks is not None:
        n = len(value)
        if any(not -n <= p < n for p in picks):
            raise ctx.fail(f"indices {picks} out of range for a shape value of length {n}")
        ctx.set_sym(0, tuple(value[p] for p in picks))
    return [tensor_of(ctx, 0, (*data[:axis], *idx, *data[axis + 1:]))]


@kernel("GatherElements")
def gather_elements(data: np.ndarray, indices: np.ndarray, *, axis: int = 0) -> np.ndarray:
    return np.take_along_axis(data, indices.astype(np.int64), axis=normalize_axis(axis, data.ndim))


@shape_inference("GatherElements")
def _infer_gather_elements(ctx: InferContext) -> list[Type]:
    return [tensor_of(ctx, 0, ctx.shape(1))]


@kernel("GatherND")
def gather_nd(data: np.ndarray, indices: np.ndarray, *, batch_dims: int = 0) -> np.ndarray:
    b, k = batch_dims, indices.shape[-1]
    batch = int(np.prod(data.shape[:b], dtype=np.int64))
    flat_data = data.reshape(batch, *data.shape[b:])
    flat_idx = indices.reshape(batch, -1, k).astype(np.int64)
    index = (np.arange(batch)[:, None], *np.moveaxis(flat_idx, -1, 0))
    picked = flat_data[index]
    return picked.reshape(*indices.shape[:-1], *data.shape[b + k:])


@shape_inference("GatherND")
def _infer_gather_nd(ctx: InferContext) -> list[Type]:
    data, idx = ctx.shape(0), ctx.shape(1)
    if data is None or idx is None or not isinstance(idx[-1], int):
        return [tensor_of(ctx, 0, None)]
    b = ctx.attr("batch_dims")
    if b + idx[-1] > len(data):
        raise ctx.fail(f"index depth {idx[-1]} with {b} batch dims exceeds data rank {len(data)}")
    return [tensor_of(ctx, 0, (*idx[:-1], *data[b + idx[-1]:]))]


# -- ScatterElements, ScatterND, TensorScatter --------------------------------------------------

_REDUCE: dict[str, Callable[..., None] | None] = {
    "none": None, "add": np.add.at, "mul": np.multiply.at, "max": np.maximum.at, "min": np.minimum.at,
}


def _scatter(data: np.ndarray, index: tuple[np.ndarray, ...], updates: np.ndarray, reduction: str) -> np.ndarray:
    if reduction not in _REDUCE:
        raise ValueError(f"unknown reduction {reduction!r}")
    out = data.copy()
    reduce = _REDUCE[reduction]
    if reduce is None:
        out[index] = updates
    else:
        reduce(out, index, updates)
    return out


@kernel("ScatterElements")
def scatter_elements(data: np.ndarray, indices: np.ndarray, updates: np.ndarray, *, axis: int = 0,
                     reduction: str = "none") -> np.ndarray:
    axis = normalize_axis(axis, data.ndim)
    index: list[np.ndarray] = list(np.indices(indices.shape, sparse=True))
    index[axis] = indices.astype(np.int64)
    return _scatter(data, tuple(index), updates, reduction)


@kernel("ScatterND")
def scatter_nd(data: np.ndarray, indices: np.ndarray, updates: np.ndarray, *, reduction: str = "none") -> np.ndarray:
    return _scatter(data, tuple(np.moveaxis(indices.astype(np.int64), -1, 0)), updates, reduction)


@kernel("TensorScatter")
def tensor_scatter(past: np.ndarray, update: np.ndarray, write_indices: np.ndarray | None = None, *,
                   axis: int = -2, mode: str = "linear") -> np.ndarray:
    axis = normalize_axis(axis, past.ndim)
    if axis == 0:
        raise ValueError("TensorScatter's axis cannot be the batch axis")
    out = past.copy()
    cache, new = np.moveaxis(out, axis, 1), np.moveaxis(update, axis, 1)  # views: writes reach ``out``
    length = cache.shape[1]
    starts = np.zeros(past.shape[0], np.int64) if write_indices is None else write_indices.astype(np.int64)
    for b, start in enumerate(starts):
        positions = start + np.arange(new.shape[1])
        cache[b, positions % length if mode == "circular" else positions] = new[b]
    return out


# -- OneHot, NonZero, Compress -------------------------------------------------------------------

@kernel("OneHot")
def one_hot(indices: np.ndarray, depth: np.ndarray, values: np.ndarray, *, axis: int = -1) -> np.ndarray:
    d = int(depth.reshape(-1)[0])
    idx = indices.astype(np.int64)
    idx = np.where(idx < 0, idx + d, idx)
    axis = normalize_axis(axis, indices.ndim, extra=1)
    classes = np.arange(d).reshape([d if i == axis else 1 for i in range(indices.ndim + 1)])
    return np.where(classes == np.expand_dims(idx, axis), values[1], values[0]).astype(values.dtype)


@shape_inference("OneHot")
def _infer_one_hot(ctx: InferContext) -> list[Type]:
    shape = ctx.shape(0)
    dtype = ctx.dtype(2) or DType.UNDEFINED
    if shape is None:
        return [TensorType(dtype, None)]
    depth: Dim = None
    c, value = ctx.const(1), ctx.sym(1)
    if c is not None and c.size == 1:
        depth = int(c.reshape(-1)[0])
    elif value is not None and len(value) == 1:
        depth = value[0]
    axis = normalize_axis(ctx.attr("axis"), len(shape), ctx, extra=1)
    return [TensorType(dtype, (*shape[:axis], depth, *shape[axis:]))]


@kernel("NonZero")
def non_zero(x: np.ndarray) -> np.ndarray:
    if x.ndim == 0:
        return np.zeros((0, int(bool(x))), np.int64)
    return np.array(np.nonzero(x), dtype=np.int64).reshape(x.ndim, -1)


@shape_inference("NonZero")
def _infer_non_zero(ctx: InferContext) -> list[Type]:
    return [TensorType(DType.INT64, (ctx.rank(0), None))]


@kernel("Compress")
def compress(x: np.ndarray, condition: np.ndarray, *, axis: int | None = None) -> np.ndarray:
    return np.compress(condition.astype(bool), x, axis=None if axis is None else normalize_axis(axis, x.ndim))


def _unknown_along(ctx: InferContext, axis: int | None) -> TensorType:
    """Input 0's type with the dim at ``axis`` unknown; 1-D of unknown length when ``axis`` is None."""
    shape = ctx.shape(0)
    if axis is None:
        return tensor_of(ctx, 0, (None,))
    if shape is None:
        return tensor_of(ctx, 0, None)
    axis = normalize_axis(axis, len(shape), ctx)
    return tensor_of(ctx, 0, (*shape[:axis], None, *shape[axis + 1:]))


@shape_inference("Compress")
def _infer_compress(ctx: InferContext) -> list[Type]:
    return [_unknown_along(ctx, ctx.attr("axis"))]


# -- Unique, TopK ---------------------------------------------------------------------------------

@kernel("Unique")
def unique(x: np.ndarray, *, axis: int | None = None, sorted: int = 1) -> tuple[np.ndarray, ...]:
    if axis is not None:
        axis = normalize_axis(axis, x.ndim)
    y, first, inverse, counts = np.unique(x, return_index=True, return_inverse=True, return_counts=True, axis=axis)
    inverse = inverse.reshape(-1)
    if not sorted:
        order = np.argsort(first, kind="stable")
        y = np.take(y, order, axis=0 if axis is None else axis)
        first, counts = first[order], counts[order]
        inverse = np.argsort(order)[inverse]
    return y, first.astype(np.int64), inverse.astype(np.int64), counts.astype(np.int64)


@shape_inference("Unique")
def _infer_unique(ctx: InferContext) -> list[Type]:
    axis, shape = ctx.attr("axis"), ctx.shape(0)
    along: Dim = None
    if shape is not None:
        along = dim_prod(shape) if axis is None else shape[normalize_axis(axis, len(shape), ctx)]
    positions = TensorType(DType.INT64, (None,))
    return [_unknown_along(ctx, axis), positions, TensorType(DType.INT64, (along,)), positions]


def stable_order(x: np.ndarray, axis: int, largest: bool) -> np.ndarray:
    """Indices sorting ``x`` along ``axis`` (descending if ``largest``), equal values in index order."""
    if not largest:
        return np.argsort(x, axis=axis, kind="stable")
    # Sorting the reversed array ascending and reading it backwards keeps ties in index order.
    reversed_order = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
    return x.shape[axis] - 1 - np.flip(reversed_order, axis)


@kernel("TopK")
def top_k(x: np.ndarray, k: np.ndarray, *, axis: int = -1, largest: int = 1) -> tuple[np.ndarray, np.ndarray]:
    axis = normalize_axis(axis, x.ndim)
    count = int(k.reshape(-1)[0])
    if not 0 <= count <= x.shape[axis]:
        raise ValueError(f"k={count} is out of range for axis {axis} of size {x.shape[axis]}")
    picked = np.take(stable_order(x, axis, bool(largest)), np.arange(count), axis=axis)
    return np.take_along_axis(x, picked, axis=axis), picked.astype(np.int64)


@shape_inference("TopK")
def _infer_top_k(ctx: InferContext) -> list[Type]:
    shape = ctx.shape(0)
    if shape is None:
        return [tensor_of(ctx, 0, None), TensorType(DType.INT64, None)]
    axis = normalize_axis(ctx.attr("axis"), len(shape), ctx)
    k = ctx.sym(1)
    out = (*shape[:axis], k[0] if k is not None and len(k) == 1 else None, *shape[axis + 1:])
    return [tensor_of(ctx, 0, out), TensorType(DType.INT64, out)]


# -- ReverseSequence, CumSum, CumProd ------------------------------------------------------------

@kernel("ReverseSequence")
def reverse_sequence(x: np.ndarray, sequence_lens: np.ndarray, *, batch_axis: int = 1,
                     time_axis: int = 0) -> np.ndarray:
    out = x.copy()
    flip_axis = time_axis - (batch_axis < time_axis)  # the time axis once the batch axis is indexed away
    for b, n in enumerate(ints(sequence_lens)):
        index: list[int | slice] = [slice(None)] * x.ndim
        index[batch_axis], index[time_axis] = b, slice(0, n)
        out[tuple(index)] = np.flip(x[tuple(index)], flip_axis)
    return out


def _cumulative(x: np.ndarray, axis: np.ndarray, exclusive: int, reverse: int,
                accumulate: Callable[..., np.ndarray], identity: int) -> np.ndarray:
    a = normalize_axis(int(axis.reshape(-1)[0]), x.ndim)
    src = np.flip(x, a) if reverse else x
    out = accumulate(src, axis=a, dtype=x.dtype)
    if exclusive:
        shifted = np.full_like(out, identity)
        dst: list[slice] = [slice(None)] * x.ndim
        src_part: list[slice] = [slice(None)] * x.ndim
        dst[a], src_part[a] = slice(1, None), slice(None, -1)
        shifted[tuple(dst)] = out[tuple(src_part)]
        out = shifted
    return np.flip(out, a) if reverse else out


@kernel("CumSum")
def cum_sum(x: np.ndarray, axis: np.ndarray, *, exclusive: int = 0, reverse: int = 0) -> np.ndarray:
    return _cumulative(x, axis, exclusive, reverse, np.cumsum, 0)


@kernel("CumProd")
def cum_prod(x: np.ndarray, axis: np.ndarray, *, exclusive: int = 0, reverse: int = 0) -> np.ndarray:
    return _cumulative(x, axis, exclusive, reverse, np.cumprod, 1)
