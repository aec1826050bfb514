"""Structural equality of graphs, for tests and change detection (IR objects themselves compare by identity).

Two graphs are equal when they compute the same thing the same way: the same
inputs (by type and constant default), constants (dtype, shape, content hash),
nodes in the same order with the same op, domain and attributes (schema
defaults filled in, so an attribute set to its default equals an absent one),
the same wiring and the same output types. Names do not matter: value, node,
graph and output names, provenance, metadata and trailing omitted inputs or
outputs are ignored.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from graphopt.ir import registry
from graphopt.ir.attributes import Attr, AttrKind
from graphopt.ir.core import Graph, Node, Value
from graphopt.ir.printer import ElidedTensor, as_tensor, format_attr, format_type
from graphopt.ir.tensor import Tensor


def graphs_equal(a: Graph, b: Graph) -> bool:
    """True when ``a`` and ``b`` are structurally equal (see the module docstring)."""
    return graph_difference(a, b) is None


def graph_difference(a: Graph, b: Graph) -> str | None:
    """The first structural difference between ``a`` and ``b`` in words, or ``None`` when they are equal."""
    return _Comparer().graph(a, b, "")


class _Comparer:
    def __init__(self) -> None:
        self.a2b: dict[Value, Value] = {}
        self.b2a: dict[Value, Value] = {}
        self.where: dict[Value, str] = {}

    def graph(self, a: Graph, b: Graph, path: str) -> str | None:
        if len(a.inputs) != len(b.inputs):
            return f"{path}{len(a.inputs)} inputs vs {len(b.inputs)}"
        for i, (x, y) in enumerate(zip(a.inputs, b.inputs, strict=True)):
            default_a, default_b = a.input_defaults.get(x), b.input_defaults.get(y)
            d = self.bind(x, y, f"{path}input {i}") or _const_difference(default_a, default_b)
            if d:
                return f"{path}input {i}: {d}"
        ca, cb = a.constants, b.constants
        if len(ca) != len(cb):
            return f"{path}{len(ca)} constants vs {len(cb)}"
        for i, (x, y) in enumerate(zip(ca, cb, strict=True)):
            d = self.bind(x, y, f"{path}constant {i}") or _const_difference(x.const, y.const)
            if d:
                return f"{path}constant {i}: {d}"
        na, nb = a.nodes, b.nodes
        for i, (m, n) in enumerate(zip(na, nb, strict=False)):
            d = self.node(m, n, f"{path}node {i} ({m.qualified_op})")
            if d:
                return d
        if len(na) != len(nb):
            return f"{path}{len(na)} nodes vs {len(nb)}"
        oa, ob = a.outputs, b.outputs
        if len(oa) != len(ob):
            return f"{path}{len(oa)} outputs vs {len(ob)}"
        for i, (x, y) in enumerate(zip(oa, ob, strict=True)):
            if not self.same_value(x, y):
                return f"{path}output {i} returns {self.describe(x)} vs {self.describe(y)}"
        return None

    def node(self, a: Node, b: Node, label: str) -> str | None:
        if (_domain(a.domain), a.op) != (_domain(b.domain), b.op):
            return f"{label}: op {a.qualified_op} vs {b.qualified_op}"
        ia, ib = _trimmed(a.inputs), _trimmed(b.inputs)
        if len(ia) != len(ib):
            return f"{label}: {len(ia)} inputs vs {len(ib)}"
        for i, (x, y) in enumerate(zip(ia, ib, strict=True)):
            if x is None or y is None:
                if x is not y:
                    return f"{label}: input {i} is {'omitted' if x is None else 'given'} vs " \
                           f"{'omitted' if y is None else 'given'}"
            elif not self.same_value(x, y):
                return f"{label}: input {i} reads {self.describe(x)} vs {self.describe(y)}"
        d = self.attributes(a, b, label)
        if d:
            return d
        oa, ob = _trimmed(a.outputs), _trimmed(b.outputs)
        if len(oa) != len(ob):
            return f"{label}: {len(oa)} outputs vs {len(ob)}"
        for i, (x, y) in enumerate(zip(oa, ob, strict=True)):
            if x is None or y is None:
                if x is not y:
                    return f"{label}: output {i} is {'omitted' if x is None else 'present'} vs " \
                           f"{'omitted' if y is None else 'present'}"
                continue
            d = self.bind(x, y, f"output {i} of {label}")
            if d:
                return f"{label}: output {i}: {d}"
        return None

    def attributes(self, a: Node, b: Node, label: str) -> str | None:
        va, vb = _attr_values(a), _attr_values(b)
        for name in sorted(va.keys() | vb.keys()):
            if name not in va or name not in vb:
                return f"{label}: attribute {name!r} is {'set' if name in va else 'absent'} vs " \
                       f"{'set' if name in vb else 'absent'}"
            d = self.attribute(va[name], vb[name], f"{label}, attribute {name!r}: ")
            if d:
                return d
        return None

    def attribute(self, a: Attr, b: Attr, path: str) -> str | None:
        if a.kind != b.kind:
            return f"{path}kind {a.kind.name} vs {b.kind.name}"
        if a.kind == AttrKind.GRAPH:
            return self.graph(a.value, b.value, path)
        if a.kind in (AttrKind.GRAPHS, AttrKind.TENSORS):
            if len(a.value) != len(b.value):
                return f"{path}{len(a.value)} items vs {len(b.value)}"
            for i, (x, y) in enumerate(zip(a.value, b.value, strict=True)):
                d = (self.graph(x, y, f"{path}graph {i}: ") if a.kind == AttrKind.GRAPHS
                     else _tensor_difference(as_tensor(x), as_tensor(y)))
                if d:
                    return d if a.kind == AttrKind.GRAPHS else f"{path}tensor {i}: {d}"
            return None
        if a.kind == AttrKind.TENSOR:
            d = _tensor_difference(as_tensor(a.value), as_tensor(b.value))
            return f"{path}{d}" if d else None
        if not _same(a.value, b.value):
            return f"{path}{format_attr(a)} vs {format_attr(b)}"
        return None

    def bind(self, a: Value, b: Value, where: str) -> str | None:
        """Pair two definitions; report a type difference."""
        self.a2b[a], self.b2a[b] = b, a
        self.where[a], self.where[b] = where, where
        if a.type != b.type:
            return f"type {format_type(a.type)} vs {format_type(b.type)}"
        return None

    def same_value(self, a: Value, b: Value) -> bool:
        """Whether a use of ``a`` corresponds to a use of ``b``; values defined outside both graphs pair up
        on first use."""
        mapped = self.a2b.get(a)
        if mapped is not None:
            return mapped is b
        if b in self.b2a:
            return False
        return self.bind(a, b, _OUTSIDE) is None

    def describe(self, v: Value) -> str:
        return self.where.get(v, _OUTSIDE)


_OUTSIDE = "a value defined outside the graph"


def _domain(domain: str) -> str:
    return "" if domain in registry.ONNX_DOMAINS else domain


def _trimmed(values: tuple[Value | None, ...]) -> tuple[Value | None, ...]:
    n = len(values)
    while n and values[n - 1] is None:
        n -= 1
    return values[:n]


def _attr_values(node: Node) -> dict[str, Attr]:
    values = dict(_defaults(node.domain, node.op))
    values.update(node.attrs)
    return values


@functools.cache
def _defaults(domain: str, op: str) -> dict[str, Attr]:
    schema = registry.lookup(domain, op)
    if schema is None:
        return {}
    return {k: Attr.make(s.default, s.kind) for k, s in schema.attrs.items() if s.default is not None
            and s.kind not in (AttrKind.TENSOR, AttrKind.GRAPH, AttrKind.TENSORS, AttrKind.GRAPHS)}


def _same(x: Any, y: Any) -> bool:
    """Equality as the text form sees it: NaN equals NaN, but -0.0 differs from 0.0 and -nan from nan."""
    if isinstance(x, float) and isinstance(y, float):
        same = (math.isnan(x) and math.isnan(y)) or x == y
        return same and math.copysign(1.0, x) == math.copysign(1.0, y)
    if isinstance(x, tuple) and isinstance(y, tuple):
        return len(x) == len(y) and all(map(_same, x, y))
    return bool(x == y)


def _const_difference(a: Tensor | None, b: Tensor | None) -> str | None:
    if a is None or b is None:
        return None if a is b else f"{'no data' if a is None else 'data'} vs {'no data' if b is None else 'data'}"
    return _tensor_difference(a, b)


def _tensor_difference(a: Tensor, b: Tensor) -> str | None:
    if (a.dtype, a.shape) != (b.dtype, b.shape):
        return f"tensor {a.dtype.short}{list(a.shape)} vs {b.dtype.short}{list(b.shape)}"
    ha, hb = _known_hash(a), _known_hash(b)
    if ha != hb:
        return f"data differs (hash {ha or 'unknown'} vs {hb or 'unknown'})"
    return None


def _known_hash(t: Tensor) -> str | None:
    return t.known_hash if isinstance(t, ElidedTensor) else t.content_hash
