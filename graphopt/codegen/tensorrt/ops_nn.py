"""Convolution, deconvolution and pooling converters (graphopt's FusedConv too).

TensorRT convolves and pools 2-D and 3-D windows: a 1-D op runs as 2-D on a trailing size-1 axis.
Convolution weights are KCRS (ONNX's Conv layout), deconvolution weights CKRS (ONNX's ConvTranspose layout).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from graphopt.codegen.tensorrt.emitter import Dim, Emitter, ir_shape
from graphopt.codegen.tensorrt.ops_elementwise import apply_activation, fused_activation_reason
from graphopt.codegen.tensorrt.registry import (
    converter,
    float_input,
    needs_const,
    only_first_output,
    static_dims,
)
from graphopt.ir.core import Node, Value
from graphopt.ir.dtypes import DType
from graphopt.ir.registry import GRAPHOPT_DOMAIN

if TYPE_CHECKING:
    from tensorrt import ITensor

_PAD_MODES = {"SAME_UPPER": "SAME_UPPER", "SAME_LOWER": "SAME_LOWER"}


def _x(node: Node) -> Value:
    v = node.inputs[0]
    assert v is not None and v.shape is not None
    return v


def _spatial_rank(node: Node) -> str | None:
    rank = len(_x(node).shape)
    return None if 3 <= rank <= 5 else f"input rank {rank}: TensorRT convolves and pools 1-D to 3-D windows only"


def _window(node: Node, spatial: int, kernel: tuple[int, ...]) -> dict[str, list[int]]:
    """Strides, dilations and pre/post padding of a Conv/Pool node, each of ``spatial`` entries."""
    pads = list(node.attr("pads", None) or [0] * (2 * spatial))
    return {"kernel": list(kernel), "strides": list(node.attr("strides", None) or [1] * spatial),
            "dilations": list(node.attr("dilations", None) or [1] * spatial),
            "pre": pads[:spatial], "post": pads[spatial:]}


def _to_2d(w: dict[str, list[int]]) -> dict[str, list[int]]:
    extra = {"kernel": 1, "strides": 1, "dilations": 1, "pre": 0, "post": 0}
    return {k: [*v, extra[k]] for k, v in w.items()}


def _set_window(em: Emitter, layer: Any, node: Node, w: dict[str, list[int]], dilation: bool = True) -> None:
    trt = em.trt
    layer.stride_nd = trt.Dims(w["strides"])
    if dilation:
        layer.dilation_nd = trt.Dims(w["dilations"])
    auto_pad = node.attr("auto_pad", "NOTSET")
    if auto_pad in _PAD_MODES:
        layer.padding_mode = getattr(trt.PaddingMode, _PAD_MODES[auto_pad])
    elif auto_pad != "VALID":
        layer.pre_padding = trt.Dims(w["pre"])
        layer.post_padding = trt.Dims(w["post"])


def _lift_1d(em: Emitter, x: ITensor) -> ITensor:
    return em.reshape(x, [Dim(0), Dim(1), Dim(2), 1], tag="as_2d")


def _drop_1d(em: Emitter, y: ITensor) -> ITensor:
    return em.reshape(y, [Dim(0), Dim(1), Dim(2)], tag="as_1d")


# -- convolution ---------------------------------------------------------------------------------


def _conv_check(node: Node) -> str | None:
    if (reason := _spatial_rank(node) or needs_const(1, 2)(node) or float_input(node)) is not None:
        return reason
    if node.attr("auto_pad", "NOTSET") not in ("NOTSET", "VALID", *_PAD_MODES):
        return f"auto_pad {node.attr('auto_pad')!r}"
    if node.op == "ConvTranspose":
        if node.attr("auto_pad", "NOTSET") in _PAD_MODES:
            return "ConvTranspose with auto_pad SAME_* (give explicit pads instead)"
        if node.attr("output_shape", None):
            return "ConvTranspose with output_shape (give explicit pads instead)"
        spatial = len(_x(node).shape) - 2
        pads = list(node.attr("pads", None) or [0] * (2 * spatial))
        extra = list(node.attr("output_padding", None) or [0] * spatial)
        if any(p < e for p, e in zip(pads[spatial:], extra)):
            return f"output_padding {extra} exceeds the end pads {pads[spatial:]} (TensorRT's deconvolution " \
                   "can only crop less)"
    return None


@converter("Conv", "ConvTranspose", check=_conv_check)
def convert_conv(em: Emitter, node: Node) -> None:
    em.out(node, _conv(em, node))


def _fused_check(node: Node) -> str | None:
    return fused_activation_reason(node) or _conv_check(node)


@converter("FusedConv", domain=GRAPHOPT_DOMAIN, check=_fused_check)
def convert_fused_conv(em: Emitter, node: Node) -> None:
    y = _conv(em, node)
    em.out(node, apply_activation(em, y, node.attr("activation"), tuple(node.attr("activation_params"))))


def _conv(em: Emitter, node: Node) -> ITensor:
    trt = em.trt
    x_value, out = _x(node), node.outputs[0]
    assert out is not None and x_value.shape is not None
    w_value = node.inputs[1]
    assert w_value is not None
    weights = w_value.numpy()
    assert weights is not None
    one_d = len(x_value.shape) == 3
    spatial = weights.ndim - 2
    w = _window(node, spatial, weights.shape[2:])
    deconv = node.op == "ConvTranspose"
    groups = int(node.attr("group"))
    if deconv:  # ONNX's output_padding grows the end: crop less there
        extra = list(node.attr("output_padding", None) or [0] * spatial)
        w["post"] = [p - e for p, e in zip(w["post"], extra)]
    x = em.tensor(x_value)
    if one_d:
        x, w, weights = _lift_1d(em, x), _to_2d(w), weights[..., None]
    dtype = em.cdtype(out.dtype)
    bias_value = node.inputs[2] if len(node.inputs) > 2 else None
    bias_array = bias_value.numpy() if bias_value is not None else None
    maps = weights.shape[1] * groups if deconv else weights.shape[0]
    add = em.network.add_deconvolution_nd if deconv else em.network.add_convolution_nd
    if dtype == DType.BFLOAT16:  # Weights cannot hold bfloat16: kernel and bias come in as cast tensors
        layer = add(x, maps, trt.Dims(w["kernel"]), trt.Weights(em.dtype(dtype)), trt.Weights(em.dtype(dtype)))
        layer.set_input(1, em.constant(weights, dtype, "kernel"))
        if bias_array is not None:
            layer.set_input(2, em.constant(bias_array, dtype, "bias"))
    else:
        kernel = trt.Weights(em.keep(weights.astype(dtype.numpy)))
        bias = trt.Weights(em.keep(bias_array.astype(dtype.numpy))) if bias_array is not None else \
            trt.Weights(em.dtype(dtype))
        layer = add(x, maps, trt.Dims(w["kernel"]), kernel, bias)
    layer.num_groups = groups
    _set_window(em, layer, node, w)
    shape = ir_shape(out)
    y = em.layer_output(layer, (*shape, 1) if one_d else shape, dtype)
    return _drop_1d(em, y) if one_d else y


# -- pooling -------------------------------------------------------------------------------------


def _pool_out(size: int, k: int, s: int, pre: int, post: int, ceil: bool) -> int:
    span = size + pre + post - k
    return (math.ceil(span / s) if ceil else span // s) + 1


def _pool_check(node: Node) -> str | None:
    if (reason := _spatial_rank(node) or float_input(node) or only_first_output(node)) is not None:
        return reason
    if any(d != 1 for d in node.attr("dilations", None) or ()):
        return "dilated pooling"
    if node.attr("auto_pad", "NOTSET") not in ("NOTSET", "VALID", *_PAD_MODES):
        return f"auto_pad {node.attr('auto_pad')!r}"
    if node.attr("ceil_mode", 0):
        x, out = _x(node), node.outputs[0]
        if not (static_dims(x) and static_dims(out)):
            return "ceil_mode with dynamic spatial dims"
        assert out is not None and x.shape is not None and out.shape is not None
        w = _window(node, len(x.shape) - 2, tuple(node.attr("kernel_shape")))
        trt_out = [_pool_out(d, k, s, b, e, True) for d, k, s, b, e in
                   zip(x.shape[2:], w["kernel"], w["strides"], w["pre"], w["post"])]  # type: ignore[arg-type]
        if trt_out != list(out.shape[2:]):
            return f"ceil_mode: ONNX drops a last window that starts in the padding ({list(out.shape[2:])}), " \
                   f"TensorRT keeps it ({trt_out})"
    return None


@converter("MaxPool", "AveragePool", check=_pool_check)
def convert_pool(em: Emitter, node: Node) -> None:
    trt = em.trt
    x_value, out = _x(node), node.outputs[0]
    assert out is not None and x_value.shape is not None
    one_d = len(x_value.shape) == 3
    w = _window(node, len(x_value.shape) - 2, tuple(node.attr("kernel_shape")))
    x = em.tensor(x_value)
    if one_d:
        x, w = _lift_1d(em, x), _to_2d(w)
    kind = trt.PoolingType.MAX if node.op == "MaxPool" else trt.PoolingType.AVERAGE
    layer = em.network.add_pooling_nd(x, kind, trt.Dims(w["kernel"]))
    _set_window(em, layer, node, w, dilation=False)
    if node.attr("ceil_mode", 0) and node.attr("auto_pad", "NOTSET") not in _PAD_MODES:
        layer.padding_mode = trt.PaddingMode.EXPLICIT_ROUND_UP
    if node.op == "AveragePool":
        layer.average_count_excludes_padding = not node.attr("count_include_pad")
    shape = ir_shape(out)
    y = em.layer_output(layer, (*shape, 1) if one_d else shape, em.cdtype(out.dtype))
    em.out(node, _drop_1d(em, y) if one_d else y)


@converter("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", check=float_input)
def convert_global_pool(em: Emitter, node: Node) -> None:
    x_value = _x(node)
    assert x_value.shape is not None
    rank = len(x_value.shape)
    axes = sum(1 << a for a in range(2, rank))
    x = em.tensor(x_value)
    if node.op == "GlobalLpPool":  # (sum |x|^p)^(1/p)
        p = float(node.attr("p"))
        dtype = em.info(x).dtype
        powered = em.binary(em.unary(x, "ABS"), em.scalar(p, dtype, rank), "POW")
        total = em.layer_output(em.network.add_reduce(powered, em.trt.ReduceOperation.SUM, axes, True),
                                ir_shape(node.output), dtype)
        em.out(node, em.binary(total, em.scalar(1 / p, dtype, rank), "POW"))
        return
    op = em.trt.ReduceOperation.AVG if node.op == "GlobalAveragePool" else em.trt.ReduceOperation.MAX
    em.result(node, em.network.add_reduce(x, op, axes, True))
