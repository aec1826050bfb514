"""Resampling converters: ONNX Resize as OpenVINO Interpolate-11, GridSample as GridSample-9."""

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
