"""Converters of the signal windows: HannWindow, HammingWindow, BlackmanWindow (cosine sums over ``n / N``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import openvino.opset16 as ov_ops

from graphopt.codegen.openvino.emitter import OV_TYPES, Lowering
from graphopt.codegen.openvino.table import converter
from graphopt.ir.core import Node
from graphopt.ir.dtypes import DType

_COEFFICIENTS = {"HannWindow": (0.5, -0.5), "HammingWindow": (25 / 46, -21 / 46),
                 "BlackmanWindow": (0.42, -0.5, 0.08)}
"""``w[n] = sum_k c_k cos(2 pi k n / N)``; N is the size (periodic) or the size minus one (symmetric)."""


def _window_check(node: Node) -> str | None:
    return None if DType(node.attr("output_datatype")) in OV_TYPES else "output_datatype is not supported"


@converter(*_COEFFICIENTS, check=_window_check)
def window(b: Lowering, node: Node, x: list[Any]) -> Any:
    size = ov_ops.convert(ov_ops.reshape(x[0], b.i64([]), False), "f32")
    n = ov_ops.range(b.const(0, np.float32), size, b.const(1, np.float32), "f32")
    period = size if node.attr("periodic") else ov_ops.subtract(size, b.const(1, np.float32))
    phase = ov_ops.divide(ov_ops.multiply(n, b.const(2 * math.pi, np.float32)), period)
    w: Any = b.const(_COEFFICIENTS[node.op][0], np.float32)
    for k, c in enumerate(_COEFFICIENTS[node.op][1:], start=1):
        harmonic = ov_ops.cos(ov_ops.multiply(phase, b.const(k, np.float32)))
        w = ov_ops.add(w, ov_ops.multiply(b.const(c, np.float32), harmonic))
    return ov_ops.convert(w, OV_TYPES[DType(node.attr("output_datatype"))])
