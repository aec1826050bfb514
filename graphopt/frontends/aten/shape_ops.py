"""Views and shape ops: reshape, permute, expand, slice, select, cat, split, squeeze, pad, copies, sizes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphopt.errors import UnsupportedOpError
from graphopt.frontends.aten.common import (
    IntLike,
    as_0d,
    axis,
    cast,
    dim_size,
    dtype_of,
    ints,
    promote,
    rank_of,
    result_dtype,
    scalar,
    to_dtype,
)
from graphopt.frontends.aten.registry import Converter, Lowering, converter
from graphopt.ir.core import Value
from graphopt.ir.dtypes import DType

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


@converter("aten::view", "aten::_unsafe_view", "aten::reshape", "aten::view_copy", "aten::_reshape_alias")
def view(cx: Lowering, x: Value, size: Sequence[IntLike], *_: object) -> Value:
    attrs = {"allowzero": 1} if any(isinstance(s, int) and s == 0 for s in size) else None
    return cx.op("Reshape", [x, ints(cx, size)], attrs)


@converter("aten::permute", "aten::permute_copy")
def permute(cx: Lowering, x: Value, dims: Sequence[int]) -> Value:
    rank = rank_of(x)
    perm = [axis(d, rank) for d in dims]
    return x if perm == list(range(rank)) else cx.op("Transpose", [x], {"perm": perm})


@converter("aten::transpose", "aten::swapaxes")
def transpose(cx: Lowering, x: Value, dim0: int, dim1: int) -> Value:
    rank = rank_of(x)
    if rank < 2:
        return x
    perm = list(range(rank))
    a, b = axis(dim0, rank), axis(dim1, rank)
    perm[a], perm[b] = perm[b], perm[a]
    return permute(cx, x, perm)


@converter("aten::t", "aten::numpy_T")
def t(cx: Lowering, x: Value) -> Value:
    return transpose(cx, x, 0, 1) if rank_of(x) == 2 else x


@converter("aten::expand", "aten::expand_copy")
def expand(cx: Lowering, x: Value, size: Sequence[IntLike], implicit: bool = False) -> Value:
    # ONNX's Expand broadcasts both ways, so torch's "keep this dim" (-1) is a 1
    target = [1 if isinstance(s, int) and s == -1 else s for s in size]
    if x.shape is not None and list(x.shape) == target:
        return x
    return cx.op("Expand", [x, ints(cx, target)])


@converter("aten::expand_as")
def expand_as(cx: Lowering, x: Value, other: Value) -> Value:
    return cx.op("Expand", [x, cx.op("Shape", [other])])


@converter("aten::slice", "aten::slice_copy")
def slice_(cx: Lowering, x: Value, dim: int = 0, start: IntLike | None = None, end: IntLike | None = None,
           step: IntLike = 1) -> Value:
    rank = rank_of(x)
    d = axis(dim, rank)
    start = 0 if start is None else start
    end = INT64_MAX if end is None else end
    size = x.shape[d] if x.shape is not None else None
    whole = isinstance(end, int) and (end == INT64_MAX or (isinstance(size, int) and end >= size))
    if start == 0 and step == 1 and whole:
        return x
    return cx.op("Slice", [x, ints(cx, [start]), ints(cx, [end]), ints(cx, [d]), ints(cx, [step])])


@converter("aten::narrow")
def narrow(cx: Lowering, x: Value, dim: int, start: IntLike, length: IntLike) -> Value:
    end = start + length if isinstance(start, int) and isinstance(length, int) else cx.op(
        "Add", promote(cx, start, length, dtype=DType.INT64))
    return slice_(cx, x, dim, start, end)


@converter("aten::select", "aten::select_copy")
def select(cx: Lowering, x: Value, dim: int, index: IntLike) -> Value:
    idx = as_0d(cx, cast(cx, index, DType.INT64)) if isinstance(index, Value) else scalar(cx, index, DType.INT64)
    return cx.op("Gather", [x, idx], {"axis": axis(dim, rank_of(x))})


@converter("aten::cat", "aten::concat", "aten::concatenate")
def cat(cx: Lowering, tensors: Sequence[Value], dim: int = 0) -> Value:
    # torch still accepts 1-D empty tensors beside tensors of any rank
    kept = [t for t in tensors if not (t.shape == (0,) and any(rank_of(o) != 1 for o in tensors))]
    if len(kept) == 1:
        return kept[0]
    rank = rank_of(kept[0])
    return cx.op("Concat", promote(cx, *kept, dtype=result_dtype(*kept)), {"axis": axis(dim, rank)})


@converter("aten::stack")
def stack(cx: Lowering, tensors: Sequence[Value], dim: int = 0) -> Value:
    d = axis(dim, rank_of(tensors[0]) + 1)
    return cat(cx, [unsqueeze(cx, t, d) for t in tensors], d)


@converter("aten::split_with_sizes", "aten::split_with_sizes_copy", "aten::unsafe_split_with_sizes")
def split_with_sizes(cx: Lowering, x: Value, split_sizes: Sequence[IntLike], dim: int = 0) -> tuple[Value, ...]:
    d = axis(dim, rank_of(x))
    if len(split_sizes) == 1:
        return (x,)
    return tuple(cx.op("Split", [x, ints(cx, split_sizes)], {"axis": d}, num_outputs=len(split_sizes)))


@converter("aten::split", "aten::unsafe_split", "aten::split_copy")
def split(cx: Lowering, x: Value, split_size: IntLike | Sequence[IntLike], dim: int = 0) -> tuple[Value, ...]:
    if not isinstance(split_size, int):
        return split_with_sizes(cx, x, split_size, dim)  # type: ignore[arg-type]
    size = dim_size(cx, x, dim)
    if not isinstance(size, int):
        raise UnsupportedOpError(f"split of a dynamic dim {dim} into chunks of {split_size}: give that dim a "
                                 "static size or use split_with_sizes")
    sizes = [split_size] * (size // split_size) + ([size % split_size] if size % split_size else [])
    return split_with_sizes(cx, x, sizes, dim)


@converter("aten::chunk", "aten::unsafe_chunk")
def chunk(cx: Lowering, x: Value, chunks: int, dim: int = 0) -> tuple[Value, ...]:
    size = dim_size(cx, x, dim)
    if not isinstance(size, int):
        raise UnsupportedOpError(f"chunk of a dynamic dim {dim}: give that dim a static size")
    step = -(-size // chunks)
    return split(cx, x, step, dim)


@converter("aten::unbind", "aten::unbind_copy")
def unbind(cx: Lowering, x: Value, dim: int = 0) -> tuple[Value, ...]:
    size = dim_size(cx, x, dim)
    if not isinstance(size, int):
        raise UnsupportedOpError(f"unbind of a dynamic dim {dim}: give that dim a static size")
    d = axis(dim, rank_of(x))
    return tuple(select(cx, x, d, i) for i in range(size))


@converter("aten::squeeze", "aten::squeeze_copy")
def squeeze(cx: Lowering, x: Value, dim: int | Sequence[int] | None = None) -> Value:
    shape = x.shape
    if shape is None:
        raise UnsupportedOpError(f"squeeze needs the input's rank, got {x.type}")
    rank = len(shape)
    if rank == 0:
        return x
    if dim is None:
        dims = [i for i, s in enumerate(shape) if s == 1]
    else:
        wanted = [dim] if isinstance(dim, int) else list(dim)
        # torch leaves dims whose size is not 1 alone; symbolic dims are taken to be 1 as asked
        dims = sorted({axis(d, rank) for d in wanted if not isinstance(shape[axis(d, rank)], int)
                       or shape[axis(d, rank)] == 1})
    return x if not dims else cx.op("Squeeze", [x, ints(cx, dims)])


@converter("aten::unsqueeze", "aten::unsqueeze_copy")
def unsqueeze(cx: Lowering, x: Value, dim: int) -> Value:
    return cx.op("Unsqueeze", [x, ints(cx, [axis(dim, rank_of(x) + 1)])])


@converter("aten::flatten")
def flatten(cx: Lowering, x: Value, start_dim: int = 0, end_dim: int = -1) -> Value:
    rank = rank_of(x)
    if rank == 0:
        return cx.op("Reshape", [x, ints(cx, [1])])
    s, e = axis(start_dim, rank), axis(end_dim, rank)
    if s == e:
        return x
    sizes: list[IntLike] = [dim_size(cx, x, i) for i in range(s)] + [-1]
    sizes += [dim_size(cx, x, i) for i in range(e + 1, rank)]
    return cx.op("Reshape", [x, ints(cx, sizes)])


@converter("aten::flip")
def flip(cx: Lowering, x: Value, dims: Sequence[int]) -> Value:
    rank = rank_of(x)
    axes = [axis(d, rank) for d in dims]
    if not axes:
        return x
    n = len(axes)
    return cx.op("Slice", [x, ints(cx, [-1] * n), ints(cx, [INT64_MIN] * n), ints(cx, axes), ints(cx, [-1] * n)])


@converter("aten::roll")
def roll(cx: Lowering, x: Value, shifts: Sequence[int], dims: Sequence[int] = ()) -> Value:
    if not dims:
        flat = cx.op("Reshape", [x, ints(cx, [-1])])
        return cx.op("Reshape", [roll(cx, flat, shifts, [0]), cx.op("Shape", [x])])
    for shift, d in zip(shifts, dims):
        size = dim_size(cx, x, d)
        if not isinstance(size, int):
            raise UnsupportedOpError(f"roll along dynamic dim {d}: give that dim a static size")
        k = shift % size if size else 0
        if k:
            x = cat(cx, [slice_(cx, x, d, size - k, size), slice_(cx, x, d, 0, size - k)], d)
    return x


@converter("aten::repeat")
def repeat(cx: Lowering, x: Value, repeats: Sequence[IntLike]) -> Value:
    extra = len(repeats) - rank_of(x)
    if extra > 0:
        x = cx.op("Unsqueeze", [x, ints(cx, list(range(extra)))])
    return cx.op("Tile", [x, ints(cx, repeats)])


def _pads(rank: int, pad: Sequence[IntLike]) -> list[IntLike]:
    """torch's (last dim first, begin/end pairs) padding as ONNX's [begins..., ends...] over every dim."""
    begins: list[IntLike] = [0] * rank
    ends: list[IntLike] = [0] * rank
    for i in range(len(pad) // 2):
        begins[rank - 1 - i], ends[rank - 1 - i] = pad[2 * i], pad[2 * i + 1]
    return begins + ends


@converter("aten::constant_pad_nd")
def constant_pad_nd(cx: Lowering, x: Value, pad: Sequence[IntLike], value: float = 0) -> Value:
    if all(p == 0 for p in pad):
        return x
    return cx.op("Pad", [x, ints(cx, _pads(rank_of(x), pad)), scalar(cx, value, dtype_of(x))], {"mode": "constant"})


def _mode_pad(mode: str) -> Converter:
    def convert(cx: Lowering, x: Value, padding: Sequence[IntLike]) -> Value:
        return cx.op("Pad", [x, ints(cx, _pads(rank_of(x), padding))], {"mode": mode})

    return convert


for _n in (1, 2, 3):
    converter(f"aten::reflection_pad{_n}d")(_mode_pad("reflect"))
    converter(f"aten::replication_pad{_n}d")(_mode_pad("edge"))
converter("aten::_pad_circular")(_mode_pad("wrap"))


# -- copies and casts ---------------------------------------------------------------------------

@converter("aten::clone", "aten::alias", "aten::detach", "aten::lift_fresh_copy", "aten::contiguous",
           "aten::alias_copy", "aten::detach_copy", "aten::lift_fresh")
def identity(cx: Lowering, x: Value, *_: object, **__: object) -> Value:
    return x


@converter("aten::dropout", "aten::feature_dropout")
def dropout(cx: Lowering, x: Value, p: float, train: bool) -> Value:
    if train and p > 0:
        raise UnsupportedOpError("dropout in training mode; call model.eval() before exporting")
    return x


@converter("aten::_to_copy", "aten::to")
def to_copy(cx: Lowering, x: Value, dtype: object = None, *_: object, **__: object) -> Value:
    if isinstance(dtype, Value):  # to.other: the dtype of another tensor
        return cast(cx, x, dtype_of(dtype))
    if dtype is None:
        return x
    return cast(cx, x, to_dtype(dtype))


@converter("aten::type_as")
def type_as(cx: Lowering, x: Value, other: Value) -> Value:
    return cast(cx, x, dtype_of(other))


@converter("aten::native_dropout")
def native_dropout(cx: Lowering, x: Value, p: float, train: bool | None) -> tuple[Value, Value | None]:
    return dropout(cx, x, p, bool(train)), None


# -- sizes --------------------------------------------------------------------------------------

@converter("aten::sym_size", "aten::size")
def sym_size(cx: Lowering, x: Value, dim: int | None = None) -> Value | int:
    if dim is None:
        return cx.op("Shape", [x])
    size = dim_size(cx, x, dim)
    return size


@converter("aten::sym_numel", "aten::numel")
def sym_numel(cx: Lowering, x: Value) -> Value:
    return cx.op("ReduceProd", [cx.op("Shape", [x])], {"keepdims": 0})


@converter("aten::_assert_tensor_metadata", "aten::_assert_scalar", "aten::sym_constrain_range",
           "aten::sym_constrain_range_for_size", "aten::_assert_async", "aten::_functional_assert_async",
           "aten::_functional_sym_constrain_range", "aten::_functional_sym_constrain_range_for_size")
def runtime_check(cx: Lowering, *_: object, **__: object) -> None:
    """torch's run-time shape and dtype assertions: the graph's types already say what they check."""
    return None


@converter("aten::sym_stride")
def sym_stride(cx: Lowering, x: Value, dim: int) -> IntLike | Value:
    """The stride of ``dim`` in the contiguous layout the IR's tensors have."""
    rank = rank_of(x)
    later = [dim_size(cx, x, d) for d in range(axis(dim, rank) + 1, rank)]
    if all(isinstance(s, int) for s in later):
        return int(np.prod(later, dtype=np.int64))  # type: ignore[arg-type]
    return cx.op("ReduceProd", [ints(cx, later)], {"keepdims": 0})


