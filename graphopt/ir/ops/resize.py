"""Resampling: Resize, GridSample and AffineGrid.

Resize is separable: each resized axis becomes one (out, in) weight matrix
applied with a tensordot (a gather for nearest), following the ONNX reference's
conventions for every coordinate transformation, rounding mode and filter.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from graphopt.ir.inference import InferContext
from graphopt.ir.registry import kernel, shape_inference
from graphopt.ir.types import Dim, TensorType, Type


def _keys_cubic(a: float) -> Callable[[np.ndarray], np.ndarray]:
    """Keys' cubic convolution kernel with coefficient ``a``."""

    def weight(t: np.ndarray) -> np.ndarray:
        t = np.abs(t)
        near = ((a + 2) * t - (a + 3)) * t * t + 1
        far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
        return np.where(t <= 1, near, np.where(t < 2, far, 0.0))

    return weight


def _triangle(t: np.ndarray) -> np.ndarray:
    return np.clip(1 - np.abs(t), 0, None)


# -- Resize -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Resampler:
    """Resize's attributes, and how they map output indices to weighted input taps along one axis."""

    mode: str
    coordinates: str
    nearest_mode: str
    cubic_a: float
    antialias: bool
    exclude_outside: bool
    extrapolation: float

    def source(self, length: int, size: int, scale: float, roi: tuple[float, float]) -> np.ndarray:
        """Input coordinate of each output index (float64)."""
        y = np.arange(length, dtype=np.float64)
        width = scale * size  # the unrounded output length, as the ONNX reference uses it
        mode = self.coordinates
        if mode == "half_pixel":
            return (y + 0.5) / scale - 0.5
        if mode == "half_pixel_symmetric":
            offset = size / 2 * (1 - length / width)
            return offset + (y + 0.5) / scale - 0.5
        if mode == "pytorch_half_pixel":
            return (y + 0.5) / scale - 0.5 if length > 1 else np.full(length, -0.5)
        if mode == "align_corners":
            return y * (size - 1) / (width - 1) if width != 1 else np.zeros(length)
        if mode == "asymmetric":
            return y / scale
        if mode == "tf_crop_and_resize":
            start, end = roi
            if width == 1:
                return np.full(length, (start + end) / 2 * (size - 1))
            return start * (size - 1) + y * (end - start) * (size - 1) / (width - 1)
        raise ValueError(f"unknown coordinate_transformation_mode {mode!r}")

    def nearest(self, xs: np.ndarray) -> np.ndarray:
        rounding: dict[str, Callable[[np.ndarray], np.ndarray]] = {
            "round_prefer_floor": lambda v: np.ceil(v - 0.5), "round_prefer_ceil": lambda v: np.floor(v + 0.5),
            "floor": np.floor, "ceil": np.ceil,
        }
        if self.nearest_mode not in rounding:
            raise ValueError(f"unknown nearest_mode {self.nearest_mode!r}")
        return rounding[self.nearest_mode](xs).astype(np.int64)

    def taps(self, xs: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        """(input index, weight) arrays of shape (out, taps) for linear/cubic filtering."""
        weight: Callable[[np.ndarray], np.ndarray]
        if self.mode == "linear":
            weight, radius = _triangle, 1
        elif self.mode == "cubic":
            weight, radius = _keys_cubic(self.cubic_a), 2
        else:
            raise ValueError(f"unknown Resize mode {self.mode!r}")
        stretch = min(scale, 1.0) if self.antialias else 1.0  # antialias widens the filter when downsampling
        first = math.floor(-radius / stretch) + 1
        offsets = np.arange(first, 2 - first)
        base = np.ceil(xs) - 1  # the tap left of xs, with xs - base in (0, 1]
        index = base[:, None].astype(np.int64) + offsets
        w = weight((offsets - (xs - base)[:, None]) * stretch)
        if self.antialias:
            w = w / w.sum(axis=1, keepdims=True)
        return index, w

    def resize_axis(self, x: np.ndarray, axis: int, length: int, scale: float, roi: tuple[float, float]) -> np.ndarray:
        size = x.shape[axis]
        xs = self.source(length, size, scale, roi)
        if self.mode == "nearest":
            y = np.take(x, np.clip(self.nearest(xs), 0, size - 1), axis=axis)
        else:
            index, w = self.taps(xs, scale)
            if self.exclude_outside:
                w = np.where((index >= 0) & (index < size), w, 0.0)
                total = w.sum(axis=1, keepdims=True)
                w = w / np.where(total == 0, 1.0, total)
            matrix = np.zeros((length, size))
            np.add.at(matrix, (np.arange(length)[:, None], np.clip(index, 0, size - 1)), w)
            y = np.moveaxis(np.tensordot(matrix, x, axes=(1, axis)), 0, axis)
        if self.coordinates == "tf_crop_and_resize":
            outside = (xs < 0) | (xs > size - 1)
            if outside.any():
                where = outside.reshape([-1 if a == axis else 1 for a in range(x.ndim)])
                y = np.where(where, np.asarray(self.extrapolation, y.dtype), y)
        return y


def _axes(axes: Sequence[int] | None, rank: int) -> list[int]:
    return list(range(rank)) if not axes else [a % rank for a in axes]


def resize_plan(shape: Sequence[int], axes: Sequence[int], scales: np.ndarray | None,
                sizes: Sequence[int] | None, policy: str) -> tuple[list[int], list[float]]:
    """Output length and scale factor of each resized axis, from ``scales`` or ``sizes``."""
    if sizes is not None:
        factors = [n / shape[a] for n, a in zip(sizes, axes, strict=True)]
        if policy == "stretch":
            return list(sizes), factors
        if policy not in ("not_larger", "not_smaller"):
            raise ValueError(f"unknown keep_aspect_ratio_policy {policy!r}")
        scale = min(factors) if policy == "not_larger" else max(factors)
        return [math.floor(scale * shape[a] + 0.5) for a in axes], [scale] * len(axes)
    if scales is None:
        raise ValueError("Resize needs scales or sizes")
    scales = np.asarray(scales, np.float32).reshape(-1)
    # floor(size * scale) in float32, the precision the scales come in (0.7f * 10 is 7, not 6.9999...)
    lengths = [int(np.floor(np.float32(shape[a]) * s)) for a, s in zip(axes, scales, strict=True)]
    return lengths, [float(s) for s in scales]


def _given(a: np.ndarray | None) -> np.ndarray | None:
    """An optional input that is present and not empty (empty tensors stand for omitted ones)."""
    return a if a is not None and a.size else None


@kernel("Resize")
def resize(x: np.ndarray, roi: np.ndarray | None = None, scales: np.ndarray | None = None,
           sizes: np.ndarray | None = None, *, antialias: int, coordinate_transformation_mode: str,
           cubic_coeff_a: float, exclude_outside: int, extrapolation_value: float, keep_aspect_ratio_policy: str,
           mode: str, nearest_mode: str, axes: Sequence[int] | None = None) -> np.ndarray:
    resampler = _Resampler(mode, coordinate_transformation_mode, nearest_mode, cubic_coeff_a, bool(antialias),
                           bool(exclude_outside), extrapolation_value)
    axes = _axes(axes, x.ndim)
    sizes, roi = _given(sizes), _given(roi)
    lengths, factors = resize_plan(x.shape, axes, _given(scales), None if sizes is None else sizes.tolist(),
                                   keep_aspect_ratio_policy)
    roi_pairs = [(0.0, 1.0)] * len(axes)
    if roi is not None:
        if roi.size == 2 * x.ndim:
            roi = np.concatenate([roi[:x.ndim][axes], roi[x.ndim:][axes]])
        roi_pairs = [(float(s), float(e)) for s, e in zip(roi[:len(axes)], roi[len(axes):], strict=True)]
    y = x if mode == "nearest" else x.astype(np.float64)
    for axis, length, scale, window in zip(axes, lengths, factors, roi_pairs, strict=True):
        if length == y.shape[axis] and scale == 1 and window == (0.0, 1.0):
            continue
        y = resampler.resize_axis(y, axis, length, scale, window)
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        y = np.clip(np.rint(y), info.min, info.max)
    return y.astype(x.dtype)


def _scaled_dim(dim: Dim, scale: float) -> Dim:
    if isinstance(dim, int):
        return int(np.floor(np.float32(dim) * np.float32(scale)))
    return dim if scale == 1 else None


@shape_inference("Resize")
def infer_resize(ctx: InferContext) -> list[Type]:
    dtype, shape = ctx.dtype(0), ctx.shape(0)
    if dtype is None or shape is None:
        return [None if dtype is None else TensorType(dtype, None)]
    axes = _axes(ctx.attr("axes"), len(shape))
    out: list[Dim] = list(shape)
    sizes = ctx.sym(3) if ctx.has_input(3) else None
    scales = ctx.const(2) if ctx.has_input(2) else None
    policy = ctx.attr("keep_aspect_ratio_policy")
    if sizes:
        static = all(isinstance(d, int) for d in sizes) and all(isinstance(shape[a], int) for a in axes)
        if policy != "stretch" and static:
            sizes = tuple(resize_plan(shape, axes, None, sizes, policy)[0])  # type: ignore[arg-type]
        for a, n in zip(axes, sizes, strict=True):
            out[a] = n if policy == "stretch" or static else None
    elif scales is not None and scales.size:
        for a, s in zip(axes, scales.reshape(-1), strict=True):
            out[a] = _scaled_dim(shape[a], float(s))
    elif ctx.has_input(2) or ctx.has_input(3):
        for a in axes:
            out[a] = None
    return [TensorType(dtype, tuple(out))]


# -- GridSample ---------------------------------------------------------------------------

def _reflect(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Fold coordinates into [lo, hi] by reflecting at the borders as often as needed."""
    span = hi - lo
    if span <= 0:
        return np.full_like(v, lo)
    below = v < lo
    dist = np.where(below, lo - v, v - hi)
    flips = np.trunc(dist / span)
    rest = dist - flips * span
    even = flips % 2 == 0
    from_lo, from_hi = lo + rest, hi - rest
    folded = np.where(below, np.where(even, from_lo, from_hi), np.where(even, from_hi, from_lo))
    return np.where(below | (v > hi), folded, v)


@dataclass(frozen=True, slots=True)
class _Border:
    """How GridSample treats one spatial dim: its size, padding mode and reflection bounds."""

    size: int
    padding: str
    lo: float
    hi: float

    def clamp_coordinate(self, v: np.ndarray) -> np.ndarray:
        outside = (v < self.lo) | (v > self.hi)
        if self.padding == "border":
            return np.where(outside, np.clip(v, 0, self.size - 1), v)
        if self.padding == "reflection":
            return np.where(outside, _reflect(v, self.lo, self.hi), v)
        return v

    def pixel(self, i: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(index inside the dim, validity mask or None) of integer coordinates ``i``."""
        if self.padding == "zeros":
            return np.clip(i, 0, self.size - 1), (i >= 0) & (i < self.size)
        if self.padding == "border":
            return np.clip(i, 0, self.size - 1), None
        return np.clip(_reflect(i.astype(np.float64), self.lo, self.hi).astype(np.int64), 0, self.size - 1), None


def _grid_taps(v: np.ndarray, mode: str) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Integer coordinates and weights (None = 1) of the taps that interpolate at ``v``."""
    if mode == "nearest":
        return [(v.astype(np.int64), None)]
    low = np.floor(v)
    frac = v - low
    low = low.astype(np.int64)
    if mode in ("linear", "bilinear"):
        return [(low, 1 - frac), (low + 1, frac)]
    if mode in ("cubic", "bicubic"):
        cubic = _keys_cubic(-0.75)
        return [(low + k, cubic(frac - k)) for k in (-1, 0, 1, 2)]
    raise ValueError(f"unknown GridSample mode {mode!r}")


@kernel("GridSample")
def grid_sample(x: np.ndarray, grid: np.ndarray, *, align_corners: int, mode: str, padding_mode: str) -> np.ndarray:
    n, c, *sizes = x.shape
    rank = len(sizes)
    out = grid.shape[1:-1]
    g = grid.astype(np.float64).reshape(n, -1, rank)
    strides = [math.prod(sizes[i + 1:]) for i in range(rank)]
    per_dim = []
    for axis, size in enumerate(sizes):
        norm = g[..., rank - 1 - axis]  # the grid lists coordinates fastest dim first: (x, y[, z])
        if align_corners:
            v, border = (norm + 1) / 2 * (size - 1), _Border(size, padding_mode, 0.0, size - 1.0)
        else:
            v, border = ((norm + 1) * size - 1) / 2, _Border(size, padding_mode, -0.5, size - 0.5)
        if mode == "nearest":
            v = np.rint(v)
        per_dim.append([(*border.pixel(i), w) for i, w in _grid_taps(border.clamp_coordinate(v), mode)])
    flat = x.reshape(n, c, -1)
    y = np.zeros((n, c, g.shape[1]), np.float64)
    for combo in itertools.product(*per_dim):
        index = sum(i * s for (i, _, _), s in zip(combo, strides, strict=True))
        weight = np.ones(g.shape[:2])
        for _, valid, w in combo:
            if valid is not None:
                weight = weight * valid
            if w is not None:
                weight = weight * w
        y += np.take_along_axis(flat, index[:, None, :], axis=2) * weight[:, None, :]  # type: ignore[index]
    return y.reshape((n, c, *out)).astype(x.dtype)


@shape_inference("GridSample")
def infer_grid_sample(ctx: InferContext) -> list[Type]:
    dtype, xs, gs = ctx.dtype(0), ctx.shape(0), ctx.shape(1)
    if dtype is None:
        return [None]
    if xs is None or gs is None:
        return [TensorType(dtype, None if xs is None and gs is None else (None,) * len(xs or gs))]  # type: ignore[arg-type]
    batch = xs[0] if xs[0] is not None else gs[0]
    return [TensorType(dtype, (batch, xs[1], *gs[1:-1]))]


# -- AffineGrid ---------------------------------------------------------------------------

def _base_coordinates(size: int, align_corners: int) -> np.ndarray:
    """Normalized [-1, 1] coordinates of a dim's pixels (their centers unless aligning corners)."""
    if align_corners:
        return np.linspace(-1.0, 1.0, size)  # [-1] for a single pixel, as the ONNX reference has it
    return (2 * np.arange(size) + 1) / size - 1


@kernel("AffineGrid")
def affine_grid(theta: np.ndarray, size: np.ndarray, *, align_corners: int) -> np.ndarray:
    n, _, *sizes = (int(d) for d in size)
    rank = len(sizes)
    mesh = np.meshgrid(*(_base_coordinates(s, align_corners) for s in sizes), indexing="ij")
    points = np.stack([*reversed(mesh), np.ones(sizes)], axis=-1).reshape(-1, rank + 1)  # (x, y[, z], 1)
    grid = points @ theta.astype(np.float64).transpose(0, 2, 1)
    return grid.reshape((n, *sizes, rank)).astype(theta.dtype)


@shape_inference("AffineGrid")
def infer_affine_grid(ctx: InferContext) -> list[Type]:
    dtype, size = ctx.dtype(0), ctx.sym(1)
    if dtype is None:
        return [None]
    if size is None:
        length = ctx.shape(1)[0] if ctx.rank(1) == 1 else None  # type: ignore[index]
        return [TensorType(dtype, (*(None,) * (length - 1), length - 2) if isinstance(length, int) else None)]
    return [TensorType(dtype, (size[0], *size[2:], len(size) - 2))]
