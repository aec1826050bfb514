"""graphopt: a graph-optimizing compiler for deep-learning models.

    import graphopt
    g = graphopt.load("model.onnx")
    g = graphopt.optimize(g, pipeline="O0")
    graphopt.save(g, "out.onnx")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__version__ = "0.1.0"

from graphopt.errors import GraphoptError, ModelLoadError
from graphopt.ir import Graph, evaluate
from graphopt.ir.verifier import verify
from graphopt.passes.pipeline import optimize

__all__ = ["Graph", "GraphoptError", "evaluate", "from_onnx", "load", "optimize", "save", "to_onnx", "verify"]


def from_onnx(model: Any) -> Graph:
    """Lift an ONNX ``ModelProto``, serialized bytes, or ``.onnx`` path into graphopt's IR."""
    from graphopt.frontends.onnx import from_onnx as _from_onnx

    return _from_onnx(model)


def to_onnx(graph: Graph, opset: int | None = None, *, target: str | None = None) -> Any:
    """Emit ``graph`` as an ``onnx.ModelProto`` (default opset: the newest the installed ONNX Runtime loads)."""
    from graphopt.codegen.onnx import to_onnx as _to_onnx

    return _to_onnx(graph, opset, target=target)


def load(path_or_model: Any) -> Graph:
    """Load a model from a file (dispatching on its suffix) or from an in-memory ``ModelProto``."""
    if isinstance(path_or_model, (str, Path)):
        path = Path(path_or_model)
        if path.suffix.lower() != ".onnx":
            raise ModelLoadError(f"{path}: unsupported model file type {path.suffix!r}; graphopt reads .onnx files")
    return from_onnx(path_or_model)


def save(graph: Graph, path: str | Path, **options: Any) -> None:
    """Write ``graph`` to ``path``; ``.onnx`` writes ONNX (weights over 2 GB go to external data)."""
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise GraphoptError(f"{path}: cannot save as {path.suffix!r}; graphopt writes .onnx files")
    from graphopt.codegen.onnx import save_onnx

    save_onnx(graph, path, **options)
