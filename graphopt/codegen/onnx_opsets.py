"""Lowering canonical IR to an older ONNX opset: inputs that were attributes before go back to attributes."""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import onnx.defs

from graphopt.errors import ExportError
from graphopt.ir.core import Graph, Node
from graphopt.ir.registry import CANONICAL_OPSET

_Lowering = Callable[[Node, Graph], None]

_CANONICAL_SINCE = {"Reshape": 5, "Scan": 9}
"""Ops whose canonical form has no lowering to their oldest versions."""
_LOWERINGS: dict[str, list[tuple[int, _Lowering]]] = {}


def lower_to_opset(graph: Graph, opset: int) -> Graph:
    """``graph`` itself when ``opset`` can express it as it is, else a lowered copy."""
    if opset >= CANONICAL_OPSET or not _needs_lowering(graph, opset):
        return graph
    g = graph.copy()
    for node in list(g.walk()):
        if node.domain:
            continue
        try:
            old = onnx.defs.get_schema(node.op, opset, "")
        except onnx.defs.SchemaError:
            old = None
        if old is None or old.deprecated or opset < _CANONICAL_SINCE.get(node.op, 0):
            since = _CANONICAL_SINCE.get(node.op) or _first_version(node.op)
            raise ExportError(f"{node.label}: {node.op} needs opset >= {since}; cannot emit at opset {opset}")
        for since, fn in _LOWERINGS.get(node.op, ()):
            if opset < since:
                fn(node, node.graph)  # type: ignore[arg-type]
    return g


def _needs_lowering(graph: Graph, opset: int) -> bool:
    return any(not n.domain and (opset < _CANONICAL_SINCE.get(n.op, 0) or _first_version(n.op) > opset
                                 or any(opset < since for since, _ in _LOWERINGS.get(n.op, ())))
               for n in graph.walk())


def min_opset(graph: Graph) -> int:
    """The oldest default-domain opset that has every standard op of ``graph``."""
    return max((max(_first_version(n.op), _CANONICAL_SINCE.get(n.op, 0)) for n in graph.walk() if not n.domain),
               default=1)


@functools.cache
def _first_version(op: str) -> int:
    for version in range(1, CANONICAL_OPSET + 1):
        try:
            onnx.defs.get_schema(op, version, "")
            return version
        except onnx.defs.SchemaError:
            continue
    return CANONICAL_OPSET


def _lowering(op: str, since: int) -> Callable[[_Lowering], _Lowering]:
    def register(fn: _Lowering) -> _Lowering:
        _LOWERINGS.setdefault(op, []).append((since, fn))
        _LOWERINGS[op].sort(key=lambda item: -item[0])  # newest form first, peeling back
        return fn

    return register


def _input_to_attr(node: Node, index: int, attr: str) -> None:
    """Move constant input ``index`` to attribute ``attr``; refuse when it is computed at run time."""
    if index >= len(node.inputs) or node.inputs[index] is None:
        return
    value = node.inputs[index].numpy()  # type: ignore[union-attr]
    if value is None:
        raise ExportError(f"{node.label}: input {index} must be a constant to emit {node.op} at this opset "
                          f"(it becomes attribute {attr!r}); fold constants first or target a newer opset")
    node.set_input(index, None)
    node.trim_inputs()
    node.set_attr(attr, value.tolist())


def _inputs_to_attrs(*pairs: tuple[int, str]) -> _Lowering:
    def fn(node: Node, graph: Graph) -> None:
        for index, attr in sorted(pairs, reverse=True):
            _input_to_attr(node, index, attr)

    return fn


for _op, _since, _pairs in [
    ("Squeeze", 13, [(1, "axes")]),
    ("Unsqueeze", 13, [(1, "axes")]),
    ("Split", 13, [(1, "split")]),
    ("ReduceSum", 13, [(1, "axes")]),
    ("Slice", 10, [(1, "starts"), (2, "ends"), (3, "axes")]),
    ("TopK", 10, [(1, "k")]),
    ("Pad", 11, [(2, "value"), (1, "pads")]),
    ("Clip", 11, [(2, "max"), (1, "min")]),
    ("Dropout", 12, [(1, "ratio")]),
    ("DFT", 20, [(2, "axis")]),
] + [(op, 18, [(1, "axes")]) for op in ("ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax",
                                        "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSumSquare")]:
    _lowering(_op, _since)(_inputs_to_attrs(*_pairs))


@_lowering("Split", 18)
def _split_sizes(node: Node, graph: Graph) -> None:
    """Opsets < 18 have no ``num_outputs``: spell the sizes out as a constant input."""
    n = node.attrs.pop("num_outputs", None)
    if n is None or len(node.inputs) > 1:
        return
    x = node.inputs[0]
    axis = node.attr("axis")
    dim = x.shape[axis] if x is not None and x.shape is not None else None
    if not isinstance(dim, int):
        raise ExportError(f"{node.label}: Split with num_outputs needs a static split axis below opset 18")
    chunk = -(-dim // n.value)
    sizes = [min(chunk, dim - i * chunk) for i in range(n.value)]
    node.append_input(graph.add_constant(np.array(sizes, np.int64)))


for _op in ("Softmax", "LogSoftmax", "Hardmax"):

    @_lowering(_op, 13)
    def _last_axis_only(node: Node, graph: Graph) -> None:
        """Before opset 13 these flatten at ``axis``; that matches only a softmax over the last axis."""
        x = node.inputs[0]
        rank = len(x.shape) if x is not None and x.shape is not None else None
        axis = node.attr("axis")
        if rank is None or axis % rank != rank - 1:
            raise ExportError(f"{node.label}: below opset 13, {node.op} is expressible only over the last axis "
                              "of an input of known rank")
        node.set_attr("axis", rank - 1)


@_lowering("Resize", 11)
def _resize10(node: Node, graph: Graph) -> None:
    """Resize-10 takes (X, scales) and only the asymmetric, floor-rounding behaviour."""
    mode = node.attr("mode")
    if (node.attr("coordinate_transformation_mode") != "asymmetric" or len(node.inputs) != 3
            or (mode == "nearest" and node.attr("nearest_mode") != "floor") or mode == "cubic"):
        raise ExportError(f"{node.label}: below opset 11, Resize supports only scales with asymmetric "
                          "coordinates (nearest with floor rounding, or linear)")
    scales = node.inputs[2]
    node.set_input(2, None)
    node.set_input(1, scales)
    node.trim_inputs()
    for attr in ("coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a", "exclude_outside",
                 "extrapolation_value", "antialias", "axes", "keep_aspect_ratio_policy"):
        node.attrs.pop(attr, None)
