"""Lowering canonical IR into an ``openvino.Model`` through the converter table.

Every node is checked first (a converter exists, its capability check passes, OpenVINO has its element
types); all refusals are reported together in one :class:`~graphopt.errors.UnsupportedOpError`. Graph
inputs become Parameters with partial shapes (a symbolic dim becomes a dynamic dimension carrying one
``ov.Symbol`` per name, so equal names are known equal), constants become Constants that share the
graph's arrays, and outputs keep their names.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any

import numpy as np
import openvino as ov
import openvino.opset16 as opset

from graphopt.codegen.names import NamePool
from graphopt.codegen.openvino.table import lookup
from graphopt.errors import ExportError, UnsupportedOpError
from graphopt.ir.core import Graph, Node, Value, outer_references
from graphopt.ir.dtypes import DType
from graphopt.ir.tensor import Tensor
from graphopt.ir.types import Dim, Shape, TensorType

OV_TYPES: dict[DType, ov.Type] = {
    DType.FLOAT: ov.Type.f32, DType.FLOAT16: ov.Type.f16, DType.DOUBLE: ov.Type.f64, DType.BFLOAT16: ov.Type.bf16,
    DType.INT8: ov.Type.i8, DType.INT16: ov.Type.i16, DType.INT32: ov.Type.i32, DType.INT64: ov.Type.i64,
    DType.UINT8: ov.Type.u8, DType.UINT16: ov.Type.u16, DType.UINT32: ov.Type.u32, DType.UINT64: ov.Type.u64,
    DType.BOOL: ov.Type.boolean,
}
"""Element types OpenVINO's CPU plugin runs, by graphopt dtype."""

SHARE_MIN_BYTES = 64
"""Constants this large or larger share the graph's memory; smaller ones are copied (cheaper than aliasing)."""

LAYOUT_READERS = frozenset({"Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool",
                            "GlobalMaxPool", "BatchNormalization", "InstanceNormalization", "FusedConv"})
"""Ops whose data input (input 0) is channels-first: a graph input they read gets an ``N C …`` layout."""
_CHANNELS_FIRST = {3: "NCW", 4: "NCHW", 5: "NCDHW"}
_CHANNELS_LAST = {4: "NHWC", 5: "NDHWC"}
_NHWC_TO_NCHW = (0, 3, 1, 2)


def ov_type(dtype: DType | None) -> ov.Type | None:
    return OV_TYPES.get(dtype) if dtype is not None else None


class Lowering:
    """State of one emission: the OpenVINO output of each IR value, dimension symbols, constants."""

    def __init__(self) -> None:
        self.symbols: dict[str, ov.Symbol] = {}
        self.op_names = NamePool()
        self.values: dict[Value, ov.Output] = {}

    # -- constants ---------------------------------------------------------------------
    def const(self, value: Any, dtype: Any = None) -> ov.Output:
        """A small constant (copied); ``dtype`` a numpy dtype, an ``ov.Type`` or another output to match."""
        if isinstance(dtype, ov.Node):
            dtype = dtype.output(0)
        if isinstance(dtype, ov.Output):
            dtype = dtype.get_element_type()
        if isinstance(dtype, ov.Type):
            dtype = dtype.to_dtype()
        return _copied_constant(np.asarray(value, dtype=dtype))

    def i64(self, values: Any) -> ov.Output:
        return self.const(values, np.int64)

    def tensor_constant(self, tensor: Tensor) -> ov.Output:
        """A Constant over the tensor's own memory where OpenVINO can share it, else a copy."""
        array = tensor.numpy()
        if tensor.dtype == DType.BFLOAT16:
            return ov.op.Constant(ov.Type.bf16, ov.Shape(array.shape), array.astype(np.float32).ravel().tolist()
                                  ).output(0)
        if array.nbytes >= SHARE_MIN_BYTES and array.flags.c_contiguous:
            return opset.constant(_writable_alias(array), shared_memory=True).output(0)
        return _copied_constant(array)

    # -- shapes ------------------------------------------------------------------------
    def dimension(self, d: Dim) -> ov.Dimension:
        if isinstance(d, int):
            return ov.Dimension(d)
        dim = ov.Dimension()
        if isinstance(d, str):
            dim.set_symbol(self.symbols.setdefault(d, ov.Symbol()))
        return dim

    def partial_shape(self, shape: Shape) -> ov.PartialShape:
        if shape is None:
            return ov.PartialShape.dynamic()
        return ov.PartialShape([self.dimension(d) for d in shape])

    # -- ops ---------------------------------------------------------------------------
    def standard(self, op: str, inputs: Sequence[ov.Output | None], attrs: dict[str, Any] | None = None) -> Any:
        """Convert one standard op given as op name, OpenVINO inputs and attributes (for activations)."""
        node = Node(op, attrs=attrs or {})
        conv = lookup(node)
        if conv is None:
            raise ExportError(f"OpenVINO emitter: no converter for {op}, needed to expand a fused op")
        return outputs_of(conv.convert(self, node, list(inputs)))[0]

    def body(self, sub: Graph) -> tuple[ov.Model, list[Any], list[Any], dict[Value, Any]]:
        """A subgraph as a model of its own: its results, a Parameter per subgraph input, and one per outer
        value it reads (outer constants are built into it)."""
        inner = Lowering()
        inner.symbols, inner.op_names = self.symbols, self.op_names
        inputs = []
        for v in sub.inputs:
            param = opset.parameter(self.partial_shape(v.shape), ov_type(v.dtype) or ov.Type.dynamic)
            inner.values[v] = param.output(0)
            inputs.append(param)
        params: dict[Value, Any] = {}
        for v in outer_references(sub):
            if v.const is None:
                outer = self.value(v)
                params[v] = opset.parameter(outer.get_partial_shape(), outer.get_element_type())
                inner.values[v] = params[v].output(0)
        for node in sub:
            _emit_node(inner, node)
        results = [opset.result(inner.value(v)) for v in sub.outputs]
        return ov.Model(results, inputs + list(params.values()), sub.name), results, inputs, params

    def value(self, v: Value) -> ov.Output:
        out = self.values.get(v)
        if out is None:
            if v.const is None:
                raise ExportError(f"OpenVINO emitter: value {v.name!r} is read before it is produced")
            out = self.values[v] = self.tensor_constant(v.const)
        return out


