"""Converters of ONNX's loss functions: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss."""

from __future__ import annotations

from typing import Any

import openvino.opset16 as ov_ops

from graphopt.codegen.openvino.emitter import Lowering
from graphopt.codegen.openvino.table import converter, refuse_attrs
from graphopt.ir.core import Node

_REDUCTIONS = refuse_attrs(reduction=("none", "sum", "mean"))


def nll(b: Lowering, node: Node, log_probs: Any, target: Any, weight: Any | None) -> Any:
    """``-log_probs[n, target[n, …], …] * weight[target]``, reduced; ignored targets weigh 0."""
    ignore = node.attr("ignore_index", None)
    ignored = ov_ops.equal(target, b.const(ignore, target)) if ignore is not None else None
    safe = ov_ops.select(ignored, b.const(0, target), target) if ignored is not None else target
    picked = ov_ops.squeeze(ov_ops.gather_elements(log_probs, ov_ops.unsqueeze(safe, b.i64([1])), 1), b.i64([1]))
    w = ov_ops.gather(weight, safe, b.i64(0)) if weight is not None else ov_ops.convert_like(
        ov_ops.broadcast(b.const(1, log_probs), ov_ops.shape_of(safe, "i64")), log_probs)
    if ignored is not None:
        w = ov_ops.select(ignored, b.const(0, log_probs), w)
    loss = ov_ops.negative(ov_ops.multiply(picked, w))
    reduction = node.attr("reduction")
    if reduction == "none":
        return loss
    axes = ov_ops.range(b.i64(0), ov_ops.squeeze(ov_ops.shape_of(ov_ops.shape_of(loss, "i64"), "i64"), b.i64([0])),
                        b.i64(1), "i64")
    total = ov_ops.reduce_sum(loss, axes, False)
    return total if reduction == "sum" else ov_ops.divide(total, ov_ops.reduce_sum(w, axes, False))


@converter("NegativeLogLikelihoodLoss", check=_REDUCTIONS)
def negative_log_likelihood(b: Lowering, node: Node, x: list[Any]) -> Any:
    return nll(b, node, x[0], x[1], x[2] if len(x) > 2 else None)


@converter("SoftmaxCrossEntropyLoss", check=_REDUCTIONS)
def softmax_cross_entropy(b: Lowering, node: Node, x: list[Any]) -> Any:
    log_probs = ov_ops.log_softmax(x[0], 1).output(0)
    loss = nll(b, node, log_probs, x[1], x[2] if len(x) > 2 else None)
    return [loss, log_probs][: len(node.outputs)]
