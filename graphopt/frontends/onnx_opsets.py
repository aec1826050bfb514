"""Normalizers from older ONNX opsets into the canonical opset.

Each normalizer rewrites one op's pre-``since`` form (attributes that later
became inputs, renamed or removed ops, changed defaults) into its canonical
form. Passes never see opset differences.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx.defs

from graphopt.errors import ModelLoadError
from graphopt.ir.core import Graph, Node, Value
from graphopt.ir.dtypes import DType
from graphopt.ir.types import TensorType

MIN_OPSET = 7
"""The oldest default-domain opset the frontend reads."""

Normalizer = Callable[[Node, Graph], None]
_NORMALIZERS: dict[str, list[tuple[int, Normalizer]]] = {}


def normalize_node(node: Node, graph: Graph, version: int) -> None:
    """Rewrite ``node`` (read at opset ``version`` of its domain) into canonical form, in place."""
    if node.domain != "":
        return
    if version < MIN_OPSET:
        schema = node.schema
        if schema is None or onnx.defs.get_schema(node.op, version, "").since_version != schema.version:
            raise ModelLoadError(f"{node.label}: opset {version} predates the oldest opset graphopt normalizes "
                                 f"({MIN_OPSET}) and {node.op} changed since; convert the model to opset "
                                 f"{MIN_OPSET} or newer first (onnx.version_converter)")
    for since, fn in _NORMALIZERS.get(node.op, ()):
        if version < since:
            fn(node, graph)


def _normalizer(op: str, since: int) -> Callable[[Normalizer], Normalizer]:
    """Register ``fn`` for models whose opset is older than ``since`` (applied oldest first)."""

    def register(fn: Normalizer) -> Normalizer:
        _NORMALIZERS.setdefault(op, []).append((since, fn))
        _NORMALIZERS[op].sort(key=lambda item: item[0])
        return fn

    return register


def _set_input_at(node: Node, index: int, value: Value) -> None:
    """Set input ``index``, padding the omitted inputs before it."""
    while len(node.inputs) <= index:
        node.append_input(None)
    node.set_input(index, value)


def _attr_to_input(node: Node, graph: Graph, attr: str, index: int, dtype: Any = np.int64) -> None:
    """Move attribute ``attr`` (if present) to constant input ``index``."""
    a = node.attrs.pop(attr, None)
    if a is not None:
        _set_input_at(node, index, graph.add_constant(np.array(a.value, dtype=dtype)))


def _attrs_to_inputs(*pairs: tuple[str, int]) -> Normalizer:
    def fn(node: Node, graph: Graph) -> None:
        for attr, index in pairs:
            _attr_to_input(node, graph, attr, index)

    return fn


for _op, _since, _pairs in [
    ("Reshape", 5, [("shape", 1)]),
    ("Squeeze", 13, [("axes", 1)]),
    ("Unsqueeze", 13, [("axes", 1)]),
    ("Split", 13, [("split", 1)]),
    ("ReduceSum", 13, [("axes", 1)]),
    ("Slice", 10, [("starts", 1), ("ends", 2), ("axes", 3)]),
    ("TopK", 10, [("k", 1)]),
    ("Pad", 11, [("pads", 1)]),
] + [(op, 18, [("axes", 1)]) for op in ("ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax",
                                        "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSumSquare")]:
    _normalizer(_op, _since)(_attrs_to_inputs(*_pairs))


def _value_like(node: Node, graph: Graph, attr: str, index: int) -> None:
    """Move a float attribute to an input of the data input's dtype (Pad's value, Clip's bounds)."""
    data = node.inputs[0]
    dtype = data.dtype.numpy if data is not None and data.dtype is not None else np.float32
    _attr_to_input(node, graph, attr, index, dtype)


@_normalizer("Split", 18)
def _split_num_outputs(node: Node, graph: Graph) -> None:
    """Before opset 18, a Split with no sizes splits evenly into as many parts as it has outputs."""
    if len(node.inputs) < 2 and "split" not in node.attrs:
        node.set_attr("num_outputs", len(node.outputs))


@_normalizer("Pad", 11)
def _pad_value(node: Node, graph: Graph) -> None:
    _value_like(node, graph, "value", 2)


@_normalizer("Clip", 11)
def _clip_bounds(node: Node, graph: Graph) -> None:
    _value_like(node, graph, "min", 1)
    _value_like(node, graph, "max", 2)


@_normalizer("Dropout", 12)
def _dropout_ratio(node: Node, graph: Graph) -> None:
    _attr_to_input(node, graph, "ratio", 1, np.float32)


@_normalizer("BatchNormalization", 9)
def _bn_spatial(node: Node, graph: Graph) -> None:
    a = node.attrs.pop("spatial", None)
    if a is not None and a.value == 0:
        raise ModelLoadError(f"{node.label}: BatchNormalization with spatial=0 (per-activation statistics) "
                             "has no canonical form; re-export the model at opset >= 9")


