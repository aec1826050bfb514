"""ONNX emitter: canonical IR to a ModelProto (or a file, with external data for large weights)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import onnx
import onnx.helper

import graphopt
from graphopt.codegen.names import NamePool
from graphopt.codegen.onnx_opsets import lower_to_opset, min_opset
from graphopt.errors import ExportError, UnsupportedOpError
from graphopt.ir import protos
from graphopt.ir.core import Graph, Node, Value
from graphopt.ir.dtypes import DType
from graphopt.ir.gcpause import without_gc
from graphopt.ir.registry import CANONICAL_OPSET, GRAPHOPT_DOMAIN
from graphopt.ir.tensor import ExternalTensor, Tensor
from graphopt.ir.types import OptionalType, SequenceType, TensorType, Type

PROTOBUF_LIMIT = 2**31 - 1
_INLINE_BUDGET = PROTOBUF_LIMIT - (64 << 20)  # leave room for everything that is not weights
_CHUNK = 64 << 20

TensorSink = Callable[[Tensor, onnx.TensorProto], None]
"""Fills a TensorProto's data: inline bytes, or a reference to an external file."""


@functools.cache
def default_opset() -> int:
    """The newest default-domain opset that both onnx and the installed ONNX Runtime accept."""
    import onnxruntime as ort

    for opset in range(onnx.defs.onnx_opset_version(), CANONICAL_OPSET - 1, -1):
        g = onnx.helper.make_graph(
            [onnx.helper.make_node("Identity", ["x"], ["y"])], "probe",
            [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
            [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])])
        ids = [onnx.helper.make_opsetid("", opset)]
        m = onnx.helper.make_model(g, opset_imports=ids, ir_version=onnx.helper.find_min_ir_version_for(ids))
        try:
            ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
            return opset
        except Exception:
            continue
    return CANONICAL_OPSET


@without_gc
def to_onnx(graph: Graph, opset: int | None = None, *, target: str | None = None) -> onnx.ModelProto:
    """Emit ``graph`` as an in-memory ModelProto (weights inline; for models over 2 GB use :func:`save`)."""
    total = _weight_bytes(graph)
    if total > _INLINE_BUDGET:
        raise ExportError(f"graph {graph.name!r} holds {total / 2**30:.2f} GiB of weights, over protobuf's 2 GiB "
                          "limit for one message; use graphopt.save(graph, 'model.onnx'), which writes them "
                          "as external data")
    return _Emitter(graph, opset, target, _inline).model()


@without_gc
def save_onnx(graph: Graph, path: str | Path, *, opset: int | None = None, target: str | None = None,
              external_data: bool | None = None, size_threshold: int = 1024) -> None:
    """Write ``graph`` to ``path``. Weights go to ``<path>.data`` when ``external_data`` is true, or,
    by default, when they exceed what one protobuf message can hold. They are streamed, never copied whole."""
    path = Path(path)
    if external_data is None:
        external_data = _weight_bytes(graph) > _INLINE_BUDGET
    if not external_data:
        model = to_onnx(graph, opset, target=target)
        path.write_bytes(model.SerializeToString())
        return
    data_path = path.with_name(path.name + ".data")
    with open(data_path, "wb") as data_file:

        def sink(tensor: Tensor, proto: onnx.TensorProto) -> None:
            if tensor.nbytes < size_threshold:
                _inline(tensor, proto)
                return
            offset = data_file.tell()
            for chunk in _chunks(tensor):
                data_file.write(chunk)
            proto.data_location = onnx.TensorProto.EXTERNAL
            for key, value in (("location", data_path.name), ("offset", str(offset)),
                               ("length", str(data_file.tell() - offset))):
                proto.external_data.add(key=key, value=value)
            data_file.seek(0, os.SEEK_END)

        model = _Emitter(graph, opset, target, sink).model()
    path.write_bytes(model.SerializeToString())


def _inline(tensor: Tensor, proto: onnx.TensorProto) -> None:
    proto.CopyFrom(protos.tensor_to_proto(tensor, proto.name))


