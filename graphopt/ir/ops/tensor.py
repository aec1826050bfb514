"""Shape and layout ops (Reshape, Transpose, Concat, Slice, Pad …) with symbolic shape inference.

This family carries the *symbolic values* of shape tensors: ``Shape`` records
the dims it returns, and Concat/Slice/Squeeze/Unsqueeze/Reshape pass them on,
so a Reshape or Expand fed by shape arithmetic keeps dims like ``"N"``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, overload

import numpy as np

from graphopt.ir.dtypes import DType
from graphopt.ir.inference import InferContext, SymValue, broadcast_shapes
from graphopt.ir.interpreter import EvalContext
from graphopt.ir.registry import kernel, shape_inference
from graphopt.ir.tensor import Tensor
from graphopt.ir.types import Dim, Shape, TensorType, Type

MAX_SYM_LEN = 64
"""Longest 1-D integer tensor whose value inference tracks element by element."""

_FAR = 2**31 - 1
"""Slice bounds at or beyond this magnitude mean "to the end" whatever the dim."""


# -- symbolic dim arithmetic -------------------------------------------------------------

def dim_mul(a: Dim, b: Dim) -> Dim:
    """``a * b``; a product involving a symbol stays known only when the other factor is 1."""
    if a == 1:
        return b
    if b == 1:
        return a
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    return 0 if a == 0 or b == 0 else None


def dim_prod(dims: Iterable[Dim]) -> Dim:
    out: Dim = 1
    for d in dims:
        out = dim_mul(out, d)
    return out


def dim_add(a: Dim, b: Dim) -> Dim:
    if a == 0:
        return b
    if b == 0:
        return a
    return a + b if isinstance(a, int) and isinstance(b, int) else None


def dim_div(a: Dim, b: Dim) -> Dim:
    """``a / b`` when it is exact and knowable."""
    if b == 1:
        return a
    if isinstance(a, int) and isinstance(b, int) and b and a % b == 0:
        return a // b
    return None


def same_dim(dims: Sequence[Dim], ctx: InferContext) -> Dim:
    """The dim several inputs must agree on: static if any is, else a symbol, else unknown."""
    static = {d for d in dims if isinstance(d, int)}
    if len(static) > 1:
        raise ctx.fail(f"dims {list(dims)} must be equal")
    if static:
        return static.pop()
    return next((d for d in dims if isinstance(d, str)), None)


def normalize_axis(axis: int, rank: int, ctx: InferContext | None = None, *, extra: int = 0) -> int:
    """``axis`` in ``[0, rank + extra)``; negative axes count from the end."""
    n = rank + extra
    if not -n <= axis < n:
        msg = f"axis {axis} is out of range for rank {rank}"
        raise ctx.fail(msg) if ctx is not None else ValueError(msg)
    return axis % n


@overload
def ints(a: np.ndarray) -> list[int]: ...
@overload
def ints(a: None) -> None: ...
def ints(a: np.ndarray | None) -> list[int] | None:
    """An integer tensor's elements as Python ints (``None`` passes through, for omitted inputs)."""
    return None if a is None else [int(v) for v in np.asarray(a).reshape(-1)]


# -- inference helpers shared with indexing.py --------------------------------------------

def tensor_of(ctx: InferContext, i: int, shape: Sequence[Dim] | None, dtype: DType | None = None) -> TensorType:
    """A tensor type with input ``i``'s dtype (or ``dtype``) and ``shape``."""
    if dtype is None:
        dtype = ctx.dtype(i) or DType.UNDEFINED
    return TensorType(dtype, None if shape is None else tuple(shape))


def small_sym(ctx: InferContext, i: int) -> SymValue | None:
    """``ctx.sym(i)`` for inputs short enough to track element by element."""
    shape = ctx.shape(i)
    if shape is not None and (len(shape) > 1 or (shape and isinstance(shape[0], int) and shape[0] > MAX_SYM_LEN)):
        return None
    s = ctx.sym(i)
    return s if s is not None and len(s) <= MAX_SYM_LEN else None


