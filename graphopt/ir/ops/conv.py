"""Convolutions: Conv, ConvTranspose, ConvInteger, QLinearConv, QLinearMatMul and DeformConv.

Conv is im2col (a strided view of the padded input, copied once) followed by one
matmul per group (depthwise convs loop over kernel taps instead); ConvTranspose
is a matmul followed by col2im.
The sliding-window geometry (pads, auto_pad, ceil_mode) lives here too and is
shared with the pools.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from graphopt.ir.dtypes import DType
from graphopt.ir.inference import InferContext, broadcast_shapes
from graphopt.ir.registry import kernel, shape_inference
from graphopt.ir.types import Dim, Shape, TensorType, Type

SAME_PADS = ("SAME_UPPER", "SAME_LOWER")


# -- window geometry ---------------------------------------------------------------------

def split_pads(pads: Sequence[int] | None, rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """ONNX ``pads`` ``[b1, b2, ..., e1, e2, ...]`` as (begins, ends)."""
    if not pads:
        return (0,) * rank, (0,) * rank
    return tuple(pads[:rank]), tuple(pads[rank:2 * rank])


def same_pads(total: int, auto_pad: str) -> tuple[int, int]:
    """Split a total padding into (begin, end): SAME_UPPER puts the odd pixel at the end."""
    small = total // 2
    return (small, total - small) if auto_pad == "SAME_UPPER" else (total - small, small)


def window_out_dim(
    size: Dim, kernel: int, stride: int, dilation: int, begin: int, end: int, auto_pad: str, ceil_mode: bool = False
) -> Dim:
    """Number of window positions along one spatial dim (``None`` when ``size`` is not static)."""
    if not isinstance(size, int):
        return None
    return window_out_size(size, kernel, stride, dilation, begin, end, auto_pad, ceil_mode)


def window_out_size(
    size: int, kernel: int, stride: int, dilation: int, begin: int, end: int, auto_pad: str, ceil_mode: bool = False
) -> int:
    """Number of window positions along one static spatial dim."""
    if auto_pad in SAME_PADS:
        return -(-size // stride)
    if auto_pad == "VALID":
        begin = end = 0
    span = size + begin + end - (kernel - 1) * dilation - 1
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    return out - 1 if (out - 1) * stride >= size + begin else out  # the last window must start inside


@dataclass(frozen=True, slots=True)
class Window:
    """Where a sliding window goes along each spatial dim of an input."""

    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    out: tuple[int, ...]
    begin: tuple[int, ...]
    end: tuple[int, ...]
    """Padding after each dim, as the attributes or auto_pad say (ceil_mode's overhang not included)."""

    @property
    def span(self) -> tuple[int, ...]:
        """Length of padded input the windows cover along each dim."""
        return tuple((o - 1) * s + (k - 1) * d + 1 for o, s, k, d in zip(self.out, self.strides, self.kernel,
                                                                         self.dilations, strict=True))

    def positions(self, axis: int) -> np.ndarray:
        """Input coordinate of each (output index, kernel offset) along ``axis``, shape (out, kernel)."""
        o = np.arange(self.out[axis])[:, None] * self.strides[axis]
        return o + np.arange(self.kernel[axis])[None, :] * self.dilations[axis] - self.begin[axis]

    def offsets(self) -> Iterator[tuple[tuple[int, ...], tuple[slice, ...]]]:
        """Each kernel offset, with the index of an (N, C, *spatial) padded input that picks the offset's pixel
        for every output position."""
        for offs in itertools.product(*(range(k) for k in self.kernel)):
            spatial = (slice(k * d, k * d + (o - 1) * s + 1, s)
                       for k, d, o, s in zip(offs, self.dilations, self.out, self.strides, strict=True))
            yield offs, (slice(None), slice(None), *spatial)


def window_of(
    sizes: Sequence[int], kernel: Sequence[int], *, strides: Sequence[int] | None = None,
    dilations: Sequence[int] | None = None, pads: Sequence[int] | None = None, auto_pad: str = "NOTSET",
    ceil_mode: bool = False,
) -> Window:
    """The window geometry of a conv or pool over an input with static spatial ``sizes``."""
    rank = len(sizes)
    strides = tuple(strides or (1,) * rank)
    dilations = tuple(dilations or (1,) * rank)
    begin, end = split_pads(pads, rank)
    if auto_pad == "VALID":
        begin = end = (0,) * rank
    out = tuple(window_out_size(n, k, s, d, b, e, auto_pad, ceil_mode)
                for n, k, s, d, b, e in zip(sizes, kernel, strides, dilations, begin, end, strict=True))
    if auto_pad in SAME_PADS:
        split = [same_pads(max(0, (o - 1) * s + (k - 1) * d + 1 - n), auto_pad)
                 for n, k, s, d, o in zip(sizes, kernel, strides, dilations, out, strict=True)]
        begin, end = tuple(b for b, _ in split), tuple(e for _, e in split)
    if any(o <= 0 for o in out):
        raise ValueError(f"window {tuple(kernel)} does not fit the input's spatial shape {tuple(sizes)}")
    return Window(tuple(kernel), strides, dilations, out, begin, end)


def pad_spatial(x: np.ndarray, win: Window, value: float | int = 0) -> np.ndarray:
    """``x`` padded so that every window of ``win`` lies inside it (extra room at the end for ceil_mode)."""
    sizes = x.shape[2:]
    ends = [max(e, sp - n - b) for n, b, e, sp in zip(sizes, win.begin, win.end, win.span, strict=True)]
    if not any(win.begin) and not any(ends):
        return x
    shape = (*x.shape[:2], *(n + b + e for n, b, e in zip(sizes, win.begin, ends, strict=True)))
    out = np.full(shape, value, x.dtype)
    inside = (slice(None), slice(None), *(slice(b, b + n) for b, n in zip(win.begin, sizes, strict=True)))
    out[inside] = x
    return out


def window_out_shape(ctx: InferContext, spatial: Sequence[Dim], kernel: Sequence[int] | None,
                     ceil_mode: bool = False) -> tuple[Dim, ...]:
    """Output spatial dims of a conv/pool node whose input has spatial dims ``spatial``."""
    rank = len(spatial)
    if kernel is None:
        return (None,) * rank
    begin, end = split_pads(ctx.attr("pads"), rank)
    strides = ctx.attr("strides") or (1,) * rank
    dilations = ctx.attr("dilations") or (1,) * rank
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    return tuple(window_out_dim(n, k, s, d, b, e, auto_pad, ceil_mode)
                 for n, k, s, d, b, e in zip(spatial, kernel, strides, dilations, begin, end, strict=True))


# -- Conv ---------------------------------------------------------------------------------

def compute_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype a conv computes in: float32 for narrower floats, float64 (exact here) for integers."""
    if dtype.kind in "iub":
        return np.dtype(np.float64)
    return np.dtype(np.float32) if dtype.itemsize < 4 else dtype


def im2col(x: np.ndarray, win: Window) -> np.ndarray:
    """Strided view of padded ``x`` with shape (N, C, *kernel, *out)."""
    sn, sc, *sp = x.strides
    shape = x.shape[:2] + win.kernel + win.out
    taps = (s * d for s, d in zip(sp, win.dilations, strict=True))
    steps = (s * st for s, st in zip(sp, win.strides, strict=True))
    strides = (sn, sc, *taps, *steps)
    return as_strided(x, shape, strides, writeable=False)


def grouped_matmul(w: np.ndarray, cols: np.ndarray, group: int) -> np.ndarray:
    """``w`` (M, C/G, *k) applied to ``cols`` (N, C, *k, *out): result (N, M, *out)."""
    n, c = cols.shape[:2]
    out = cols.shape[w.ndim:]
    m, taps = w.shape[0], math.prod(w.shape[2:])
    rank = len(out)
    # (G, C/G * taps, N * out): one matmul per group covers every image
    flat = cols.transpose(1, *range(2, 2 + rank), 0, *range(2 + rank, 2 + 2 * rank))
    y = matmul_per_group(w.reshape(group, m // group, -1), flat.reshape(group, (c // group) * taps, -1))
    return np.ascontiguousarray(y.reshape(m, n, *out).swapaxes(0, 1))


def matmul_per_group(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a[g] @ b[g]`` for each group, as 2-D BLAS calls (numpy's stacked matmul is slow for skinny operands)."""
    y = np.empty((a.shape[0], a.shape[1], b.shape[2]), np.result_type(a, b))
    for g in range(a.shape[0]):
        np.matmul(a[g], b[g], out=y[g])
    return y


def depthwise(x: np.ndarray, w: np.ndarray, win: Window) -> np.ndarray:
    """Conv of padded ``x`` with one input channel per group (``w`` is (M, 1, *k)), as a loop over kernel taps."""
    n, c = x.shape[:2]
    mult = w.shape[0] // c
    y = np.zeros((n, c, mult, *win.out), np.result_type(x, w))
    wt = w.reshape(c, mult, -1)
    scale_shape = (1, c, mult) + (1,) * len(win.out)
    for tap, (_, where) in enumerate(win.offsets()):
        y += wt[:, :, tap].reshape(scale_shape) * x[where][:, :, None]
    return y.reshape(n, c * mult, *win.out)


def conv_nd(
    x: np.ndarray, w: np.ndarray, *, group: int = 1, auto_pad: str = "NOTSET", dilations: Sequence[int] | None = None,
    kernel_shape: Sequence[int] | None = None, pads: Sequence[int] | None = None,
    strides: Sequence[int] | None = None,
) -> np.ndarray:
    """Correlate ``x`` (N, C, *spatial) with ``w`` (M, C/group, *kernel), both already in the compute dtype.

    The keyword arguments are the attributes of Conv (and of ConvInteger and QLinearConv, which share them).
    """
    if x.shape[1] != w.shape[1] * group:
        raise ValueError(f"input has {x.shape[1]} channels, weight expects {w.shape[1]} x group {group}")
    kernel = tuple(kernel_shape or w.shape[2:])
    win = window_of(x.shape[2:], kernel, strides=strides, dilations=dilations, pads=pads, auto_pad=auto_pad)
    if group > 1 and w.shape[1] == 1:
        return depthwise(pad_spatial(x, win), w, win)
    return grouped_matmul(w, im2col(pad_spatial(x, win), win), group)


def add_bias(y: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    if b is None:
        return y
    y += b.astype(y.dtype).reshape((1, -1) + (1,) * (y.ndim - 2))
    return y


@kernel("Conv")
def conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, **attrs: Any) -> np.ndarray:
    ct = compute_dtype(x.dtype)
    y = conv_nd(x.astype(ct, copy=False), w.astype(ct, copy=False), **attrs)
    return add_bias(y, b).astype(x.dtype, copy=False)


def minus_zero_point(x: np.ndarray, zp: np.ndarray | None, channel_axis: int | None = None) -> np.ndarray:
    """``x - zp`` as float64; a 1-D ``zp`` with several entries is per-channel along ``channel_axis``."""
    x = x.astype(np.float64)
    if zp is None:
        return x
    zp = np.asarray(zp, np.float64)
    if zp.size > 1 and channel_axis is not None:
        zp = zp.reshape((-1,) + (1,) * (x.ndim - 1 - channel_axis))
    return x - zp


@kernel("ConvInteger")
def conv_integer(x: np.ndarray, w: np.ndarray, x_zero_point: np.ndarray | None = None,
                 w_zero_point: np.ndarray | None = None, **attrs: Any) -> np.ndarray:
    return conv_nd(minus_zero_point(x, x_zero_point), minus_zero_point(w, w_zero_point, 0), **attrs).astype(np.int32)


def requantize(acc: np.ndarray, multiplier: np.ndarray, zero_point: np.ndarray | None,
               dtype: np.dtype) -> np.ndarray:
    """``saturate(round_half_even(acc * multiplier) + zero_point)`` in the integer ``dtype``."""
    y = np.rint(acc * multiplier.astype(np.float64))
    if zero_point is not None:
        y += zero_point.astype(np.float64)
    info = np.iinfo(dtype)
    return np.clip(y, info.min, info.max).astype(dtype)


@kernel("QLinearConv")
def qlinear_conv(x: np.ndarray, x_scale: np.ndarray, x_zero_point: np.ndarray | None, w: np.ndarray,
                 w_scale: np.ndarray, w_zero_point: np.ndarray | None, y_scale: np.ndarray,
                 y_zero_point: np.ndarray | None = None, b: np.ndarray | None = None, **attrs: Any) -> np.ndarray:
    acc = add_bias(conv_nd(minus_zero_point(x, x_zero_point), minus_zero_point(w, w_zero_point, 0), **attrs), b)
    w_scale = np.asarray(w_scale).reshape((-1,) + (1,) * (acc.ndim - 2))
    multiplier = (x_scale * w_scale / y_scale).astype(np.float32)
    dtype = x.dtype if y_zero_point is None else y_zero_point.dtype
    return requantize(acc, multiplier, y_zero_point, dtype)


def _per_row(a: np.ndarray | None, operand: np.ndarray) -> np.ndarray | None:
    """A per-row (1-D, length M) quantization parameter of ``a`` in ``a @ b``, as a column."""
    if a is None or a.ndim == 0 or a.size == 1 or operand.ndim < 2:
        return a
    return a.reshape((*a.shape[:-1], a.shape[-1], 1))


@kernel("QLinearMatMul")
def qlinear_matmul(a: np.ndarray, a_scale: np.ndarray, a_zero_point: np.ndarray | None, b: np.ndarray,
                   b_scale: np.ndarray, b_zero_point: np.ndarray | None, y_scale: np.ndarray,
                   y_zero_point: np.ndarray | None = None) -> np.ndarray:
    acc = np.matmul(minus_zero_point(a, _per_row(a_zero_point, a)), minus_zero_point(b, b_zero_point))
    multiplier = _per_row(a_scale, a) * b_scale / y_scale  # type: ignore[operator]
    dtype = a.dtype if y_zero_point is None else y_zero_point.dtype
    return requantize(acc, multiplier, y_zero_point, dtype)


# -- ConvTranspose ------------------------------------------------------------------------

def conv_transpose_dim(
    size: Dim, kernel: int, stride: int, dilation: int, out_pad: int, begin: int, end: int, auto_pad: str,
    requested: Dim = None,
) -> tuple[Dim, int]:
    """(output size, leading crop) of ConvTranspose along one dim; ``requested`` is ``output_shape``'s entry."""
    if not isinstance(size, int):
        return requested, 0
    full = stride * (size - 1) + out_pad + (kernel - 1) * dilation + 1
    if requested is None and auto_pad in SAME_PADS:
        requested = size * stride
    if isinstance(requested, int):
        return requested, same_pads(full - requested, auto_pad)[0]
    if auto_pad == "VALID":
        begin = end = 0
    return full - begin - end, begin


def conv_transpose_geometry(
    sizes: Sequence[Dim], kernel: Sequence[int], *, strides: Sequence[int] | None, dilations: Sequence[int] | None,
    pads: Sequence[int] | None, output_padding: Sequence[int] | None, output_shape: Sequence[int] | None,
    auto_pad: str,
) -> list[tuple[Dim, int]]:
    """(output size, leading crop) per spatial dim of a ConvTranspose."""
    rank = len(sizes)
    begin, end = split_pads(pads, rank)
    requested: Sequence[Dim] = tuple(output_shape[-rank:]) if output_shape else (None,) * rank
    strides, dilations = strides or (1,) * rank, dilations or (1,) * rank
    out_pads = output_padding or (0,) * rank
    return [conv_transpose_dim(sizes[i], kernel[i], strides[i], dilations[i], out_pads[i], begin[i], end[i], auto_pad,
                               requested[i]) for i in range(rank)]


def crop(y: np.ndarray, starts: Sequence[int], sizes: Sequence[int]) -> np.ndarray:
    """Spatial window ``[start, start + size)`` of ``y`` (N, C, *spatial), zero-filled where it leaves ``y``."""
    lead = [max(0, -s) for s in starts]
    trail = [max(0, s + n - d) for s, n, d in zip(starts, sizes, y.shape[2:], strict=True)]
    if any(lead) or any(trail):
        y = np.pad(y, [(0, 0), (0, 0), *list(zip(lead, trail, strict=True))])
        starts = [s + p for s, p in zip(starts, lead, strict=True)]
    window = (slice(None), slice(None), *(slice(s, s + n) for s, n in zip(starts, sizes, strict=True)))
    return y[window]


@kernel("ConvTranspose")
def conv_transpose(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *, group: int, auto_pad: str,
                   dilations: Sequence[int] | None = None, kernel_shape: Sequence[int] | None = None,
                   output_padding: Sequence[int] | None = None, output_shape: Sequence[int] | None = None,
                   pads: Sequence[int] | None = None, strides: Sequence[int] | None = None) -> np.ndarray:
    ct = compute_dtype(x.dtype)
    n, c, *sizes = x.shape
    kernel = tuple(kernel_shape or w.shape[2:])
    rank = len(sizes)
    strides = tuple(strides or (1,) * rank)
    dilations = tuple(dilations or (1,) * rank)
    mg = w.shape[1]
    # cols[m, *k, n, *in]: what input pixel `in` of image n contributes through kernel tap `k` to channel m
    wg = w.astype(ct, copy=False).reshape(group, c // group, mg * math.prod(kernel)).transpose(0, 2, 1)
    xg = x.astype(ct, copy=False).reshape(n, group, c // group, -1).transpose(1, 2, 0, 3).reshape(group, c // group, -1)
    cols = matmul_per_group(wg, xg).reshape((group * mg, *kernel, n, *sizes))
    pad_end = output_padding or (0,) * rank
    full = tuple(s * (i - 1) + (k - 1) * d + 1 + p for s, i, k, d, p in zip(strides, sizes, kernel, dilations,
                                                                            pad_end, strict=True))
    y = np.zeros((group * mg, n, *full), ct)
    win = Window(kernel, strides, dilations, tuple(sizes), (0,) * rank, (0,) * rank)
    for offs, where in win.offsets():
        tap: tuple[slice | int, ...] = (slice(None), *offs)
        y[where] += cols[tap]
    y = y.swapaxes(0, 1)
    geo = conv_transpose_geometry(sizes, kernel, strides=strides, dilations=dilations, pads=pads,
                                  output_padding=output_padding, output_shape=output_shape, auto_pad=auto_pad)
    y = crop(y, [s for _, s in geo], [o for o, _ in geo])  # type: ignore[misc]
    return add_bias(np.ascontiguousarray(y), b).astype(x.dtype, copy=False)


# -- DeformConv ---------------------------------------------------------------------------

def sample_linear(x: np.ndarray, coords: Sequence[np.ndarray]) -> np.ndarray:
    """Multilinear samples of ``x`` (N, G, C, *spatial) at ``coords[i]`` (N, G, P) per spatial dim; zero outside."""
    sizes = x.shape[3:]
    flat = x.reshape((*x.shape[:3], -1))
    lows = [np.floor(c) for c in coords]
    fracs = [c - lo for c, lo in zip(coords, lows, strict=True)]
    strides = [math.prod(sizes[i + 1:]) for i in range(len(sizes))]
    result = np.zeros((*x.shape[:3], coords[0].shape[-1]), x.dtype)
    for corner in itertools.product((0, 1), repeat=len(sizes)):
        weight = np.ones_like(coords[0])
        index = np.zeros(coords[0].shape, np.int64)
        for c, lo, f, n, st in zip(corner, lows, fracs, sizes, strides, strict=True):
            i = lo.astype(np.int64) + c
            weight = weight * (f if c else 1 - f) * ((i >= 0) & (i < n))
            index += np.clip(i, 0, n - 1) * st
        result += np.take_along_axis(flat, index[:, :, None, :], axis=3) * weight[:, :, None, :].astype(x.dtype)
    return result


def tap_positions(win: Window, axis: int) -> np.ndarray:
    """Input coordinate along ``axis`` of every (kernel tap, output position) pair, shape (taps, points)."""
    rank = len(win.kernel)
    shape = [1] * (2 * rank)
    shape[axis], shape[rank + axis] = win.kernel[axis], win.out[axis]
    pos = win.positions(axis).T.reshape(shape)
    return np.broadcast_to(pos, win.kernel + win.out).reshape(math.prod(win.kernel), -1)


@kernel("DeformConv")
def deform_conv(x: np.ndarray, w: np.ndarray, offset: np.ndarray, b: np.ndarray | None = None,
                mask: np.ndarray | None = None, *, group: int, offset_group: int,
                dilations: Sequence[int] | None = None, kernel_shape: Sequence[int] | None = None,
                pads: Sequence[int] | None = None, strides: Sequence[int] | None = None) -> np.ndarray:
    ct = compute_dtype(x.dtype)
    n, c, *sizes = x.shape
    kernel = tuple(kernel_shape or w.shape[2:])
    rank, taps = len(kernel), math.prod(kernel)
    out = tuple(offset.shape[2:])
    win = replace(window_of(sizes, kernel, strides=strides, dilations=dilations, pads=pads), out=out)
    points = math.prod(out)
    off = offset.astype(ct).reshape(n, offset_group, taps, rank, points)
    coords = [(off[:, :, :, axis, :] + tap_positions(win, axis)).reshape(n, offset_group, taps * points)
              for axis in range(rank)]
    xg = x.astype(ct, copy=False).reshape((n, offset_group, c // offset_group, *sizes))
    cols = sample_linear(xg, coords).reshape(n, offset_group, c // offset_group, taps, points)
    if mask is not None:
        cols = cols * mask.astype(ct).reshape(n, offset_group, 1, taps, points)
    y = grouped_matmul(w.astype(ct, copy=False), cols.reshape((n, c, *kernel, *out)), group)
    return add_bias(y, b).astype(x.dtype, copy=False)


# -- shape inference ----------------------------------------------------------------------

def _kernel_shape(ctx: InferContext, w_shape: Shape) -> tuple[int, ...] | None:
    """The kernel_shape attribute, else the weight's spatial dims when they are static."""
    if ctx.attr("kernel_shape"):
        return tuple(ctx.attr("kernel_shape"))
    if w_shape is None or not all(isinstance(d, int) for d in w_shape[2:]):
        return None
    return tuple(w_shape[2:])  # type: ignore[arg-type]


def _conv_dtype(ctx: InferContext) -> DType | None:
    op = ctx.node.op
    if op == "ConvInteger":
        return DType.INT32
    if op == "QLinearConv":
        return ctx.dtype(7) if ctx.has_input(7) else ctx.dtype(0)
    return ctx.dtype(0) or ctx.dtype(1)


@shape_inference("Conv", "ConvInteger", "QLinearConv", "DeformConv")
def infer_conv(ctx: InferContext) -> list[Type]:
    op = ctx.node.op
    xi, wi = (0, 3) if op == "QLinearConv" else (0, 1)
    dtype = _conv_dtype(ctx)
    xs, ws = ctx.shape(xi), ctx.shape(wi)
    rank = len(xs) if xs is not None else len(ws) if ws is not None else None
    if rank is None or dtype is None:
        return [None if dtype is None else TensorType(dtype, None)]
    if rank < 3:
        raise ctx.fail(f"{op} needs an input of rank >= 3, got rank {rank}")
    batch = xs[0] if xs is not None else None
    channels = ws[0] if ws is not None else None
    spatial = xs[2:] if xs is not None else (None,) * (rank - 2)
    dims = window_out_shape(ctx, spatial, _kernel_shape(ctx, ws))
    if op == "DeformConv" and ctx.shape(2) is not None:
        dims = tuple(ctx.shape(2)[2:])  # type: ignore[index]
    return [TensorType(dtype, (batch, channels, *dims))]


@shape_inference("ConvTranspose")
def infer_conv_transpose(ctx: InferContext) -> list[Type]:
    dtype, xs, ws = ctx.dtype(0), ctx.shape(0), ctx.shape(1)
    if dtype is None:
        return [None]
    if xs is None:
        return [TensorType(dtype, None if ws is None else (None,) * len(ws))]
    rank = len(xs) - 2
    channels = ws[1] * ctx.attr("group") if ws is not None and isinstance(ws[1], int) else None
    kernel = _kernel_shape(ctx, ws)
    if kernel is None:
        spatial: tuple[Dim, ...] = (None,) * rank
    else:
        geo = conv_transpose_geometry(
            xs[2:], kernel, strides=ctx.attr("strides"), dilations=ctx.attr("dilations"), pads=ctx.attr("pads"),
            output_padding=ctx.attr("output_padding"), output_shape=ctx.attr("output_shape"),
            auto_pad=ctx.attr("auto_pad"))
        spatial = tuple(o for o, _ in geo)
    return [TensorType(dtype, (xs[0], channels, *spatial))]


def matmul_shape(a: Shape, b: Shape, where: str) -> Shape:
    """numpy.matmul's result shape, with batch dims broadcast."""
    if a is None or b is None:
        return None
    a2, b2 = (1, *a) if len(a) == 1 else a, (*b, 1) if len(b) == 1 else b
    batch = broadcast_shapes([a2[:-2], b2[:-2]], where)
    out = (*batch, a2[-2], b2[-1])  # type: ignore[misc]
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


@shape_inference("QLinearMatMul")
def infer_qlinear_matmul(ctx: InferContext) -> list[Type]:
    dtype = ctx.dtype(7) if ctx.has_input(7) else ctx.dtype(0)
    if dtype is None:
        return [None]
    return [TensorType(dtype, matmul_shape(ctx.shape(0), ctx.shape(3), ctx.node.label))]
