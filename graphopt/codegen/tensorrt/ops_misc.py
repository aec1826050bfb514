"""Converters written with a few layers each: Mod, Trilu, Einsum, GatherElements, TopK, CumSum and a
constant Range."""

from __future__ import annotations

import numpy as np

from graphopt.codegen.tensorrt.emitter import Emitter, ir_shape
from graphopt.codegen.tensorrt.ops_linalg import normalize
from graphopt.codegen.tensorrt.ops_tensor import linspace, nonnegative_indices
from graphopt.codegen.tensorrt.registry import FLOATS, INDICES, const_array, converter, needs_const, static_dims
from graphopt.ir.core import Node, Value
from graphopt.ir.dtypes import DType


def _in(node: Node, i: int = 0) -> Value:
    v = node.inputs[i]
    assert v is not None and v.shape is not None
    return v


def _axis(node: Node, axis: int) -> int:
    rank = len(_in(node).shape)
    return axis + rank if axis < 0 else axis


def _mod_check(node: Node) -> str | None:
    dtype = _in(node).dtype
    if dtype != _in(node, 1).dtype:
        return "inputs of different types"
    if dtype in FLOATS and not node.attr("fmod"):
        return "float Mod with fmod=0 (ONNX defines float Mod with fmod=1)"
    return None if dtype in FLOATS or dtype in INDICES else f"Mod of {dtype.name}"


@converter("Mod", check=_mod_check)
def convert_mod(em: Emitter, node: Node) -> None:
    """a - b·q, with q = a/b rounded towards zero (fmod=1, C's fmod) or, for integers with fmod=0, down
    (Python's %)."""
    out = node.outputs[0]
    assert out is not None and out.shape is not None
    rank = len(out.shape)
    a, b = em.operand(_in(node), rank), em.operand(_in(node, 1), rank)
    if _in(node).dtype in FLOATS:
        ratio = em.binary(a, b, "DIV")
        magnitude = em.unary(em.unary(ratio, "ABS"), "FLOOR")
        q = em.binary(em.unary(ratio, "SIGN"), magnitude, "PROD", tag="trunc")
    else:
        q = em.binary(a, b, "DIV" if node.attr("fmod") else "FLOOR_DIV")
    em.out(node, em.binary(a, em.binary(b, q, "PROD"), "SUB", tag="mod"))


def _trilu_check(node: Node) -> str | None:
    return needs_const(1)(node) or (None if static_dims(node.inputs[0]) or all(
        isinstance(d, int) for d in (_in(node).shape or ())[-2:]) else "Trilu with dynamic matrix dims")


@converter("Trilu", check=_trilu_check)
def convert_trilu(em: Emitter, node: Node) -> None:
    """A Select between the input and zeros, on a constant triangle mask."""
    x_value = _in(node)
    shape = ir_shape(x_value)
    k_value = node.inputs[1] if len(node.inputs) > 1 else None
    k = int(const_array(node, 1)) if k_value is not None else 0
    rows, cols = shape[-2], shape[-1]
    keep = np.triu(np.ones((rows, cols), bool), k) if node.attr("upper") else np.tril(np.ones((rows, cols), bool), k)
    rank = len(shape)
    mask = em.constant(keep.reshape((1,) * (rank - 2) + keep.shape), DType.BOOL, "triangle")
    zero = em.scalar(0, x_value.dtype, rank)
    em.result(node, em.network.add_select(mask, em.tensor(x_value), zero))


def _einsum_check(node: Node) -> str | None:
    eq = node.attr("equation").replace(" ", "")
    if "." in eq or "->" not in eq:
        return "Einsum with an ellipsis or an implicit output"
    terms = eq.split("->")[0].split(",")
    if any(len(set(t)) != len(t) for t in terms):
        return "Einsum taking a diagonal (a label repeated within one input)"
    shapes = [v.shape for v in node.inputs if v is not None]
    sizes: dict[str, object] = {}
    for term, shape in zip(terms, shapes):
        for label, dim in zip(term, shape or ()):
            if sizes.setdefault(label, dim) != dim:
                return "Einsum broadcasting a size-1 dim against a larger one"
    dtypes = {v.dtype for v in node.inputs if v is not None}
    return None if len(dtypes) == 1 and dtypes <= FLOATS else "Einsum on non-float or mixed types"


