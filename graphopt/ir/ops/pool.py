"""Pooling: AveragePool, MaxPool (with its argmax Indices), LpPool, the global pools and MaxUnpool.

Windowed pools loop over the kernel taps, each a strided slice of the padded
input, so the work is vectorized over every output position at once.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphopt.ir.dtypes import DType
from graphopt.ir.inference import InferContext
from graphopt.ir.interpreter import EvalContext
from graphopt.ir.ops.conv import Window, compute_dtype, pad_spatial, split_pads, window_of, window_out_shape
from graphopt.ir.registry import kernel, shape_inference
from graphopt.ir.types import Dim, TensorType, Type


def _window(x: np.ndarray, *, kernel_shape: Sequence[int], auto_pad: str = "NOTSET", ceil_mode: int = 0,
            strides: Sequence[int] | None = None, dilations: Sequence[int] | None = None,
            pads: Sequence[int] | None = None) -> Window:
    """The window of a pool over ``x``; the keyword arguments are the pool's window attributes."""
    return window_of(x.shape[2:], kernel_shape, strides=strides, dilations=dilations, pads=pads, auto_pad=auto_pad,
                     ceil_mode=bool(ceil_mode))


def _lowest(dtype: np.dtype) -> float | int:
    return np.iinfo(dtype).min if dtype.kind in "iu" else -np.inf


def _window_reduce(xp: np.ndarray, win: Window, combine: np.ufunc) -> np.ndarray:
    """``combine`` (np.add, np.maximum) folded over each window of the padded input ``xp``."""
    taps = win.offsets()
    _, where = next(taps)
    total = xp[where].copy()
    for _, where in taps:
        combine(total, xp[where], out=total)
    return total


