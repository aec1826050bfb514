"""OpenVINO emitter: canonical IR to an ``openvino.Model`` built with OpenVINO's op builders (opset16).

``to_openvino(graph)`` returns the model; ``save_openvino(graph, "model.xml")`` writes OpenVINO IR
(``model.xml`` + ``model.bin``). Converters live in the ``ops_*`` modules, one table entry per op.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from graphopt.errors import GraphoptError
from graphopt.ir.core import Graph

__all__ = ["save_openvino", "to_openvino"]

CONVERTER_MODULES = ("ops_attention", "ops_control", "ops_detection", "ops_elementwise", "ops_loss", "ops_nn",
                     "ops_quantize", "ops_reduce", "ops_resize", "ops_rnn", "ops_rotary", "ops_tensor", "ops_window")


def _load() -> Any:
    try:
        import openvino  # noqa: F401
    except ImportError as e:
        raise GraphoptError('the OpenVINO emitter needs OpenVINO: pip install "graphopt[openvino]"') from e
    from graphopt.codegen.openvino import emitter

    for module in CONVERTER_MODULES:  # importing them fills the converter table
        importlib.import_module(f"{__name__}.{module}")
    return emitter


def to_openvino(graph: Graph) -> Any:
    """Build an ``openvino.Model`` from ``graph`` (raises ``UnsupportedOpError`` listing every op it cannot take)."""
    return _load().to_openvino(graph)


def save_openvino(graph: Graph, path: str | Path, *, compress_to_fp16: bool = False) -> None:
    """Write ``graph`` as OpenVINO IR: ``path`` (.xml) and the weights beside it (.bin). Weights stay in their
    own precision unless ``compress_to_fp16`` is set (OpenVINO's own default halves float32 weights)."""
    import openvino as ov

    ov.save_model(to_openvino(graph), str(path), compress_to_fp16=compress_to_fp16)