def rank(x: ov.Output | ov.Node) -> int:
    """The rank of an OpenVINO output (the converters that need one check for a known rank first)."""
    if isinstance(x, ov.Node):
        x = x.output(0)
    r = x.get_partial_shape().rank
    if r.is_dynamic:
        raise ExportError(f"OpenVINO emitter: {x.get_node().get_friendly_name()} has an unknown rank")
    return int(r.get_length())


def _copied_constant(array: np.ndarray) -> ov.Output:
    if array.size == 0:  # OpenVINO 2026.4 corrupts its heap compiling a Constant built from an empty array
        return ov.op.Constant(ov.Type(array.dtype), ov.Shape(list(array.shape)), []).output(0)
    return opset.constant(array if array.flags.c_contiguous else array.copy(order="C")).output(0)


def _writable_alias(array: np.ndarray) -> np.ndarray:
    """A writable numpy view of ``array``'s memory that keeps ``array`` alive (OpenVINO only shares writable
    arrays; it never writes to a Constant's data)."""
    if array.flags.writeable:
        return array
    buffer = (ctypes.c_char * array.nbytes).from_address(array.ctypes.data)
    buffer._graphopt_owner = array  # type: ignore[attr-defined]
    return np.frombuffer(memoryview(buffer), dtype=array.dtype).reshape(array.shape)


def outputs_of(result: Any) -> list[ov.Output]:
    if isinstance(result, ov.Output):
        return [result]
    if isinstance(result, ov.Node):
        return list(result.outputs())
    return [r.output(0) if isinstance(r, ov.Node) else r for r in result]


def unsupported(graph: Graph) -> list[str]:
    """One line per node OpenVINO cannot take: its label, op and why."""
    problems = []
    for node in graph.walk():
        reason = _refusal(node)
        if reason is not None:
            problems.append(f"{node.label}: {reason}")
    for v in graph.inputs:
        if not isinstance(v.type, TensorType) or ov_type(v.dtype) is None:
            problems.append(f"graph input {v.name!r}: type {v.type} has no OpenVINO equivalent")
    return problems


def _refusal(node: Node) -> str | None:
    conv = lookup(node)
    if conv is None:
        return "no OpenVINO converter for this op"
    for v in (*node.inputs, *node.outputs):
        if v is None or v.type is None:
            continue
        if not isinstance(v.type, TensorType):
            return f"value {v.name!r} has type {v.type}; OpenVINO takes tensors only"
        if v.dtype != DType.UNDEFINED and ov_type(v.dtype) is None:
            return f"element type {v.dtype.name} of {v.name!r} is not supported by OpenVINO's CPU plugin"
    return conv.check(node) if conv.check is not None else None