def static_sym(ctx: InferContext, i: int) -> list[int] | None:
    """Input ``i`` as a list of ints, when every element is statically known."""
    s = ctx.sym(i)
    if s is None:
        return None
    values = [v for v in s if isinstance(v, int)]
    return values if len(values) == len(s) else None


def sym_shape_of(ctx: InferContext, i: int) -> Shape:
    """The dims named by a 1-D shape tensor: its symbolic value, else unknown dims of the right count."""
    s = ctx.sym(i)
    if s is not None:
        return tuple(s)
    shape = ctx.shape(i)
    if shape is not None and len(shape) == 1 and isinstance(shape[0], int):
        return (None,) * shape[0]
    return None


@shape_inference("Trilu")
def like_input(ctx: InferContext) -> list[Type]:
    """Output typed exactly as input 0."""
    return [tensor_of(ctx, 0, ctx.shape(0))]


# -- Reshape, Flatten, Squeeze, Unsqueeze ---------------------------------------------------

@kernel("Reshape")
def reshape(x: np.ndarray, shape: np.ndarray, *, allowzero: int = 0) -> np.ndarray:
    dims = ints(shape)
    if not allowzero:
        dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return x.reshape(dims)


def _solve_minus_one(source: Sequence[Dim], known: Sequence[Dim]) -> Dim:
    """The dim a Reshape's ``-1`` stands for: source numel over the product of the ``known`` target dims.

    Symbols common to both sides cancel; the result is known only if what remains is
    all static, or a single source symbol whose static cofactors cancel exactly.
    """
    if any(d is None for d in (*source, *known)):
        return None
    src_syms = Counter(d for d in source if isinstance(d, str))
    dst_syms = Counter(d for d in known if isinstance(d, str))
    common = src_syms & dst_syms
    src_syms, dst_syms = src_syms - common, dst_syms - common
    src_int = math.prod(d for d in source if isinstance(d, int))
    dst_int = math.prod(d for d in known if isinstance(d, int))
    if dst_syms or dst_int == 0:
        return None
    if not src_syms:
        return src_int // dst_int if src_int % dst_int == 0 else None
    if sum(src_syms.values()) == 1 and src_int == dst_int:
        return next(iter(src_syms))
    return None


def reshape_dims(source: Shape, target: SymValue, allowzero: bool) -> tuple[Dim, ...]:
    """Output dims of Reshape(source, target) where ``target`` may hold symbols, 0 and -1."""
    out: list[Dim] = []
    for i, d in enumerate(target):
        if d == 0 and not allowzero:
            out.append(source[i] if source is not None and i < len(source) else None)
        else:
            out.append(d)
    if -1 in out:
        i = out.index(-1)
        out[i] = None if source is None else _solve_minus_one(source, out[:i] + out[i + 1:])
    return tuple(out)


@shape_inference("Reshape")
def _infer_reshape(ctx: InferContext) -> list[Type]:
    target = ctx.sym(1)
    allowzero = bool(ctx.attr("allowzero"))
    shape = sym_shape_of(ctx, 1) if target is None else reshape_dims(ctx.shape(0), target, allowzero)
    value = small_sym(ctx, 0)
    if value is not None and shape is not None and len(shape) <= 1:
        ctx.set_sym(0, value)
    return [tensor_of(ctx, 0, shape)]


@kernel("Flatten")
def flatten(x: np.ndarray, *, axis: int = 1) -> np.ndarray:
    axis = _flatten_axis(axis, x.ndim)
    return x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))


def _flatten_axis(axis: int, rank: int, ctx: InferContext | None = None) -> int:
    """Flatten's split point in ``[0, rank]``; a negative axis counts from ``rank``."""
    return rank if axis == rank else normalize_axis(axis, rank, ctx)