@_normalizer("Upsample", 10)
def _upsample_to_resize(node: Node, graph: Graph) -> None:
    scales = node.attrs.pop("scales", None)
    if scales is not None:  # Upsample-7 keeps scales as an attribute
        node.append_input(graph.add_constant(np.array(scales.value, dtype=np.float32)))
    _resize10_to_11(node, graph)
    node.op = "Resize"


@_normalizer("Resize", 11)
def _resize10_to_11(node: Node, graph: Graph) -> None:
    scales = node.inputs[1]
    node.set_input(1, None)
    node.append_input(scales)
    mode = node.attr("mode", "nearest")
    node.set_attr("mode", "linear" if mode in ("linear", "bilinear") else mode)
    node.set_attr("coordinate_transformation_mode", "asymmetric")
    if node.attrs["mode"].value == "nearest":
        node.set_attr("nearest_mode", "floor")


@_normalizer("DFT", 20)
def _dft_axis(node: Node, graph: Graph) -> None:
    """DFT-17 has ``axis`` as an attribute defaulting to 1; from opset 20 it is input 2, defaulting to -2."""
    a = node.attrs.pop("axis", None)
    axis = 1 if a is None else a.value
    _set_input_at(node, 2, graph.add_constant(np.array(axis, dtype=np.int64)))


@_normalizer("Scatter", 11)
def _scatter_to_elements(node: Node, graph: Graph) -> None:
    node.op = "ScatterElements"


for _op in ("Softmax", "LogSoftmax", "Hardmax"):

    @_normalizer(_op, 13)
    def _coerced_2d(node: Node, graph: Graph) -> None:
        """Opsets < 13 flatten the input to 2-D at ``axis`` and normalize each row."""
        axis = node.attrs.pop("axis").value if "axis" in node.attrs else 1
        x = node.inputs[0]
        rank = None if x is None or x.shape is None else len(x.shape)
        if rank is not None and axis % rank == rank - 1:
            node.set_attr("axis", -1)
            return
        with graph.inserting_before(node):
            shape = graph.add("Shape", [x]).output
            flat = graph.add("Flatten", [x], {"axis": axis}).output
        node.set_input(0, flat)
        node.set_attr("axis", 1)
        out = node.outputs[0]
        assert out is not None
        with graph.inserting_after(node):
            restored = graph.add("Reshape", [out, shape]).output
        graph.replace_all_uses(out, restored)
        restored.producer.set_input(0, out)  # type: ignore[union-attr]
        restored.type, restored.name, out.name = out.type, out.name, None
        out.type = None


@_normalizer("Scan", 9)
def _batched_scan(node: Node, graph: Graph) -> None:
    """Scan-8 runs over a leading batch axis; canonically that is a Loop over the batch around a Scan."""
    seq_lens, *rest = node.inputs
    if seq_lens is not None:
        lens = seq_lens.numpy()
        if lens is None or len(set(lens.tolist())) > 1:
            raise ModelLoadError(f"{node.label}: Scan-8 with per-batch sequence_lens has no canonical form; "
                                 "re-export the model at opset >= 9")
    n_scan = node.attr("num_scan_inputs")
    directions = node.attrs.pop("directions", None)
    body_graph = node.attrs.pop("body").value
    int64, boolean = TensorType(DType.INT64, ()), TensorType(DType.BOOL, ())
    loop_body = Graph(name=f"{body_graph.name}_batch")
    # a pass-through carried value: Loop before opset 11 needs at least one
    step, cond, carry = Value(int64, "batch_index"), Value(boolean, "cond"), Value(int64, "batch_carry")
    loop_body.inputs += [step, cond, carry]
    per_item = [loop_body.add("Gather", [v, step], {"axis": 0}).output for v in rest]
    scan_attrs = {"body": body_graph, "num_scan_inputs": n_scan}
    if directions is not None:
        scan_attrs["scan_input_directions"] = directions.value
    inner = loop_body.add("Scan", per_item, scan_attrs, num_outputs=len(node.outputs))
    scan_outputs = [v for v in inner.outputs if v is not None]
    loop_body.outputs = [loop_body.add("Identity", [cond]).output, loop_body.add("Identity", [carry]).output,
                         *scan_outputs]
    with graph.inserting_before(node):
        shape = graph.add("Shape", [rest[-1]]).output
        batch = graph.add("Gather", [shape, graph.add_constant(np.array(0, np.int64))]).output
        loop = graph.add("Loop", [batch, None, batch], {"body": loop_body}, num_outputs=1 + len(node.outputs))
    for old, new in zip(node.outputs, loop.outputs[1:]):
        if old is not None and new is not None:
            new.type, new.name = old.type, old.name
            graph.replace_all_uses(old, new)
    graph.remove(node)
