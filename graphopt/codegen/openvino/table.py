"""The converter table: one converter per canonical op, each with an optional capability check.

A converter is ``fn(b, node, inputs) -> output or outputs``: ``b`` is the emitter's
:class:`~graphopt.codegen.openvino.emitter.Lowering` (constants, the opset), ``node`` the IR node (read its
attributes with ``node.attr``), ``inputs`` the OpenVINO outputs its inputs became (``None`` for an omitted
optional input). A check is ``check(node) -> reason | None``; a reason means OpenVINO cannot take the node.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from graphopt.codegen.converters import Check, ConverterTable
from graphopt.ir.core import Node

ConvertFn = Callable[[Any, Node, list[Any]], Any]

TABLE: ConverterTable[ConvertFn] = ConverterTable()
converter = TABLE.register
lookup = TABLE.lookup


def refuse_attrs(**unsupported: Sequence[Any]) -> Check:
    """A check refusing nodes whose attribute ``name`` takes a value not in ``allowed`` (``name=allowed``)."""

    def check(node: Node) -> str | None:
        for name, allowed in unsupported.items():
            value = node.attr(name, None)
            if value is not None and value not in allowed:
                return f"{name}={value!r} is not supported by OpenVINO (supported: {', '.join(map(repr, allowed))})"
        return None

    return check


def known_rank(*indices: int) -> Check:
    """A check refusing nodes whose listed inputs have an unknown rank (the conversion needs it)."""

    def check(node: Node) -> str | None:
        for i in indices:
            v = node.inputs[i] if i < len(node.inputs) else None
            if v is not None and v.shape is None:
                return f"input {i} ({v.name!r}) has an unknown rank; run shape inference or give the input a shape"
        return None

    return check
