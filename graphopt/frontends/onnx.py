"""ONNX frontend: a ModelProto (or file) of any opset from 7 on, lifted into canonical IR.

Old opsets' forms are rewritten into the canonical opset by the normalizers in
``onnx_opsets.py``; model-local functions are inlined; ``Constant`` nodes and
initializers become graph constants; external data stays on disk, mapped lazily.
"""

from __future__ import annotations

import functools
import logging
import math
from pathlib import Path
from typing import Any

import onnx
import onnx.inliner
from google.protobuf.message import DecodeError

from graphopt.errors import GraphoptError, IRError, ModelLoadError
from graphopt.frontends.onnx_opsets import normalize_node
from graphopt.ir import protos
from graphopt.ir.core import Graph, Node, Value
from graphopt.ir.dtypes import DType
from graphopt.ir.gcpause import without_gc
from graphopt.ir.inference import infer_shapes
from graphopt.ir.tensor import ArrayTensor, Tensor

logger = logging.getLogger(__name__)

_CONSTANT_VALUE_ATTRS = ("value", "value_float", "value_floats", "value_int", "value_ints",
                         "value_string", "value_strings", "sparse_value")
MAX_SUBGRAPH_DEPTH = 30
"""Nesting of If/Loop/Scan bodies the frontend accepts: about what protobuf's parser reads (100 message
levels), so whatever loads can also be written back."""
MAX_DENSE_BYTES = 1 << 31
"""Largest sparse initializer the frontend densifies."""


@without_gc
def from_onnx(model: onnx.ModelProto | str | Path | bytes) -> Graph:
    """Lift an ONNX model (proto, serialized bytes or file path) into canonical IR."""
    source = "<ModelProto>"
    base_dir: Path | None = None
    if isinstance(model, (str, Path)):
        path = Path(model)
        source, base_dir = str(path), path.resolve().parent
        model = _read(path)
    elif isinstance(model, bytes):
        model = _parse(model, "<bytes>")
    try:
        return _Importer(model, base_dir).run()
    except ModelLoadError as e:
        raise ModelLoadError(f"{source}: {e}") from None
    except GraphoptError as e:
        raise ModelLoadError(f"{source}: {e}") from e


def _read(path: Path) -> onnx.ModelProto:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelLoadError(f"cannot read model file {str(path)!r}: {e.strerror}") from None
    return _parse(data, str(path))


def _parse(data: bytes, source: str) -> onnx.ModelProto:
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except DecodeError as e:
        raise ModelLoadError(f"{source} is not a valid ONNX protobuf ({e}); the file may be truncated "
                             "or not an ONNX model") from None
    if not model.HasField("graph"):
        raise ModelLoadError(f"{source} parses as protobuf but has no graph; is it an ONNX model?")
    return model