@shape_inference("Flatten")
def _infer_flatten(ctx: InferContext) -> list[Type]:
    shape = ctx.shape(0)
    if shape is None:
        return [tensor_of(ctx, 0, (None, None))]
    axis = _flatten_axis(ctx.attr("axis"), len(shape), ctx)
    return [tensor_of(ctx, 0, (dim_prod(shape[:axis]), dim_prod(shape[axis:])))]


@kernel("Squeeze")
def squeeze(x: np.ndarray, axes: np.ndarray | None = None) -> np.ndarray:
    return np.squeeze(x, axis=None if axes is None else tuple(ints(axes)))


@kernel("Unsqueeze")
def unsqueeze(x: np.ndarray, axes: np.ndarray) -> np.ndarray:
    return np.expand_dims(x, tuple(ints(axes)))


def _pass_sym(ctx: InferContext, shape: Shape) -> None:
    """Carry a shape value through an op that only changes its rank between 0 and 1."""
    value = small_sym(ctx, 0)
    if value is not None and shape is not None and len(shape) <= 1:
        ctx.set_sym(0, value)


def _axes_count(ctx: InferContext, i: int) -> int | None:
    """How many axes a 1-D axes input holds, known from its shape even when its values are not."""
    shape = ctx.shape(i)
    return shape[0] if shape is not None and len(shape) == 1 and isinstance(shape[0], int) else None


@shape_inference("Squeeze")
def _infer_squeeze(ctx: InferContext) -> list[Type]:
    shape = ctx.shape(0)
    axes = static_sym(ctx, 1) if ctx.has_input(1) else None
    out: Shape = None
    if shape is None:
        pass
    elif axes is not None:
        drop = {normalize_axis(a, len(shape), ctx) for a in axes}
        for a in drop:
            if isinstance(shape[a], int) and shape[a] != 1:
                raise ctx.fail(f"cannot squeeze axis {a} of size {shape[a]}")
        out = tuple(d for i, d in enumerate(shape) if i not in drop)
    elif ctx.has_input(1):
        count = _axes_count(ctx, 1)
        out = None if count is None else (None,) * (len(shape) - count)
    elif all(isinstance(d, int) for d in shape):
        out = tuple(d for d in shape if d != 1)
    _pass_sym(ctx, out)
    return [tensor_of(ctx, 0, out)]


@shape_inference("Unsqueeze")
def _infer_unsqueeze(ctx: InferContext) -> list[Type]:
    shape = ctx.shape(0)
    axes = static_sym(ctx, 1)
    out: Shape = None
    if shape is not None and axes is not None:
        rank = len(shape) + len(axes)
        new = {normalize_axis(a, rank, ctx) for a in axes}
        rest = iter(shape)
        out = tuple(1 if i in new else next(rest) for i in range(rank))
    elif shape is not None and (count := _axes_count(ctx, 1)) is not None:
        out = (None,) * (len(shape) + count)
    _pass_sym(ctx, out)
    return [tensor_of(ctx, 0, out)]


# -- Transpose, Concat, Split ----------------------------------------------------------------

@kernel("Transpose")
def transpose(x: np.ndarray, *, perm: Sequence[int] | None = None) -> np.ndarray:
    return np.transpose(x, perm)


@shape_inference("Transpose")
def _infer_transpose(ctx: InferContext) -> list[Type]:
    shape = ctx.shape(0)
    perm = ctx.attr("perm")
    if shape is None:
        return [tensor_of(ctx, 0, None if perm is None else (None,) * len(perm))]
    perm = tuple(reversed(range(len(shape)))) if perm is None else perm
    if sorted(normalize_axis(p, len(shape), ctx) for p in perm) != list(range(len(shape))):
        raise ctx.fail(f"perm {list(perm)} is not a permutation of rank {len(shape)}")
    return [tensor_of(ctx, 0, tuple(shape[p] for p in perm))]


@kernel("Concat")
def concat(*xs: np.ndarray, axis: int) -> np.ndarray:
    return np.concatenate(xs, axis=axis)


