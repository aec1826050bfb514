"""Converters of quantization ops: Quantize/DequantizeLinear (per-tensor, per-axis and blocked),
MatMulInteger, ConvInteger, QLinearMatMul and QLinearConv, computed in float32 between (de)quantization."""

from __future__ import annotations

from typing import Any

import numpy as np
import openvino.opset16 as ov_ops

from graphopt.codegen.openvino.emitter import OV_TYPES, Lowering, rank
from graphopt.codegen.openvino.ops_nn import conv
from graphopt.codegen.openvino.table import converter, known_rank
from graphopt.ir.core import Node
from graphopt.ir.dtypes import DType


def _quantize_check(node: Node) -> str | None:
    out = node.outputs[0]
    if out is None or out.dtype is None or out.dtype not in OV_TYPES:
        return "output element type unknown or not supported by OpenVINO"
    if node.inputs[0] is None or node.inputs[0].shape is None:
        return "input 0 has an unknown rank"
    return None


def _along_axis(b: Lowering, node: Node, param: Any, data: Any) -> Any:
    """A per-axis scale or zero point reshaped to broadcast along ``axis`` of ``data``, a blocked one repeated
    ``block_size`` times along it (cut to the data's length); scalars unchanged."""
    r = rank(data)
    axis = node.attr("axis") % r
    block = node.attr("block_size", 0)
    if block:
        stretch = [1] * (r + 1)
        stretch[axis + 1] = block
        repeated = ov_ops.broadcast(ov_ops.unsqueeze(param, b.i64([axis + 1])), b.i64(stretch),
                                    broadcast_spec="BIDIRECTIONAL")
        shape = ov_ops.shape_of(param, "i64")
        merged = ov_ops.concat([ov_ops.slice(shape, b.i64([0]), b.i64([axis]), b.i64([1])), b.i64([-1]),
                                ov_ops.slice(shape, b.i64([axis + 1]), b.i64([r]), b.i64([1]))], 0)
        length = ov_ops.gather(ov_ops.shape_of(data, "i64"), b.i64([axis]), b.i64(0))
        return ov_ops.slice(ov_ops.reshape(repeated, merged, False), b.i64([0]), length, b.i64([1]), b.i64([axis]))
    if param.get_partial_shape().rank.get_length() != 1:
        return param
    return ov_ops.reshape(param, b.i64([-1] + [1] * (r - axis - 1)), False)


@converter("DequantizeLinear", check=_quantize_check)
def dequantize(b: Lowering, node: Node, x: list[Any]) -> Any:
    data, scale = x[0], x[1]
    out_type = OV_TYPES[node.outputs[0].dtype]  # type: ignore[union-attr, index]
    y = ov_ops.convert(data, out_type)
    if len(x) > 2 and x[2] is not None:
        y = ov_ops.subtract(y, ov_ops.convert(_along_axis(b, node, x[2], data), out_type))
    return ov_ops.multiply(y, ov_ops.convert(_along_axis(b, node, scale, data), out_type))


@converter("QuantizeLinear", check=_quantize_check)
def quantize(b: Lowering, node: Node, x: list[Any]) -> Any:
    data = x[0]
    zero_point = _along_axis(b, node, x[2], data) if len(x) > 2 and x[2] is not None else None
    return requantize(data, _along_axis(b, node, x[1], data), zero_point, node.outputs[0].dtype)  # type: ignore


def requantize(data: Any, scale: Any, zero_point: Any | None, dtype: DType) -> Any:
    """``saturate(round_half_even(data / scale) + zero_point)`` as ``dtype``, computed in float32."""
    q = ov_ops.round(ov_ops.divide(ov_ops.convert(data, "f32"), ov_ops.convert(scale, "f32")), "half_to_even")
    if zero_point is not None:
        q = ov_ops.add(q, ov_ops.convert(zero_point, "f32"))
    info = np.iinfo(dtype.numpy)
    return ov_ops.convert(ov_ops.clamp(q, float(info.min), float(info.max)), OV_TYPES[dtype])


def _real(data: Any, zero_point: Any | None, scale: Any | None = None) -> Any:
    """``(data - zero_point) * scale`` in float32 (no scale: the shifted integers, exactly, as floats)."""
    y = ov_ops.convert(data, "f32")
    if zero_point is not None:
        y = ov_ops.subtract(y, ov_ops.convert(zero_point, "f32"))
    return y if scale is None else ov_ops.multiply(y, ov_ops.convert(scale, "f32"))


