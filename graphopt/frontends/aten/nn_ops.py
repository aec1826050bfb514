"""Neural-network ATen ops: convolution, normalization, matrix products, pooling, resizing, softmax,
embedding and attention."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from graphopt.errors import UnsupportedOpError
from graphopt.frontends.aten.common import (
    IntLike,
    cast,
    dim_size,
    dtype_of,
    ints,
    pair,
    rank_of,
    scalar,
    static_dims,
    to_dtype,
)
from graphopt.frontends.aten.registry import Lowering, converter
from graphopt.ir.core import Value
from graphopt.ir.dtypes import DType

# -- convolution --------------------------------------------------------------------------------


@converter("aten::convolution", "aten::_convolution")
def convolution(cx: Lowering, x: Value, weight: Value, bias: Value | None, stride: Sequence[int],
                padding: Sequence[int], dilation: Sequence[int], transposed: bool, output_padding: Sequence[int],
                groups: int, *_: object) -> Value:
    spatial = rank_of(weight) - 2
    if isinstance(padding, str):
        raise UnsupportedOpError(f"convolution with padding={padding!r}; pass explicit padding sizes")
    pads = pair(padding, spatial)
    attrs = {"strides": pair(stride, spatial), "pads": pads + pads, "dilations": pair(dilation, spatial),
             "group": int(groups)}
    inputs = [x, weight] + ([bias] if bias is not None else [])
    if not transposed:
        return cx.op("Conv", inputs, attrs)
    out_pad = pair(output_padding, spatial)
    if any(out_pad):
        attrs["output_padding"] = out_pad
    return cx.op("ConvTranspose", inputs, attrs)


@converter("aten::conv1d", "aten::conv2d", "aten::conv3d")
def conv_nd(cx: Lowering, x: Value, weight: Value, bias: Value | None = None, stride: Sequence[int] = (1,),
            padding: Sequence[int] | str = (0,), dilation: Sequence[int] = (1,), groups: int = 1) -> Value:
    if padding == "valid":
        padding = (0,)
    elif padding == "same":
        k = static_dims(weight, "conv padding='same'")[2:]
        dil = pair(dilation, len(k))
        total = [d * (s - 1) for d, s in zip(dil, k)]
        if any(t % 2 for t in total):
            raise UnsupportedOpError("conv padding='same' with an even kernel pads unevenly; pad explicitly")
        padding = [t // 2 for t in total]
    return convolution(cx, x, weight, bias, stride, padding, dilation, False, (0,), groups)  # type: ignore[arg-type]


# -- normalization ------------------------------------------------------------------------------

def _channel_params(cx: Lowering, x: Value, weight: Value | None, bias: Value | None, channels: IntLike,
                    what: str) -> tuple[Value, Value]:
    dt = dtype_of(x)
    if weight is not None and bias is not None:
        return weight, bias
    if not isinstance(channels, int):
        raise UnsupportedOpError(f"{what} without affine parameters needs a static channel count")
    ones = weight if weight is not None else cx.const(np.ones(channels, dt.numpy))
    zeros = bias if bias is not None else cx.const(np.zeros(channels, dt.numpy))
    return ones, zeros


def _batch_norm(cx: Lowering, x: Value, weight: Value | None, bias: Value | None, mean: Value | None,
                var: Value | None, eps: float) -> tuple[Value, None, None]:
    if mean is None or var is None:
        raise UnsupportedOpError("batch norm without running statistics (training mode); call model.eval() "
                                 "before exporting")
    scale, shift = _channel_params(cx, x, weight, bias, dim_size(cx, x, 1), "batch norm")
    return cx.op("BatchNormalization", [x, scale, shift, mean, var], {"epsilon": float(eps)}), None, None


@converter("aten::_native_batch_norm_legit_no_training")
def batch_norm_no_training(cx: Lowering, x: Value, weight: Value | None, bias: Value | None, running_mean: Value,
                           running_var: Value, momentum: float, eps: float) -> tuple[Value, None, None]:
    return _batch_norm(cx, x, weight, bias, running_mean, running_var, eps)


@converter("aten::native_batch_norm", "aten::_native_batch_norm_legit", "aten::_native_batch_norm_legit_functional")
def native_batch_norm(cx: Lowering, x: Value, weight: Value | None, bias: Value | None,
                      running_mean: Value | None, running_var: Value | None, training: bool, momentum: float,
                      eps: float) -> tuple[Value, None, None]:
    if training:
        raise UnsupportedOpError("batch norm in training mode; call model.eval() before exporting")
    return _batch_norm(cx, x, weight, bias, running_mean, running_var, eps)


@converter("aten::batch_norm")
def batch_norm(cx: Lowering, x: Value, weight: Value | None, bias: Value | None, running_mean: Value | None,
               running_var: Value | None, training: bool, momentum: float, eps: float, *_: object) -> Value:
    return native_batch_norm(cx, x, weight, bias, running_mean, running_var, training, momentum, eps)[0]


@converter("aten::native_layer_norm")
def native_layer_norm(cx: Lowering, x: Value, normalized_shape: Sequence[int], weight: Value | None,
                      bias: Value | None, eps: float) -> tuple[Value, None, None]:
    dt = dtype_of(x)
    if weight is None:
        weight = cx.const(np.ones(tuple(normalized_shape), dt.numpy))
    inputs = [x, weight] + ([bias] if bias is not None else [])
    y = cx.op("LayerNormalization", inputs, {"axis": -len(normalized_shape), "epsilon": float(eps)})
    return y, None, None


@converter("aten::layer_norm")
def layer_norm(cx: Lowering, x: Value, normalized_shape: Sequence[int], weight: Value | None = None,
               bias: Value | None = None, eps: float = 1e-5, *_: object) -> Value:
    return native_layer_norm(cx, x, normalized_shape, weight, bias, eps)[0]


@converter("aten::native_group_norm")
def native_group_norm(cx: Lowering, x: Value, weight: Value | None, bias: Value | None, n: IntLike, c: IntLike,
                      hxw: IntLike, group: int, eps: float) -> tuple[Value, None, None]:
    scale, shift = _channel_params(cx, x, weight, bias, c, "group norm")
    y = cx.op("GroupNormalization", [x, scale, shift], {"num_groups": int(group), "epsilon": float(eps)})
    return y, None, None


@converter("aten::group_norm")
def group_norm(cx: Lowering, x: Value, num_groups: int, weight: Value | None = None, bias: Value | None = None,
               eps: float = 1e-5, *_: object) -> Value:
    return native_group_norm(cx, x, weight, bias, 0, dim_size(cx, x, 1), 0, num_groups, eps)[0]


# -- matrix products ----------------------------------------------------------------------------

def _untransposed(cx: Lowering, m: Value) -> Value | None:
    """The input of ``m`` when ``m`` is a 2-D transpose (so Gemm can read it with transB)."""
    node = m.producer
    if node is None or node.op != "Transpose" or node.graph is not cx.graph or tuple(node.attr("perm")) != (1, 0):
        return None
    return node.inputs[0]


@converter("aten::addmm")
def addmm(cx: Lowering, bias: Value, mat1: Value, mat2: Value, beta: float = 1, alpha: float = 1) -> Value:
    attrs = {"alpha": float(alpha), "beta": float(beta)}
    source = _untransposed(cx, mat2)
    if source is not None:  # the transpose is left for dead-code removal: later nodes may still read it
        return cx.op("Gemm", [mat1, source, bias], {**attrs, "transB": 1})
    return cx.op("Gemm", [mat1, mat2, bias], attrs)


@converter("aten::mm", "aten::bmm", "aten::matmul")
def matmul(cx: Lowering, a: Value, b: Value) -> Value:
    return cx.op("MatMul", [a, b])


@converter("aten::linear")
def linear(cx: Lowering, x: Value, weight: Value, bias: Value | None = None) -> Value:
    if rank_of(x) == 2 and rank_of(weight) == 2:
        inputs = [x, weight] + ([bias] if bias is not None else [])
        return cx.op("Gemm", inputs, {"transB": 1})
    y = cx.op("MatMul", [x, cx.op("Transpose", [weight], {"perm": [1, 0]})])
    return y if bias is None else cx.op("Add", [y, bias])


@converter("aten::baddbmm")
def baddbmm(cx: Lowering, bias: Value, b1: Value, b2: Value, beta: float = 1, alpha: float = 1) -> Value:
    dt = dtype_of(b1)
    product = cx.op("MatMul", [b1, b2])
    if alpha != 1:
        product = cx.op("Mul", [product, scalar(cx, alpha, dt)])
    if beta == 0:
        return product
    if beta != 1:
        bias = cx.op("Mul", [bias, scalar(cx, beta, dt)])
    return cx.op("Add", [product, bias])


# -- pooling ------------------------------------------------------------------------------------

def _pool_attrs(kernel_size: Sequence[int], stride: Sequence[int], padding: Sequence[int], n: int,
                ceil_mode: bool) -> dict[str, object]:
    kernel = pair(kernel_size, n)
    strides = pair(stride, n) if stride else kernel
    pads = pair(padding, n)
    return {"kernel_shape": kernel, "strides": strides, "pads": pads + pads, "ceil_mode": int(ceil_mode)}


def _max_pool(cx: Lowering, x: Value, kernel_size: Sequence[int], stride: Sequence[int] = (),
              padding: Sequence[int] = (0,), dilation: Sequence[int] = (1,), ceil_mode: bool = False,
              n: int = 2) -> Value:
    attrs = _pool_attrs(kernel_size, stride, padding, n, ceil_mode)
    attrs["dilations"] = pair(dilation, n)
    return cx.op("MaxPool", [x], attrs)


def _max_pool_converters(n: int) -> None:
    def with_indices(cx: Lowering, x: Value, kernel_size: Sequence[int], stride: Sequence[int] = (),
                     padding: Sequence[int] = (0,), dilation: Sequence[int] = (1,),
                     ceil_mode: bool = False) -> tuple[Value, None]:
        return _max_pool(cx, x, kernel_size, stride, padding, dilation, ceil_mode, n), None

    def plain(cx: Lowering, x: Value, kernel_size: Sequence[int], stride: Sequence[int] = (),
              padding: Sequence[int] = (0,), dilation: Sequence[int] = (1,), ceil_mode: bool = False) -> Value:
        return _max_pool(cx, x, kernel_size, stride, padding, dilation, ceil_mode, n)

    converter(f"aten::max_pool{n}d_with_indices")(with_indices)
    converter(f"aten::max_pool{n}d")(plain)


def _avg_pool_converter(n: int) -> None:
    def convert(cx: Lowering, x: Value, kernel_size: Sequence[int], stride: Sequence[int] = (),
                padding: Sequence[int] = (0,), ceil_mode: bool = False, count_include_pad: bool = True,
                divisor_override: int | None = None) -> Value:
        if divisor_override is not None:
            raise UnsupportedOpError("avg_pool with divisor_override has no ONNX equivalent")
        attrs = _pool_attrs(kernel_size, stride, padding, n, ceil_mode)
        attrs["count_include_pad"] = int(count_include_pad)
        return cx.op("AveragePool", [x], attrs)

    converter(f"aten::avg_pool{n}d")(convert)


def _adaptive_pool(cx: Lowering, x: Value, output_size: Sequence[IntLike], op: str) -> Value:
    n = rank_of(x) - 2
    out = pair(output_size, n)  # type: ignore[arg-type]
    if all(o == 1 for o in out):
        return cx.op(f"Global{op}", [x])
    dims = x.shape[2:] if x.shape is not None else None
    if dims is None or not all(isinstance(d, int) for d in dims) or any(d % o for d, o in zip(dims, out)):  # type: ignore[operator]
        raise UnsupportedOpError(f"adaptive pooling from {x.type} to {list(out)} needs static input sizes that "
                                 "divide evenly by the output size")
    kernel = [d // o for d, o in zip(dims, out)]  # type: ignore[operator]
    return cx.op(op, [x], {"kernel_shape": kernel, "strides": kernel})


for _n in (1, 2, 3):
    _max_pool_converters(_n)
    _avg_pool_converter(_n)


@converter("aten::adaptive_avg_pool1d", "aten::adaptive_avg_pool2d", "aten::_adaptive_avg_pool2d",
           "aten::adaptive_avg_pool3d", "aten::_adaptive_avg_pool3d")
def adaptive_avg_pool(cx: Lowering, x: Value, output_size: Sequence[IntLike]) -> Value:
    return _adaptive_pool(cx, x, output_size, "AveragePool")


@converter("aten::adaptive_max_pool1d", "aten::adaptive_max_pool2d", "aten::adaptive_max_pool3d")
def adaptive_max_pool(cx: Lowering, x: Value, output_size: Sequence[IntLike]) -> tuple[Value, None]:
    return _adaptive_pool(cx, x, output_size, "MaxPool"), None


# -- resizing -----------------------------------------------------------------------------------

def _resize(cx: Lowering, x: Value, mode: str, output_size: Sequence[IntLike] | None,
            scales: Sequence[float | None] | None, align_corners: bool | None) -> Value:
    n = rank_of(x) - 2
    attrs: dict[str, object] = {"mode": mode}
    if mode == "nearest":
        attrs.update(coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    else:
        attrs["coordinate_transformation_mode"] = "align_corners" if align_corners else "pytorch_half_pixel"
        if mode == "cubic":
            attrs["cubic_coeff_a"] = -0.75
    given = [s for s in (scales or []) if s is not None]
    if len(given) == n and not align_corners:
        # torch maps coordinates with the given scale even when it also knows the output size
        factors = cx.const(np.array([1.0, 1.0, *given], np.float32))
        return cx.op("Resize", [x, None, factors], attrs)
    if output_size is None:
        if len(given) != n:
            raise UnsupportedOpError("upsample without an output size or a scale per spatial dim")
        output_size = [_scaled_size(cx, dim_size(cx, x, 2 + i), s) for i, s in enumerate(given)]
    sizes = ints(cx, [dim_size(cx, x, 0), dim_size(cx, x, 1), *output_size])
    return cx.op("Resize", [x, None, None, sizes], attrs)


def _scaled_size(cx: Lowering, size: IntLike, scale: float) -> IntLike:
    """floor(size * scale), as torch sizes an upsampled dim."""
    if isinstance(size, int):
        return math.floor(size * scale)
    scaled = cx.op("Mul", [cast(cx, size, DType.DOUBLE), scalar(cx, scale, DType.DOUBLE)])
    return cast(cx, cx.op("Floor", [scaled]), DType.INT64)


def _upsample_converters(name: str, mode: str, n: int, has_align: bool) -> None:
    def vec(cx: Lowering, x: Value, output_size: Sequence[IntLike] | None, *rest: object) -> Value:
        align = bool(rest[0]) if has_align else None
        scales = rest[1] if has_align else rest[0]
        return _resize(cx, x, mode, output_size, scales, align)  # type: ignore[arg-type]

    def default(cx: Lowering, x: Value, output_size: Sequence[IntLike], *rest: object) -> Value:
        align = bool(rest[0]) if has_align else None
        scales = list(rest[1:] if has_align else rest)[:n]
        return _resize(cx, x, mode, output_size, scales, align)  # type: ignore[arg-type]

    converter(f"aten::{name}.vec")(vec)
    converter(f"aten::{name}")(default)


for _name, _mode, _n, _align in (("upsample_nearest1d", "nearest", 1, False),
                                 ("upsample_nearest2d", "nearest", 2, False),
                                 ("upsample_nearest3d", "nearest", 3, False),
                                 ("upsample_linear1d", "linear", 1, True),
                                 ("upsample_bilinear2d", "linear", 2, True),
                                 ("upsample_trilinear3d", "linear", 3, True),
                                 ("upsample_bicubic2d", "cubic", 2, True)):
    _upsample_converters(_name, _mode, _n, _align)


# -- softmax, embedding, attention --------------------------------------------------------------

def _softmax_converters(name: str, op: str) -> None:
    def internal(cx: Lowering, x: Value, dim: int, half_to_float: bool) -> Value:
        y = cx.op(op, [x], {"axis": int(dim)})
        return cast(cx, y, DType.FLOAT) if half_to_float else y

    def public(cx: Lowering, x: Value, dim: int, dtype: object = None) -> Value:
        if dtype is not None:
            x = cast(cx, x, to_dtype(dtype))
        return cx.op(op, [x], {"axis": int(dim)})

    converter(f"aten::_{name}")(internal)
    converter(f"aten::{name}")(public)


_softmax_converters("softmax", "Softmax")
_softmax_converters("log_softmax", "LogSoftmax")


@converter("aten::embedding")
def embedding(cx: Lowering, weight: Value, indices: Value, *_: object) -> Value:
    return cx.op("Gather", [weight, indices], {"axis": 0})


@converter("aten::_embedding_bag", "aten::_embedding_bag_forward_only")
def embedding_bag(cx: Lowering, weight: Value, indices: Value, offsets: Value, scale_grad_by_freq: bool = False,
                  mode: int = 0, sparse: bool = False, per_sample_weights: Value | None = None,
                  include_last_offset: bool = False, padding_idx: int = -1) -> tuple[Value, None, None, None]:
    """Sum (mode 0), mean (1) or max (2) of the embedding rows of each bag; bag b holds the indices from
    offsets[b] up to the next offset. Empty bags, and rows at ``padding_idx``, contribute nothing."""
    if rank_of(indices) != 1:
        raise UnsupportedOpError("embedding_bag with 2-D indices; torch passes them flattened with offsets")
    dt = dtype_of(weight)
    i64 = DType.INT64
    if include_last_offset:
        offsets = cx.op("Slice", [offsets, ints(cx, [0]), ints(cx, [-1])])
    count = cx.op("Shape", [indices])
    positions = cx.op("Range", [scalar(cx, 0, i64), cx.op("Squeeze", [count]), scalar(cx, 1, i64)])
    started = cx.op("GreaterOrEqual", [cx.op("Unsqueeze", [positions, ints(cx, [1])]),
                                       cx.op("Unsqueeze", [cast(cx, offsets, i64), ints(cx, [0])])])
    bag = cx.op("Sub", [cx.op("ReduceSum", [cast(cx, started, i64), ints(cx, [1])], {"keepdims": 0}),
                        scalar(cx, 1, i64)])
    rows = cx.op("Gather", [weight, indices], {"axis": 0})
    if per_sample_weights is not None:
        rows = cx.op("Mul", [rows, cx.op("Unsqueeze", [per_sample_weights, ints(cx, [1])])])
    keep = None if padding_idx < 0 else cx.op("Not", [cx.op("Equal", [indices, scalar(cx, padding_idx, i64)])])
    out_shape = cx.op("Concat", [cx.op("Shape", [offsets]), cx.op("Shape", [weight], {"start": 1})], {"axis": 0})
    bag_index = cx.op("Expand", [cx.op("Unsqueeze", [bag, ints(cx, [1])]), cx.op("Shape", [rows])])
    ones = cx.op("Expand", [scalar(cx, 1, dt), count]) if keep is None else cast(cx, keep, dt)
    members = cx.op("ScatterElements", [cx.op("Expand", [scalar(cx, 0, dt), cx.op("Shape", [offsets])]), bag, ones],
                    {"axis": 0, "reduction": "add"})
    members = cx.op("Unsqueeze", [members, ints(cx, [1])])
    if mode == 2:
        lowest = scalar(cx, float("-inf"), dt)
        if keep is not None:
            rows = cx.op("Where", [cx.op("Unsqueeze", [keep, ints(cx, [1])]), rows, lowest])
        top = cx.op("ScatterElements", [cx.op("Expand", [lowest, out_shape]), bag_index, rows],
                    {"axis": 0, "reduction": "max"})
        empty = cx.op("Equal", [members, scalar(cx, 0, dt)])
        return cx.op("Where", [empty, scalar(cx, 0, dt), top]), None, None, None
    if keep is not None:
        rows = cx.op("Mul", [rows, cx.op("Unsqueeze", [cast(cx, keep, dt), ints(cx, [1])])])
    total = cx.op("ScatterElements", [cx.op("Expand", [scalar(cx, 0, dt), out_shape]), bag_index, rows],
                  {"axis": 0, "reduction": "add"})
    if mode == 0:
        return total, None, None, None
    return cx.op("Div", [total, cx.op("Max", [members, scalar(cx, 1, dt)])]), None, None, None


@converter("aten::scaled_dot_product_attention")
def scaled_dot_product_attention(cx: Lowering, q: Value, k: Value, v: Value, attn_mask: Value | None = None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Value:
    """ONNX Attention (4-D: batch, heads, sequence, head size); 3-D inputs get a heads dim of 1."""
    if dropout_p:
        raise UnsupportedOpError(f"attention dropout (p={dropout_p}) is random even in eval mode; pass "
                                 "dropout_p=0.0 when not training")
    rank = rank_of(q)
    if rank not in (3, 4) or rank_of(k) != rank or rank_of(v) != rank:
        raise UnsupportedOpError(f"scaled_dot_product_attention on rank-{rank} inputs (graphopt lowers 3-D and "
                                 "4-D ones)")
    mask = attn_mask
    if rank == 3:
        q, k, v = (cx.op("Unsqueeze", [t, ints(cx, [1])]) for t in (q, k, v))
        if mask is not None and rank_of(mask) == 3:  # per batch item: it must not broadcast over the heads dim
            mask = cx.op("Unsqueeze", [mask, ints(cx, [1])])
    if mask is not None and dtype_of(mask) != DType.BOOL:
        mask = cast(cx, mask, dtype_of(q))
    attrs: dict[str, object] = {"is_causal": int(is_causal)}
    if scale is not None:
        attrs["scale"] = float(scale)
    y = cx.op("Attention", [q, k, v] + ([mask] if mask is not None else []), attrs, num_outputs=1)
    return cx.op("Squeeze", [y, ints(cx, [1])]) if rank == 3 else y


@converter("aten::_scaled_dot_product_flash_attention_for_cpu")
def flash_attention_cpu(cx: Lowering, q: Value, k: Value, v: Value, dropout_p: float = 0.0,
                        is_causal: bool = False, attn_mask: Value | None = None,
                        scale: float | None = None) -> tuple[Value, None]:
    return scaled_dot_product_attention(cx, q, k, v, attn_mask, dropout_p, is_causal, scale), None


@converter("aten::pixel_shuffle")
def pixel_shuffle(cx: Lowering, x: Value, upscale_factor: int) -> Value:
    return cx.op("DepthToSpace", [x], {"blocksize": int(upscale_factor), "mode": "CRD"})


@converter("aten::pixel_unshuffle")
def pixel_unshuffle(cx: Lowering, x: Value, downscale_factor: int) -> Value:
    n, c, h, w = (dim_size(cx, x, i) for i in range(4))
    r = downscale_factor
    if not all(isinstance(d, int) for d in (c, h, w)):
        raise UnsupportedOpError("pixel_unshuffle needs static channel and spatial sizes")
    y = cx.op("Reshape", [x, ints(cx, [n, c, h // r, r, w // r, r])])  # type: ignore[operator]
    y = cx.op("Transpose", [y], {"perm": [0, 1, 3, 5, 2, 4]})
    return cx.op("Reshape", [y, ints(cx, [n, c * r * r, h // r, w // r])])  # type: ignore[operator]



_GRID_MODES = {0: "linear", 1: "nearest", 2: "cubic"}
_GRID_PADDING = {0: "zeros", 1: "border", 2: "reflection"}


@converter("aten::grid_sampler_2d", "aten::grid_sampler")
def grid_sampler(cx: Lowering, x: Value, grid: Value, interpolation_mode: int, padding_mode: int,
                 align_corners: bool) -> Value:
    return cx.op("GridSample", [x, grid], {"mode": _GRID_MODES[interpolation_mode],
                                           "padding_mode": _GRID_PADDING[padding_mode],
                                           "align_corners": int(align_corners)})


def _distances(cx: Lowering, a: Value, b: Value, p: float) -> Value:
    """p-norm distances between the rows of ``a`` [..., P, M] and ``b`` [..., R, M]: [..., P, R]."""
    diff = cx.op("Sub", [cx.op("Unsqueeze", [a, ints(cx, [-2])]), cx.op("Unsqueeze", [b, ints(cx, [-3])])])
    last = ints(cx, [-1])
    if p == 2:
        return cx.op("ReduceL2", [diff, last], {"keepdims": 0})
    if p == 1:
        return cx.op("ReduceL1", [diff, last], {"keepdims": 0})
    if p == float("inf"):
        return cx.op("ReduceMax", [cx.op("Abs", [diff]), last], {"keepdims": 0})
    if p == 0:
        nonzero = cast(cx, cx.op("Not", [cx.op("Equal", [diff, scalar(cx, 0, dtype_of(a))])]), dtype_of(a))
        return cx.op("ReduceSum", [nonzero, last], {"keepdims": 0})
    powered = cx.op("Pow", [cx.op("Abs", [diff]), scalar(cx, p, dtype_of(a))])
    summed = cx.op("ReduceSum", [powered, last], {"keepdims": 0})
    return cx.op("Pow", [summed, scalar(cx, 1.0 / p, dtype_of(a))])


@converter("aten::_cdist_forward", "aten::cdist")
def cdist(cx: Lowering, x1: Value, x2: Value, p: float = 2.0, compute_mode: int | None = None) -> Value:
    return _distances(cx, x1, x2, p)


@converter("aten::_pdist_forward", "aten::pdist")
def pdist(cx: Lowering, x: Value, p: float = 2.0) -> Value:
    """Distances between every pair of rows i < j, in row-major order of the upper triangle."""
    n = dim_size(cx, x, 0)
    if not isinstance(n, int):
        raise UnsupportedOpError("pdist over a dynamic number of rows")
    rows, cols = np.triu_indices(n, 1)
    flat = cx.op("Reshape", [_distances(cx, x, x, p), ints(cx, [-1])])
    return cx.op("Gather", [flat, cx.const((rows * n + cols).astype(np.int64))], {"axis": 0})