@converter("Einsum", check=_einsum_check)
def convert_einsum(em: Emitter, node: Node) -> None:
    tensors = [em.tensor(v) for v in node.inputs if v is not None]
    em.result(node, em.network.add_einsum(tensors, node.attr("equation").replace(" ", "")))


def _gather_elements_check(node: Node) -> str | None:
    indices = node.inputs[1]
    return None if indices is not None and indices.dtype in INDICES else "indices must be INT32 or INT64"


@converter("GatherElements", check=_gather_elements_check)
def convert_gather_elements(em: Emitter, node: Node) -> None:
    """A Gather in ELEMENT mode; negative indices get the axis size added first."""
    x_value, idx_value = _in(node), _in(node, 1)
    axis = _axis(node, node.attr("axis"))
    indices = nonnegative_indices(em, em.tensor(x_value), axis, idx_value)
    layer = em.network.add_gather_v2(em.tensor(x_value), indices, em.trt.GatherMode.ELEMENT)
    layer.axis = axis
    em.result(node, layer)


_MAX_K = 3840  # TensorRT's TopK limit


def _topk_check(node: Node) -> str | None:
    k = node.inputs[1].numpy() if node.inputs[1] is not None else None
    if k is None:
        return "TopK with a run-time k"
    if int(k.reshape(-1)[0]) > _MAX_K:
        return f"TopK with k > {_MAX_K}"
    if not node.attr("sorted"):
        return "unsorted TopK"
    dtype = _in(node).dtype
    return None if dtype in FLOATS or dtype == DType.INT32 else f"TopK of {dtype.name}"


@converter("TopK", check=_topk_check)
def convert_topk(em: Emitter, node: Node) -> None:
    k = int(const_array(node, 1).reshape(-1)[0])
    op = em.trt.TopKOperation.MAX if node.attr("largest") else em.trt.TopKOperation.MIN
    layer = em.network.add_topk(em.tensor(_in(node)), op, k, 1 << _axis(node, node.attr("axis")))
    em.result(node, layer, 0)
    out = node.outputs[1]
    if out is not None:
        indices = em.layer_output(layer, ir_shape(out), DType.INT32, index=1)
        em.out(node, em.cast(indices, DType.INT64), 1)


def _cumsum_check(node: Node) -> str | None:
    dtype = _in(node).dtype
    return needs_const(1)(node) or (None if dtype in FLOATS or dtype in INDICES else f"CumSum of {dtype.name}")


@converter("CumSum", check=_cumsum_check)
def convert_cumsum(em: Emitter, node: Node) -> None:
    axis = _axis(node, int(const_array(node, 1)))
    axis_tensor = em.constant(np.array(axis, np.int32), DType.INT32, "axis")
    layer = em.network.add_cumulative(em.tensor(_in(node)), axis_tensor, em.trt.CumulativeOperation.SUM,
                                      bool(node.attr("exclusive")), bool(node.attr("reverse")))
    em.result(node, layer)


def _range_check(node: Node) -> str | None:
    out = node.outputs[0]
    assert out is not None
    if out.dtype not in (DType.FLOAT, DType.INT32, DType.INT64):
        return f"Range of {out.dtype.name} (TensorRT's Fill makes INT32, INT64 and FLOAT)"
    return None if all(_in(node, i).shape == () for i in range(3)) else "Range bounds that are not scalars"