def _flat_positions(win: Window, offs: tuple[int, ...], sizes: Sequence[int],
                    storage_order: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat input index (row- or column-major) of tap ``offs`` at every output position, and whether it is real."""
    rank = len(sizes)
    order = range(rank) if storage_order else range(rank - 1, -1, -1)
    steps = [0] * rank
    step = 1
    for axis in order:
        steps[axis] = step
        step *= sizes[axis]
    index = np.zeros(win.out, np.int64)
    valid = np.ones(win.out, bool)
    for axis in range(rank):
        pos = win.positions(axis)[:, offs[axis]].reshape([-1 if a == axis else 1 for a in range(rank)])
        index = index + pos * steps[axis]
        valid = valid & (pos >= 0) & (pos < sizes[axis])
    return index, valid


@kernel("MaxPool")
def max_pool(ctx: EvalContext, x: np.ndarray, *, storage_order: int, **window: Any) -> tuple[np.ndarray, ...]:
    win = _window(x, **window)
    xp = pad_spatial(x, win, _lowest(x.dtype))
    if not ctx.output_present(1):
        return (_window_reduce(xp, win, np.maximum),)
    sizes = x.shape[2:]
    taps = win.offsets()
    offs, where = next(taps)
    best = xp[where].copy()
    best_index, best_valid = _flat_positions(win, offs, sizes, storage_order)
    best_index = np.broadcast_to(best_index, best.shape)
    for offs, where in taps:
        tap = xp[where]
        index, valid = _flat_positions(win, offs, sizes, storage_order)
        take = (tap > best) | (valid & ~best_valid)  # a real pixel beats padding even when it is the lowest value
        best = np.where(take, tap, best)
        best_index = np.where(take, index, best_index)
        best_valid = best_valid | valid
    n, c = x.shape[:2]
    planes = np.arange(n * c, dtype=np.int64).reshape((n, c) + (1,) * len(sizes)) * math.prod(sizes)
    return best, best_index + planes


@kernel("AveragePool")
def average_pool(x: np.ndarray, *, count_include_pad: int, **window: Any) -> np.ndarray:
    win = _window(x, **window)
    total = _window_reduce(pad_spatial(x.astype(compute_dtype(x.dtype), copy=False), win), win, np.add)
    counts = []
    for axis, size in enumerate(x.shape[2:]):
        pos = win.positions(axis)
        lo, hi = (-win.begin[axis], size + win.end[axis]) if count_include_pad else (0, size)
        counts.append(((pos >= lo) & (pos < hi)).sum(axis=1))
    divisor = functools.reduce(np.multiply.outer, counts)
    with np.errstate(invalid="ignore", divide="ignore"):  # a window entirely in padding averages nothing
        return (total / divisor.astype(total.dtype)).astype(x.dtype)


@kernel("LpPool")
def lp_pool(x: np.ndarray, *, p: int, **window: Any) -> np.ndarray:
    win = _window(x, **window)
    powered = np.abs(x.astype(compute_dtype(x.dtype), copy=False)) ** p
    return (_window_reduce(pad_spatial(powered, win), win, np.add) ** (1.0 / p)).astype(x.dtype)


def _spatial_axes(x: np.ndarray) -> tuple[int, ...]:
    return tuple(range(2, x.ndim))


@kernel("GlobalAveragePool")
def global_average_pool(x: np.ndarray) -> np.ndarray:
    return x.astype(compute_dtype(x.dtype), copy=False).mean(axis=_spatial_axes(x), keepdims=True).astype(x.dtype)


@kernel("GlobalMaxPool")
def global_max_pool(x: np.ndarray) -> np.ndarray:
    return x.max(axis=_spatial_axes(x), keepdims=True)


@kernel("GlobalLpPool")
def global_lp_pool(x: np.ndarray, *, p: int) -> np.ndarray:
    powered = np.abs(x.astype(compute_dtype(x.dtype), copy=False)) ** p
    return (powered.sum(axis=_spatial_axes(x), keepdims=True) ** (1.0 / p)).astype(x.dtype)


def _unpool_dims(sizes: Sequence[Dim], kernel_shape: Sequence[int], strides: Sequence[int] | None,
                 pads: Sequence[int] | None) -> tuple[Dim, ...]:
    """MaxUnpool's default output spatial dims: the input size MaxPool would have pooled from."""
    begin, end = split_pads(pads, len(sizes))
    strides = strides or (1,) * len(sizes)
    return tuple((n - 1) * s + k - b - e if isinstance(n, int) else None
                 for n, k, s, b, e in zip(sizes, kernel_shape, strides, begin, end, strict=True))


@kernel("MaxUnpool")
def max_unpool(x: np.ndarray, indices: np.ndarray, output_shape: np.ndarray | None = None, *,
               kernel_shape: Sequence[int], pads: Sequence[int] | None = None,
               strides: Sequence[int] | None = None) -> np.ndarray:
    """Scatter into the shape MaxPool pooled from; an ``output_shape`` pads (or crops) that at the end."""
    pooled_from = (*x.shape[:2], *_unpool_dims(x.shape[2:], kernel_shape, strides, pads))
    y = np.zeros(math.prod(pooled_from), x.dtype)  # type: ignore[arg-type]
    y[indices.reshape(-1)] = x.reshape(-1)
    y = y.reshape(pooled_from)  # type: ignore[arg-type]
    if output_shape is None:
        return y
    out = np.zeros(tuple(int(d) for d in output_shape), x.dtype)
    common = tuple(slice(0, min(a, b)) for a, b in zip(out.shape, y.shape, strict=True))
    out[common] = y[common]
    return out


# -- shape inference ----------------------------------------------------------------------

@shape_inference("AveragePool", "MaxPool", "LpPool")
def infer_pool(ctx: InferContext) -> list[Type]:
    dtype, shape = ctx.dtype(0), ctx.shape(0)
    if dtype is None:
        return [None] * ctx.num_outputs
    if shape is None:
        dims = None
    else:
        if len(shape) < 3:
            raise ctx.fail(f"{ctx.node.op} needs an input of rank >= 3, got rank {len(shape)}")
        spatial = window_out_shape(ctx, shape[2:], ctx.attr("kernel_shape"), bool(ctx.attr("ceil_mode", 0)))
        dims = (*shape[:2], *spatial)
    types: list[Type] = [TensorType(dtype, dims), TensorType(DType.INT64, dims)]
    return types[: ctx.num_outputs]


@shape_inference("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool")
def infer_global_pool(ctx: InferContext) -> list[Type]:
    t = ctx.tensor_type(0)
    if t is None or t.shape is None:
        return [t]
    return [t.with_shape((*t.shape[:2], *(1,) * (len(t.shape) - 2)))]


@shape_inference("MaxUnpool")
def infer_max_unpool(ctx: InferContext) -> list[Type]:
    dtype, shape = ctx.dtype(0), ctx.shape(0)
    if dtype is None:
        return [None]
    if ctx.has_input(2):
        requested = ctx.sym(2)
        if requested is None:
            length = ctx.shape(2)[0] if ctx.rank(2) == 1 else None  # type: ignore[index]
            return [TensorType(dtype, (None,) * length if isinstance(length, int) else None)]
        return [TensorType(dtype, requested)]
    if shape is None:
        return [TensorType(dtype, None)]
    spatial = _unpool_dims(shape[2:], ctx.attr("kernel_shape"), ctx.attr("strides"), ctx.attr("pads"))
    return [TensorType(dtype, (*shape[:2], *spatial))]