@converter("aten::sym_storage_offset")
def sym_storage_offset(cx: Lowering, x: Value) -> int:
    return 0


@converter("aten::sym_is_contiguous", "aten::is_contiguous")
def sym_is_contiguous(cx: Lowering, x: Value, memory_format: object = None) -> bool:
    return True


@converter("aten::as_strided", "aten::as_strided_copy")
def as_strided(cx: Lowering, x: Value, size: Sequence[IntLike], stride: Sequence[IntLike],
               storage_offset: IntLike | None = None) -> Value:
    """A strided view of ``x``'s contiguous storage: a Gather of the flattened tensor at fixed offsets."""
    fixed = [*size, *stride, storage_offset or 0]
    if not all(isinstance(s, int) for s in fixed):
        raise UnsupportedOpError("as_strided with symbolic sizes or strides")
    sizes, strides = [int(s) for s in size], [int(s) for s in stride]  # type: ignore[arg-type]
    offsets = np.full(tuple(sizes), int(storage_offset or 0), dtype=np.int64)  # type: ignore[arg-type]
    for d, (n, s) in enumerate(zip(sizes, strides)):
        shape = [1] * len(sizes)
        shape[d] = n
        offsets = offsets + (np.arange(n) * s).reshape(shape)
    flat = cx.op("Reshape", [x, ints(cx, [-1])])
    return cx.op("Gather", [flat, cx.const(offsets)], {"axis": 0})


