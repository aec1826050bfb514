"""Converters of network layers: convolutions, pooling, normalizations, MatMul/Gemm, graphopt's fused ops."""

from __future__ import annotations

from math import prod
from typing import Any

import openvino.opset16 as ov_ops

from graphopt.codegen.openvino.emitter import Lowering, outputs_of, rank
from graphopt.codegen.openvino.table import converter, known_rank, refuse_attrs
from graphopt.ir.core import Node
from graphopt.ir.ops.fused import expand_activation
from graphopt.ir.registry import GRAPHOPT_DOMAIN

_AUTO_PAD = {"NOTSET": "explicit", "SAME_UPPER": "same_upper", "SAME_LOWER": "same_lower", "VALID": "valid"}


def _window(node: Node, spatial: int) -> tuple[list[int], list[int], list[int], list[int]]:
    """strides, dilations, pads_begin, pads_end of a convolution or pool, defaults filled in."""
    strides = list(node.attr("strides", None) or [1] * spatial)
    dilations = list(node.attr("dilations", None) or [1] * spatial)
    pads = list(node.attr("pads", None) or [0] * (2 * spatial))
    return strides, dilations, pads[:spatial], pads[spatial:]


def _channel_bias(b: Lowering, y: Any, bias: Any, spatial: int) -> Any:
    return ov_ops.add(y, ov_ops.reshape(bias, b.i64([1, -1] + [1] * spatial), False))


def _grouped(b: Lowering, weights: Any, group: int) -> Any:
    """ONNX's ``[O, I/G, k…]`` (or ``[I, O/G, k…]``) weights as OpenVINO's ``[G, O/G, I/G, k…]``."""
    rest = ov_ops.slice(ov_ops.shape_of(weights, "i64"), b.i64([1]), b.i64([rank(weights)]), b.i64([1]))
    return ov_ops.reshape(weights, ov_ops.concat([b.i64([group, -1]), rest], 0), False)


@converter("Conv", check=known_rank(1))
def conv(b: Lowering, node: Node, x: list[Any]) -> Any:
    data, weights = x[0], x[1]
    spatial = rank(weights) - 2
    strides, dilations, begin, end = _window(node, spatial)
    auto_pad, group = _AUTO_PAD[node.attr("auto_pad")], node.attr("group")
    if group == 1:
        y = ov_ops.convolution(data, weights, strides, begin, end, dilations, auto_pad)
    else:
        y = ov_ops.group_convolution(data, _grouped(b, weights, group), strides, begin, end, dilations, auto_pad)
    return _channel_bias(b, y, x[2], spatial) if len(x) > 2 and x[2] is not None else y


def _conv_transpose_check(node: Node) -> str | None:
    w, data = node.inputs[1], node.inputs[0]
    if w is None or w.shape is None or data is None or data.shape is None:
        return "input or weight rank unknown"
    needs_static = node.attr("output_shape", None) or node.attr("auto_pad") in ("SAME_UPPER", "SAME_LOWER")
    if needs_static and not all(isinstance(d, int) for d in data.shape[2:]):
        return "output_shape or SAME padding with dynamic spatial dims"
    if needs_static and not all(isinstance(d, int) for d in w.shape[2:]):
        return "output_shape or SAME padding with dynamic kernel dims"
    return None