def _elements(ctx: InferContext, i: int) -> SymValue | None:
    """A short integer input's value; unknown entries are None when only its length is known."""
    value = small_sym(ctx, i)
    if value is not None:
        return value
    shape = ctx.shape(i)
    if ctx.dtype(i) not in (DType.INT64, DType.INT32) or shape is None or len(shape) > 1:
        return None
    n = shape[0] if shape else 1
    return (None,) * n if isinstance(n, int) and n <= MAX_SYM_LEN else None


@shape_inference("Concat")
def _infer_concat(ctx: InferContext) -> list[Type]:
    shapes = [ctx.shape(i) for i in range(ctx.num_inputs)]
    dtype = next((ctx.dtype(i) for i in range(ctx.num_inputs) if ctx.dtype(i) is not None), None)
    values = [_elements(ctx, i) for i in range(ctx.num_inputs)]
    if values and all(v is not None for v in values):
        ctx.set_sym(0, tuple(d for v in values if v is not None for d in v))
    known = [s for s in shapes if s is not None]
    if not known:
        return [tensor_of(ctx, 0, None, dtype)]
    rank = len(known[0])
    if any(len(s) != rank for s in known):
        raise ctx.fail(f"inputs have different ranks: {known}")
    axis = normalize_axis(ctx.attr("axis"), rank, ctx)
    out = [None if i == axis else same_dim([s[i] for s in known], ctx) for i in range(rank)]
    total: Dim = 0
    for s in shapes:
        total = None if s is None else dim_add(total, s[axis])
    out[axis] = total
    return [tensor_of(ctx, 0, out, dtype)]


