"""Data movement and reductions: Shuffle (reshape, transpose, squeeze), Slice (slice, split, pad, expand,
tile), Concatenation, Gather, Shape, Constant and Reduce/TopK converters."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from graphopt.codegen.tensorrt.emitter import Dim, Emitter, ir_shape
from graphopt.codegen.tensorrt.registry import FLOATS, const_array, converter, needs_const, static_dims
from graphopt.ir.core import Node, Value
from graphopt.ir.dtypes import DType

if TYPE_CHECKING:
    from tensorrt import ITensor


def _in(node: Node, i: int = 0) -> Value:
    v = node.inputs[i]
    assert v is not None and v.shape is not None
    return v


def _const(node: Node, i: int) -> np.ndarray | None:
    v = node.inputs[i] if i < len(node.inputs) else None
    return None if v is None else v.numpy()


def _rank(node: Node) -> int:
    return len(_in(node).shape)


def _norm(axes: Sequence[int] | np.ndarray, rank: int) -> list[int]:
    """Axes (a list, or an array of any rank) with negatives counted from the end."""
    return [a + rank if a < 0 else a for a in np.asarray(axes, np.int64).reshape(-1).tolist()]


def _static_axes(node: Node, axes: Sequence[int]) -> str | None:
    shape = _in(node).shape
    dynamic = [a for a in axes if not isinstance(shape[a], int)]
    return f"axes {dynamic} have dynamic sizes; TensorRT needs them static here" if dynamic else None


# -- shuffle -------------------------------------------------------------------------------------


def _reshape_check(node: Node) -> str | None:
    shape = node.inputs[1]
    if shape is not None and shape.const is None and shape.producer is None:
        return "Reshape to a shape fed as a network input (TensorRT would need it as a host shape tensor)"
    return None


@converter("Reshape", check=_reshape_check)
def convert_reshape(em: Emitter, node: Node) -> None:
    layer = em.network.add_shuffle(em.tensor(_in(node)))
    shape = _const(node, 1)
    if shape is not None:
        layer.reshape_dims = em.trt.Dims([int(d) for d in shape])
    else:
        layer.set_input(1, em.tensor(_in(node, 1)))
    layer.zero_is_placeholder = not node.attr("allowzero")
    em.result(node, layer)


def _flatten_check(node: Node) -> str | None:
    shape = _in(node).shape
    axis = _norm([node.attr("axis")], len(shape))[0]
    if axis <= 1 or all(isinstance(d, int) for d in shape[:axis]) or all(isinstance(d, int) for d in shape[axis:]):
        return None
    return "Flatten with dynamic dims on both sides of the axis"


@converter("Flatten", check=_flatten_check)
def convert_flatten(em: Emitter, node: Node) -> None:
    shape = ir_shape(_in(node))
    axis = _norm([node.attr("axis")], len(shape))[0]
    head, tail = shape[:axis], shape[axis:]
    spec: list[int | Dim] = [
        math.prod(head) if -1 not in head else Dim(0) if axis == 1 else -1,
        math.prod(tail) if -1 not in tail else -1]
    em.out(node, em.reshape(em.tensor(_in(node)), spec))


@converter("Transpose")
def convert_transpose(em: Emitter, node: Node) -> None:
    perm = node.attr("perm", None) or list(range(_rank(node)))[::-1]
    em.out(node, em.transpose(em.tensor(_in(node)), perm))


@converter("Squeeze", "Unsqueeze", check=needs_const(1))
def convert_squeeze(em: Emitter, node: Node) -> None:
    x_value, out = _in(node), node.outputs[0]
    assert out is not None and out.shape is not None
    rank = len(x_value.shape)
    axes_array = _const(node, 1)
    spec: list[int | Dim]
    if node.op == "Squeeze":
        axes = _norm(axes_array, rank) if axes_array is not None else [i for i, d in enumerate(x_value.shape)
                                                                        if d == 1]
        spec = [Dim(i) for i in range(rank) if i not in axes]
    else:
        assert axes_array is not None
        axes = _norm(axes_array, len(out.shape))
        kept = iter(range(rank))
        spec = [1 if i in axes else Dim(next(kept)) for i in range(len(out.shape))]
    em.out(node, em.reshape(em.tensor(x_value), spec, tag=node.op.lower()))


# -- concatenation and slicing -------------------------------------------------------------------


@converter("Concat")
def convert_concat(em: Emitter, node: Node) -> None:
    tensors = [em.tensor(v) for v in node.inputs if v is not None]
    layer = em.network.add_concatenation(tensors)
    layer.axis = _norm([node.attr("axis")], _rank(node))[0]
    em.result(node, layer)


def slice_axes(em: Emitter, x: ITensor, axes: Sequence[int], starts: Sequence[int], sizes: Sequence[int],
               strides: Sequence[int], mode: str = "STRICT_BOUNDS", fill: ITensor | None = None,
               tag: str = "slice") -> ITensor:
    """A Slice layer over ``axes`` only (other dims pass whole, static or not); ``fill`` is the value
    ``FILL`` mode reads outside the input."""
    trt = em.trt
    layer = em.network.add_slice(x, trt.Dims(list(starts)), trt.Dims(list(sizes)), trt.Dims(list(strides)))
    layer.axes = trt.Dims(list(axes))
    if mode != "STRICT_BOUNDS":
        layer.mode = getattr(trt.SampleMode, mode)
    if fill is not None:
        layer.set_input(4, fill)
    shape = list(em.shape(x))
    for a, s in zip(axes, sizes):
        shape[a] = s
    return em.layer_output(layer, shape, em.info(x).dtype, tag)


def _slice_check(node: Node) -> str | None:
    if (reason := needs_const(3, 4)(node)) is not None:
        return reason
    if _slice_is_static(node):
        return None
    steps = _const(node, 4)
    if steps is not None and (steps <= 0).any():
        return "Slice with run-time bounds and a negative step"
    starts = node.inputs[1]
    if starts is None or starts.shape is None or not static_dims(starts):
        return "Slice whose starts have an unknown length"
    return None


def _slice_is_static(node: Node) -> bool:
    """Constant bounds over axes of static size: the first index and count are computed here."""
    if _const(node, 1) is None or _const(node, 2) is None:
        return False
    axes = _const(node, 3)
    chosen = _norm(axes, _rank(node)) if axes is not None else list(range(len(const_array(node, 1))))
    return _static_axes(node, chosen) is None


@converter("Slice", check=_slice_check)
def convert_slice(em: Emitter, node: Node) -> None:
    x_value = _in(node)
    shape = ir_shape(x_value)
    axes_array, steps_array = _const(node, 3), _const(node, 4)
    count = _in(node, 1).shape[0]  # the check made sure starts is 1-D of static length
    assert isinstance(count, int)
    axes = _norm(axes_array, len(shape)) if axes_array is not None else list(range(count))
    steps = [int(s) for s in steps_array] if steps_array is not None else [1] * len(axes)
    if not _slice_is_static(node):
        em.out(node, _dynamic_slice(em, node, axes, steps))
        return
    starts, ends = _const(node, 1), _const(node, 2)
    assert starts is not None and ends is not None
    begin, sizes = [], []
    for a, start, end, step in zip(axes, starts.tolist(), ends.tolist(), steps):
        first, size = _slice_range(shape[a], start, end, step)
        begin.append(first)
        sizes.append(size)
    em.out(node, slice_axes(em, em.tensor(x_value), axes, begin, sizes, steps))


def _dynamic_slice(em: Emitter, node: Node, axes: list[int], steps: list[int]) -> ITensor:
    """ONNX's clamping of starts and ends done with layers on 1-D INT64 tensors (positive steps), fed to the
    Slice as its start and size inputs."""
    x = em.tensor(_in(node))
    k = len(axes)
    dims = em.dims_tensor(x, [Dim(a) for a in axes])
    zero = em.scalar(0, DType.INT64, 1)

    def clamp(v: Value) -> ITensor:
        raw = em.cast(em.tensor(v), DType.INT64)
        wrapped = em.layer_output(em.network.add_select(em.binary(raw, zero, "LESS"), em.binary(raw, dims, "SUM"),
                                                        raw), (k,), DType.INT64, "wrap")
        return em.binary(em.binary(wrapped, zero, "MAX"), dims, "MIN", tag="clamp")

    start, end = clamp(_in(node, 1)), clamp(_in(node, 2))
    step = em.constant(np.array(steps, np.int64), DType.INT64, "steps")
    span = em.binary(em.binary(end, start, "SUB"), em.binary(step, em.scalar(1, DType.INT64, 1), "SUB"), "SUM")
    size = em.binary(em.binary(span, step, "FLOOR_DIV"), zero, "MAX", tag="size")
    layer = em.network.add_slice(x, em.trt.Dims([0] * k), em.trt.Dims([1] * k), em.trt.Dims(steps))
    layer.axes = em.trt.Dims(axes)
    layer.set_input(1, start)
    layer.set_input(2, size)
    return em.result(node, layer)


def _slice_range(dim: int, start: int, end: int, step: int) -> tuple[int, int]:
    """ONNX Slice's clamped first index and element count along one axis of size ``dim``."""
    start = start + dim if start < 0 else start
    end = end + dim if end < 0 else end
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
        return start, max(0, -(-(end - start) // step))
    start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    return start, max(0, -(-(start - end) // -step))


def _split_check(node: Node) -> str | None:
    axis = _norm([node.attr("axis")], _rank(node))[0]
    return needs_const(1)(node) or _static_axes(node, [axis])


@converter("Split", check=_split_check)
def convert_split(em: Emitter, node: Node) -> None:
    x_value = _in(node)
    axis = _norm([node.attr("axis")], len(x_value.shape))[0]
    x = em.tensor(x_value)
    start = 0
    for i, out in enumerate(node.outputs):
        assert out is not None and out.shape is not None
        size = out.shape[axis]
        assert isinstance(size, int)
        em.out(node, slice_axes(em, x, [axis], [start], [size], [1], tag=f"split{i}"), i)
        start += size


_PAD_MODES = {"constant": "FILL", "reflect": "REFLECT", "edge": "CLAMP", "wrap": "WRAP"}


def _pad_check(node: Node) -> str | None:
    if (reason := needs_const(1, 2, 3)(node)) is not None:
        return reason
    pads, rank = _const(node, 1), _rank(node)
    axes = _const(node, 3)
    axes_list = _norm(axes, rank) if axes is not None else list(range(rank))
    assert pads is not None
    padded = [a for a, b, e in zip(axes_list, pads[:len(axes_list)], pads[len(axes_list):]) if b or e]
    return _static_axes(node, padded)


@converter("Pad", check=_pad_check)
def convert_pad(em: Emitter, node: Node) -> None:
    """A Slice starting before the tensor and running past it, in FILL, REFLECT, CLAMP or WRAP mode."""
    x_value = _in(node)
    shape = ir_shape(x_value)
    pads, axes_array = _const(node, 1), _const(node, 3)
    assert pads is not None
    axes = _norm(axes_array, len(shape)) if axes_array is not None else list(range(len(shape)))
    n = len(axes)
    chosen = [(a, int(b), int(e)) for a, b, e in zip(axes, pads[:n], pads[n:]) if b or e]
    x = em.tensor(x_value)
    mode = _PAD_MODES[node.attr("mode")]
    if not chosen:
        em.out(node, em.layer_output(em.network.add_identity(x), em.shape(x), em.info(x).dtype))
        return
    fill = None
    if mode == "FILL":
        value = _const(node, 2)
        array = np.zeros((), x_value.dtype.numpy) if value is None else np.asarray(value, x_value.dtype.numpy)
        fill = em.constant(array.reshape(()), x_value.dtype, "pad_value")
    em.out(node, slice_axes(em, x, [a for a, _, _ in chosen], [-b for _, b, _ in chosen],
                            [shape[a] + b + e for a, b, e in chosen], [1] * len(chosen), mode, fill, tag="pad"))


def _expand_check(node: Node) -> str | None:
    out, target = node.outputs[0], node.inputs[1]
    assert out is not None and out.shape is not None and target is not None
    array = target.numpy()
    if array is None:
        return None if static_dims(target) else "Expand to a shape of unknown length"
    x_shape = (1,) * (len(out.shape) - _rank(node)) + tuple(_in(node).shape)
    dims = (1,) * (len(out.shape) - len(array)) + tuple(int(t) for t in array)
    if any(not isinstance(d, int) and t != 1 for d, t in zip(x_shape, dims)):
        return "Expand of a dynamic dim to a fixed size"
    return None


@converter("Expand", check=_expand_check)
def convert_expand(em: Emitter, node: Node) -> None:
    """A Slice with stride 0 along the broadcast axes (it reads the one element again and again)."""
    out = node.outputs[0]
    assert out is not None and out.shape is not None
    rank = len(out.shape)
    x = em.operand(_in(node), rank)
    target = _const(node, 1)
    if target is None:
        em.out(node, _dynamic_expand(em, node, x))
        return
    target_dims = (1,) * (rank - len(target)) + tuple(int(t) for t in target)
    axes, sizes = [], []
    for a, (d, t) in enumerate(zip(em.shape(x), target_dims)):
        if d == 1 and t != 1:
            axes.append(a)
            sizes.append(t)
    if not axes:
        em.out(node, em.layer_output(em.network.add_identity(x), em.shape(x), em.info(x).dtype))
        return
    em.out(node, slice_axes(em, x, axes, [0] * len(axes), sizes, [0] * len(axes), tag="expand"))


def _dynamic_expand(em: Emitter, node: Node, x: ITensor) -> ITensor:
    """A Slice whose size is max(shape(x), target) and whose stride is 0 where x has size 1 (dims ≥ 1)."""
    rank = em.rank(x)
    target = em.cast(em.tensor(_in(node, 1)), DType.INT64)
    short = rank - em.shape(target)[0]
    if short:
        ones = em.constant(np.ones(short, np.int64), DType.INT64, "leading_ones")
        concat = em.network.add_concatenation([ones, target])
        target = em.layer_output(concat, (rank,), DType.INT64, "target")
    have = em.shape_tensor(x)
    one = em.scalar(1, DType.INT64, 1)
    size = em.binary(have, target, "MAX", tag="size")
    stride = em.binary(em.binary(have, one, "SUB"), one, "MIN", tag="stride")
    layer = em.network.add_slice(x, em.trt.Dims([0] * rank), em.trt.Dims([1] * rank), em.trt.Dims([1] * rank))
    layer.set_input(2, size)
    layer.set_input(3, stride)
    return em.result(node, layer)


def _tile_check(node: Node) -> str | None:
    if (reason := needs_const(1)(node)) is not None:
        return reason
    repeats = _const(node, 1)
    assert repeats is not None
    return _static_axes(node, [a for a, r in enumerate(repeats) if r != 1])


@converter("Tile", check=_tile_check)
def convert_tile(em: Emitter, node: Node) -> None:
    """A Slice in WRAP mode that runs ``repeats`` times over the input."""
    x_value = _in(node)
    shape = ir_shape(x_value)
    repeats = _const(node, 1)
    assert repeats is not None
    axes = [a for a, r in enumerate(repeats) if r != 1]
    x = em.tensor(x_value)
    if not axes:
        em.out(node, em.layer_output(em.network.add_identity(x), em.shape(x), em.info(x).dtype))
        return
    em.out(node, slice_axes(em, x, axes, [0] * len(axes), [shape[a] * int(repeats[a]) for a in axes],
                            [1] * len(axes), "WRAP", tag="tile"))


# -- gather, shape, constants --------------------------------------------------------------------


def _gather_check(node: Node) -> str | None:
    indices = node.inputs[1]
    assert indices is not None
    if indices.dtype not in (DType.INT32, DType.INT64):
        return f"indices of type {indices.dtype.name}"
    return None


@converter("Gather", check=_gather_check)
def convert_gather(em: Emitter, node: Node) -> None:
    x_value, idx_value = _in(node), _in(node, 1)
    axis = _norm([node.attr("axis")], len(x_value.shape))[0]
    indices = nonnegative_indices(em, em.tensor(x_value), axis, idx_value)
    em.result(node, em.network.add_gather(em.tensor(x_value), indices, axis))


def nonnegative_indices(em: Emitter, x: ITensor, axis: int, idx_value: Value) -> ITensor:
    """TensorRT's Gather reads indices in [0, d): negative ONNX indices get the axis size ``d`` added (in numpy
    for constants, else with a Select; ``d`` from the shape at run time when it is dynamic)."""
    dim = em.shape(x)[axis]
    array = idx_value.numpy()
    if array is not None and (array.min(initial=0) >= 0 or dim != -1):
        return em.constant(np.where(array < 0, array + dim, array), idx_value.dtype, "indices")
    raw = em.tensor(idx_value)
    rank = em.rank(raw)
    if dim != -1:
        size = em.scalar(dim, idx_value.dtype, rank)
    else:
        size = em.to_rank(em.cast(em.dims_tensor(x, [Dim(axis)]), idx_value.dtype), rank)
    negative = em.binary(raw, em.scalar(0, idx_value.dtype, rank), "LESS")
    shifted = em.binary(raw, size, "SUM")
    return em.layer_output(em.network.add_select(negative, shifted, raw), em.shape(raw), idx_value.dtype,
                           "wrap_indices")


@converter("Shape")
def convert_shape(em: Emitter, node: Node) -> None:
    x = em.tensor(_in(node))
    rank = em.rank(x)
    start, end = (_norm([node.attr(k, d)], rank)[0] for k, d in (("start", 0), ("end", rank)))
    start, end = min(max(start, 0), rank), min(max(end, 0), rank)
    shape = em.shape_tensor(x)
    if (start, end) != (0, rank):
        shape = slice_axes(em, shape, [0], [start], [max(end - start, 0)], [1])
    em.out(node, shape)


@converter("Size")
def convert_size(em: Emitter, node: Node) -> None:
    shape = em.shape_tensor(em.tensor(_in(node)))
    em.result(node, em.network.add_reduce(shape, em.trt.ReduceOperation.PROD, 1, False))


@converter("Constant", check=lambda n: None if n.attr("value", None) is not None else "Constant without a tensor "
           "value (fold it first)")
def convert_constant(em: Emitter, node: Node) -> None:
    out = node.outputs[0]
    assert out is not None
    em.out(node, em.constant(node.attr("value").numpy(), out.dtype))


def _constant_of_shape_check(node: Node) -> str | None:
    shape = node.inputs[0]
    return None if static_dims(node.outputs[0]) or static_dims(shape) else "ConstantOfShape of unknown rank"


@converter("ConstantOfShape", check=_constant_of_shape_check)
def convert_constant_of_shape(em: Emitter, node: Node) -> None:
    out = node.outputs[0]
    assert out is not None and out.shape is not None
    value = node.attr("value", None)
    fill = value.numpy().reshape(-1)[0] if value is not None else 0
    if static_dims(out):
        em.out(node, em.constant(np.full(ir_shape(out), fill, out.dtype.numpy), out.dtype))
        return
    em.out(node, em.cast(linspace(em, em.cast(em.tensor(_in(node)), DType.INT64), fill, 0, out.dtype),
                         em.cdtype(out.dtype)))


def linspace(em: Emitter, shape: ITensor, start: float | ITensor, delta: float | ITensor, dtype: DType) -> ITensor:
    """A LINSPACE Fill of run-time ``shape`` (1-D INT64): start + Σ delta·index. TensorRT fills INT32, INT64 and
    FLOAT only, so other types are filled in the nearest of those (the caller casts)."""
    fill_type = dtype if dtype in (DType.INT32, DType.INT64, DType.FLOAT) else \
        DType.FLOAT if dtype in FLOATS else DType.INT32
    rank = em.shape(shape)[0]
    layer = em.network.add_fill(em.trt.Dims([1] * rank), em.trt.FillOperation.LINSPACE, em.dtype(fill_type))
    layer.set_input(0, shape)
    start_t = start if not isinstance(start, (int, float, np.generic)) else \
        em.constant(np.array(start, fill_type.numpy), fill_type, "start")
    delta_t = delta if not isinstance(delta, (int, float, np.generic)) else \
        em.constant(np.full(rank, delta, fill_type.numpy), fill_type, "delta")
    layer.set_input(1, em.cast(start_t, fill_type))
    layer.set_input(2, em.cast(delta_t, fill_type))
    return em.layer_output(layer, (-1,) * rank, fill_type, "fill")


# -- reductions ----------------------------------------------------------------------------------

_REDUCE = {"ReduceSum": "SUM", "ReduceMean": "AVG", "ReduceMax": "MAX", "ReduceMin": "MIN", "ReduceProd": "PROD",
           "ReduceL1": "SUM", "ReduceL2": "SUM", "ReduceSumSquare": "SUM", "ReduceLogSum": "SUM",
           "ReduceLogSumExp": "SUM"}


def _reduce_check(node: Node) -> str | None:
    if (reason := needs_const(1)(node)) is not None:
        return reason
    dtype = _in(node).dtype
    if dtype not in FLOATS and dtype not in (DType.INT32, DType.INT64):
        return f"{node.op} on {dtype.name}"
    if node.op in ("ReduceL2", "ReduceLogSum", "ReduceLogSumExp") and dtype not in FLOATS:
        return f"{node.op} on integers"
    if 0 in (_in(node).shape or ()):
        return "reduction of an empty tensor"
    return None


@converter(*_REDUCE, check=_reduce_check)
def convert_reduce(em: Emitter, node: Node) -> None:
    x = em.tensor(_in(node))
    rank = em.rank(x)
    axes_array = _const(node, 1)
    if axes_array is None or not axes_array.size:
        if node.attr("noop_with_empty_axes"):
            em.out(node, em.layer_output(em.network.add_identity(x), em.shape(x), em.info(x).dtype))
            return
        axes = list(range(rank))
    else:
        axes = _norm(axes_array, rank)
    if node.op in ("ReduceL1",):
        x = em.unary(x, "ABS")
    elif node.op in ("ReduceL2", "ReduceSumSquare"):
        x = em.binary(x, x, "PROD", tag="square")
    elif node.op == "ReduceLogSumExp":
        x = em.unary(x, "EXP")
    if rank == 0:
        y = em.layer_output(em.network.add_identity(x), (), em.info(x).dtype)
    else:
        layer = em.network.add_reduce(x, getattr(em.trt.ReduceOperation, _REDUCE[node.op]),
                                      sum(1 << a for a in axes), bool(node.attr("keepdims")))
        out = node.outputs[0]
        assert out is not None
        y = em.layer_output(layer, ir_shape(out), em.info(x).dtype)
    if node.op == "ReduceL2":
        y = em.unary(y, "SQRT")
    elif node.op in ("ReduceLogSum", "ReduceLogSumExp"):
        y = em.unary(y, "LOG")
    em.out(node, y)


def _arg_check(node: Node) -> str | None:
    if node.attr("select_last_index"):
        return "select_last_index"
    return None if _in(node).dtype in FLOATS or _in(node).dtype == DType.INT32 else "ArgMax/ArgMin type"


@converter("ArgMax", "ArgMin", check=_arg_check)
def convert_arg(em: Emitter, node: Node) -> None:
    """TopK with k = 1; its second output holds the (INT32) indices."""
    x = em.tensor(_in(node))
    rank = em.rank(x)
    axis = _norm([node.attr("axis")], rank)[0]
    op = em.trt.TopKOperation.MAX if node.op == "ArgMax" else em.trt.TopKOperation.MIN
    layer = em.network.add_topk(x, op, 1, 1 << axis)
    shape = list(em.shape(x))
    shape[axis] = 1
    em.name(layer)
    indices = em.track(layer.get_output(1), shape, DType.INT32)
    indices = em.cast(indices, DType.INT64)
    if not node.attr("keepdims"):
        indices = em.reshape(indices, [Dim(i) for i in range(rank) if i != axis], tag="drop_axis")
    em.out(node, indices)