@converter("aten::diagonal", "aten::diagonal_copy")
def diagonal(cx: Lowering, x: Value, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Value:
    """Move ``dim1, dim2`` last, flatten them, and gather the diagonal's flat positions."""
    rank = rank_of(x)
    d1, d2 = axis(dim1, rank), axis(dim2, rank)
    rows, cols = dim_size(cx, x, d1), dim_size(cx, x, d2)
    if not isinstance(rows, int) or not isinstance(cols, int):
        raise UnsupportedOpError("diagonal of dynamic dims: give them static sizes")
    first_row, first_col = max(-offset, 0), max(offset, 0)
    length = max(min(rows - first_row, cols - first_col), 0)
    positions = (np.arange(length) + first_row) * cols + np.arange(length) + first_col
    others = [d for d in range(rank) if d not in (d1, d2)]
    moved = permute(cx, x, [*others, d1, d2])
    sizes: list[IntLike] = [dim_size(cx, x, d) for d in others] + [rows * cols]
    flat = cx.op("Reshape", [moved, ints(cx, sizes)])
    return cx.op("Gather", [flat, cx.const(positions.astype(np.int64))], {"axis": len(others)})


@converter("aten::copy")
def copy(cx: Lowering, x: Value, src: Value, non_blocking: bool = False) -> Value:
    """``x`` overwritten by ``src``: src broadcast to x's shape, in x's dtype."""
    return cx.op("Expand", [cast(cx, src, dtype_of(x)), cx.op("Shape", [x])])


@converter("aten::_local_scalar_dense", "aten::item")
def local_scalar_dense(cx: Lowering, x: Value) -> Value:
    return as_0d(cx, x)
