"""Emit graphopt's IR as an onnx-graphsurgeon ``gs.Graph``, through the ONNX emitter (``gs.import_onnx``)."""

from __future__ import annotations

from typing import Any

from graphopt.codegen.onnx import to_onnx
from graphopt.errors import ExportError
from graphopt.ir.core import Graph


def to_graphsurgeon(graph: Graph, opset: int | None = None, *, target: str | None = None) -> Any:
    """An ``onnx_graphsurgeon.Graph`` of ``graph``; graphopt's fused ops are lowered as for ONNX."""
    try:
        import onnx_graphsurgeon as gs
    except ImportError as e:
        raise ExportError('graphsurgeon interop needs onnx-graphsurgeon: pip install "graphopt[graphsurgeon]"') from e
    return gs.import_onnx(to_onnx(graph, opset, target=target))
