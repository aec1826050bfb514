"""Common-subexpression elimination: merge identical constants and nodes that compute the same thing.

One forward walk with a hash map keyed by (op, domain, attributes with schema defaults filled in,
input values, which outputs exist). Inputs are compared by identity, which is exact because a
merged node's readers are redirected before any later node is keyed. Commutative ops key their
inputs as a multiset. A subgraph sees the map of the graphs around it (through a ``ChainMap``), so
a node or constant inside a body can reuse an identical one from outside, never the other way.

Never merged: random ops, ops graphopt knows nothing about (they may have side effects), and nodes
with subgraphs unless the subgraphs are structurally equal and read the same outer values.
"""

from __future__ import annotations

import functools
from collections import ChainMap, Counter
from collections.abc import Hashable
from typing import Any

import numpy as np

from graphopt.ir.attributes import Attr, AttrKind
from graphopt.ir.core import Graph, Node, Value
from graphopt.ir.equality import graphs_equal
from graphopt.ir.registry import ONNX_DOMAINS, lookup
from graphopt.ir.tensor import ArrayTensor, Tensor
from graphopt.ir.types import merge_types
from graphopt.passes.base import Pass, PassResult, register_pass

RANDOM_OPS = frozenset({"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Bernoulli",
                        "Multinomial"})
COMMUTATIVE_OPS = frozenset({"Add", "Mul", "Max", "Min", "Sum", "Mean", "And", "Or", "Xor", "Equal", "BitwiseAnd",
                             "BitwiseOr", "BitwiseXor"})
ROUNDING_ORDER_OPS = frozenset({"Sum", "Mean"})
"""Commutative ops whose float result depends on the order of three or more inputs (they are summed in turn)."""

_GRAPH_KINDS = (AttrKind.GRAPH, AttrKind.GRAPHS)

NodeTable = ChainMap[Hashable, list[Node]]
ConstTable = ChainMap[Hashable, Value]


@register_pass
class CommonSubexpressionElimination(Pass):
    """Merges identical constants and nodes with the same op, attributes and inputs."""

    name = "cse"
    level = 1
    stage = "pre"
    doc = "merge identical constants and nodes with the same op, attributes and inputs (commutative ops in any order)"

    def run(self, graph: Graph) -> PassResult:
        counts: Counter[str] = Counter(nodes_merged=0, constants_merged=0)
        _cse(graph, ChainMap(), ChainMap(), counts)
        return PassResult(any(counts.values()), dict(counts))


def _cse(graph: Graph, nodes: NodeTable, consts: ConstTable, counts: Counter[str]) -> None:
    for c in graph.constants:
        key = (c.const.dtype, c.const.shape, c.const.content_hash)  # type: ignore[union-attr]
        same = consts.get(key)
        if same is not None and _same_data(same.const, c.const):  # type: ignore[arg-type]
            graph.replace_all_uses(c, same)
            graph.remove_constant(c)
            counts["constants_merged"] += 1
        else:
            consts[key] = c
    for node in graph:
        for sub in node.subgraphs():
            _cse(sub, nodes.new_child(), consts.new_child(), counts)
        node_key = _key(node)
        if node_key is None:
            continue
        earlier = _find(node, node_key, nodes)
        if earlier is None:
            nodes.maps[0].setdefault(node_key, []).append(node)
            continue
        for old, new in zip(node.outputs, earlier.outputs, strict=True):
            if old is not None and new is not None:
                new.type = merge_types(new.type, old.type)
                graph.replace_all_uses(old, new)
        graph.remove(node)
        counts["nodes_merged"] += 1


def _find(node: Node, key: Hashable, nodes: NodeTable) -> Node | None:
    """An earlier node in scope that computes what ``node`` computes."""
    if not any(True for _ in node.subgraphs()):
        found = nodes.get(key)
        return found[0] if found else None
    for table in nodes.maps:
        for candidate in table.get(key, ()):
            if _same_subgraphs(node, candidate):
                return candidate
    return None


# -- keys ---------------------------------------------------------------------------------

