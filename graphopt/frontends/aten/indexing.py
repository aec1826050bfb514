"""Indexing: advanced indexing (index / index_put), gather and scatter, index_select, topk and sort, nonzero."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphopt.errors import UnsupportedOpError
from graphopt.frontends.aten.common import (
    IntLike,
    Scalar,
    as_0d,
    axis,
    cast,
    dim_size,
    dtype_of,
    ints,
    rank_of,
    scalar,
)
from graphopt.frontends.aten.registry import Lowering, converter
from graphopt.ir.core import Value
from graphopt.ir.dtypes import DType

_REDUCTIONS = {"sum": "add", "add": "add", "prod": "mul", "multiply": "mul", "amax": "max", "amin": "min"}


def _transpose(cx: Lowering, x: Value, perm: list[int]) -> Value:
    return x if perm == sorted(perm) else cx.op("Transpose", [x], {"perm": perm})


def _expand_masks(cx: Lowering, indices: Sequence[Value | None]) -> list[Value | None]:
    """Boolean masks become the integer indices of their True elements, one tensor per masked dim."""
    out: list[Value | None] = []
    for idx in indices:
        if idx is None or dtype_of(idx) != DType.BOOL:
            out.append(idx)
            continue
        coords = cx.op("NonZero", [idx])  # [mask rank, count]
        for row in range(rank_of(idx)):
            out.append(cx.op("Gather", [coords, scalar(cx, row, DType.INT64)], {"axis": 0}))
    return out


def _normalized(cx: Lowering, idx: Value, size: IntLike) -> Value:
    """Negative indices counted from the end (ScatterND does not take them)."""
    idx = cast(cx, idx, DType.INT64)
    size_v = scalar(cx, size, DType.INT64) if isinstance(size, int) else as_0d(cx, size)
    negative = cx.op("Less", [idx, scalar(cx, 0, DType.INT64)])
    return cx.op("Where", [negative, cx.op("Add", [idx, size_v]), idx])


def _indexed(cx: Lowering, x: Value, indices: Sequence[Value | None]) -> tuple[Value, list[int], Value, list[int]]:
    """Move the indexed dims of ``x`` to the front; returns (x moved, perm, stacked indices [..., k], indexed dims)."""
    expanded = _expand_masks(cx, indices)
    rank = rank_of(x)
    dims = [d for d, i in enumerate(expanded) if i is not None]
    rest = [d for d in range(rank) if d not in dims]
    perm = dims + rest
    moved = _transpose(cx, x, perm)
    parts = [_normalized(cx, expanded[d], dim_size(cx, x, d)) for d in dims]  # type: ignore[arg-type]
    if len(parts) > 1:  # broadcast the index tensors against each other
        shape = cx.op("Shape", [cx.op("Add", parts)])
        parts = [cx.op("Expand", [p, shape]) for p in parts]
    stacked = cx.op("Concat", [cx.op("Unsqueeze", [p, ints(cx, [-1])]) for p in parts], {"axis": -1})
    return moved, perm, stacked, dims


@converter("aten::index", "aten::_unsafe_index")
def index(cx: Lowering, x: Value, indices: Sequence[Value | None]) -> Value:
    expanded = _expand_masks(cx, indices)
    present = [d for d, i in enumerate(expanded) if i is not None]
    if len(present) == 1:
        d = present[0]
        only = expanded[d]
        assert only is not None
        return cx.op("Gather", [x, cast(cx, only, DType.INT64)], {"axis": d})
    moved, _, stacked, dims = _indexed(cx, x, expanded)
    y = cx.op("GatherND", [moved, stacked])
    adjacent = dims == list(range(dims[0], dims[0] + len(dims)))
    if not adjacent or dims[0] == 0:
        return y  # torch puts the indexed dims first when they are not next to each other
    # adjacent indexed dims: the broadcast index dims replace them in place
    batch = rank_of(stacked) - 1
    lead = list(range(batch, batch + dims[0]))
    perm = lead + list(range(batch)) + list(range(batch + dims[0], rank_of(y)))
    return _transpose(cx, y, perm)


@converter("aten::index_put", "aten::_unsafe_index_put", "aten::index_put_")
def index_put(cx: Lowering, x: Value, indices: Sequence[Value | None], values: Value,
              accumulate: bool = False) -> Value:
    moved, perm, stacked, dims = _indexed(cx, x, indices)
    update_shape = cx.op("Concat", [cx.op("Shape", [stacked], {"end": -1}),
                                    cx.op("Shape", [moved], {"start": len(dims)})], {"axis": 0})
    values = cast(cx, values, dtype_of(x))
    adjacent = dims == list(range(dims[0], dims[0] + len(dims)))
    if adjacent and dims[0] > 0 and rank_of(values) == rank_of(x) - len(dims) + rank_of(stacked) - 1:
        # values are laid out like x[indices]: index dims in place; move them to the front as well
        batch = rank_of(stacked) - 1
        vperm = list(range(dims[0], dims[0] + batch)) + list(range(dims[0])) + list(
            range(dims[0] + batch, rank_of(values)))
        values = _transpose(cx, values, vperm)
    updates = cx.op("Expand", [values, update_shape])
    attrs = {"reduction": "add"} if accumulate else None
    y = cx.op("ScatterND", [moved, stacked, updates], attrs)
    inverse = [perm.index(d) for d in range(len(perm))]
    return _transpose(cx, y, inverse)


@converter("aten::index_select")
def index_select(cx: Lowering, x: Value, dim: int, index: Value) -> Value:
    return cx.op("Gather", [x, cast(cx, index, DType.INT64)], {"axis": axis(dim, rank_of(x))})


@converter("aten::gather")
def gather(cx: Lowering, x: Value, dim: int, index: Value, sparse_grad: bool = False) -> Value:
    return cx.op("GatherElements", [x, cast(cx, index, DType.INT64)], {"axis": axis(dim, rank_of(x))})


@converter("aten::take_along_dim")
def take_along_dim(cx: Lowering, x: Value, indices: Value, dim: int | None = None) -> Value:
    if dim is None:
        x = cx.op("Reshape", [x, ints(cx, [-1])])
        indices = cx.op("Reshape", [indices, ints(cx, [-1])])
        dim = 0
    return gather(cx, x, dim, indices)


def _scatter(cx: Lowering, x: Value, dim: int, index: Value, src: Value | Scalar, reduction: str | None) -> Value:
    index = cast(cx, index, DType.INT64)
    if isinstance(src, Value) and src.shape != () and rank_of(src) > 0:
        updates = cast(cx, src, dtype_of(x))
        if updates.shape != index.shape:  # torch reads only the leading index-shaped block of src
            updates = cx.op("Slice", [updates, ints(cx, [0] * rank_of(index)), cx.op("Shape", [index]),
                                      ints(cx, list(range(rank_of(index))))])
    else:
        fill = cast(cx, src, dtype_of(x)) if isinstance(src, Value) else scalar(cx, src, dtype_of(x))
        updates = cx.op("Expand", [fill, cx.op("Shape", [index])])
    attrs = {"axis": axis(dim, rank_of(x))}
    if reduction is not None:
        attrs["reduction"] = reduction  # type: ignore[assignment]
    return cx.op("ScatterElements", [x, index, updates], attrs)


@converter("aten::scatter")
def scatter(cx: Lowering, x: Value, dim: int, index: Value, src: Value | Scalar, reduce: str | None = None) -> Value:
    return _scatter(cx, x, dim, index, src, None if reduce is None else _REDUCTIONS[reduce])


@converter("aten::scatter_add")
def scatter_add(cx: Lowering, x: Value, dim: int, index: Value, src: Value) -> Value:
    return _scatter(cx, x, dim, index, src, "add")


@converter("aten::scatter_reduce")
def scatter_reduce(cx: Lowering, x: Value, dim: int, index: Value, src: Value, reduce: str,
                   include_self: bool = True) -> Value:
    if reduce not in _REDUCTIONS or not include_self:
        raise UnsupportedOpError(f"scatter_reduce with reduce={reduce!r}, include_self={include_self}; graphopt "
                                 "lowers sum/prod/amax/amin including self")
    return _scatter(cx, x, dim, index, src, _REDUCTIONS[reduce])


def _scatter_rows(cx: Lowering, x: Value, dim: int, rows: Value, src: Value) -> Value:
    """Write ``src`` into the positions ``rows`` (1-D) of ``x`` along ``dim``."""
    rank = rank_of(x)
    d = axis(dim, rank)
    perm = [d] + [i for i in range(rank) if i != d]
    moved = _transpose(cx, x, perm)
    updates = _transpose(cx, cast(cx, src, dtype_of(x)), perm)
    y = cx.op("ScatterND", [moved, cx.op("Unsqueeze", [rows, ints(cx, [-1])]), updates])
    return _transpose(cx, y, [perm.index(i) for i in range(rank)])


@converter("aten::select_scatter")
def select_scatter(cx: Lowering, x: Value, src: Value, dim: int, index: IntLike) -> Value:
    d = axis(dim, rank_of(x))
    row = _normalized(cx, ints(cx, [index]), dim_size(cx, x, d))
    return _scatter_rows(cx, x, d, row, cx.op("Unsqueeze", [src, ints(cx, [d])]))


@converter("aten::slice_scatter")
def slice_scatter(cx: Lowering, x: Value, src: Value, dim: int = 0, start: IntLike | None = None,
                  end: IntLike | None = None, step: IntLike = 1) -> Value:
    d = axis(dim, rank_of(x))
    size = dim_size(cx, x, d)
    count = dim_size(cx, src, d)
    begin = 0 if start is None else start
    if isinstance(begin, int) and begin < 0:
        if not isinstance(size, int):
            raise UnsupportedOpError("slice_scatter from a negative start on a dynamic dim")
        begin += size
    parts = [as_0d(cx, ints(cx, [v])) for v in (begin, count, step)]
    first, n, stride = parts
    rows = cx.op("Range", [first, cx.op("Add", [first, cx.op("Mul", [n, stride])]), stride])
    return _scatter_rows(cx, x, d, rows, src)


@converter("aten::topk")
def topk(cx: Lowering, x: Value, k: IntLike, dim: int = -1, largest: bool = True,
         sorted: bool = True) -> tuple[Value, Value]:
    attrs = {"axis": axis(dim, rank_of(x)), "largest": int(largest), "sorted": int(sorted)}
    values, idx = cx.op("TopK", [x, ints(cx, [k])], attrs, num_outputs=2)
    return values, idx


@converter("aten::sort")
def sort(cx: Lowering, x: Value, *args: object, stable: bool | None = None, dim: int = -1,
         descending: bool = False) -> tuple[Value, Value]:
    if args:  # sort.default(self, dim, descending)
        dim = int(args[0])  # type: ignore[call-overload]
        descending = bool(args[1]) if len(args) > 1 else descending
    if rank_of(x) == 0:
        return x, cx.const(np.array(0, np.int64))
    return topk(cx, x, dim_size(cx, x, dim), dim, largest=descending, sorted=True)


@converter("aten::argsort")
def argsort(cx: Lowering, x: Value, *args: object, stable: bool | None = None, dim: int = -1,
            descending: bool = False) -> Value:
    return sort(cx, x, *args, stable=stable, dim=dim, descending=descending)[1]


@converter("aten::nonzero")
def nonzero(cx: Lowering, x: Value) -> Value:
    return cx.op("Transpose", [cx.op("NonZero", [x])], {"perm": [1, 0]})


@converter("aten::nonzero_numpy")
def nonzero_numpy(cx: Lowering, x: Value) -> tuple[Value, ...]:
    coords = cx.op("NonZero", [x])
    return tuple(cx.op("Gather", [coords, scalar(cx, i, DType.INT64)], {"axis": 0}) for i in range(rank_of(x)))


@converter("aten::masked_scatter")
def masked_scatter(cx: Lowering, x: Value, mask: Value, source: Value) -> Value:
    """Where ``mask`` holds, the next element of ``source`` in row-major order; elsewhere ``x``."""
    shape = cx.op("Shape", [x])
    full = cx.op("Expand", [cast(cx, mask, DType.BOOL), shape])
    flat = cx.op("Reshape", [cast(cx, full, DType.INT64), ints(cx, [-1])])
    taken = cx.op("Sub", [cx.op("CumSum", [flat, scalar(cx, 0, DType.INT64)]), scalar(cx, 1, DType.INT64)])
    taken = cx.op("Max", [taken, scalar(cx, 0, DType.INT64)])
    values = cx.op("Gather", [cx.op("Reshape", [cast(cx, source, dtype_of(x)), ints(cx, [-1])]), taken], {"axis": 0})
    return cx.op("Where", [full, cx.op("Reshape", [values, shape]), x])
