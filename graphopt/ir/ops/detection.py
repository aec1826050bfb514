"""Detection heads: NonMaxSuppression, RoiAlign and MaxRoiPool (ONNX Runtime's conventions at the edges)."""

from __future__ import annotations

import math

import numpy as np

from graphopt.ir.dtypes import DType
from graphopt.ir.inference import InferContext
from graphopt.ir.registry import kernel, shape_inference
from graphopt.ir.types import Dim, TensorType, Type

# -- NonMaxSuppression ---------------------------------------------------------------------


def _scalar(x: np.ndarray | None, default: float) -> float:
    return default if x is None or x.size == 0 else float(x.reshape(-1)[0])


def _corners(boxes: np.ndarray, center_point_box: int) -> np.ndarray:
    """Boxes as (y_min, x_min, y_max, x_max), from corner pairs in any order or from (x_c, y_c, w, h)."""
    boxes = boxes.astype(np.float64)
    if center_point_box:
        xc, yc, w, h = np.moveaxis(boxes, -1, 0)
        return np.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], axis=-1)
    y1, x1, y2, x2 = np.moveaxis(boxes, -1, 0)
    return np.stack([np.minimum(y1, y2), np.minimum(x1, x2), np.maximum(y1, y2), np.maximum(x1, x2)], axis=-1)


