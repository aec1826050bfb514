"""Lift an onnx-graphsurgeon ``gs.Graph`` into graphopt's IR.

The graph goes through an in-memory ONNX model (``gs.export_onnx``), so it gets exactly the normalization
every ONNX model gets (old opsets, attribute forms, constant lifting) from one place: the ONNX frontend.
"""

from __future__ import annotations

from typing import Any

from graphopt.errors import ModelLoadError
from graphopt.frontends.onnx import from_onnx
from graphopt.ir.core import Graph


def import_graphsurgeon() -> Any:
    try:
        import onnx_graphsurgeon as gs
    except ImportError as e:
        raise ModelLoadError('graphsurgeon interop needs onnx-graphsurgeon: pip install "graphopt[graphsurgeon]"'
                             ) from e
    return gs


def from_graphsurgeon(gs_graph: Any) -> Graph:
    """A graphopt graph computing what ``gs_graph`` (an ``onnx_graphsurgeon.Graph``) computes."""
    gs = import_graphsurgeon()
    if not isinstance(gs_graph, gs.Graph):
        raise ModelLoadError(f"from_graphsurgeon expects an onnx_graphsurgeon.Graph, got {type(gs_graph).__name__}")
    try:
        model = gs.export_onnx(gs_graph)
    except Exception as e:  # graphsurgeon raises plain exceptions for graphs it cannot export
        raise ModelLoadError(f"onnx-graphsurgeon could not export graph {gs_graph.name!r}: {e} "
                             f"(run gs_graph.cleanup().toposort() first if nodes dangle or are out of order)") from e
    return from_onnx(model)
