"""Converters of shape and data-movement ops: Reshape, Slice, Gather, Pad, Concat, Split, TopK …"""

from __future__ import annotations

from typing import Any

import numpy as np
import openvino.opset16 as ov_ops

from graphopt.codegen.openvino.emitter import OV_TYPES, Lowering, rank
from graphopt.codegen.openvino.table import converter, known_rank, refuse_attrs
from graphopt.ir.core import Node
from graphopt.ir.dtypes import DType


def _shape(b: Lowering, x: Any) -> Any:
    return ov_ops.shape_of(x, "i64").output(0)


def dim(b: Lowering, x: Any, axis: Any) -> Any:
    """``x.shape[axis]`` as a 1-element i64 tensor (``axis`` an int or an i64 output)."""
    index = b.i64([axis]) if isinstance(axis, int) else ov_ops.reshape(axis, b.i64([1]), False)
    return ov_ops.gather(_shape(b, x), index, b.i64(0)).output(0)


def normalize_indices(b: Lowering, indices: Any, size: Any) -> Any:
    """Negative indices counted from the end, as ONNX allows (``size`` broadcast against ``indices``)."""
    size = ov_ops.convert_like(size, indices)
    negative = ov_ops.less(indices, b.const(0, indices))
    return ov_ops.select(negative, ov_ops.add(indices, size), indices).output(0)


@converter("Shape")
def shape(b: Lowering, node: Node, x: list[Any]) -> Any:
    s = _shape(b, x[0])
    start, end = node.attr("start"), node.attr("end", None)
    if start == 0 and end is None:
        return s
    end = np.iinfo(np.int64).max if end is None else end
    return ov_ops.slice(s, b.i64([start]), b.i64([end]), b.i64([1]))