def to_openvino(graph: Graph) -> ov.Model:
    """Build an ``openvino.Model`` equivalent to ``graph``."""
    problems = unsupported(graph)
    if problems:
        raise UnsupportedOpError(
            f"graph {graph.name!r}: {len(problems)} node(s) cannot be emitted for OpenVINO:\n  "
            + "\n  ".join(problems)
            + "\nadd a converter in graphopt/codegen/openvino/, or rewrite these ops before emitting")
    b = Lowering()
    names = NamePool()
    params = [_parameter(b, v, names.claim(v.name or "input")) for v in graph.inputs]
    for node in graph:
        _emit_node(b, node)
    results = _results(b, graph, names)
    return ov.Model(results, params, graph.name)


def _parameter(b: Lowering, v: Value, name: str) -> Any:
    param = opset.parameter(b.partial_shape(v.shape), OV_TYPES[v.dtype], name=name)
    param.output(0).get_tensor().set_names({name})
    layout = _input_layout(v)
    if layout is not None:
        param.set_layout(ov.Layout(layout))
    b.values[v] = param.output(0)
    return param


def _input_layout(v: Value) -> str | None:
    """``NCHW`` (by rank) for an input a convolution/pool/normalization reads as data, ``NHWC`` for one read by
    a Transpose to channels-first, else ``None``."""
    rank = len(v.shape) if v.shape is not None else None
    for use in v.uses:
        node = use.node
        if node.op in LAYOUT_READERS and use.index == 0 and rank in _CHANNELS_FIRST:
            return _CHANNELS_FIRST[rank]
        if node.op == "Transpose" and rank == 4 and tuple(node.attr("perm", ())) == _NHWC_TO_NCHW:
            return _CHANNELS_LAST[rank]
    return None


def _emit_node(b: Lowering, node: Node) -> None:
    conv = lookup(node)
    assert conv is not None
    inputs = [None if v is None else b.value(v) for v in node.inputs]
    try:
        outs = outputs_of(conv.convert(b, node, inputs))
    except ExportError:
        raise
    except Exception as e:  # OpenVINO's shape inference refusing the inputs it was given
        raise ExportError(f"OpenVINO emitter: converting {node.label} failed: {e}") from e
    for value, out in zip(node.outputs, outs):
        if value is None:
            continue
        expected = ov_type(value.dtype)
        if expected is not None and out.get_element_type() != expected:
            raise ExportError(f"OpenVINO emitter: {node.label} produced {out.get_element_type()} for "
                              f"{value.name!r}, the IR says {value.dtype.name}; this is a converter bug")
        b.values[value] = out
    _name_ops(b, node, inputs, outs)


def _name_ops(b: Lowering, node: Node, inputs: list[ov.Output | None], outs: list[ov.Output]) -> None:
    """Name the OpenVINO ops a node became after the node (its name, or for a node a pass made, its provenance),
    so OpenVINO's errors and per-layer profiles point back to the IR: the op of the first output takes the name
    itself, the others ``<name>/<OpenVINO op type>``."""
    base = node.name or (str(node.provenance) if node.provenance else None)
    if base is None or not outs:
        return
    seen = {x.get_node().get_instance_id() for x in inputs if x is not None}
    first = outs[0].get_node().get_instance_id()
    stack = [o.get_node() for o in outs]
    while stack:
        op = stack.pop()
        key = op.get_instance_id()
        if key in seen or op.get_type_name() in ("Constant", "Parameter"):
            continue
        seen.add(key)
        op.set_friendly_name(b.op_names.claim(base if key == first else f"{base}/{op.get_type_name()}"))
        stack.extend(v.get_node() for v in op.input_values())


def _results(b: Lowering, graph: Graph, names: NamePool) -> list[Any]:
    """One Result per graph output, its tensor named as the output (made unique like the ONNX emitter does)."""
    results = []
    for v, wanted in zip(graph.outputs, graph.output_names):
        name = names.claim(wanted or v.name or "output")
        out = b.value(v)
        if out.get_names():
            out = opset.identity(out).output(0)  # each output needs a tensor of its own to carry its name
        out.get_tensor().set_names({name})
        results.append(opset.result(out))
    return results
