"""Converters of the Reduce* family (axes as an optional input, ``keepdims``, ``noop_with_empty_axes``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openvino as ov
import openvino.opset16 as ov_ops

from graphopt.codegen.openvino.emitter import Lowering
from graphopt.codegen.openvino.table import converter
from graphopt.ir.core import Node


def _sum_square(x: Any, axes: Any, keep: bool) -> Any:
    return ov_ops.reduce_sum(ov_ops.multiply(x, x), axes, keep)


def _log_sum(x: Any, axes: Any, keep: bool) -> Any:
    return ov_ops.log(ov_ops.reduce_sum(x, axes, keep))


def _log_sum_exp(x: Any, axes: Any, keep: bool) -> Any:
    return ov_ops.log(ov_ops.reduce_sum(ov_ops.exp(x), axes, keep))


REDUCTIONS: dict[str, Callable[[Any, Any, bool], Any]] = {
    "ReduceSum": ov_ops.reduce_sum, "ReduceMean": ov_ops.reduce_mean, "ReduceMax": ov_ops.reduce_max,
    "ReduceMin": ov_ops.reduce_min, "ReduceProd": ov_ops.reduce_prod, "ReduceL1": ov_ops.reduce_l1,
    "ReduceL2": ov_ops.reduce_l2, "ReduceSumSquare": _sum_square, "ReduceLogSum": _log_sum,
    "ReduceLogSumExp": _log_sum_exp,
}


def _all_axes(b: Lowering, x: Any) -> Any:
    r = ov_ops.shape_of(ov_ops.shape_of(x, "i64"), "i64")
    return ov_ops.range(b.i64(0), ov_ops.squeeze(r, b.i64([0])), b.i64(1), "i64")


def _empty_axes(node: Node) -> bool | None:
    """Whether the axes input is absent or an empty constant (``None``: not known before running)."""
    axes = node.inputs[1] if len(node.inputs) > 1 else None
    if axes is None:
        return True
    if axes.const is not None:
        return axes.const.size == 0
    return None if axes.shape is None or not isinstance(axes.shape[0], int) else axes.shape[0] == 0


def _reduce_check(node: Node) -> str | None:
    if _empty_axes(node) is None:
        return "axes is a tensor whose length is unknown before running (empty axes change the meaning)"
    return None


@converter(*REDUCTIONS, check=_reduce_check)
def reduce_(b: Lowering, node: Node, x: list[Any]) -> Any:
    if _empty_axes(node):
        if node.attr("noop_with_empty_axes"):
            return x[0]
        axes = _all_axes(b, x[0])
    else:
        axes = x[1]
    data = x[0]
    if data.get_element_type() == ov.Type.boolean:  # Max/Min of booleans are Or/And; reduce them as bytes
        reduced = REDUCTIONS[node.op](ov_ops.convert(data, "u8"), axes, bool(node.attr("keepdims")))
        return ov_ops.convert(reduced, "boolean")
    return REDUCTIONS[node.op](data, axes, bool(node.attr("keepdims")))
