"""Resampling converters: ONNX Resize as OpenVINO Interpolate-11, GridSample as GridSample-9, AffineGrid."""

from __future__ import annotations

from typing import Any

import openvino.opset16 as ov_ops

from graphopt.codegen.openvino.emitter import Lowering
from graphopt.codegen.openvino.table import converter
from graphopt.ir.core import Node

_MODES = {"nearest": "nearest", "linear": "linear_onnx", "cubic": "cubic"}
_COORDINATES = ("half_pixel", "pytorch_half_pixel", "asymmetric", "tf_half_pixel_for_nn", "align_corners")


def _resize_check(node: Node) -> str | None:
    if node.attr("coordinate_transformation_mode") not in _COORDINATES:
        return f"coordinate_transformation_mode={node.attr('coordinate_transformation_mode')!r} is not supported"
    if node.attr("keep_aspect_ratio_policy") != "stretch" and len(node.inputs) > 3 and node.inputs[3] is not None:
        return f"keep_aspect_ratio_policy={node.attr('keep_aspect_ratio_policy')!r} is not supported"
    if node.attr("exclude_outside"):
        return "exclude_outside=1 is not supported"
    if node.attr("antialias") and node.attr("mode") == "cubic":
        return "antialiased cubic resizing is not supported"
    return None


@converter("Resize", check=_resize_check)
def resize(b: Lowering, node: Node, x: list[Any]) -> Any:
    sizes = x[3] if len(x) > 3 else None
    target, mode = (sizes, "sizes") if sizes is not None else (x[2], "scales")
    axes = node.attr("axes", None)
    return ov_ops.interpolate(
        x[0], target, _MODES[node.attr("mode")], mode,
        coordinate_transformation_mode=node.attr("coordinate_transformation_mode"),
        nearest_mode=node.attr("nearest_mode"), antialias=bool(node.attr("antialias")),
        cube_coeff=node.attr("cubic_coeff_a"), axes=b.i64(list(axes)) if axes else None)


_GRID_MODES = {"linear": "bilinear", "bilinear": "bilinear", "cubic": "bicubic", "bicubic": "bicubic",
               "nearest": "nearest"}


def _grid_sample_check(node: Node) -> str | None:
    data = node.inputs[0]
    if data is None or data.shape is None or len(data.shape) != 4:
        return "only 4-D (N, C, H, W) inputs are supported"
    if node.attr("mode") not in _GRID_MODES:
        return f"mode={node.attr('mode')!r} is not supported"
    return None


@converter("GridSample", check=_grid_sample_check)
def grid_sample(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.grid_sample(x[0], ov_ops.convert_like(x[1], x[0]), {
        "align_corners": bool(node.attr("align_corners")), "mode": _GRID_MODES[node.attr("mode")],
        "padding_mode": node.attr("padding_mode")})


def _affine_grid_check(node: Node) -> str | None:
    size = node.inputs[1]
    return None if size is not None and size.shape in ((4,), (5,)) else "size must be a known 4- or 5-vector"


def _coordinates(b: Lowering, count: Any, align_corners: bool, like: Any) -> Any:
    """Normalized pixel coordinates in [-1, 1]: the centers, or the corners when ``align_corners``."""
    n = ov_ops.convert_like(count, like)
    i = ov_ops.range(b.const(0, like), n, b.const(1, like), like.get_element_type().get_type_name())
    one, two = b.const(1, like), b.const(2, like)
    if align_corners:
        return ov_ops.subtract(ov_ops.divide(ov_ops.multiply(i, two), ov_ops.subtract(n, one)), one)
    return ov_ops.subtract(ov_ops.divide(ov_ops.add(ov_ops.multiply(i, two), one), n), one)


@converter("AffineGrid", check=_affine_grid_check)
def affine_grid(b: Lowering, node: Node, x: list[Any]) -> Any:
    """``grid[n, …, :] = theta[n] · (x, y[, z], 1)`` over the output's (D,) H, W positions."""
    theta, size = x[0], ov_ops.convert(x[1], "i64")
    spatial = node.inputs[1].shape[0] - 2  # type: ignore[union-attr, index]
    dims = [ov_ops.gather(size, b.i64([2 + i]), b.i64(0)) for i in range(spatial)]  # (D,) H, W as 1-vectors
    plane = ov_ops.concat(dims, 0)
    align = bool(node.attr("align_corners"))
    axes = []
    for i in reversed(range(spatial)):  # x runs along the last axis, y along the one before, z before that
        coordinate = _coordinates(b, ov_ops.squeeze(dims[i], b.i64([0])), align, theta)
        shape = [1] * spatial
        shape[i] = -1
        axes.append(ov_ops.broadcast(ov_ops.reshape(coordinate, b.i64(shape), False), plane))
    axes.append(ov_ops.broadcast(b.const(1, theta), plane))
    base = ov_ops.reshape(ov_ops.concat([ov_ops.unsqueeze(t, b.i64([-1])) for t in axes], -1),
                          b.i64([-1, spatial + 1]), False)  # [positions, spatial + 1]
    points = ov_ops.matmul(base, theta, False, True)  # [N, positions, spatial]
    shape = ov_ops.concat([ov_ops.gather(size, b.i64([0]), b.i64(0)), plane, b.i64([spatial])], 0)
    return ov_ops.reshape(points, shape, False)
