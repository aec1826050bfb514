"""graphopt: a graph-optimizing compiler for deep-learning models.

    import graphopt
    g = graphopt.load("model.onnx")            # or .pt (TorchScript), .pt2 (torch.export)
    g = graphopt.optimize(g, pipeline="O2")
    graphopt.save(g, "out.onnx")               # or .xml (OpenVINO IR)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

__version__ = "0.1.0"

from graphopt.errors import GraphoptError, ModelLoadError
from graphopt.ir import Graph, evaluate
from graphopt.ir.verifier import verify
from graphopt.passes.pipeline import optimize

__all__ = [
    "Graph", "GraphoptError", "evaluate", "from_graphsurgeon", "from_networkx", "from_onnx", "from_torch",
    "from_torchscript", "load", "optimize", "save", "to_graphsurgeon", "to_onnx", "to_openvino", "to_tensorrt",
    "verify",
]


def from_onnx(model: Any) -> Graph:
    """Lift an ONNX ``ModelProto``, serialized bytes, or ``.onnx`` path into graphopt's IR."""
    from graphopt.frontends.onnx import from_onnx as _from_onnx

    return _from_onnx(model)


def from_torch(module: Any, example_args: Any = (), example_kwargs: Any = None, dynamic_shapes: Any = None) -> Graph:
    """Lift an ``nn.Module`` (through ``torch.export``), an ``ExportedProgram`` or a ``.pt2`` path."""
    from graphopt.frontends.torch_export import from_torch as _from_torch

    return _from_torch(module, example_args, example_kwargs, dynamic_shapes)


def from_torchscript(module_or_path: Any, example_args: Any = None) -> Graph:
    """Lift a TorchScript ``ScriptModule`` (traced or scripted) or a saved ``.pt`` archive."""
    from graphopt.frontends.torchscript import from_torchscript as _from_torchscript

    return _from_torchscript(module_or_path, example_args)


def to_onnx(graph: Graph, opset: int | None = None, *, target: str | None = None) -> Any:
    """Emit ``graph`` as an ``onnx.ModelProto`` (default opset: the newest the installed ONNX Runtime loads)."""
    from graphopt.codegen.onnx import to_onnx as _to_onnx

    return _to_onnx(graph, opset, target=target)


def to_openvino(graph: Graph) -> Any:
    """Build an ``openvino.Model`` from ``graph`` with OpenVINO's op builders."""
    from graphopt.codegen.openvino import to_openvino as _to_openvino

    return _to_openvino(graph)


def to_tensorrt(graph: Graph, precision: str = "fp32", shapes: Any = None, workspace: int | None = None) -> bytes:
    """Build a serialized TensorRT engine through the network-definition API."""
    from graphopt.codegen.tensorrt import to_tensorrt as _to_tensorrt

    return _to_tensorrt(graph, precision=precision, shapes=shapes, workspace=workspace)


def from_graphsurgeon(gs_graph: Any) -> Graph:
    """Lift an ``onnx_graphsurgeon.Graph`` into graphopt's IR."""
    from graphopt.frontends.graphsurgeon import from_graphsurgeon as _from_graphsurgeon

    return _from_graphsurgeon(gs_graph)


def to_graphsurgeon(graph: Graph, opset: int | None = None, *, target: str | None = None) -> Any:
    """Emit ``graph`` as an ``onnx_graphsurgeon.Graph``."""
    from graphopt.codegen.graphsurgeon import to_graphsurgeon as _to_graphsurgeon

    return _to_graphsurgeon(graph, opset, target=target)


def from_networkx(nx_graph: Any) -> Graph:
    """Rebuild a graph from the networkx form ``Graph.to_networkx()`` makes."""
    from graphopt.ir.nx_graph import from_networkx as _from_networkx

    return _from_networkx(nx_graph)


_LOADERS: dict[str, Callable[[Any], Graph]] = {".onnx": from_onnx, ".pt": from_torchscript, ".pt2": from_torch}


def load(path_or_model: Any) -> Graph:
    """Load a model from a file (dispatching on its suffix) or from an in-memory ``ModelProto``."""
    if not isinstance(path_or_model, (str, Path)):
        return from_onnx(path_or_model)
    path = Path(path_or_model)
    loader = _LOADERS.get(path.suffix.lower())
    if loader is None:
        raise ModelLoadError(f"{path}: unsupported model file type {path.suffix!r}; "
                             f"graphopt reads {', '.join(_LOADERS)} files")
    return loader(path)


def save(graph: Graph, path: str | Path, **options: Any) -> None:
    """Write ``graph`` to ``path``: ``.onnx`` writes ONNX (weights over 2 GB go to external data),
    ``.xml`` writes OpenVINO IR (with its ``.bin`` beside it)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        from graphopt.codegen.onnx import save_onnx

        save_onnx(graph, path, **options)
    elif suffix == ".xml":
        from graphopt.codegen.openvino import save_openvino

        save_openvino(graph, path, **options)
    else:
        raise GraphoptError(f"{path}: cannot save as {suffix!r}; graphopt writes .onnx and .xml (OpenVINO IR) files")
