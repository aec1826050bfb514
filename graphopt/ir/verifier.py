"""The verifier: SSA, order, use lists, schemas, types and subgraph scoping, checked in one walk."""

from __future__ import annotations

import functools
from collections import Counter

import onnx

from graphopt.errors import VerificationError
from graphopt.ir.core import Graph, Node, Use, Value
from graphopt.ir.dtypes import DType
from graphopt.ir.inference import SymValue, infer_node
from graphopt.ir.registry import ONNX_DOMAINS
from graphopt.ir.types import TensorType, types_compatible


def verify(graph: Graph, *, check_types: bool = True) -> None:
    """Raise :class:`VerificationError` naming the first node that breaks an IR invariant."""
    _Verifier(check_types).graph(graph, outer=frozenset())


class _Verifier:
    def __init__(self, check_types: bool) -> None:
        self.check_types = check_types
        self.defined_anywhere: set[Value] = set()
        self.sym: dict[Value, SymValue] = {}

    def graph(self, g: Graph, outer: frozenset[Value]) -> None:
        where = f"graph {g.name!r}"
        visible = set(outer)
        names = Counter(v.name for v in g.inputs)
        for name, count in names.items():
            if count > 1:
                raise VerificationError(f"{where}: input name {name!r} is used by {count} inputs")
        for v in g.inputs + g.constants:
            if v.producer is not None:
                raise VerificationError(f"{where}: input/constant {v.name!r} claims producer {v.producer.label}")
            self.define(v, where)
            visible.add(v)
        for c in g.constants:
            if c.const is None:
                raise VerificationError(f"{where}: constant {c.name!r} has no data")
        for v in g.inputs:
            if v.const is not None:
                raise VerificationError(f"{where}: input {v.name!r} holds constant data; an overridable default "
                                        "belongs in graph.input_defaults")
        for node in g:
            self.node(node, g, visible)
            visible.update(o for o in node.outputs if o is not None)
        for i, v in enumerate(g.outputs):
            if v not in visible:
                raise VerificationError(f"{where}: output {i} ({g.output_names[i]!r}) reads a value that is not "
                                        "defined in this graph or an enclosing one")
            if g not in v._output_of:
                raise VerificationError(f"{where}: output {i} is missing from its value's bookkeeping")

    def define(self, v: Value, where: str) -> None:
        if v in self.defined_anywhere:
            raise VerificationError(f"{where}: value {v.name!r} is defined twice (SSA violated)")
        self.defined_anywhere.add(v)
        for u in v._uses:
            if u.node.graph is None or u.index >= len(u.node.inputs) or u.node.inputs[u.index] is not v:
                raise VerificationError(f"{where}: value {v.name or '?'} lists {u.node.label} input {u.index} as a "
                                        "user, but that input reads something else (stale use list)")

    def node(self, n: Node, g: Graph, visible: set[Value]) -> None:
        where = f"graph {g.name!r}: {n.label}"
        if n.graph is not g:
            raise VerificationError(f"{where}: node does not record graph {g.name!r} as its owner")
        for i, v in enumerate(n.inputs):
            if v is None:
                continue
            if v not in visible:
                state = "later in the graph (not topologically sorted)" if v.producer is not None and \
                    v.producer.graph is g else "outside this graph's scope"
                raise VerificationError(f"{where}: input {i} ({v.name or '?'}) is defined {state}")
            if Use(n, i) not in v._uses:
                raise VerificationError(f"{where}: input {i} ({v.name or '?'}) does not list this node as a user")
        for i, o in enumerate(n.outputs):
            if o is None:
                continue
            if o.producer is not n or o.index != i:
                raise VerificationError(f"{where}: output {i} ({o.name or '?'}) does not point back at this node")
            self.define(o, where)
        self.schema(n, where)
        for sub in n.subgraphs():
            if sub.parent is not n:
                raise VerificationError(f"{where}: subgraph {sub.name!r} does not record this node as its parent")
            self.graph(sub, frozenset(visible))
        if self.check_types:
            self.types(n, where)

    def schema(self, n: Node, where: str) -> None:
        schema = n.schema
        if schema is None:
            if n.domain in ONNX_DOMAINS:
                raise VerificationError(f"{where}: {n.op} is not an op of the canonical ONNX opset")
            return
        n_in = len(n.inputs)
        trimmed = all(p.optional for p in schema.inputs[n_in:schema.min_inputs])  # omitted trailing optionals
        if not (schema.min_inputs <= n_in or trimmed) or n_in > schema.max_inputs:
            raise VerificationError(f"{where}: takes {schema.min_inputs}..{schema.max_inputs} inputs, has {n_in}")
        for i, v in enumerate(n.inputs):
            param = schema.inputs[min(i, len(schema.inputs) - 1)] if schema.inputs else None
            if v is None and param is not None and not param.optional:
                raise VerificationError(f"{where}: required input {i} ({param.name}) is missing")
        n_out = len(n.outputs)
        if not 1 <= n_out <= schema.max_outputs or all(o is None for o in n.outputs):
            raise VerificationError(f"{where}: has {n_out} outputs, schema allows {schema.min_outputs}.."
                                    f"{schema.max_outputs}")
        for name, spec in schema.attrs.items():
            if spec.required and name not in n.attrs:
                raise VerificationError(f"{where}: required attribute {name!r} is missing")
        for name, a in n.attrs.items():
            declared = schema.attrs.get(name)
            if declared is None:
                raise VerificationError(f"{where}: unknown attribute {name!r} (schema has "
                                        f"{sorted(schema.attrs) or 'none'})")
            if declared.kind != a.kind:
                raise VerificationError(f"{where}: attribute {name!r} is {a.kind.name}, schema says "
                                        f"{declared.kind.name}")

    def types(self, n: Node, where: str) -> None:
        self.input_dtypes(n, where)
        try:
            inferred = infer_node(n, self.sym)
        except Exception as e:
            raise VerificationError(f"{where}: inputs do not fit the op: {e}") from e
        for i, (o, t) in enumerate(zip(n.outputs, inferred)):
            if o is not None and not types_compatible(o.type, t):
                raise VerificationError(f"{where}: output {i} ({o.name or '?'}) is recorded as {o.type} but the "
                                        f"op gives {t}")

    def input_dtypes(self, n: Node, where: str) -> None:
        """Input element types against the ONNX schema's type constraints (one type per type variable)."""
        schema = n.schema
        if schema is None or schema.onnx_schema is None:
            return
        bound: dict[str, DType] = {}
        for i, v in enumerate(n.inputs):
            if v is None or not isinstance(v.type, TensorType) or v.type.dtype == DType.UNDEFINED:
                continue
            var, allowed = _input_constraint(schema.onnx_schema, min(i, len(schema.onnx_schema.inputs) - 1))
            dtype = v.type.dtype
            if allowed and f"tensor({dtype.name.lower()})" not in allowed:
                raise VerificationError(f"{where}: input {i} ({v.name or '?'}) is {dtype.name.lower()}, the op takes "
                                        f"{', '.join(sorted(allowed))}")
            if var is not None and bound.setdefault(var, dtype) != dtype:
                raise VerificationError(f"{where}: input {i} ({v.name or '?'}) is {dtype.name.lower()}, but another "
                                        f"input of type {var} is {bound[var].name.lower()}")


@functools.cache
def _input_constraint(schema: onnx.defs.OpSchema, index: int) -> tuple[str | None, frozenset[str]]:
    """The type variable of input ``index`` (``None``: not shared) and the tensor types it allows (empty: any)."""
    param = schema.inputs[index]
    type_str = param.type_str
    if not param.is_homogeneous:  # a variadic of mixed types (Loop's carried values)
        return None, frozenset()
    allowed = next((c.allowed_type_strs for c in schema.type_constraints if c.type_param_str == type_str),
                   [type_str])
    if not all(t.startswith("tensor(") for t in allowed):
        return type_str, frozenset()
    return type_str, frozenset(allowed)