@converter("ConvTranspose", check=_conv_transpose_check)
def conv_transpose(b: Lowering, node: Node, x: list[Any]) -> Any:
    data, weights = x[0], x[1]
    spatial = rank(weights) - 2
    strides, dilations, begin, end = _window(node, spatial)
    out_pad = list(node.attr("output_padding", None) or [0] * spatial)
    out_shape, auto_pad = node.attr("output_shape", None), node.attr("auto_pad")
    if out_shape or auto_pad in ("SAME_UPPER", "SAME_LOWER"):  # explicit pads, as ONNX derives them
        sizes = node.inputs[0].shape[2:]  # type: ignore[union-attr]
        kernel = node.inputs[1].shape[2:]  # type: ignore[union-attr]
        wanted = list(out_shape)[-spatial:] if out_shape else [s * st for s, st in zip(sizes, strides)]
        begin, end = [], []
        for i in range(spatial):
            total = strides[i] * (sizes[i] - 1) + out_pad[i] + (kernel[i] - 1) * dilations[i] + 1 - wanted[i]
            if total < 0:  # a larger output than the kernels cover: zeros after the end, as output padding
                out_pad[i], total = out_pad[i] - total, 0
            upper = auto_pad == "SAME_UPPER"
            begin.append(total // 2 if upper else total - total // 2)
            end.append(total - begin[-1])
        auto_pad = "NOTSET"
    args = dict(pads_begin=begin, pads_end=end, dilations=dilations, auto_pad=_AUTO_PAD[auto_pad],
                output_padding=out_pad)
    group = node.attr("group")
    if group == 1:
        y = ov_ops.convolution_backprop_data(data, weights, strides, **args)
    else:
        y = ov_ops.group_convolution_backprop_data(data, _grouped(b, weights, group), strides, **args)
    return _channel_bias(b, y, x[2], spatial) if len(x) > 2 and x[2] is not None else y


def _rounding(node: Node) -> str:
    return "ceil_torch" if node.attr("ceil_mode") else "floor"


def _max_pool_check(node: Node) -> str | None:
    if node.attr("storage_order") and len(node.attr("kernel_shape")) != 2:
        return "column-major indices (storage_order=1) are supported for 2-D pooling only"
    return None


@converter("MaxPool", check=_max_pool_check)
def max_pool(b: Lowering, node: Node, x: list[Any]) -> Any:
    kernel = list(node.attr("kernel_shape"))
    strides, dilations, begin, end = _window(node, len(kernel))
    pool = ov_ops.max_pool(x[0], strides, dilations, begin, end, kernel, _rounding(node),
                           _AUTO_PAD[node.attr("auto_pad")], "i64", 0)
    outs = list(pool.outputs())[: len(node.outputs)]
    if len(outs) > 1 and node.attr("storage_order"):
        outs[1] = _column_major(b, outs[1], x[0])
    return outs


def _column_major(b: Lowering, index: Any, data: Any) -> Any:
    """Row-major flat indices into ``data`` [N, C, H, W] recounted with each H×W plane stored column-major."""
    dims = ov_ops.shape_of(data, "i64")
    height, width = (ov_ops.gather(dims, b.i64(i), b.i64(0)) for i in (2, 3))
    plane_size = ov_ops.multiply(height, width)
    plane, within = ov_ops.divide(index, plane_size), ov_ops.floor_mod(index, plane_size)
    row, column = ov_ops.divide(within, width), ov_ops.floor_mod(within, width)
    return ov_ops.add(ov_ops.multiply(plane, plane_size), ov_ops.add(ov_ops.multiply(column, height), row))


@converter("AveragePool")
def average_pool(b: Lowering, node: Node, x: list[Any]) -> Any:
    kernel = list(node.attr("kernel_shape"))
    strides, dilations, begin, end = _window(node, len(kernel))
    return ov_ops.avg_pool(x[0], strides, begin, end, kernel, not node.attr("count_include_pad"), _rounding(node),
                           _AUTO_PAD[node.attr("auto_pad")], dilations)


@converter("LpPool")
def lp_pool(b: Lowering, node: Node, x: list[Any]) -> Any:
    kernel = list(node.attr("kernel_shape"))
    strides, dilations, begin, end = _window(node, len(kernel))
    p = float(node.attr("p"))
    powered = ov_ops.power(ov_ops.absolute(x[0]), b.const(p, x[0]))
    mean = ov_ops.avg_pool(powered, strides, begin, end, kernel, False, _rounding(node),
                           _AUTO_PAD[node.attr("auto_pad")], dilations)
    total = ov_ops.multiply(mean, b.const(prod(kernel), x[0]))
    return ov_ops.power(total, b.const(1.0 / p, x[0]))


def _spatial_axes(b: Lowering, x: Any) -> Any:
    return b.i64(list(range(2, rank(x))))


@converter("GlobalAveragePool", check=known_rank(0))
def global_average_pool(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.reduce_mean(x[0], _spatial_axes(b, x[0]), True)


@converter("GlobalMaxPool", check=known_rank(0))
def global_max_pool(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.reduce_max(x[0], _spatial_axes(b, x[0]), True)


@converter("GlobalLpPool", check=known_rank(0))
def global_lp_pool(b: Lowering, node: Node, x: list[Any]) -> Any:
    p = float(node.attr("p"))
    total = ov_ops.reduce_sum(ov_ops.power(ov_ops.absolute(x[0]), b.const(p, x[0])), _spatial_axes(b, x[0]), True)
    return ov_ops.power(total, b.const(1.0 / p, x[0]))


# -- normalizations ----------------------------------------------------------------------------


def _batchnorm_check(node: Node) -> str | None:
    return known_rank(0)(node) if node.attr("training_mode") else None


@converter("BatchNormalization", check=_batchnorm_check)
def batch_norm(b: Lowering, node: Node, x: list[Any]) -> Any:
    if not node.attr("training_mode"):
        return ov_ops.batch_norm_inference(x[0], x[1], x[2], x[3], x[4], node.attr("epsilon"))
    # training mode: normalize with the batch's statistics; also return the updated running statistics
    data, spatial = x[0], rank(x[0]) - 2
    axes = b.i64([0, *range(2, 2 + spatial)])
    mean = ov_ops.reduce_mean(data, axes, True)
    centered = ov_ops.subtract(data, mean)
    var = ov_ops.reduce_mean(ov_ops.multiply(centered, centered), axes, True)
    per_channel = b.i64([1, -1] + [1] * spatial)
    inv_std = ov_ops.divide(b.const(1, data), ov_ops.sqrt(ov_ops.add(var, b.const(node.attr("epsilon"), data))))
    y = ov_ops.multiply(ov_ops.multiply(centered, inv_std), ov_ops.reshape(x[1], per_channel, False))
    y = ov_ops.add(y, ov_ops.reshape(x[2], per_channel, False))
    momentum = node.attr("momentum")
    running = [ov_ops.add(ov_ops.multiply(old, b.const(momentum, old)),
                          ov_ops.multiply(ov_ops.convert_like(ov_ops.reshape(new, b.i64([-1]), False), old),
                                          b.const(1 - momentum, old)))
               for old, new in ((x[3], mean), (x[4], var))]
    return [y, *running][: len(node.outputs)]


@converter("InstanceNormalization", check=known_rank(0))
def instance_norm(b: Lowering, node: Node, x: list[Any]) -> Any:
    spatial = rank(x[0]) - 2
    y = ov_ops.mvn(x[0], _spatial_axes(b, x[0]), True, node.attr("epsilon"), "inside_sqrt")
    scale = ov_ops.reshape(x[1], b.i64([1, -1] + [1] * spatial), False)
    return _channel_bias(b, ov_ops.multiply(y, scale), x[2], spatial)


def _with_stash(b: Lowering, node: Node, data: Any) -> tuple[Any, Any]:
    """``data`` in the stash type (float32 when ``stash_type`` is 1 and data is narrower), and its own type."""
    original = data.get_element_type()
    if node.attr("stash_type", 1) == 1 and original.get_type_name() in ("f16", "bf16"):
        return ov_ops.convert(data, "f32").output(0), original
    return data, original


@converter("LayerNormalization", check=known_rank(0))
def layer_norm(b: Lowering, node: Node, x: list[Any]) -> Any:
    data, original = _with_stash(b, node, x[0])
    r = rank(data)
    axes = b.i64(list(range(node.attr("axis") % r, r)))
    eps = node.attr("epsilon")
    y = ov_ops.convert(ov_ops.mvn(data, axes, True, eps, "inside_sqrt"), original)
    y = ov_ops.multiply(y, x[1])
    if len(x) > 2 and x[2] is not None:
        y = ov_ops.add(y, x[2])
    outs = [y]
    if any(o is not None for o in node.outputs[1:]):
        mean = ov_ops.reduce_mean(data, axes, True)
        centered = ov_ops.subtract(data, mean)
        var = ov_ops.reduce_mean(ov_ops.multiply(centered, centered), axes, True)
        inv_std = ov_ops.divide(b.const(1, var), ov_ops.sqrt(ov_ops.add(var, b.const(eps, var))))
        outs += [mean, inv_std]
    return outs


@converter("RMSNormalization", check=known_rank(0))
def rms_norm(b: Lowering, node: Node, x: list[Any]) -> Any:
    data, original = _with_stash(b, node, x[0])
    r = rank(data)
    axes = b.i64(list(range(node.attr("axis") % r, r)))
    mean_square = ov_ops.reduce_mean(ov_ops.multiply(data, data), axes, True)
    inv = ov_ops.divide(b.const(1, data), ov_ops.sqrt(ov_ops.add(mean_square, b.const(node.attr("epsilon"), data))))
    return ov_ops.multiply(ov_ops.convert(ov_ops.multiply(data, inv), original), x[1])


@converter("GroupNormalization")
def group_norm(b: Lowering, node: Node, x: list[Any]) -> Any:
    data, original = _with_stash(b, node, x[0])
    scale, bias = (ov_ops.convert_like(v, data) for v in x[1:3])
    y = ov_ops.group_normalization(data, scale, bias, node.attr("num_groups"), node.attr("epsilon"))
    return ov_ops.convert(y, original)


@converter("LRN")
def lrn(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.lrn(x[0], b.i64([1]), node.attr("alpha"), node.attr("beta"), node.attr("bias"), node.attr("size"))


@converter("MeanVarianceNormalization")
def mean_variance_norm(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.mvn(x[0], b.i64(list(node.attr("axes"))), True, 1e-9, "outside_sqrt")


@converter("LpNormalization", check=refuse_attrs(p=(1, 2)))
def lp_norm(b: Lowering, node: Node, x: list[Any]) -> Any:
    axes = b.i64([node.attr("axis")])
    norm = (ov_ops.reduce_l1 if node.attr("p") == 1 else ov_ops.reduce_l2)(x[0], axes, True)
    zero = ov_ops.equal(norm, b.const(0, norm))
    return ov_ops.divide(x[0], ov_ops.select(zero, b.const(1, norm), norm))  # all-zero slices stay zero


# -- matrix products ---------------------------------------------------------------------------


@converter("MatMul")
def matmul(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.matmul(x[0], x[1], False, False)


@converter("Gemm")
def gemm(b: Lowering, node: Node, x: list[Any]) -> Any:
    y = ov_ops.matmul(x[0], x[1], bool(node.attr("transA")), bool(node.attr("transB")))
    if node.attr("alpha") != 1.0:
        y = ov_ops.multiply(y, b.const(node.attr("alpha"), x[0]))
    if len(x) > 2 and x[2] is not None:
        c = x[2] if node.attr("beta") == 1.0 else ov_ops.multiply(x[2], b.const(node.attr("beta"), x[2]))
        y = ov_ops.add(y, c)
    return y


@converter("Einsum")
def einsum(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.einsum(x, node.attr("equation").replace(" ", ""))


# -- graphopt's fused ops: the base op's converter, then the activation -------------------------

_BASES = {"FusedConv": conv, "FusedGemm": gemm, "FusedMatMul": matmul}


def _fused(b: Lowering, node: Node, x: list[Any]) -> Any:
    y = outputs_of(_BASES[node.op](b, node, x))[0]
    return expand_activation(node.attr("activation"), tuple(node.attr("activation_params")), y,
                             lambda op, inputs, attrs: b.standard(op, inputs, attrs), lambda v: b.const(v, y))


for _op, _base_check in (("FusedConv", known_rank(1)), ("FusedGemm", None), ("FusedMatMul", None)):
    converter(_op, domain=GRAPHOPT_DOMAIN, check=_base_check)(_fused)

