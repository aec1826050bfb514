"""The converter table: one converter per canonical op, each with a capability check.

A check reads only the IR (never ``tensorrt``), so :func:`~graphopt.codegen.tensorrt.check` works where
TensorRT is not installed. It returns ``None`` when the node lowers natively, else the reason it does not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from graphopt.codegen.converters import Check, ConverterTable
from graphopt.ir.core import Node, Value
from graphopt.ir.dtypes import DType

if TYPE_CHECKING:
    from graphopt.codegen.tensorrt.emitter import Emitter

Convert = Callable[["Emitter", Node], None]

TRT_DTYPES: dict[DType, str] = {
    DType.FLOAT: "FLOAT", DType.FLOAT16: "HALF", DType.BFLOAT16: "BF16", DType.INT8: "INT8",
    DType.UINT8: "UINT8", DType.INT32: "INT32", DType.INT64: "INT64", DType.BOOL: "BOOL",
}
"""IR element type → the name of its ``tensorrt.DataType``."""
FLOATS = frozenset({DType.FLOAT, DType.FLOAT16, DType.BFLOAT16})
INDICES = frozenset({DType.INT32, DType.INT64})
MAX_RANK = 8  # Dims.MAX_DIMS


TABLE: ConverterTable[Convert] = ConverterTable()
converter = TABLE.register
converter_of = TABLE.lookup


def unsupported_reason(node: Node) -> str | None:
    """Why ``node`` has no native TensorRT lowering, or ``None`` when it has one."""
    conv = converter_of(node)
    if conv is None:
        return f"no converter for op {node.qualified_op}"
    for i, v in enumerate(node.inputs):
        if v is not None and (reason := _value_reason(v, f"input {i}")):
            return reason
    for i, v in enumerate(node.outputs):
        if v is not None and v.has_uses and (reason := _value_reason(v, f"output {i}")):
            return reason
    return conv.check(node) if conv.check else None


def _value_reason(v: Value, what: str) -> str | None:
    if v.dtype is None or v.shape is None:
        return f"{what} has no known tensor type and rank (run shape inference first)"
    if v.dtype not in TRT_DTYPES:
        return f"{what} has element type {v.dtype.name}, which TensorRT does not have"
    if len(v.shape) > MAX_RANK:
        return f"{what} has rank {len(v.shape)}, over TensorRT's {MAX_RANK}"
    return None


# -- helpers for checks ------------------------------------------------------------------------


def const_array(node: Node, index: int) -> np.ndarray:
    """Input ``index``'s constant data (its check required a constant)."""
    v = node.inputs[index]
    array = v.numpy() if v is not None else None
    assert array is not None, f"{node.label}: input {index} is not a constant"
    return array


def const_input(node: Node, index: int) -> bool:
    """Whether input ``index`` is absent or a constant."""
    v = node.inputs[index] if index < len(node.inputs) else None
    return v is None or v.const is not None


def needs_const(*indices: int) -> Check:
    """A check that the given inputs (where present) are constants."""

    def check(node: Node) -> str | None:
        bad = [i for i in indices if not const_input(node, i)]
        return f"input(s) {bad} must be constants for TensorRT (fold them first)" if bad else None

    return check


def all_checks(*checks: Check) -> Check:
    def check(node: Node) -> str | None:
        return next((r for c in checks if (r := c(node)) is not None), None)

    return check


def only_first_output(node: Node) -> str | None:
    extra = [i for i, v in enumerate(node.outputs) if i and v is not None and v.has_uses]
    return f"optional output(s) {extra} are used; only the main output lowers" if extra else None


def static_dims(v: Value | None) -> bool:
    return v is not None and v.shape is not None and all(isinstance(d, int) for d in v.shape)


def float_input(node: Node) -> str | None:
    v = node.inputs[0]
    return None if v is not None and v.dtype in FLOATS else f"input element type {v.dtype.name if v else None} " \
        "is not a float type (TensorRT runs this layer on FLOAT, HALF, BF16)"
