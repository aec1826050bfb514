"""Type and shape inference over the IR, keeping symbolic dims where it can.

Each op's inference function (registered with ``registry.shape_inference``)
receives an :class:`InferContext`. Besides types it can record the *symbolic
value* of small integer tensors (the results of ``Shape``, ``Gather`` on
shapes, ``Concat`` …), which is how a ``Reshape`` fed by shape arithmetic
keeps ``"N"`` instead of losing it. Ops without an inference function of
their own fall back to ONNX's per-node inference.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
import onnx.shape_inference

from graphopt.errors import GraphoptError
from graphopt.ir import protos
from graphopt.ir.core import Graph, Node, Value
from graphopt.ir.dtypes import DType
from graphopt.ir.registry import CANONICAL_OPSET, OpSchema
from graphopt.ir.types import Dim, Shape, TensorType, Type, merge_types

logger = logging.getLogger(__name__)

SymValue = tuple[Dim, ...]
"""A 1-D integer tensor known element by element: ints, symbols, or None for unknown."""


MAX_SYM_ELEMENTS = 64
"""Only small integer tensors (shapes, indices) are tracked element by element."""


class InferenceError(GraphoptError):
    """A node's inputs contradict its op (e.g. Conv with a rank-2 input)."""


class InferContext:
    """What an inference function may ask about the node it is typing."""

    def __init__(self, node: Node, schema: OpSchema | None, sym: dict[Value, SymValue]) -> None:
        self.node = node
        self.schema = schema
        self._sym = sym
        self.out_sym: dict[int, SymValue] = {}

    @property
    def num_inputs(self) -> int:
        return len(self.node.inputs)

    @property
    def num_outputs(self) -> int:
        return len(self.node.outputs)

    def input(self, i: int) -> Value | None:
        ins = self.node.inputs
        return ins[i] if i < len(ins) else None

    def has_input(self, i: int) -> bool:
        return self.input(i) is not None

    def type(self, i: int) -> Type:
        v = self.input(i)
        return None if v is None else v.type

    def tensor_type(self, i: int) -> TensorType | None:
        t = self.type(i)
        return t if isinstance(t, TensorType) else None

    def dtype(self, i: int) -> DType | None:
        t = self.tensor_type(i)
        return None if t is None or t.dtype == DType.UNDEFINED else t.dtype

    def shape(self, i: int) -> Shape:
        t = self.tensor_type(i)
        return None if t is None else t.shape

    def rank(self, i: int) -> int | None:
        s = self.shape(i)
        return None if s is None else len(s)

    def attr(self, name: str, *default: Any) -> Any:
        """The attribute's value, else ``default`` if given, else the schema default."""
        return self.node.attr(name, *default)

    def const(self, i: int) -> np.ndarray | None:
        v = self.input(i)
        return None if v is None else v.numpy()

    def sym(self, i: int) -> SymValue | None:
        """Input ``i`` as a tuple of dims, when it is a known 1-D (or scalar) integer tensor."""
        v = self.input(i)
        if v is None:
            return None
        if v in self._sym:
            return self._sym[v]
        a = v.numpy()
        if a is not None and a.dtype.kind in "iu" and a.ndim <= 1 and a.size <= MAX_SYM_ELEMENTS:
            return tuple(int(x) for x in a.reshape(-1))
        return None

    def set_sym(self, i: int, value: SymValue) -> None:
        self.out_sym[i] = tuple(value)

    def fail(self, message: str) -> InferenceError:
        return InferenceError(f"{self.node.label}: {message}")


def infer_node(node: Node, sym: dict[Value, SymValue] | None = None) -> list[Type]:
    """Inferred output types of ``node`` (``None`` entries where nothing could be inferred)."""
    sym = {} if sym is None else sym
    schema = node.schema
    if schema is not None and schema.infer is not None:
        ctx = InferContext(node, schema, sym)
        types = list(schema.infer(ctx))
        for i, s in ctx.out_sym.items():
            out = node.outputs[i]
            if out is not None:
                sym[out] = s
    elif schema is not None and schema.onnx_schema is not None and not any(True for _ in node.subgraphs()):
        types = _onnx_infer(node, schema)
    else:
        types = []
    types += [None] * (len(node.outputs) - len(types))
    return types[: len(node.outputs)]


def infer_shapes(graph: Graph, *, strict: bool = False) -> bool:
    """Refine every value's type in place (recursing into subgraphs); returns whether anything changed.

    With ``strict``, an inference failure raises; otherwise the node keeps its recorded types.
    """
    return _infer_graph(graph, {}, strict)


def _infer_graph(graph: Graph, sym: dict[Value, SymValue], strict: bool) -> bool:
    changed = False
    for node in graph:
        for sub in node.subgraphs():
            changed |= _infer_graph(sub, sym, strict)
        try:
            inferred = infer_node(node, sym)
        except Exception as e:  # a broken op kernel must not hide the node it failed on
            if strict:
                raise InferenceError(f"shape inference failed at {node.label}: {e}") from e
            logger.debug("shape inference skipped %s: %s", node.label, e)
            continue
        for out, t in zip(node.outputs, inferred):
            if out is None:
                continue
            merged = merge_types(out.type, t)
            if merged != out.type:
                out.type = merged
                changed = True
    return changed


# -- fallback through ONNX's own per-node inference -------------------------------------

def _onnx_infer(node: Node, schema: OpSchema) -> list[Type]:
    names = [f"i{i}" if v is not None else "" for i, v in enumerate(node.inputs)]
    input_types = {}
    input_data = {}
    for name, v in zip(names, node.inputs):
        if v is None or v.type is None:
            if v is not None:
                return []
            continue
        input_types[name] = protos.type_to_proto(v.type)
        if v.const is not None and v.const.size <= 1024:
            input_data[name] = protos.tensor_to_proto(v.const, name)
    outs = [f"o{i}" if v is not None else "" for i, v in enumerate(node.outputs)]
    proto = onnx.helper.make_node(node.op, names, outs, domain=node.domain)
    proto.attribute.extend(protos.attr_to_proto(k, a) for k, a in node.attrs.items())
    assert schema.onnx_schema is not None
    version = max(schema.version, CANONICAL_OPSET) if node.domain in ("", "ai.onnx") else schema.version
    try:
        result = onnx.shape_inference.infer_node_outputs(
            schema.onnx_schema, proto, input_types, input_data, {}, [onnx.helper.make_opsetid(node.domain, version)], 10
        )
    except Exception as e:
        raise InferenceError(f"{node.label}: {e}") from e
    return [protos.type_from_proto(result[o]) if o in result else None for o in outs]


def broadcast_shapes(shapes: Sequence[Shape], where: str = "") -> Shape:
    """Numpy-style multidirectional broadcast of shapes with symbolic and unknown dims."""
    if any(s is None for s in shapes):
        return None
    if shapes and all(s == shapes[0] for s in shapes):
        return shapes[0]
    known = [s for s in shapes if s is not None]
    rank = max((len(s) for s in known), default=0)
    out: list[Dim] = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in known if len(s) - rank + i >= 0]
        out.append(_broadcast_dim(dims, where))
    return tuple(out)


def _broadcast_dim(dims: list[Dim], where: str) -> Dim:
    static = {d for d in dims if isinstance(d, int) and d != 1}
    if len(static) > 1:
        raise InferenceError(f"{where}: cannot broadcast dims {dims}")
    if static:
        return static.pop()
    others = [d for d in dims if d != 1]
    if not others:
        return 1
    if all(d == others[0] for d in others) and others[0] is not None:
        return others[0]
    return None