class _Importer:
    def __init__(self, model: onnx.ModelProto, base_dir: Path | None) -> None:
        self.model = model
        self.base_dir = base_dir
        self.opsets = {o.domain if o.domain != "ai.onnx" else "": o.version for o in model.opset_import}

    def run(self) -> Graph:
        model = self.model
        _check_text("the model's opset imports", *self.opsets)
        if model.functions:
            try:
                model = onnx.inliner.inline_local_functions(model)
            except Exception as e:
                raise ModelLoadError(f"could not inline the model's local functions: {e}") from e
        graph = self.graph(model.graph, scope=None)
        graph.opset_imports = dict(self.opsets)  # "" records the source opset: the emitter's default
        graph.metadata = {p.key: p.value for p in model.metadata_props}
        graph.doc = model.doc_string
        _check_text("the model's metadata and doc string", *graph.metadata, *graph.metadata.values(), graph.doc)
        infer_shapes(graph)
        return graph

    # -- graphs ------------------------------------------------------------------------
    def graph(self, gp: onnx.GraphProto, scope: _Scope | None) -> Graph:
        _check_text("a graph name", gp.name)
        g = Graph(name=gp.name or "main")
        local = _Scope(scope, g.name)
        if local.depth > MAX_SUBGRAPH_DEPTH:
            raise ModelLoadError(f"graph {g.name!r} is nested {local.depth} subgraphs deep; graphopt reads up to "
                                 f"{MAX_SUBGRAPH_DEPTH} levels of If/Loop/Scan bodies")
        value_types = {vi.name: protos.type_from_proto(vi.type) for vi in gp.value_info}
        initializer_names = set()
        for t in gp.initializer:
            initializer_names.add(t.name)
            c = g.add_constant(self.tensor(t), t.name)
            local.define(t.name, c, "initializer")
        for t in gp.sparse_initializer:
            c = g.add_constant(_dense(t), t.values.name)
            local.define(t.values.name, c, "sparse initializer")
        for vi in gp.input:
            if vi.name in initializer_names:  # an overridable default: an input that carries a constant
                c = local.names.pop(vi.name)
                g.remove_constant(c)
                v = Value(protos.type_from_proto(vi.type), vi.name)
                g.input_defaults[v] = c.const  # type: ignore[assignment]
            else:
                v = Value(protos.type_from_proto(vi.type), vi.name)
            g.inputs.append(v)
            local.define(vi.name, v, "graph input")

        pending: list[tuple[Node, list[str]]] = []
        for index, np_ in enumerate(gp.node):
            node = self.node(np_, index, g, local, value_types)
            if node is not None:
                pending.append((node, list(np_.input)))
        for node, names in pending:
            node.set_inputs([local.lookup(name, node) if name else None for name in names])
        try:
            g.topological_sort()
        except IRError as e:
            raise ModelLoadError(str(e)) from None
        outputs = []
        for vi in gp.output:
            v = local.lookup(vi.name, None)
            if v.type is None:
                v.type = protos.type_from_proto(vi.type)
            outputs.append(v)
        names = [vi.name for vi in gp.output]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise ModelLoadError(f"graph {g.name!r} lists output {dup!r} more than once")
        g._set_outputs(outputs, names)
        for node, _ in pending:
            normalize_node(node, g, self.opsets.get(node.domain, 1))
        return g

    def node(self, np_: onnx.NodeProto, index: int, g: Graph, scope: _Scope,
             value_types: dict[str, Any]) -> Node | None:
        _check_text(f"node {index}", np_.op_type, np_.domain, np_.name, *(a.name for a in np_.attribute))
        where = f"node {np_.name or index} ({np_.op_type})"
        if np_.op_type == "Constant" and np_.domain in ("", "ai.onnx"):
            if len(np_.output) != 1:
                raise ModelLoadError(f"{where} must have exactly one output")
            c = g.add_constant(self.constant_value(np_, where), np_.output[0])
            scope.define(np_.output[0], c, where)
            return None
        domain = "" if np_.domain == "ai.onnx" else np_.domain
        _check_against_schema(np_, self.opsets.get(domain, 1), where)
        attrs = {}
        for a in np_.attribute:
            try:
                attrs[a.name] = protos.attr_from_proto(a, lambda sub: self.graph(sub, scope), self.base_dir)
            except GraphoptError:
                raise
            except Exception as e:
                raise ModelLoadError(f"{where}: attribute {a.name!r} is malformed: {e}") from e
        if domain == "":
            _check_bodies(np_, {k: a.value for k, a in attrs.items()}, where)
            _check_dtype_attrs(attrs, where)
        outputs: list[Value | None] = []
        for name in np_.output:
            if not name:
                outputs.append(None)
                continue
            v = Value(value_types.get(name), name)
            scope.define(name, v, where)
            outputs.append(v)
        while outputs and outputs[-1] is None:
            outputs.pop()
        node = Node(np_.op_type, (), attrs, domain=domain, outputs=outputs, name=np_.name or None)
        g.append(node)
        return node

    def tensor(self, t: onnx.TensorProto) -> Tensor:
        return protos.tensor_from_proto(t, self.base_dir)

    def constant_value(self, np_: onnx.NodeProto, where: str) -> Tensor:
        present = [a for a in np_.attribute if a.name in _CONSTANT_VALUE_ATTRS]
        if len(present) != 1:
            raise ModelLoadError(f"{where}: a Constant needs exactly one value attribute, has "
                                 f"{[a.name for a in np_.attribute]}")
        a = present[0]
        if a.name == "value":
            return self.tensor(a.t)
        if a.name == "sparse_value":
            return _dense(a.sparse_tensor)
        import numpy as np

        value = onnx.helper.get_attribute_value(a)
        dtype = {"value_float": np.float32, "value_floats": np.float32, "value_int": np.int64,
                 "value_ints": np.int64}.get(a.name, object)
        return ArrayTensor(np.array(value, dtype=dtype))