def _overlaps(box: np.ndarray, others: np.ndarray, threshold: float) -> np.ndarray:
    """Whether each of ``others`` overlaps ``box`` with an IoU above ``threshold``."""
    lo = np.maximum(box[:2], others[:, :2])
    hi = np.minimum(box[2:], others[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(others[:, 2:] - others[:, :2], axis=-1)
    union = area + areas - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    return (inter > 0) & (area > 0) & (areas > 0) & (iou > threshold)


@kernel("NonMaxSuppression")
def non_max_suppression(
    boxes: np.ndarray,
    scores: np.ndarray,
    max_output_boxes_per_class: np.ndarray | None = None,
    iou_threshold: np.ndarray | None = None,
    score_threshold: np.ndarray | None = None,
    *,
    center_point_box: int,
) -> np.ndarray:
    limit = int(_scalar(max_output_boxes_per_class, 0))
    iou_max = _scalar(iou_threshold, 0.0)
    min_score = None if score_threshold is None else _scalar(score_threshold, 0.0)
    corners = _corners(boxes, center_point_box)
    selected: list[tuple[int, int, int]] = []
    for b in range(scores.shape[0]):
        for c in range(scores.shape[1]):
            s = scores[b, c]
            order = np.argsort(-s, kind="stable")  # ties keep the lower box index first
            if min_score is not None:
                order = order[s[order] > min_score]
            keep: list[int] = []
            for i in order:
                if len(keep) >= limit:
                    break
                if not keep or not _overlaps(corners[b, i], corners[b, keep], iou_max).any():
                    keep.append(int(i))
            selected += [(b, c, i) for i in keep]
    return np.array(selected, np.int64).reshape(-1, 3)


@shape_inference("NonMaxSuppression")
def infer_non_max_suppression(ctx: InferContext) -> list[Type]:
    return [TensorType(DType.INT64, (None, 3))]


# -- RoiAlign ------------------------------------------------------------------------------


def _sample_axis(start: float, length: float, bins: int, grid: int, size: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear taps along one axis for ``bins`` x ``grid`` sample points: low/high index and weight.

    Points more than one pixel outside the image get zero weights.
    """
    step = length / bins
    pos = start + np.arange(bins)[:, None] * step + (np.arange(grid)[None, :] + 0.5) * step / grid
    valid = (pos >= -1.0) & (pos <= size)
    pos = np.maximum(pos, 0.0)
    low = np.floor(pos).astype(np.int64)
    at_edge = low >= size - 1
    low = np.where(at_edge, size - 1, low)
    high = np.where(at_edge, size - 1, low + 1)
    frac = np.where(at_edge, 0.0, pos - low)
    return low, high, (1 - frac) * valid, frac * valid


@kernel("RoiAlign")
def roi_align(
    x: np.ndarray,
    rois: np.ndarray,
    batch_indices: np.ndarray,
    *,
    coordinate_transformation_mode: str,
    mode: str,
    output_height: int,
    output_width: int,
    sampling_ratio: int,
    spatial_scale: float,
) -> np.ndarray:
    half_pixel = coordinate_transformation_mode == "half_pixel"
    height, width = x.shape[2:]
    out = np.zeros((rois.shape[0], x.shape[1], output_height, output_width), x.dtype)
    # ROI geometry in the input's precision: the sampling grid size is a ceil() that rounding can flip
    ct = np.dtype(np.float64) if x.dtype == np.float64 else np.dtype(np.float32)
    boxes = rois.astype(ct) * ct.type(spatial_scale) - ct.type(0.5 if half_pixel else 0.0)
    for n, ((x1, y1, x2, y2), b) in enumerate(zip(boxes, batch_indices, strict=True)):
        roi_w, roi_h = x2 - x1, y2 - y1
        if not half_pixel:
            roi_w, roi_h = max(roi_w, ct.type(1)), max(roi_h, ct.type(1))
        gy = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_h / output_height)
        gx = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_w / output_width)
        ys = _sample_axis(y1, roi_h, output_height, gy, height)
        xs = _sample_axis(x1, roi_w, output_width, gx, width)
        image = x[int(b)].astype(np.float64)
        if mode == "avg":
            out[n] = _interp_matrix(ys, height) @ image @ _interp_matrix(xs, width).T / max(gy * gx, 1)
        else:
            out[n] = _max_sample(image, ys, xs)
    return out


def _interp_matrix(taps: tuple[np.ndarray, ...], size: int) -> np.ndarray:
    """Matrix [bins, size] summing the bilinear weights of every sample point of each bin."""
    low, high, w_low, w_high = taps
    m = np.zeros((low.shape[0], size))
    rows = np.broadcast_to(np.arange(low.shape[0])[:, None], low.shape)
    np.add.at(m, (rows, low), w_low)
    np.add.at(m, (rows, high), w_high)
    return m


def _max_sample(image: np.ndarray, ys: tuple[np.ndarray, ...], xs: tuple[np.ndarray, ...]) -> np.ndarray:
    """Per bin, the max over sample points of the largest weighted corner value (ONNX Runtime's max mode)."""
    y_low, y_high, wy_low, wy_high = ys
    x_low, x_high, wx_low, wx_high = xs
    best = None
    for yi, wy in ((y_low, wy_low), (y_high, wy_high)):
        for xi, wx in ((x_low, wx_low), (x_high, wx_high)):
            v = image[:, yi[:, :, None, None], xi[None, None, :, :]] * (wy[:, :, None, None] * wx[None, None])
            best = v if best is None else np.maximum(best, v)
    return best.max(axis=(2, 4))  # type: ignore[union-attr]


@shape_inference("RoiAlign")
def infer_roi_align(ctx: InferContext) -> list[Type]:
    return [_pooled_type(ctx, (ctx.attr("output_height"), ctx.attr("output_width")))]


def _pooled_type(ctx: InferContext, spatial: tuple[Dim, ...]) -> Type:
    dtype = ctx.dtype(0)
    if dtype is None:
        return None
    x, rois = ctx.shape(0), ctx.shape(1)
    channels = x[1] if x is not None and len(x) == 4 else None
    count = rois[0] if rois is not None and len(rois) == 2 else None
    return TensorType(dtype, (count, channels, *spatial))


# -- MaxRoiPool ----------------------------------------------------------------------------


def _round_half_away(v: np.ndarray) -> np.ndarray:
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def _pool_bounds(start: int, length: int, bins: int, size: int) -> list[tuple[int, int]]:
    step = length / bins
    return [(min(max(math.floor(i * step) + start, 0), size), min(max(math.ceil((i + 1) * step) + start, 0), size))
            for i in range(bins)]


@kernel("MaxRoiPool")
def max_roi_pool(x: np.ndarray, rois: np.ndarray, *, pooled_shape: tuple[int, int], spatial_scale: float
                 ) -> np.ndarray:
    ph, pw = pooled_shape
    height, width = x.shape[2:]
    out = np.zeros((rois.shape[0], x.shape[1], ph, pw), x.dtype)
    for n, roi in enumerate(rois):
        x1, y1, x2, y2 = (int(v) for v in _round_half_away(roi[1:].astype(np.float64) * spatial_scale))
        image = x[int(roi[0])]
        rows = _pool_bounds(y1, max(y2 - y1 + 1, 1), ph, height)
        cols = _pool_bounds(x1, max(x2 - x1 + 1, 1), pw, width)
        for i, (h0, h1) in enumerate(rows):
            for j, (w0, w1) in enumerate(cols):
                if h1 > h0 and w1 > w0:
                    out[n, :, i, j] = image[:, h0:h1, w0:w1].max(axis=(1, 2))
    return out


@shape_inference("MaxRoiPool")
def infer_max_roi_pool(ctx: InferContext) -> list[Type]:
    return [_pooled_type(ctx, tuple(ctx.attr("pooled_shape")))]