def _chunks(tensor: Tensor) -> Iterable[memoryview | bytes]:
    """A tensor's stored bytes in pieces, read with plain file I/O into one reused buffer (no mapping)."""
    if isinstance(tensor, ExternalTensor):
        buffer = memoryview(bytearray(min(_CHUNK, tensor.length)))
        with open(tensor.path, "rb") as f:
            f.seek(tensor.offset)
            left = tensor.length
            while left > 0:
                got = f.readinto(buffer[: min(len(buffer), left)])
                if not got:
                    raise ExportError(f"external data file {str(tensor.path)!r} ends early")
                left -= got
                yield buffer[:got]
        return
    data = protos.tensor_bytes(tensor.dtype, tensor.numpy())
    for start in range(0, len(data), _CHUNK):
        yield data[start:start + _CHUNK]


def _weight_bytes(graph: Graph) -> int:
    """Bytes of constant data in ``graph`` and its subgraphs."""
    total = sum(c.const.nbytes for c in graph.constants if c.const is not None)
    total += sum(t.nbytes for t in graph.input_defaults.values())
    return total + sum(_weight_bytes(sub) for node in graph for sub in node.subgraphs())


class _Emitter:
    def __init__(self, graph: Graph, opset: int | None, target: str | None, sink: TensorSink) -> None:
        lowered = _lower_graphopt_ops(graph, target)
        if opset is None:  # the source model's opset where it can still express every op, else newer
            opset = max(graph.opset_imports.get("") or default_opset(), min_opset(lowered))
        self.opset = opset
        self.graph = lower_to_opset(lowered, opset)
        self.target = target
        self.sink = sink
        self.names: dict[Value, str] = {}
        self.taken = NamePool()
        self.node_names = NamePool()
        self.domains: dict[str, int] = {}
        self.output_names: dict[Graph, list[str]] = {}

    def model(self) -> onnx.ModelProto:
        g = self.graph
        gp = self.graph_proto(g, top=True)
        opsets = [onnx.helper.make_opsetid("", self.opset)]
        for domain in sorted(self.domains):
            if domain in ("", "ai.onnx"):
                continue
            opsets.append(onnx.helper.make_opsetid(domain, g.opset_imports.get(domain, self.domains[domain])))
        model = onnx.helper.make_model(gp, opset_imports=opsets,
                                       ir_version=onnx.helper.find_min_ir_version_for(opsets, True))
        model.ir_version = max(model.ir_version, 8)
        model.producer_name = "graphopt"
        model.producer_version = graphopt.__version__
        model.doc_string = g.doc
        metadata = dict(g.metadata)
        if g.memory_plan is not None:  # graphopt.memory.* entries, tensors by their exported names
            metadata.update(g.memory_plan.metadata(self.names))
        for key, value in sorted(metadata.items()):
            model.metadata_props.add(key=key, value=value)
        return model

    # -- names -------------------------------------------------------------------------
    def claim(self, wanted: str) -> str:
        return self.taken.claim(wanted)

    def name(self, v: Value) -> str:
        if v not in self.names:
            hint = v.name or (f"{v.producer.op.lower()}_out" if v.producer else "const")
            self.names[v] = self.claim(hint)
        return self.names[v]

    # -- graphs ------------------------------------------------------------------------
    def graph_proto(self, g: Graph, top: bool = False) -> onnx.GraphProto:
        gp = onnx.GraphProto(name=g.name)
        for v in g.inputs:
            if v.name is None or v.name in self.taken:
                raise ExportError(f"graph {g.name!r}: input {v.name!r} is unnamed or its name is taken twice")
            self.names[v] = self.claim(v.name)
            if v.type is None:
                raise ExportError(f"graph {g.name!r}: input {v.name!r} has no type")
            gp.input.append(onnx.helper.make_value_info(v.name, protos.type_to_proto(v.type)))
            if v in g.input_defaults:
                gp.initializer.append(self.tensor(g.input_defaults[v], v.name))
        produced_here = {o for n in g for o in n.outputs if o is not None}
        bridges = self.bind_outputs(g, produced_here)
        for c in g.constants:
            if top:
                gp.initializer.append(self.tensor(c.const, self.name(c)))  # type: ignore[arg-type]
            else:
                gp.node.append(self.constant_node(c))
        for n in g:
            gp.node.append(self.node(n))
        for src, dst in bridges:
            gp.node.append(onnx.helper.make_node("Identity", [self.name(src)], [dst],
                                                 name=self.node_name(f"output_{dst}")))
        for v, name in zip(g.outputs, self.output_names[g]):
            if top and not _is_known(v.type):
                raise ExportError(f"graph {g.name!r}: output {name!r} has no known type; run shape inference first")
            info = onnx.ValueInfoProto(name=name)
            if _is_known(v.type):
                info.type.CopyFrom(protos.type_to_proto(v.type))
            gp.output.append(info)
        for n in g:
            for o in n.outputs:
                if o is not None and _is_known(o.type) and not o.is_graph_output:
                    gp.value_info.append(onnx.helper.make_value_info(self.names[o], protos.type_to_proto(o.type)))
        return gp

    def bind_outputs(self, g: Graph, produced_here: set[Value]) -> list[tuple[Value, str]]:
        """Give each output its model name; outputs that cannot carry it directly get an Identity."""
        bridges, names = [], []
        for v, wanted in zip(g.outputs, g.output_names):
            wanted = wanted or v.name or "output"
            if v in produced_here and v not in self.names and wanted not in self.taken:
                self.names[v] = self.claim(wanted)
                names.append(self.names[v])
            else:
                name = self.claim(wanted)
                bridges.append((v, name))
                names.append(name)
        self.output_names[g] = names
        return bridges

    # -- nodes and tensors -------------------------------------------------------------
    def node_name(self, wanted: str) -> str:
        return self.node_names.claim(wanted)

    def node(self, n: Node) -> onnx.NodeProto:
        if n.domain:
            self.domains.setdefault(n.domain, n.schema.version if n.schema else 1)
        base = n.name or (f"{n.provenance.creator}/{n.op}" if n.provenance else n.op)
        inputs = list(n.inputs)
        while inputs and inputs[-1] is None:  # a trailing "" input crashes some runtimes
            inputs.pop()
        optional = n.schema.inputs[len(inputs):n.schema.min_inputs] if n.schema is not None else ()
        if optional and all(p.optional for p in optional):  # ... yet the least arity counts them: Loop(M, "")
            inputs += [None] * len(optional)
        proto = onnx.helper.make_node(
            n.op, [self.name(v) if v is not None else "" for v in inputs],
            [self.name(v) if v is not None else "" for v in n.outputs],
            name=self.node_name(base), domain=n.domain or None,
            doc_string=f"graphopt: made by {n.provenance}" if n.provenance else None)
        proto.attribute.extend(protos.attr_to_proto(k, a, self.graph_proto) for k, a in sorted(n.attrs.items()))
        return proto

    def constant_node(self, c: Value) -> onnx.NodeProto:
        proto = onnx.helper.make_node("Constant", [], [self.name(c)], name=self.node_name(f"const_{self.name(c)}"))
        t = onnx.TensorProto()
        _inline(c.const, t)  # type: ignore[arg-type]
        proto.attribute.append(onnx.helper.make_attribute("value", t))
        return proto

    def tensor(self, tensor: Tensor, name: str) -> onnx.TensorProto:
        proto = onnx.TensorProto(name=name, data_type=int(tensor.dtype), dims=tensor.shape)
        self.sink(tensor, proto)
        proto.name = name
        return proto


def _is_known(t: Type) -> bool:
    """Whether ``t`` is precise enough to write into the model (no undefined element types)."""
    if isinstance(t, TensorType):
        return t.dtype != DType.UNDEFINED
    if isinstance(t, (SequenceType, OptionalType)):
        return _is_known(t.elem)
    return False


def _lower_graphopt_ops(graph: Graph, target: str | None) -> Graph:
    """Replace graphopt-domain ops by standard ONNX (or target ops) on a copy; the input stays as it is."""
    fused = [n for n in graph.walk() if n.domain == GRAPHOPT_DOMAIN]
    if not fused:
        return graph
    missing = sorted({n.op for n in fused if n.schema is None or "lower" not in n.schema.extra})
    if missing:
        raise UnsupportedOpError(f"graphopt ops without a lowering to ONNX: {', '.join(missing)}")
    g = graph.copy()
    for n in list(g.walk()):
        if n.domain == GRAPHOPT_DOMAIN:
            n.schema.extra["lower"](n, target)  # type: ignore[union-attr]
    return g