def split_sizes(length: int, parts: int) -> list[int]:
    """Chunk sizes for Split by count: ceil(length / parts) each, the last ones smaller."""
    chunk = -(-length // parts)
    return [max(0, min(chunk, length - i * chunk)) for i in range(parts)]


@kernel("Split")
def split(ctx: EvalContext, x: np.ndarray, sizes: np.ndarray | None = None, *, axis: int = 0,
          num_outputs: int | None = None) -> tuple[np.ndarray, ...]:
    axis = normalize_axis(axis, x.ndim)
    counts = split_sizes(x.shape[axis], num_outputs or ctx.num_outputs) if sizes is None else ints(sizes)
    return tuple(np.split(x, np.cumsum(counts)[:-1], axis=axis))


@shape_inference("Split")
def _infer_split(ctx: InferContext) -> list[Type]:
    shape = ctx.shape(0)
    n = ctx.num_outputs
    if shape is None:
        return [tensor_of(ctx, 0, None)] * n
    axis = normalize_axis(ctx.attr("axis"), len(shape), ctx)
    length = shape[axis]
    sizes: Sequence[Dim]
    if ctx.has_input(1):
        sizes = ctx.sym(1) or (None,) * n
    elif isinstance(length, int):
        sizes = split_sizes(length, ctx.attr("num_outputs") or n)
    else:
        sizes = (length if n == 1 else None,) * n
    if len(sizes) != n:
        raise ctx.fail(f"{len(sizes)} split sizes for {n} outputs")
    return [tensor_of(ctx, 0, (*shape[:axis], d, *shape[axis + 1:])) for d in sizes]


# -- Slice ----------------------------------------------------------------------------------

@kernel("Slice")
def slice_(x: np.ndarray, starts: np.ndarray, ends: np.ndarray, axes: np.ndarray | None = None,
           steps: np.ndarray | None = None) -> np.ndarray:
    index = [slice(None)] * x.ndim
    for a, first, last, step in _slice_specs(ints(starts), ints(ends), ints(axes), ints(steps), x.ndim):
        index[a] = slice(first, last, step)
    return x[tuple(index)]


def _slice_specs(starts: Sequence[Dim], ends: Sequence[Dim], axes: Sequence[Dim] | None,
                 steps: Sequence[Dim] | None, rank: int) -> list[tuple[int, Dim, Dim, Dim]]:
    """(axis, start, end, step) per sliced axis; Python slicing clamps exactly as ONNX does."""
    axes = range(len(starts)) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ValueError("starts, ends, axes and steps must have the same length")
    specs = []
    for a, s, e, st in zip(axes, starts, ends, steps, strict=True):
        if not isinstance(a, int):
            raise ValueError(f"slice axis {a} is not a constant")
        if st == 0:
            raise ValueError("slice step cannot be 0")
        specs.append((normalize_axis(a, rank), s, e, st))
    return specs


def _sliced_dim(dim: Dim, start: Dim, end: Dim, step: Dim) -> Dim:
    if not isinstance(step, int) or not isinstance(start, int):
        return None
    if isinstance(dim, int) and isinstance(end, int):
        return len(range(*slice(start, end, step).indices(dim)))
    if isinstance(end, str):
        # A symbolic bound is taken to lie within the sliced dim (x[:, :seq] of a longer buffer).
        return end if start == 0 and step == 1 and (dim == end or isinstance(dim, int)) else None
    if not isinstance(end, int) or abs(step) != 1:
        return None
    if step > 0:
        whole = (start == 0 or start <= -_FAR) and end >= _FAR
    else:
        whole = (start == -1 or start >= _FAR) and end <= -_FAR
    return dim if whole else None


@shape_inference("Slice")
def _infer_slice(ctx: InferContext) -> list[Type]:
    shape = ctx.shape(0)
    starts, ends, axes, steps = (ctx.sym(i) if ctx.has_input(i) else None for i in range(1, 5))
    if shape is None or starts is None or ends is None or (ctx.has_input(3) and axes is None) or (
            ctx.has_input(4) and steps is None):
        return [tensor_of(ctx, 0, None if shape is None else (None,) * len(shape))]
    try:
        specs = _slice_specs(starts, ends, axes, steps, len(shape))
    except ValueError as e:
        raise ctx.fail(str(e)) from None
    out = list(shape)
    for a, first, last, step in specs:
        out[a] = _sliced_dim(shape[a], first, last, step)
    value = small_sym(ctx, 0)
    if value is not None and len(shape) == 1 and len(specs) == 1:
        _, first, last, step = specs[0]
        if isinstance(first, int) and isinstance(last, int) and isinstance(step, int):
            ctx.set_sym(0, value[first:last:step])
    return [tensor_of(ctx, 0, out)]


# -- Shape, Size, ConstantOfShape, Range, EyeLike --------------------------------------------

@kernel("Shape")
def shape_(x: np.ndarray, *, start: int = 0, end: int | None = None) -> np.ndarray:
    return np.array(x.shape[start:end], dtype=np.int64)


@shape_inference("Shape")
def _infer_shape(ctx: InferContext) -> list[Type]:
    shape = ctx.shape(0)
    if shape is None:
        return [TensorType(DType.INT64, (None,))]
    dims = shape[ctx.attr("start"):ctx.attr("end")]
    ctx.set_sym(0, dims)
    return [TensorType(DType.INT64, (len(dims),))]


@kernel("Size")
def size(x: np.ndarray) -> np.ndarray:
    return np.array(x.size, dtype=np.int64)


@shape_inference("Size")
def _infer_size(ctx: InferContext) -> list[Type]:
    shape = ctx.shape(0)
    if shape is not None:
        ctx.set_sym(0, (dim_prod(shape),))
    return [TensorType(DType.INT64, ())]


@kernel("ConstantOfShape")
def constant_of_shape(shape: np.ndarray, *, value: Tensor | None = None) -> np.ndarray:
    fill = np.zeros(1, np.float32) if value is None else value.numpy().reshape(-1)
    return np.full(ints(shape), fill[0], dtype=fill.dtype)


@shape_inference("ConstantOfShape")
def _infer_constant_of_shape(ctx: InferContext) -> list[Type]:
    value = ctx.attr("value")
    dtype = DType.FLOAT if value is None else value.dtype
    shape = sym_shape_of(ctx, 0)
    length = shape[0] if shape is not None and len(shape) == 1 else None
    if value is not None and dtype.is_integer and isinstance(length, int) and length <= MAX_SYM_LEN:
        ctx.set_sym(0, (int(value.numpy().reshape(-1)[0]),) * length)
    return [TensorType(dtype, shape)]


def range_length(start: np.ndarray, limit: np.ndarray, delta: np.ndarray) -> int:
    """ONNX's ``max(ceil((limit - start) / delta), 0)``, exact for integers."""
    if start.dtype.kind in "iu":
        return max(-((int(start) - int(limit)) // int(delta)), 0)
    return max(math.ceil((float(limit) - float(start)) / float(delta)), 0)


@kernel("Range")
def range_(start: np.ndarray, limit: np.ndarray, delta: np.ndarray) -> np.ndarray:
    # Scalars by the spec, but exporters (and ONNX's own function bodies) also pass 1-element vectors.
    start, limit, delta = (a.reshape(()) for a in (start, limit, delta))
    n = range_length(start, limit, delta)
    return (start + np.arange(n, dtype=start.dtype) * delta).astype(start.dtype)


def _scalar_dim(ctx: InferContext, i: int) -> Dim:
    """A scalar input as a dim: an int or symbol if known (floats only when integral)."""
    s = ctx.sym(i)
    if s is not None and len(s) == 1:
        return s[0]
    c = ctx.const(i)
    if c is not None and c.size == 1 and float(c.reshape(-1)[0]).is_integer():
        return int(c.reshape(-1)[0])
    return None


@shape_inference("Range")
def _infer_range(ctx: InferContext) -> list[Type]:
    start, limit, delta = (_scalar_dim(ctx, i) for i in range(3))
    consts = [ctx.const(i) for i in range(3)]
    length: Dim = None
    if isinstance(start, int) and isinstance(limit, int) and isinstance(delta, int) and delta:
        values = range(start, limit, delta)
        length = len(values)
        if (ctx.dtype(0) or DType.UNDEFINED).is_integer and length <= MAX_SYM_LEN:
            ctx.set_sym(0, tuple(values))
    elif consts[0] is not None and consts[1] is not None and consts[2] is not None:
        length = range_length(consts[0], consts[1], consts[2])
    elif start == 0 and delta == 1:
        length = limit
    return [tensor_of(ctx, 0, (length,))]


@kernel("EyeLike")
def eye_like(x: np.ndarray, *, dtype: int | None = None, k: int = 0) -> np.ndarray:
    np_dtype = x.dtype if dtype is None else DType(dtype).numpy
    return np.eye(x.shape[0], x.shape[1], k, dtype=np_dtype)


@shape_inference("EyeLike")
def _infer_eye_like(ctx: InferContext) -> list[Type]:
    dtype = ctx.attr("dtype")
    return [tensor_of(ctx, 0, ctx.shape(0), None if dtype is None else DType(dtype))]


# -- Expand, Tile, Pad, CenterCropPad -------------------------------------------------------

@kernel("Expand")
def expand(x: np.ndarray, shape: np.ndarray) -> np.ndarray:
    return np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(ints(shape)))).copy()


@shape_inference("Expand")
def _infer_expand(ctx: InferContext) -> list[Type]:
    target = sym_shape_of(ctx, 1)
    if target is None or ctx.shape(0) is None:
        return [tensor_of(ctx, 0, None)]
    return [tensor_of(ctx, 0, broadcast_shapes([ctx.shape(0), target], ctx.node.label))]


@kernel("Tile")
def tile(x: np.ndarray, repeats: np.ndarray) -> np.ndarray:
    return np.tile(x, tuple(ints(repeats)))


@shape_inference("Tile")
def _infer_tile(ctx: InferContext) -> list[Type]:
    shape, repeats = ctx.shape(0), ctx.sym(1)
    if shape is None:
        return [tensor_of(ctx, 0, None)]
    if repeats is None:
        return [tensor_of(ctx, 0, tuple(d if d == 0 else None for d in shape))]
    if len(repeats) != len(shape):
        raise ctx.fail(f"{len(repeats)} repeats for rank {len(shape)}")
    return [tensor_of(ctx, 0, tuple(map(dim_mul, shape, repeats)))]


def _pad_axes(axes: Sequence[int] | None, rank: int) -> list[int]:
    return list(range(rank)) if axes is None else [normalize_axis(a, rank) for a in axes]


@kernel("Pad")
def pad(x: np.ndarray, pads: np.ndarray, constant_value: np.ndarray | None = None, axes: np.ndarray | None = None,
        *, mode: str = "constant") -> np.ndarray:
    axis_list = _pad_axes(ints(axes), x.ndim)
    amounts = ints(pads)
    n = len(axis_list)
    crop = [slice(None)] * x.ndim
    widths = [(0, 0)] * x.ndim
    for a, before, after in zip(axis_list, amounts[:n], amounts[n:], strict=True):
        crop[a] = slice(max(-before, 0), x.shape[a] - max(-after, 0))
        widths[a] = (max(before, 0), max(after, 0))
    x = x[tuple(crop)]
    if mode == "constant":
        fill = 0 if constant_value is None or constant_value.size == 0 else constant_value.reshape(-1)[0]
        return np.pad(x, widths, mode="constant", constant_values=np.asarray(fill).astype(x.dtype))
    if mode not in ("reflect", "edge", "wrap"):
        raise ValueError(f"unknown pad mode {mode!r}")
    return np.pad(x, widths, mode=mode)  # type: ignore[call-overload]


@shape_inference("Pad")
def _infer_pad(ctx: InferContext) -> list[Type]:
    shape, pads = ctx.shape(0), ctx.sym(1)
    axes = static_sym(ctx, 3) if ctx.has_input(3) else None
    if shape is None or (ctx.has_input(3) and axes is None):
        return [tensor_of(ctx, 0, None if shape is None else (None,) * len(shape))]
    axis_list = _pad_axes(axes, len(shape))
    if pads is None:
        return [tensor_of(ctx, 0, tuple(None if i in axis_list else d for i, d in enumerate(shape)))]
    n = len(axis_list)
    if len(pads) != 2 * n:
        raise ctx.fail(f"{len(pads)} pads for {n} axes")
    out = list(shape)
    for a, before, after in zip(axis_list, pads[:n], pads[n:], strict=True):
        out[a] = dim_add(dim_add(shape[a], before), after)
    return [tensor_of(ctx, 0, out)]


@kernel("CenterCropPad")
def center_crop_pad(x: np.ndarray, shape: np.ndarray, *, axes: Sequence[int] | None = None) -> np.ndarray:
    axis_list = _pad_axes(axes, x.ndim)
    out_shape = list(x.shape)
    src = [slice(None)] * x.ndim
    dst = [slice(None)] * x.ndim
    for a, target in zip(axis_list, ints(shape), strict=True):
        have = x.shape[a]
        out_shape[a] = target
        if target < have:
            src[a] = slice((have - target) // 2, (have - target) // 2 + target)
        else:
            dst[a] = slice((target - have) // 2, (target - have) // 2 + have)
    out = np.zeros(out_shape, x.dtype)
    out[tuple(dst)] = x[tuple(src)]
    return out


@shape_inference("CenterCropPad")
def _infer_center_crop_pad(ctx: InferContext) -> list[Type]:
    shape, target = ctx.shape(0), sym_shape_of(ctx, 1)
    if shape is None:
        return [tensor_of(ctx, 0, None)]
    axis_list = _pad_axes(ctx.attr("axes"), len(shape))
    out = list(shape)
    for a, d in zip(axis_list, target or (None,) * len(axis_list), strict=True):
        out[a] = d
    return [tensor_of(ctx, 0, out)]


# -- DepthToSpace, SpaceToDepth, Col2Im, Trilu ------------------------------------------------

@kernel("DepthToSpace")
def depth_to_space(x: np.ndarray, *, blocksize: int, mode: str = "DCR") -> np.ndarray:
    n, c, h, w = x.shape
    b = blocksize
    if mode == "DCR":
        t = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    else:
        t = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    return t.reshape(n, c // (b * b), h * b, w * b)


@kernel("SpaceToDepth")
def space_to_depth(x: np.ndarray, *, blocksize: int, mode: str = "DCR") -> np.ndarray:
    """``mode`` (DCR or CRD, as in DepthToSpace) arrived in opset 28."""
    n, c, h, w = x.shape
    b = blocksize
    perm = (0, 3, 5, 1, 2, 4) if mode == "DCR" else (0, 1, 3, 5, 2, 4)
    t = x.reshape(n, c, h // b, b, w // b, b).transpose(perm)
    return t.reshape(n, c * b * b, h // b, w // b)


@shape_inference("DepthToSpace", "SpaceToDepth")
def _infer_depth_space(ctx: InferContext) -> list[Type]:
    shape = ctx.shape(0)
    if shape is None:
        return [tensor_of(ctx, 0, (None,) * 4)]
    if len(shape) != 4:
        raise ctx.fail(f"expects a rank-4 input, got {shape}")
    n, c, h, w = shape
    b = ctx.attr("blocksize")
    if ctx.node.op == "DepthToSpace":
        return [tensor_of(ctx, 0, (n, dim_div(c, b * b), dim_mul(h, b), dim_mul(w, b)))]
    return [tensor_of(ctx, 0, (n, dim_mul(c, b * b), dim_div(h, b), dim_div(w, b)))]


@kernel("Col2Im")
def col2im(x: np.ndarray, image_shape: np.ndarray, block_shape: np.ndarray, *, dilations: Sequence[int] | None = None,
           pads: Sequence[int] | None = None, strides: Sequence[int] | None = None) -> np.ndarray:
    image, block = ints(image_shape), ints(block_shape)
    nd = len(image)
    dilations = dilations or (1,) * nd
    strides = strides or (1,) * nd
    pads = pads or (0,) * (2 * nd)
    padded = [image[d] + pads[d] + pads[d + nd] for d in range(nd)]
    counts = [(padded[d] - dilations[d] * (block[d] - 1) - 1) // strides[d] + 1 for d in range(nd)]
    n = x.shape[0]
    c = x.shape[1] // math.prod(block)
    columns = x.reshape(n, c, *block, *counts)
    out = np.zeros((n, c, *padded), x.dtype)
    for offset in np.ndindex(*block):
        starts = [k * dl for k, dl in zip(offset, dilations, strict=True)]
        window: tuple[Any, ...] = (Ellipsis, *(slice(b, b + st * (m - 1) + 1, st)
                                              for b, st, m in zip(starts, strides, counts, strict=True)))
        block_columns: tuple[Any, ...] = (slice(None), slice(None), *offset)
        out[window] += columns[block_columns]
    crop: tuple[Any, ...] = (Ellipsis, *(slice(pads[d], pads[d] + image[d]) for d in range(nd)))
    return out[crop]


@shape_inference("Col2Im")
def _infer_col2im(ctx: InferContext) -> list[Type]:
    shape, image, block = ctx.shape(0), sym_shape_of(ctx, 1), ctx.sym(2)
    if shape is not None and len(shape) != 3:
        raise ctx.fail(f"expects a rank-3 input, got {shape}")
    n, cb = (shape[0], shape[1]) if shape is not None else (None, None)
    c = dim_div(cb, dim_prod(block)) if block is not None else None
    return [tensor_of(ctx, 0, None if image is None else (n, c, *image))]


@kernel("Trilu")
def trilu(x: np.ndarray, k: np.ndarray | None = None, *, upper: int = 1) -> np.ndarray:
    diagonal = 0 if k is None else int(k.reshape(-1)[0])
    return np.triu(x, diagonal) if upper else np.tril(x, diagonal)
