"""MatMul, Gemm (and graphopt's fused forms), Softmax, normalizations, Attention and Resize."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from graphopt.codegen.tensorrt.emitter import Dim, Emitter, broadcast, ir_shape
from graphopt.codegen.tensorrt.ops_elementwise import apply_activation, fused_activation_reason
from graphopt.codegen.tensorrt.registry import (
    FLOATS,
    all_checks,
    const_array,
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

def _in(node: Node, i: int) -> Value:
    v = node.inputs[i]
    assert v is not None and v.shape is not None
    return v


def _fused_check(node: Node) -> str | None:
    return fused_activation_reason(node) or float_input(node)


def _activate(em: Emitter, node: Node, y: ITensor) -> ITensor:
    if node.domain != GRAPHOPT_DOMAIN:
        return y
    return apply_activation(em, y, node.attr("activation"), tuple(node.attr("activation_params")))


# -- matrix products -----------------------------------------------------------------------------


def matmul(em: Emitter, a: ITensor, b: ITensor, transpose_a: bool = False, transpose_b: bool = False) -> ITensor:
    """A Matrix Multiply of two tensors of rank ≥ 2, brought to one rank (batch dims broadcast)."""
    op = em.trt.MatrixOperation
    rank = max(em.rank(a), em.rank(b))
    a, b = em.to_rank(a, rank), em.to_rank(b, rank)
    layer = em.network.add_matrix_multiply(a, op.TRANSPOSE if transpose_a else op.NONE,
                                           b, op.TRANSPOSE if transpose_b else op.NONE)
    sa, sb = em.shape(a), em.shape(b)
    batch = [y if x == 1 else x for x, y in zip(sa[:-2], sb[:-2])]
    rows = sa[-1] if transpose_a else sa[-2]
    cols = sb[-2] if transpose_b else sb[-1]
    return em.layer_output(layer, (*batch, rows, cols), em.info(a).dtype, "matmul")


@converter("MatMul", check=float_input)
@converter("FusedMatMul", domain=GRAPHOPT_DOMAIN, check=_fused_check)
def convert_matmul(em: Emitter, node: Node) -> None:
    a_value, b_value = _in(node, 0), _in(node, 1)
    a, b = em.tensor(a_value), em.tensor(b_value)
    if em.rank(a) == 1:
        a = em.reshape(a, [1, Dim(0)], tag="row")
    if em.rank(b) == 1:
        b = em.reshape(b, [Dim(0), 1], tag="column")
    y = matmul(em, a, b)
    rank = em.rank(y)
    if len(a_value.shape) == 1 or len(b_value.shape) == 1:  # drop the axes added for vectors
        drop = {rank - 2} if len(a_value.shape) == 1 else set()
        drop |= {rank - 1} if len(b_value.shape) == 1 else set()
        y = em.reshape(y, [Dim(i) for i in range(rank) if i not in drop], tag="vector")
    em.out(node, _activate(em, node, y))


@converter("Gemm", check=float_input)
@converter("FusedGemm", domain=GRAPHOPT_DOMAIN, check=_fused_check)
def convert_gemm(em: Emitter, node: Node) -> None:
    a, b = em.tensor(_in(node, 0)), em.tensor(_in(node, 1))
    y = matmul(em, a, b, bool(node.attr("transA")), bool(node.attr("transB")))
    dtype = em.info(y).dtype
    alpha, beta = float(node.attr("alpha")), float(node.attr("beta"))
    if alpha != 1.0:
        y = em.binary(y, em.scalar(alpha, dtype, 2), "PROD", tag="alpha")
    c_value = node.inputs[2] if len(node.inputs) > 2 else None
    if c_value is not None and beta != 0.0:
        c_array = c_value.numpy()
        if c_array is not None and c_value not in em.tensors:  # scale a constant C in numpy
            scaled = np.asarray(c_array * beta, c_value.dtype.numpy)
            c = em.constant(scaled.reshape((1,) * (2 - scaled.ndim) + scaled.shape), c_value.dtype, "bias")
        else:
            c = em.operand(c_value, 2)
            if beta != 1.0:
                c = em.binary(c, em.scalar(beta, dtype, 2), "PROD", tag="beta")
        y = em.binary(y, c, "SUM", tag="bias")
    em.out(node, _activate(em, node, y))


# -- softmax and normalizations ------------------------------------------------------------------


def _axis(node: Node, default: int = -1) -> int:
    rank = len(_in(node, 0).shape)
    axis = int(node.attr("axis", default))
    return axis + rank if axis < 0 else axis


@converter("Softmax", "LogSoftmax", check=float_input)
def convert_softmax(em: Emitter, node: Node) -> None:
    layer = em.network.add_softmax(em.tensor(_in(node, 0)))
    layer.axes = 1 << _axis(node)
    if node.op == "Softmax":
        em.result(node, layer)
        return
    out = node.outputs[0]
    assert out is not None
    probs = em.layer_output(layer, ir_shape(out), em.cdtype(out.dtype))
    em.out(node, em.unary(probs, "LOG"))


def _norm_check(node: Node) -> str | None:
    reason = float_input(node) or only_first_output(node)
    if reason is None and node.op == "BatchNormalization":  # folded into scale and shift constants
        reason = needs_const(*range(1, len(node.inputs)))(node)
    return reason


def normalize(em: Emitter, x: ITensor, scale: ITensor, bias: ITensor, axes: int, epsilon: float) -> ITensor:
    """A Normalization layer over the ``axes`` bitmask. At fp16/bf16 it runs in float32 between casts: the
    variance of activations overflows half precision easily (TensorRT's own advice for strongly typed
    networks)."""
    dtype = em.info(x).dtype
    wide = DType.FLOAT if dtype in (DType.FLOAT16, DType.BFLOAT16) else dtype
    layer = em.network.add_normalization(em.cast(x, wide), em.cast(scale, wide), em.cast(bias, wide), axes)
    layer.epsilon = epsilon
    return em.cast(em.layer_output(layer, em.shape(x), wide, "normalize"), dtype)


@converter("LayerNormalization", check=_norm_check)
def convert_layer_norm(em: Emitter, node: Node) -> None:
    x_value = _in(node, 0)
    rank = len(x_value.shape)
    axis = _axis(node)
    scale = em.operand(_in(node, 1), rank)
    bias_value = node.inputs[2] if len(node.inputs) > 2 else None
    if bias_value is not None:
        bias = em.operand(bias_value, rank)
    else:
        bias = em.constant(np.zeros(em.shape(scale), x_value.dtype.numpy), x_value.dtype, tag="zero_bias")
        if -1 in em.shape(scale):
            bias = em.binary(scale, em.scalar(0.0, x_value.dtype, rank), "PROD", tag="zero_bias")
    em.out(node, normalize(em, em.tensor(x_value), scale, bias, sum(1 << a for a in range(axis, rank)),
                           float(node.attr("epsilon"))))


@converter("RMSNormalization", check=_norm_check)
def convert_rms_norm(em: Emitter, node: Node) -> None:
    x_value = _in(node, 0)
    rank = len(x_value.shape)
    x = em.tensor(x_value)
    dtype = em.info(x).dtype
    axes = sum(1 << a for a in range(_axis(node), rank))
    mean = em.network.add_reduce(em.binary(x, x, "PROD", tag="square"), em.trt.ReduceOperation.AVG, axes, True)
    ms = em.layer_output(mean, [1 if axes >> i & 1 else d for i, d in enumerate(em.shape(x))], dtype, "mean")
    rms = em.unary(em.binary(ms, em.scalar(float(node.attr("epsilon")), dtype, rank), "SUM"), "SQRT")
    y = em.binary(em.binary(x, rms, "DIV", tag="normalize"), em.operand(_in(node, 1), rank), "PROD", tag="scale")
    em.out(node, y)


@converter("BatchNormalization", check=_norm_check)
def convert_batch_norm(em: Emitter, node: Node) -> None:
    x_value = _in(node, 0)
    rank = len(x_value.shape)
    gamma, beta, mean, var = (np.asarray(_in(node, i).numpy(), np.float64) for i in range(1, 5))
    scale = gamma / np.sqrt(var + float(node.attr("epsilon")))
    shift = beta - mean * scale
    shape = (1, -1) + (1,) * (rank - 2)
    x = em.tensor(x_value)
    dtype = x_value.dtype
    y = em.binary(x, em.constant(scale.reshape(shape).astype(dtype.numpy), dtype, "bn_scale"), "PROD", tag="bn")
    em.out(node, em.binary(y, em.constant(shift.reshape(shape).astype(dtype.numpy), dtype, "bn_shift"), "SUM",
                           tag="bn"))


@converter("InstanceNormalization", check=all_checks(float_input, needs_const(1, 2)))
def convert_instance_norm(em: Emitter, node: Node) -> None:
    x_value = _in(node, 0)
    rank = len(x_value.shape)
    shape = (1, -1) + (1,) * (rank - 2)
    scale, bias = (em.constant(const_array(node, i).reshape(shape), x_value.dtype) for i in (1, 2))
    em.out(node, normalize(em, em.tensor(x_value), scale, bias, sum(1 << a for a in range(2, rank)),
                           float(node.attr("epsilon"))))


# -- attention -----------------------------------------------------------------------------------


def _attention_check(node: Node) -> str | None:
    if (reason := float_input(node) or only_first_output(node)) is not None:
        return reason
    q, k, v = (_in(node, i) for i in range(3))
    if any(len(t.shape) != 4 for t in (q, k, v)):
        return "3-D (packed-heads) Attention; only 4-D [batch, heads, seq, head_size] lowers"
    if len([i for i in node.inputs[4:] if i is not None]):
        return "Attention with past key/value or nonpad_kv_seqlen"
    if q.shape[1] != k.shape[1] or not isinstance(q.shape[1], int):
        return "grouped-query Attention (query and key/value head counts differ or are unknown)"
    if node.attr("softcap") or node.attr("left_window_size") >= 0 or node.attr("right_window_size") >= 0:
        return "Attention with softcap or a sliding window"
    if node.attr("is_causal") and not (isinstance(q.shape[2], int) and isinstance(k.shape[2], int)):
        return "causal Attention with dynamic sequence lengths"
    if node.attr("scale", None) is None and not isinstance(q.shape[3], int):
        return "Attention without a scale and with a dynamic head size"
    mask = node.inputs[3] if len(node.inputs) > 3 else None
    if mask is not None and (mask.shape is None or mask.shape[-1] != k.shape[2]):
        return "Attention mask shorter than the key sequence"
    return None


@converter("Attention", check=_attention_check)
def convert_attention(em: Emitter, node: Node) -> None:
    """softmax(Q·Kᵀ·scale + mask)·V as Matrix Multiply, elementwise, Select and SoftMax layers (TensorRT's
    builder fuses the pattern into its own attention kernels). Masked scores take the type's lowest value,
    and a query row with no visible key gives zeros, as ONNX defines."""
    q_value, k_value = _in(node, 0), _in(node, 1)
    q, k, v = (em.tensor(_in(node, i)) for i in range(3))
    dtype = em.info(q).dtype
    scale = node.attr("scale", None)
    if scale is None:
        scale = 1 / np.sqrt(q_value.shape[3])
    scores = matmul(em, q, k, transpose_b=True)
    scores = em.binary(scores, em.scalar(float(scale), dtype, 4), "PROD", tag="scale")
    mask = node.inputs[3] if len(node.inputs) > 3 else None
    if mask is not None and mask.dtype != DType.BOOL:
        scores = em.binary(scores, em.operand(mask, 4), "SUM", tag="mask")
    visible = em.operand(mask, 4) if mask is not None and mask.dtype == DType.BOOL else None
    if node.attr("is_causal"):
        sq, sk = q_value.shape[2], k_value.shape[2]
        causal = em.constant(np.tril(np.ones((1, 1, sq, sk), bool)), DType.BOOL, "causal")
        visible = causal if visible is None else em.binary(visible, causal, "AND", tag="causal")
    if visible is not None:
        lowest = em.scalar(float(np.finfo(dtype.numpy).min), dtype, 4)
        scores = em.layer_output(em.network.add_select(visible, scores, lowest),
                                 broadcast(em.shape(scores), em.shape(visible)), dtype, "mask")
    softmax = em.network.add_softmax(scores)
    softmax.axes = 1 << 3
    probs = em.layer_output(softmax, em.shape(scores), dtype, "softmax")
    if visible is not None:  # rows that see no key: zeros
        seen = em.cast(visible, dtype)
        any_seen = em.layer_output(em.network.add_reduce(seen, em.trt.ReduceOperation.MAX, 1 << 3, True),
                                   (*em.shape(seen)[:3], 1), dtype, "any_visible")
        probs = em.binary(probs, any_seen, "PROD", tag="empty_rows")
    em.out(node, matmul(em, probs, v))


# -- resize --------------------------------------------------------------------------------------

_COORDINATES = {"half_pixel": "HALF_PIXEL", "pytorch_half_pixel": "HALF_PIXEL", "align_corners": "ALIGN_CORNERS",
                "asymmetric": "ASYMMETRIC"}
_MODES = {"nearest": "NEAREST", "linear": "LINEAR", "cubic": "CUBIC"}
_ROUNDING = {"round_prefer_floor": "HALF_DOWN", "round_prefer_ceil": "HALF_UP", "floor": "FLOOR", "ceil": "CEIL"}


def _resize_check(node: Node) -> str | None:
    if (reason := needs_const(2, 3)(node)) is not None:
        return reason
    if node.attr("mode") not in _MODES:
        return f"mode {node.attr('mode')!r}"
    if node.attr("coordinate_transformation_mode") not in _COORDINATES:
        return f"coordinate_transformation_mode {node.attr('coordinate_transformation_mode')!r}"
    if node.attr("antialias") or node.attr("axes", None) is not None \
            or node.attr("keep_aspect_ratio_policy") != "stretch":
        return "antialias, axes or keep_aspect_ratio_policy"
    if node.attr("mode") != "nearest" and _in(node, 0).dtype not in FLOATS:
        return f"{node.attr('mode')} resize of a non-float tensor"
    if not static_dims(node.outputs[0]) and (len(node.inputs) < 3 or node.inputs[2] is None):
        return "resize to sizes with dynamic dims"
    return None


@converter("Resize", check=_resize_check)
def convert_resize(em: Emitter, node: Node) -> None:
    trt = em.trt
    layer = em.network.add_resize(em.tensor(_in(node, 0)))
    scales = node.inputs[2] if len(node.inputs) > 2 else None
    sizes = node.inputs[3] if len(node.inputs) > 3 else None
    if sizes is not None:
        layer.shape = trt.Dims([int(s) for s in const_array(node, 3)])
    elif scales is not None:
        layer.scales = [float(s) for s in const_array(node, 2)]
    layer.resize_mode = getattr(trt.InterpolationMode, _MODES[node.attr("mode")])
    if node.attr("mode") == "cubic":
        layer.cubic_coeff = float(node.attr("cubic_coeff_a"))
        layer.exclude_outside = bool(node.attr("exclude_outside"))
    mode = node.attr("coordinate_transformation_mode")
    layer.coordinate_transformation = getattr(trt.ResizeCoordinateTransformation, _COORDINATES[mode])
    layer.selector_for_single_pixel = trt.ResizeSelector.UPPER if mode == "pytorch_half_pixel" else \
        trt.ResizeSelector.FORMULA
    layer.nearest_rounding = getattr(trt.ResizeRoundMode, _ROUNDING[node.attr("nearest_mode")])
    em.result(node, layer)
