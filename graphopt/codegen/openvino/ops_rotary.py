"""RotaryEmbedding (ONNX opset 23) composed of OpenVINO ops: gather the cos/sin rows, rotate pairs, concat."""

from __future__ import annotations

from typing import Any

import numpy as np
import openvino.opset16 as ov_ops

from graphopt.codegen.openvino.emitter import Lowering, rank
from graphopt.codegen.openvino.table import converter
from graphopt.ir.core import Node

_END = np.iinfo(np.int64).max


def _rotary_check(node: Node) -> str | None:
    x = node.inputs[0]
    if x is None or x.shape is None or len(x.shape) not in (3, 4):
        return "input must be 3-D or 4-D with a known rank"
    if len(x.shape) == 3 and not node.attr("num_heads", 0):
        return "a 3-D input needs the num_heads attribute"
    if len(x.shape) == 4 and not isinstance(x.shape[3], int):
        return "the head size (last dim) must be static"
    return None


def _last(b: Lowering, x: Any, start: int, stop: int, step: int = 1) -> Any:
    return ov_ops.slice(x, b.i64([start]), b.i64([stop]), b.i64([step]), b.i64([-1])).output(0)


@converter("RotaryEmbedding", check=_rotary_check)
def rotary_embedding(b: Lowering, node: Node, x: list[Any]) -> Any:
    data, cos, sin = x[:3]
    positions = x[3] if len(x) > 3 else None
    three_d = rank(data) == 3
    if three_d:  # [B, S, H*D] -> [B, S, H, D]
        data = ov_ops.reshape(data, b.i64([0, 0, node.attr("num_heads"), -1]), True).output(0)
    else:  # [B, H, S, D] -> [B, S, H, D]
        data = ov_ops.transpose(data, b.i64([0, 2, 1, 3])).output(0)
    head = data.get_partial_shape()[3].get_length()
    rotary = node.attr("rotary_embedding_dim", 0) or head
    if positions is not None:
        cos, sin = (ov_ops.gather(t, positions, b.i64(0)) for t in (cos, sin))
    cos, sin = (ov_ops.unsqueeze(t, b.i64([2])) for t in (cos, sin))  # [B, S, 1, rotary/2]
    rotated = _last(b, data, 0, rotary)
    if node.attr("interleaved"):
        x1, x2 = _last(b, rotated, 0, rotary, 2), _last(b, rotated, 1, rotary, 2)
    else:
        x1, x2 = _last(b, rotated, 0, rotary // 2), _last(b, rotated, rotary // 2, rotary)
    real = ov_ops.subtract(ov_ops.multiply(cos, x1), ov_ops.multiply(sin, x2))
    imag = ov_ops.add(ov_ops.multiply(sin, x1), ov_ops.multiply(cos, x2))
    if node.attr("interleaved"):
        pairs = ov_ops.concat([ov_ops.unsqueeze(real, b.i64([-1])), ov_ops.unsqueeze(imag, b.i64([-1]))], -1)
        rotated = ov_ops.reshape(pairs, b.i64([0, 0, 0, rotary]), True)
    else:
        rotated = ov_ops.concat([real, imag], -1)
    y = ov_ops.concat([rotated, _last(b, data, rotary, _END)], -1) if rotary < head else rotated
    if three_d:
        return ov_ops.reshape(y, b.i64([0, 0, -1]), True)
    return ov_ops.transpose(y, b.i64([0, 2, 1, 3]))