class _Scope:
    """Name → Value for one graph, falling back to enclosing graphs (subgraph outer references)."""

    def __init__(self, parent: _Scope | None, graph_name: str) -> None:
        self.parent = parent
        self.depth: int = 0 if parent is None else parent.depth + 1
        self.graph_name = graph_name
        self.names: dict[str, Value] = {}

    def define(self, name: str, value: Value, where: str) -> None:
        if not name:
            return
        _check_text(where, name)
        if name in self.names:
            raise ModelLoadError(f"{where}: value name {name!r} is defined twice in graph {self.graph_name!r} "
                                 "(ONNX graphs must be in SSA form)")
        outer = self.parent
        while outer is not None:
            if name in outer.names:
                raise ModelLoadError(f"{where}: value name {name!r} in subgraph {self.graph_name!r} shadows a "
                                     f"value of enclosing graph {outer.graph_name!r} (ONNX names must be unique "
                                     "across a graph and its subgraphs); rename one of them")
            outer = outer.parent
        self.names[name] = value

    def lookup(self, name: str, user: Node | None) -> Value:
        _check_text(user.label if user is not None else "a graph output", name)
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        who = f"{user.label} reads" if user is not None else "the graph output refers to"
        raise ModelLoadError(f"{who} {name!r}, which no node, input or initializer of graph "
                             f"{self.graph_name!r} (or an enclosing graph) defines")


@functools.cache
def _schema_at(op: str, version: int, domain: str) -> onnx.defs.OpSchema | None:
    try:
        return onnx.defs.get_schema(op, version, domain)
    except onnx.defs.SchemaError:
        return None  # an op ONNX does not define: representable, checked by whoever defines it


def _check_against_schema(np_: onnx.NodeProto, version: int, where: str) -> None:
    """Arity and attributes against the op's schema at the model's own opset version."""
    domain = "" if np_.domain == "ai.onnx" else np_.domain
    schema = _schema_at(np_.op_type, version, domain)
    if schema is None:
        if domain == "" and onnx.defs.has(np_.op_type):  # a later opset's op: its canonical form would not fit
            raise ModelLoadError(f"{where}: {np_.op_type} is not part of opset {version}, which the model imports; "
                                 "fix the model's opset import")
        return
    n_in, n_out = len(np_.input), len(np_.output)
    if not schema.min_input <= n_in <= schema.max_input:
        raise ModelLoadError(f"{where}: {np_.op_type}-{schema.since_version} takes {schema.min_input}.."
                             f"{schema.max_input} inputs, this node has {n_in}")
    if not min(schema.min_output, 1) <= n_out <= schema.max_output:
        raise ModelLoadError(f"{where}: {np_.op_type}-{schema.since_version} produces {schema.min_output}.."
                             f"{schema.max_output} outputs, this node has {n_out}")
    given = {a.name: a for a in np_.attribute}
    for name, spec in schema.attributes.items():
        if spec.required and name not in given:
            raise ModelLoadError(f"{where}: required attribute {name!r} is missing")
    for name, a in given.items():
        found = schema.attributes.get(name)
        if found is None:
            raise ModelLoadError(f"{where}: {np_.op_type}-{schema.since_version} has no attribute {name!r}")
        if int(found.type) != a.type:  # type: ignore[call-overload]
            raise ModelLoadError(f"{where}: attribute {name!r} should be {found.type.name}, is "  # type: ignore[attr-defined]
                                 f"{onnx.AttributeProto.AttributeType.Name(a.type)}")