@converter("Range", check=_range_check)
def convert_range(em: Emitter, node: Node) -> None:
    """Constant bounds: the sequence itself as a Constant layer. Run-time bounds: a LINSPACE Fill of
    max(ceil((limit - start) / delta), 0) elements."""
    out = node.outputs[0]
    assert out is not None
    arrays = [_in(node, i).numpy() for i in range(3)]
    if all(a is not None for a in arrays):
        start, limit, delta = (np.asarray(a).item() for a in arrays)
        em.out(node, em.constant(np.arange(start, limit, delta).astype(out.dtype.numpy), out.dtype, "range"))
        return
    start, limit, delta = (em.cast(em.tensor(_in(node, i)), DType.FLOAT) for i in range(3))
    count = em.unary(em.binary(em.binary(limit, start, "SUB"), delta, "DIV"), "CEIL")
    count = em.binary(em.cast(count, DType.INT64), em.scalar(0, DType.INT64, 0), "MAX", tag="count")
    shape = em.reshape(count, [1], tag="shape")
    first, step = (em.cast(em.tensor(_in(node, i)), out.dtype) for i in (0, 2))
    y = linspace(em, shape, first, em.reshape(step, [1], tag="delta"), out.dtype)
    em.out(node, em.cast(y, em.cdtype(out.dtype)))


def _static_input(node: Node) -> str | None:
    return None if static_dims(node.inputs[0]) else f"{node.op} with dynamic dims"


@converter("GroupNormalization", check=lambda n: _static_input(n) or (
    None if _in(n).dtype in FLOATS else "GroupNormalization of a non-float tensor"))
def convert_group_norm(em: Emitter, node: Node) -> None:
    """Normalize [N, G, C/G·spatial] over its last axis, then scale and shift per channel."""
    x_value = _in(node)
    shape = ir_shape(x_value)
    groups = int(node.attr("num_groups"))
    dtype = x_value.dtype
    grouped = em.reshape(em.tensor(x_value), [shape[0], groups, -1], tag="groups")
    ones = em.constant(np.ones((1, 1, 1), dtype.numpy), dtype, "ones")
    zeros = em.constant(np.zeros((1, 1, 1), dtype.numpy), dtype, "zeros")
    normalized = normalize(em, grouped, ones, zeros, 1 << 2, float(node.attr("epsilon")))
    y = em.reshape(normalized, list(shape), tag="ungroup")
    per_channel = [1, shape[1]] + [1] * (len(shape) - 2)
    scale, bias = (em.reshape(em.tensor(_in(node, i)), per_channel, tag="per_channel") for i in (1, 2))
    em.out(node, em.binary(em.binary(y, scale, "PROD", tag="scale"), bias, "SUM", tag="shift"))


def _depth_space_check(node: Node) -> str | None:
    mode = node.attrs.get("mode")
    if node.op == "SpaceToDepth" and mode is not None and mode.value != "DCR":
        return f"SpaceToDepth in {mode.value} mode"
    return _static_input(node)


@converter("DepthToSpace", "SpaceToDepth", check=_depth_space_check)
def convert_depth_space(em: Emitter, node: Node) -> None:
    """Reshape → transpose → reshape, as ONNX defines both ops (DCR and CRD modes)."""
    n, c, h, w = ir_shape(_in(node))
    b = int(node.attr("blocksize"))
    x = em.tensor(_in(node))
    if node.op == "SpaceToDepth":
        x = em.reshape(x, [n, c, h // b, b, w // b, b])
        x = em.transpose(x, [0, 3, 5, 1, 2, 4])
        em.out(node, em.reshape(x, [n, c * b * b, h // b, w // b]))
        return
    if node.attr("mode") == "DCR":
        x, perm = em.reshape(x, [n, b, b, c // (b * b), h, w]), [0, 3, 4, 1, 5, 2]
    else:
        x, perm = em.reshape(x, [n, c // (b * b), b, b, h, w]), [0, 1, 4, 2, 5, 3]
    em.out(node, em.reshape(em.transpose(x, perm), [n, c // (b * b), h * b, w * b]))