def _per_row(b: Lowering, param: Any) -> Any:
    """A 1-D per-row scale or zero point of a matmul's left operand, as a column."""
    return ov_ops.unsqueeze(param, b.i64([-1])) if param.get_partial_shape().rank.get_length() == 1 else param


def _per_channel(b: Lowering, param: Any, weights: Any) -> Any:
    """A 1-D per-output-channel scale or zero point of convolution weights, shaped to broadcast over them."""
    if param.get_partial_shape().rank.get_length() != 1:
        return param
    return ov_ops.reshape(param, b.i64([-1] + [1] * (rank(weights) - 1)), False)


def _optional(x: list[Any], i: int) -> Any | None:
    return x[i] if len(x) > i else None


def _integer_check(node: Node) -> str | None:
    out = node.outputs[0]
    if out is None or out.dtype not in OV_TYPES or (out.dtype.is_integer and out.dtype.bits > 32):
        return "output element type unknown or not supported"
    return known_rank(0, 1)(node) if node.op in ("ConvInteger", "QLinearConv") else None


@converter("MatMulInteger", check=_integer_check)
def matmul_integer(b: Lowering, node: Node, x: list[Any]) -> Any:
    a_zp, b_zp = _optional(x, 2), _optional(x, 3)
    product = ov_ops.matmul(_real(x[0], _per_row(b, a_zp) if a_zp is not None else None), _real(x[1], b_zp),
                            False, False)
    return ov_ops.convert(product, "i32")  # products of 8-bit values sum exactly in float32 at these sizes


@converter("ConvInteger", check=_integer_check)
def conv_integer(b: Lowering, node: Node, x: list[Any]) -> Any:
    w_zp = _optional(x, 3)
    weights = _real(x[1], _per_channel(b, w_zp, x[1]) if w_zp is not None else None)
    return ov_ops.convert(conv(b, node, [_real(x[0], _optional(x, 2)), weights]), "i32")


@converter("QLinearMatMul", check=_integer_check)
def qlinear_matmul(b: Lowering, node: Node, x: list[Any]) -> Any:
    a = _real(x[0], _per_row(b, x[2]), _per_row(b, x[1]))
    product = ov_ops.matmul(a, _real(x[3], x[5], x[4]), False, False)
    return requantize(product, x[6], x[7], node.outputs[0].dtype)  # type: ignore[union-attr]


@converter("QLinearConv", check=_integer_check)
def qlinear_conv(b: Lowering, node: Node, x: list[Any]) -> Any:
    weights = _real(x[3], _per_channel(b, x[5], x[3]), _per_channel(b, x[4], x[3]))
    bias = _optional(x, 8)
    if bias is not None:  # int32 bias in units of x_scale * w_scale
        bias = ov_ops.multiply(ov_ops.convert(bias, "f32"), ov_ops.multiply(ov_ops.convert(x[1], "f32"),
                                                                           ov_ops.convert(x[4], "f32")))
    y = conv(b, node, [_real(x[0], x[2], x[1]), weights] + ([bias] if bias is not None else []))
    return requantize(y, x[6], x[7], node.outputs[0].dtype)  # type: ignore[union-attr]


@converter("DynamicQuantizeLinear")
def dynamic_quantize(b: Lowering, node: Node, x: list[Any]) -> Any:
    """uint8 quantization over the range of the data widened to include 0: (y, scale, zero point)."""
    data = ov_ops.convert(x[0], "f32")
    every_axis = ov_ops.range(b.i64(0), ov_ops.squeeze(ov_ops.shape_of(ov_ops.shape_of(data, "i64"), "i64"),
                                                        b.i64([0])), b.i64(1), "i64")
    zero = b.const(0, np.float32)
    low = ov_ops.minimum(ov_ops.reduce_min(data, every_axis, False), zero)
    high = ov_ops.maximum(ov_ops.reduce_max(data, every_axis, False), zero)
    scale = ov_ops.divide(ov_ops.subtract(high, low), b.const(255, np.float32))
    zero_point = requantize(ov_ops.negative(low), scale, None, DType.UINT8)
    return [requantize(data, scale, zero_point, DType.UINT8), scale, zero_point]