def _dense(sp: onnx.SparseTensorProto) -> Tensor:
    """The dense form of a sparse tensor, after checking its indices fit its shape (as ONNX's checker does)."""
    import numpy as np

    name = sp.values.name
    values = protos.tensor_from_proto(sp.values).numpy().reshape(-1)
    indices = protos.tensor_from_proto(sp.indices).numpy()
    shape = tuple(sp.dims)
    size = math.prod(shape)
    if any(d < 0 for d in shape) or size * values.dtype.itemsize > MAX_DENSE_BYTES:
        raise ModelLoadError(f"sparse tensor {name!r}: dense shape {list(shape)} is negative or too large to "
                             f"densify (over {MAX_DENSE_BYTES >> 30} GiB)")
    if indices.ndim == 2 and indices.shape == (len(values), len(shape)) and len(shape) > 0:
        flat = np.zeros(len(values), np.int64)
        for axis, d in enumerate(shape):
            if indices.size and (indices[:, axis].min() < 0 or indices[:, axis].max() >= d):
                flat = np.full(len(values), -1)
                break
            flat = flat * d + indices[:, axis]
        indices = flat
    elif indices.ndim != 1 or len(indices) != len(values):
        raise ModelLoadError(f"sparse tensor {name!r}: indices of shape {list(indices.shape)} do not match "
                             f"{len(values)} values of a rank-{len(shape)} tensor")
    if indices.size and (indices.min() < 0 or indices.max() >= size):
        raise ModelLoadError(f"sparse tensor {name!r}: an index is outside its dense shape {list(shape)}")
    dense = np.zeros(shape, dtype=values.dtype)
    dense.reshape(-1)[indices] = values
    return ArrayTensor(dense)


def _check_bodies(np_: onnx.NodeProto, attrs: dict[str, Any], where: str) -> None:
    """If/Loop/Scan bodies must take and give as many values as the node passes and expects."""
    n_in, n_out = len(np_.input), len(np_.output)
    expected: list[tuple[str, int | None, int]] = []  # (body, inputs or None if any, least outputs)
    if np_.op_type == "If":
        expected = [("then_branch", 0, n_out), ("else_branch", 0, n_out)]
    elif np_.op_type == "Loop":
        carried = max(n_in - 2, 0)
        expected = [("body", 2 + carried, 1 + carried + max(n_out - carried, 0))]
    elif np_.op_type == "Scan":  # opset 8's Scan takes one more input than its body; inputs are not checked
        expected = [("body", None, n_out)]
    for name, inputs, outputs in expected:
        body = attrs.get(name)
        if not isinstance(body, Graph):
            continue
        wrong_outputs = len(body.outputs) != outputs if np_.op_type == "If" else len(body.outputs) < outputs
        if wrong_outputs or (inputs is not None and len(body.inputs) != inputs):
            raise ModelLoadError(f"{where}: its {name} takes {len(body.inputs)} inputs and gives "
                                 f"{len(body.outputs)} outputs, but the node passes {n_in} inputs and expects "
                                 f"{n_out} outputs; the subgraph does not fit the node")


_DTYPE_ATTRS = ("to", "dtype", "output_dtype")


def _check_dtype_attrs(attrs: dict[str, Any], where: str) -> None:
    """Attributes naming an element type (Cast's ``to`` …) must name one graphopt knows."""
    for name in _DTYPE_ATTRS:
        a = attrs.get(name)
        if a is not None and isinstance(a.value, int) and a.value not in DType._value2member_map_:
            raise ModelLoadError(f"{where}: attribute {name}={a.value} is no ONNX data type")


def _check_text(where: str, *texts: str | bytes) -> None:
    """Protobuf hands over a string field that is not valid UTF-8 as bytes; refuse it here, not deep inside."""
    for text in texts:
        if isinstance(text, bytes):
            raise ModelLoadError(f"{where}: the string {text[:60]!r} is not valid UTF-8; the file is corrupt")
