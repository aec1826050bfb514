"""A graph as a networkx ``MultiDiGraph``, for analysis and drawing, and back.

The networkx graph is bipartite: one networkx node per IR value (``"v0"``, ``"v1"`` …, ``kind="value"``)
and per IR node (``"n0"`` …, ``kind="op"``); edges run value → op (``index``: the input slot) and
op → value (``index``: the output slot). Every networkx node has a ``label`` for drawing. Value nodes carry
``name``, ``type``, ``dtype``, ``shape``, ``role`` (input, constant, output, intermediate), the constant's
``tensor`` and the IR ``value`` itself; op nodes carry ``op``, ``domain``, ``attrs`` (typed
:class:`~graphopt.ir.attributes.Attr` objects), ``name``, ``provenance``, ``order`` (position in the graph)
and the IR ``node``. Subgraphs (If/Loop/Scan bodies) stay inside their node's ``attrs``.

networkx is for looking at graphs, never for editing them in a pass (see DESIGN.md); :func:`from_networkx`
exists so an analysis that edits the networkx form (or a round-trip test) can get an IR graph back.
"""

from __future__ import annotations

from typing import Any

from graphopt.errors import IRError
from graphopt.ir.attributes import Attr, AttrKind
from graphopt.ir.core import Graph, Node, Value
from graphopt.ir.types import TensorType


def to_networkx(graph: Graph) -> Any:
    """``graph``'s top level as a ``networkx.MultiDiGraph`` (see the module docstring for the attributes)."""
    import networkx as nx

    g = nx.MultiDiGraph(name=graph.name, opset_imports=dict(graph.opset_imports), metadata=dict(graph.metadata),
                        doc=graph.doc)
    keys: dict[Value, str] = {}
    outputs = set(graph.outputs)

    def add_value(v: Value, role: str) -> str:
        key = keys.get(v)
        if key is None:
            key = keys[v] = f"v{len(keys)}"
            t = v.type
            g.add_node(key, kind="value", label=v.name or key, name=v.name, type=t, role=role, value=v,
                       dtype=t.dtype.name if isinstance(t, TensorType) else None,
                       shape=t.shape if isinstance(t, TensorType) else None, tensor=v.const,
                       default=graph.input_defaults.get(v))
        return key

    for v in graph.inputs:
        add_value(v, "input")
    for v in graph.constants:
        add_value(v, "constant")
    for order, n in enumerate(graph):
        key = f"n{order}"
        g.add_node(key, kind="op", label=n.qualified_op, op=n.op, domain=n.domain, attrs=dict(n.attrs), name=n.name,
                   provenance=n.provenance, order=order, node=n, num_inputs=len(n.inputs),
                   num_outputs=len(n.outputs))
        for i, src in enumerate(n.inputs):
            if src is not None:  # a value from an enclosing graph (in a subgraph's networkx form) is added on first use
                g.add_edge(add_value(src, "outer"), key, index=i)
        for i, out in enumerate(n.outputs):
            if out is not None:
                g.add_edge(key, add_value(out, "output" if out in outputs else "intermediate"), index=i)
    g.graph["inputs"] = [keys[v] for v in graph.inputs]
    g.graph["outputs"] = [add_value(v, "output") for v in graph.outputs]
    g.graph["output_names"] = list(graph.output_names)
    return g


def from_networkx(g: Any) -> Graph:
    """Rebuild an IR graph from the networkx form :func:`to_networkx` makes (edits to it included): new nodes and
    values, with subgraphs copied so that their reads of outer values follow the rebuilt ones."""
    mapping: dict[Value, Value] = {}
    made: dict[str, Value] = {}

    def value(key: str) -> Value:
        v = made.get(key)
        if v is None:
            data = g.nodes[key]
            if data.get("kind") != "value":
                raise IRError(f"networkx node {key!r} is used as a value but has kind {data.get('kind')!r}")
            if data.get("role") == "constant":
                v = graph.add_constant(data["tensor"], data.get("name"))
            else:
                v = Value(data.get("type"), data.get("name"), data.get("tensor"))
            made[key] = v
            if data.get("value") is not None:
                mapping[data["value"]] = v
        return v

    graph = Graph(name=g.graph.get("name", "main"))
    graph.opset_imports = dict(g.graph.get("opset_imports", {}))
    graph.metadata = dict(g.graph.get("metadata", {}))
    graph.doc = g.graph.get("doc", "")
    graph.inputs = [value(k) for k in g.graph.get("inputs", [])]
    for key in g.graph.get("inputs", []):
        if g.nodes[key].get("default") is not None:
            graph.input_defaults[made[key]] = g.nodes[key]["default"]
    for key, data in g.nodes(data=True):
        if data.get("kind") == "value" and data.get("role") == "constant":
            value(key)
    ops = sorted((data["order"], key) for key, data in g.nodes(data=True) if data.get("kind") == "op")
    for _, key in ops:  # outputs first, so that every value a later node or subgraph reads is already mapped
        for _, out in g.out_edges(key):
            value(out)
    for _, key in ops:
        graph.append(_node(g, key, value, mapping))
    outputs = [value(k) for k in g.graph.get("outputs", [])]
    graph.outputs = outputs
    for i, name in enumerate(g.graph.get("output_names") or ()):
        graph.set_output(i, outputs[i], name)
    return graph


def _node(g: Any, key: str, value: Any, mapping: dict[Value, Value]) -> Node:
    data = g.nodes[key]
    inputs: list[Value | None] = [None] * data.get("num_inputs", 0)
    outputs: list[Value | None] = [None] * data.get("num_outputs", 0)
    for src, _, edge in g.in_edges(key, data=True):
        inputs = _put(inputs, edge["index"], value(src))
    for _, dst, edge in g.out_edges(key, data=True):
        outputs = _put(outputs, edge["index"], value(dst))
    attrs = {}
    for name, a in data.get("attrs", {}).items():
        if a.kind == AttrKind.GRAPH:
            a = Attr(a.kind, a.value._copy(mapping))
        elif a.kind == AttrKind.GRAPHS:
            a = Attr(a.kind, tuple(s._copy(mapping) for s in a.value))
        attrs[name] = a
    return Node(data["op"], inputs, attrs, domain=data.get("domain", ""), outputs=outputs, name=data.get("name"),
                provenance=data.get("provenance"))


def _put(values: list[Value | None], index: int, v: Value) -> list[Value | None]:
    if index >= len(values):
        values = values + [None] * (index + 1 - len(values))
    values[index] = v
    return values