def _key(node: Node) -> Hashable | None:
    """What must agree for two nodes to compute the same outputs, or ``None`` if ``node`` is never merged."""
    if node.schema is None or (node.op in RANDOM_OPS and node.domain in ONNX_DOMAINS):
        return None
    inputs = _trimmed(node.inputs)
    if node.op in COMMUTATIVE_OPS and node.domain in ONNX_DOMAINS and \
            (len(inputs) <= 2 or node.op not in ROUNDING_ORDER_OPS):
        inputs = tuple(sorted(inputs, key=id))
    attrs = {**_default_attrs(node.domain, node.op), **node.attrs}
    attr_key = tuple(sorted((name, _attr_key(a)) for name, a in attrs.items()))
    domain = "" if node.domain in ONNX_DOMAINS else node.domain
    present = tuple(o is not None for o in _trimmed(node.outputs))
    return domain, node.op, attr_key, inputs, present


def _trimmed(values: tuple[Value | None, ...]) -> tuple[Value | None, ...]:
    n = len(values)
    while n and values[n - 1] is None:
        n -= 1
    return values[:n]


@functools.cache
def _default_attrs(domain: str, op: str) -> dict[str, Attr]:
    schema = lookup(domain, op)
    if schema is None:
        return {}
    return {name: Attr.make(spec.default, spec.kind) for name, spec in schema.attrs.items()
            if spec.default is not None and spec.kind not in (AttrKind.TENSOR, AttrKind.TENSORS, *_GRAPH_KINDS)}


def _attr_key(a: Attr) -> Hashable:
    kind, value = a.kind, a.value
    if kind == AttrKind.FLOAT:
        return kind, float.hex(value)  # NaN equals NaN, -0.0 differs from 0.0
    if kind == AttrKind.FLOATS:
        return kind, tuple(float.hex(v) for v in value)
    if kind == AttrKind.TENSOR:
        return kind, _tensor_key(value)
    if kind == AttrKind.TENSORS:
        return kind, tuple(_tensor_key(t) for t in value)
    if kind == AttrKind.GRAPH:
        return kind, _graph_key(value)  # coarse: candidates are confirmed by _same_subgraphs
    if kind == AttrKind.GRAPHS:
        return kind, tuple(_graph_key(g) for g in value)
    return kind, value


def _tensor_key(value: Any) -> Hashable:
    t = value if isinstance(value, Tensor) else ArrayTensor(np.asarray(value))
    return t.dtype, t.shape, t.content_hash


def _graph_key(g: Graph) -> Hashable:
    return len(g.inputs), len(g.constants), len(g), len(g.outputs)


# -- exact comparisons behind the keys ------------------------------------------------------

def _same_data(a: Tensor, b: Tensor) -> bool:
    """Byte equality of two constants whose hashes agree (compared in chunks: they may be memory-mapped)."""
    x, y = a.numpy(), b.numpy()
    if x.dtype.kind == "O" or y.dtype.kind == "O":
        return bool(np.array_equal(x, y))
    bx = np.ascontiguousarray(x).reshape(-1).view(np.uint8)
    by = np.ascontiguousarray(y).reshape(-1).view(np.uint8)
    step = 1 << 24
    return bx.size == by.size and all(np.array_equal(bx[i:i + step], by[i:i + step]) for i in range(0, bx.size, step))


def _same_subgraphs(a: Node, b: Node) -> bool:
    """Structurally equal subgraphs that read the very same outer values (graphs_equal alone pairs outer
    values up by position, so two bodies reading different outer values would compare equal)."""
    for name in sorted(a.attrs):
        ga, gb = _graphs(a.attrs[name]), _graphs(b.attrs[name])
        for x, y in zip(ga, gb, strict=True):
            if not graphs_equal(x, y):
                return False
            rx, ry = _outer_refs(x), _outer_refs(y)
            if len(rx) != len(ry) or any(u is not v for u, v in zip(rx, ry, strict=True)):
                return False
    return True


def _graphs(a: Attr) -> tuple[Graph, ...]:
    if a.kind == AttrKind.GRAPH:
        return (a.value,)
    return tuple(a.value) if a.kind == AttrKind.GRAPHS else ()


def _outer_refs(graph: Graph) -> list[Value]:
    """Values ``graph`` reads but does not define, in a traversal order fixed by its structure."""
    defined: set[Value] = set(graph.inputs) | set(graph.constants)
    refs: dict[Value, None] = {}
    for node in graph:
        reads = [v for v in node.inputs if v is not None]
        for name in sorted(node.attrs):
            for sub in _graphs(node.attrs[name]):
                reads += _outer_refs(sub)
        refs.update((v, None) for v in reads if v not in defined)
        defined.update(o for o in node.outputs if o is not None)
    refs.update((v, None) for v in graph.outputs if v not in defined)
    return list(refs)
