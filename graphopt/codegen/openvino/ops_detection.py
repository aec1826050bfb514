"""Converters of detection and image-patch ops: NonMaxSuppression, RoiAlign and Col2Im."""

from __future__ import annotations

from typing import Any

import openvino.opset16 as ov_ops

from graphopt.codegen.openvino.emitter import Lowering
from graphopt.codegen.openvino.table import converter, refuse_attrs
from graphopt.ir.core import Node


def _scalar(b: Lowering, x: list[Any], i: int) -> Any | None:
    return ov_ops.reshape(x[i], b.i64([]), False) if len(x) > i and x[i] is not None else None


@converter("NonMaxSuppression")
def non_max_suppression(b: Lowering, node: Node, x: list[Any]) -> Any:
    max_boxes = _scalar(b, x, 2)
    selected = ov_ops.non_max_suppression(
        x[0], x[1], b.i64(0) if max_boxes is None else max_boxes, _scalar(b, x, 3), _scalar(b, x, 4),
        box_encoding="center" if node.attr("center_point_box") else "corner", sort_result_descending=False,
        output_type="i64")
    return selected.output(0)  # ONNX's [selected, 3] triples (OpenVINO also returns scores and a count)


def _col2im_check(node: Node) -> str | None:
    sizes = node.inputs[1]
    if sizes is None or sizes.shape != (2,):
        return "only 2-D images (image_shape of length 2) are supported"
    return None


@converter("Col2Im", check=_col2im_check)
def col2im(b: Lowering, node: Node, x: list[Any]) -> Any:
    pads = list(node.attr("pads", None) or [0, 0, 0, 0])
    return ov_ops.col2im(x[0], x[1], x[2], list(node.attr("strides", None) or [1, 1]),
                         list(node.attr("dilations", None) or [1, 1]), pads[:2], pads[2:])


_ROI_MODES = {"half_pixel": "half_pixel_for_nn", "output_half_pixel": "asymmetric"}


@converter("RoiAlign", check=refuse_attrs(coordinate_transformation_mode=tuple(_ROI_MODES)))
def roi_align(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.roi_align(x[0], x[1], ov_ops.convert(x[2], "i32"), node.attr("output_height"),
                            node.attr("output_width"), node.attr("sampling_ratio"), node.attr("spatial_scale"),
                            node.attr("mode"), _ROI_MODES[node.attr("coordinate_transformation_mode")])