@converter("Size")
def size(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.reduce_prod(_shape(b, x[0]), b.i64(0), False)


@converter("Reshape")
def reshape(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.reshape(x[0], x[1], not node.attr("allowzero"))


@converter("Flatten", check=known_rank(0))
def flatten(b: Lowering, node: Node, x: list[Any]) -> Any:
    axis = node.attr("axis") + rank(x[0]) if node.attr("axis") < 0 else node.attr("axis")
    if axis == 0:
        return ov_ops.reshape(x[0], b.i64([1, -1]), False)
    lead = ov_ops.reduce_prod(ov_ops.slice(_shape(b, x[0]), b.i64([0]), b.i64([axis]), b.i64([1])), b.i64(0), True)
    return ov_ops.reshape(x[0], ov_ops.concat([lead, b.i64([-1])], 0), False)


def _transpose_check(node: Node) -> str | None:
    return None if node.attr("perm", None) is not None else known_rank(0)(node)


@converter("Transpose", check=_transpose_check)
def transpose(b: Lowering, node: Node, x: list[Any]) -> Any:
    perm = node.attr("perm", None)
    if perm is None:
        perm = list(range(rank(x[0])))[::-1]
    return ov_ops.transpose(x[0], b.i64(list(perm)))


@converter("Squeeze")
def squeeze(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.squeeze(x[0], x[1]) if len(x) > 1 and x[1] is not None else ov_ops.squeeze(x[0])


@converter("Unsqueeze")
def unsqueeze(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.unsqueeze(x[0], x[1])


@converter("Concat")
def concat(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.concat(x, node.attr("axis"))


@converter("Split", check=known_rank(0))
def split(b: Lowering, node: Node, x: list[Any]) -> Any:
    axis = node.attr("axis")
    if len(x) > 1 and x[1] is not None:
        return ov_ops.variadic_split(x[0], b.i64(axis), x[1])
    parts = len(node.outputs)
    size = x[0].get_partial_shape()[axis]
    if size.is_static and size.get_length() % parts:
        chunk = -(-size.get_length() // parts)  # ONNX: equal chunks of ceil(size/parts), the last smaller
        lengths = [chunk] * (parts - 1) + [size.get_length() - chunk * (parts - 1)]
        return ov_ops.variadic_split(x[0], b.i64(axis), b.i64(lengths))
    return ov_ops.split(x[0], b.i64(axis), parts)


@converter("Slice")
def slice_(b: Lowering, node: Node, x: list[Any]) -> Any:
    data, starts, ends = x[:3]
    axes = x[3] if len(x) > 3 else None
    steps = x[4] if len(x) > 4 else None
    if steps is None:
        steps = ov_ops.broadcast(ov_ops.convert_like(b.i64(1), starts), ov_ops.shape_of(starts, "i64"))
    return ov_ops.slice(data, starts, ends, steps, axes) if axes is not None else ov_ops.slice(data, starts, ends,
                                                                                                steps)


@converter("Gather")
def gather(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.gather(x[0], x[1], b.i64(node.attr("axis")))


@converter("GatherElements")
def gather_elements(b: Lowering, node: Node, x: list[Any]) -> Any:
    axis = node.attr("axis")
    return ov_ops.gather_elements(x[0], normalize_indices(b, x[1], dim(b, x[0], axis)), axis)


@converter("GatherND")
def gather_nd(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.gather_nd(x[0], x[1], node.attr("batch_dims"))


@converter("Expand")
def expand(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.broadcast(x[0], x[1], broadcast_spec="BIDIRECTIONAL")


@converter("Tile")
def tile(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.tile(x[0], x[1])


@converter("ConstantOfShape")
def constant_of_shape(b: Lowering, node: Node, x: list[Any]) -> Any:
    value = node.attr("value", None)
    fill = np.zeros((), np.float32) if value is None else np.asarray(value.numpy()).reshape(())
    return ov_ops.broadcast(b.const(fill), x[0])


@converter("Range")
def range_(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.range(x[0], x[1], x[2], output_type=x[0].get_element_type())


@converter("Pad", check=refuse_attrs(mode=("constant", "reflect", "edge")))
def pad(b: Lowering, node: Node, x: list[Any]) -> Any:
    data, pads = x[0], x[1]
    value = x[2] if len(x) > 2 and x[2] is not None else b.const(0, data)
    axes = x[3] if len(x) > 3 else None
    if axes is not None:  # scatter the given axes' pads into full-rank begin/end vectors
        r = rank(data)
        axes = normalize_indices(b, ov_ops.convert(axes, "i64"), b.i64(r))
        begin_end = ov_ops.split(pads, b.i64(0), 2)
        zeros = b.i64([0] * r)
        begin = ov_ops.scatter_update(zeros, axes, begin_end.output(0), b.i64(0))
        end = ov_ops.scatter_update(zeros, axes, begin_end.output(1), b.i64(0))
    else:
        halves = ov_ops.split(pads, b.i64(0), 2)
        begin, end = halves.output(0), halves.output(1)
    return ov_ops.pad(data, begin, end, node.attr("mode"), ov_ops.reshape(value, b.i64([]), False))


@converter("Trilu", check=known_rank(0))
def trilu(b: Lowering, node: Node, x: list[Any]) -> Any:
    data = x[0]
    if any(d.is_static and d.get_length() == 0 for d in data.get_partial_shape()):
        return data  # nothing to mask (and OpenVINO 2026.4 crashes folding broadcasts of empty constants)
    k = ov_ops.reshape(x[1], b.i64([]), False) if len(x) > 1 and x[1] is not None else b.i64(0)
    rows, cols = (_positions(b, data, axis) for axis in (-2, -1))
    offset = ov_ops.subtract(ov_ops.unsqueeze(cols, b.i64(0)), ov_ops.unsqueeze(rows, b.i64(1)))
    keep = ov_ops.greater_equal(offset, k) if node.attr("upper") else ov_ops.less_equal(offset, k)
    return ov_ops.select(keep, data, b.const(0, data))


def _positions(b: Lowering, x: Any, axis: int) -> Any:
    """``0 … x.shape[axis]-1``: a constant when the dim is static, else a Range."""
    d = x.get_partial_shape()[axis]
    if d.is_static:
        return b.i64(np.arange(d.get_length()))
    return ov_ops.range(b.i64(0), ov_ops.squeeze(dim(b, x, rank(x) + axis), b.i64([0])), b.i64(1), "i64")


@converter("DepthToSpace")
def depth_to_space(b: Lowering, node: Node, x: list[Any]) -> Any:
    mode = "blocks_first" if node.attr("mode") == "DCR" else "depth_first"
    return ov_ops.depth_to_space(x[0], mode, node.attr("blocksize"))


@converter("SpaceToDepth")
def space_to_depth(b: Lowering, node: Node, x: list[Any]) -> Any:
    mode = "depth_first" if node.attr("mode", "DCR") == "CRD" else "blocks_first"
    return ov_ops.space_to_depth(x[0], mode, node.attr("blocksize"))


@converter("CumSum")
def cumsum(b: Lowering, node: Node, x: list[Any]) -> Any:
    axis = ov_ops.reshape(x[1], b.i64([]), False)
    return ov_ops.cumsum(x[0], axis, bool(node.attr("exclusive")), bool(node.attr("reverse")))


@converter("OneHot")
def one_hot(b: Lowering, node: Node, x: list[Any]) -> Any:
    indices, depth, values = x
    depth = ov_ops.reshape(ov_ops.convert(depth, "i64"), b.i64([]), False)
    indices = normalize_indices(b, ov_ops.convert(indices, "i64"), depth)
    off = ov_ops.gather(values, b.i64(0), b.i64(0))
    on = ov_ops.gather(values, b.i64(1), b.i64(0))
    return ov_ops.one_hot(indices, depth, on, off, node.attr("axis"))


@converter("TopK")
def topk(b: Lowering, node: Node, x: list[Any]) -> Any:
    k = ov_ops.reshape(x[1], b.i64([]), False)
    mode = "max" if node.attr("largest") else "min"
    sort = "value"  # also for sorted=0 (any order is allowed); OpenVINO's stable TopK needs a sort
    return ov_ops.topk(x[0], k, node.attr("axis"), mode, sort, "i64", stable=True)


@converter("ArgMax", "ArgMin", check=known_rank(0))
def arg_max_min(b: Lowering, node: Node, x: list[Any]) -> Any:
    data, axis = x[0], node.attr("axis") % rank(x[0])
    mode = "max" if node.op == "ArgMax" else "min"
    if node.attr("select_last_index"):
        size = dim(b, data, axis)
        flipped = ov_ops.slice(data, b.i64([-1]), b.i64([np.iinfo(np.int64).min]), b.i64([-1]), b.i64([axis]))
        index = ov_ops.topk(flipped, b.i64(1), axis, mode, "value", "i64", stable=True).output(1)
        index = ov_ops.subtract(ov_ops.subtract(size, b.i64(1)), index)
    else:
        index = ov_ops.topk(data, b.i64(1), axis, mode, "value", "i64", stable=True).output(1)
    return index if node.attr("keepdims") else ov_ops.squeeze(index, b.i64([axis]))


@converter("NonZero")
def non_zero(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.non_zero(x[0], "i64")


_SCATTER_REDUCTIONS = {"none": "none", "add": "sum", "mul": "prod", "min": "min", "max": "max"}


@converter("ScatterElements")
def scatter_elements(b: Lowering, node: Node, x: list[Any]) -> Any:
    axis = node.attr("axis")
    indices = normalize_indices(b, x[1], dim(b, x[0], axis))
    return ov_ops.scatter_elements_update(x[0], indices, x[2], b.i64(axis),
                                          _SCATTER_REDUCTIONS[node.attr("reduction")], True)


@converter("ScatterND")
def scatter_nd(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.scatter_nd_update(x[0], x[1], x[2], _SCATTER_REDUCTIONS[node.attr("reduction")])


@converter("EyeLike")
def eye_like(b: Lowering, node: Node, x: list[Any]) -> Any:
    out_type = OV_TYPES[DType(node.attr("dtype"))] if node.attr("dtype", None) is not None \
        else x[0].get_element_type()
    shape_ = _shape(b, x[0])
    rows = ov_ops.gather(shape_, b.i64(0), b.i64(0))
    cols = ov_ops.gather(shape_, b.i64(1), b.i64(0))
    return ov_ops.eye(rows, cols, b.i64(node.attr("k")), out_type.get_type_name())


@converter("Dropout")
def dropout(b: Lowering, node: Node, x: list[Any]) -> Any:
    if len(node.outputs) > 1 and node.outputs[1] is not None:
        return [x[0], ov_ops.broadcast(b.const(True, np.bool_), _shape(b, x[0]))]
    return [x[0]]


@converter("ReverseSequence")
def reverse_sequence(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.reverse_sequence(x[0], x[1], node.attr("batch_axis"), node.attr("time_axis"))


@converter("Compress", check=known_rank(0))
def compress(b: Lowering, node: Node, x: list[Any]) -> Any:
    data, condition = x
    axis = node.attr("axis", None)
    if axis is None:
        data = ov_ops.reshape(data, b.i64([-1]), False)
        axis = 0
    count = dim(b, data, axis)
    condition = ov_ops.slice(condition, b.i64([0]), count, b.i64([1]))  # a longer condition is cut, as in numpy
    picked = ov_ops.squeeze(ov_ops.non_zero(condition, "i64"), b.i64([0]))
    return ov_ops.gather(data, picked, b.i64(axis))


@converter("Unique")
def unique(b: Lowering, node: Node, x: list[Any]) -> Any:
    axis = node.attr("axis", None)
    found = ov_ops.unique(x[0], b.i64(axis) if axis is not None else None, bool(node.attr("sorted")), "i64", "i64")
    return list(found.outputs())[: len(node.outputs)]


@converter("CenterCropPad", check=known_rank(0))
def center_crop_pad(b: Lowering, node: Node, x: list[Any]) -> Any:
    """Crop each listed axis around its center where it is longer than asked, pad it where it is shorter."""
    data, r = x[0], rank(x[0])
    axis_list = [a % r for a in (node.attr("axes", None) or range(r))]
    axes = b.i64(axis_list)
    dims = ov_ops.gather(_shape(b, data), axes, b.i64(0))
    wanted = ov_ops.convert(x[1], "i64")
    zero, two = b.i64(0), b.i64(2)
    crop_begin = ov_ops.divide(ov_ops.maximum(ov_ops.subtract(dims, wanted), zero), two)
    kept = ov_ops.minimum(dims, wanted)
    cropped = ov_ops.slice(data, crop_begin, ov_ops.add(crop_begin, kept), b.i64([1] * len(axis_list)), axes)
    pad = ov_ops.maximum(ov_ops.subtract(wanted, dims), zero)
    pad_begin = ov_ops.divide(pad, two)
    zeros = b.i64([0] * r)
    begin = ov_ops.scatter_update(zeros, axes, pad_begin, b.i64(0))
    end = ov_ops.scatter_update(zeros, axes, ov_ops.subtract(pad, pad_begin), b.i64(0))
    return ov_ops.pad(cropped, begin, end, "constant", b.const(0, data))
