"""The IR's objects: values that know their producer and uses, nodes in a linked list, graphs.

Values are identified by object identity, not by name. Every edit of an input
goes through :meth:`Node.set_input` or :meth:`Graph.replace_all_uses`, which
keep use lists exact, so "who reads this value?" costs O(uses).
"""

from __future__ import annotations

import contextlib
import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from graphopt.errors import IRError
from graphopt.ir import registry
from graphopt.ir.attributes import Attr, AttrKind
from graphopt.ir.gcpause import gc_paused
from graphopt.ir.tensor import ArrayTensor, Tensor
from graphopt.ir.types import TensorType, Type

_MISSING: Any = object()


class Use(NamedTuple):
    """``node.inputs[index]`` reads the value."""

    node: Node
    index: int  # type: ignore[assignment]


def _use(node: Node, index: int) -> Use:
    return tuple.__new__(Use, (node, index))  # skips NamedTuple's Python-level __new__: hot in import


@dataclass(frozen=True, slots=True)
class Provenance:
    """Who made a node (frontend, pass or rule) and from which original nodes."""

    creator: str
    sources: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.creator}({', '.join(self.sources)})" if self.sources else self.creator


class Value:
    """An SSA value: a graph input, a constant, or one output of a node."""

    __slots__ = ("_output_of", "_uses", "const", "index", "name", "producer", "type")

    def __init__(self, type: Type = None, name: str | None = None, const: Tensor | None = None) -> None:
        self.name = name
        self.type = type
        self.producer: Node | None = None
        self.index = 0
        self.const = const
        self._uses: dict[Use, None] = {}  # ordered, with O(1) removal even for values read thousands of times
        self._output_of: list[Graph] = []

    @property
    def uses(self) -> tuple[Use, ...]:
        return tuple(self._uses)

    @property
    def users(self) -> list[Node]:
        """Distinct consuming nodes, in first-use order."""
        return list(dict.fromkeys(u.node for u in self._uses))

    @property
    def is_graph_output(self) -> bool:
        return bool(self._output_of)

    @property
    def has_uses(self) -> bool:
        return bool(self._uses) or bool(self._output_of)

    def only_read_by(self, node: Node) -> bool:
        """Whether ``node`` is its only reader (stops at the first other one; no copy of the use list)."""
        return not self._output_of and all(u.node is node for u in self._uses)

    def has_one_use(self) -> bool:
        """Exactly one consuming node input and not a graph output (the usual fusion condition)."""
        return len(self._uses) == 1 and not self._output_of

    @property
    def dtype(self) -> Any:
        return self.type.dtype if isinstance(self.type, TensorType) else None

    @property
    def shape(self) -> Any:
        return self.type.shape if isinstance(self.type, TensorType) else None

    def numpy(self) -> np.ndarray | None:
        """The constant's array, or ``None`` when the value is not a constant."""
        return None if self.const is None else self.const.numpy()

    def __repr__(self) -> str:
        return f"Value({self.name or '?'}: {self.type})"


class Node:
    """One operation. Inputs may be ``None`` (omitted optional input); so may outputs."""

    __slots__ = (
        "_inputs",
        "_next",
        "_outputs",
        "_prev",
        "_removed",
        "attrs",
        "domain",
        "graph",
        "name",
        "op",
        "provenance",
    )

    def __init__(
        self,
        op: str,
        inputs: Sequence[Value | None] = (),
        attrs: dict[str, Any] | None = None,
        *,
        domain: str = "",
        num_outputs: int = 1,
        outputs: Sequence[Value | None] | None = None,
        name: str | None = None,
        provenance: Provenance | None = None,
    ) -> None:
        self.op = op
        self.domain = domain
        self.name = name
        self.provenance = provenance
        self.graph: Graph | None = None
        self._prev: Node = self
        self._next: Node = self
        self._removed = True
        self.attrs: dict[str, Attr] = {}
        for key, value in (attrs or {}).items():
            self.set_attr(key, value)
        self._inputs: list[Value | None] = []
        for v in inputs:
            self._inputs.append(v)
            if v is not None:
                v._uses[_use(self, len(self._inputs) - 1)] = None
        outs = list(outputs) if outputs is not None else [Value() for _ in range(num_outputs)]
        for i, out in enumerate(outs):
            if out is not None:
                if out.producer is not None:
                    raise IRError(f"value {out.name!r} already has a producer ({out.producer.op})")
                out.producer, out.index = self, i
        self._outputs = outs

    # -- inputs and outputs ------------------------------------------------------------
    @property
    def inputs(self) -> tuple[Value | None, ...]:
        return tuple(self._inputs)

    @property
    def outputs(self) -> tuple[Value | None, ...]:
        return tuple(self._outputs)

    @property
    def output(self) -> Value:
        """The single output of a one-output node."""
        if len(self._outputs) != 1 or self._outputs[0] is None:
            raise IRError(f"node {self.label} has {len(self._outputs)} outputs, not one")
        return self._outputs[0]

    def set_input(self, index: int, value: Value | None) -> None:
        old = self._inputs[index]
        if old is value:
            return
        if old is not None:
            del old._uses[Use(self, index)]
        self._inputs[index] = value
        if value is not None:
            value._uses[_use(self, index)] = None

    def set_inputs(self, values: Sequence[Value | None]) -> None:
        """Replace all inputs at once (trailing omitted inputs dropped)."""
        for i, v in enumerate(self._inputs):
            if v is not None:
                del v._uses[Use(self, i)]
        self._inputs = list(values)
        self.trim_inputs()
        for i, v in enumerate(self._inputs):
            if v is not None:
                v._uses[_use(self, i)] = None

    def append_input(self, value: Value | None) -> None:
        self._inputs.append(None)
        self.set_input(len(self._inputs) - 1, value)

    def trim_inputs(self) -> None:
        """Drop trailing omitted inputs (the canonical form never ends with ``None``)."""
        while self._inputs and self._inputs[-1] is None:
            self._inputs.pop()

    def _detach_inputs(self) -> None:
        for i, v in enumerate(self._inputs):
            if v is not None:
                del v._uses[Use(self, i)]
        self._inputs = [None] * len(self._inputs)
        for sub in self.subgraphs():
            sub._set_outputs([], [])  # a removed subgraph's outputs no longer read anything
            for n in sub:
                n._detach_inputs()

    # -- attributes --------------------------------------------------------------------
    @property
    def schema(self) -> registry.OpSchema | None:
        return registry.lookup(self.domain, self.op)

    def attr(self, name: str, default: Any = _MISSING) -> Any:
        """An attribute's value, falling back to ``default`` and then to the schema's default."""
        a = self.attrs.get(name)
        if a is not None:
            return a.value
        if default is not _MISSING:
            return default
        schema = self.schema
        spec = schema.attrs.get(name) if schema else None
        if spec is not None and not spec.required:
            return spec.default
        raise IRError(f"node {self.label} has no attribute {name!r}")

    def set_attr(self, name: str, value: Any, kind: AttrKind | None = None) -> None:
        if value is None:
            self.attrs.pop(name, None)
            return
        if isinstance(value, Attr):
            self.attrs[name] = value
            for sub in (value.value if value.kind == AttrKind.GRAPHS else (value.value,)
                        if value.kind == AttrKind.GRAPH else ()):
                sub.parent = self
            return
        if kind is None:
            schema = self.schema
            spec = schema.attrs.get(name) if schema else None
            kind = spec.kind if spec else None
        self.attrs[name] = Attr.make(value, kind)
        if isinstance(value, Graph):
            value.parent = self

    def subgraphs(self) -> list[Graph]:
        found: list[Graph] = []
        for a in self.attrs.values():
            if a.kind is AttrKind.GRAPH:
                found.append(a.value)
            elif a.kind is AttrKind.GRAPHS:
                found.extend(a.value)
        return found

    # -- misc --------------------------------------------------------------------------
    @property
    def qualified_op(self) -> str:
        return f"{self.domain}::{self.op}" if self.domain else self.op

    @property
    def label(self) -> str:
        """How errors name this node: its op and name."""
        return f"{self.qualified_op} {self.name!r}" if self.name else self.qualified_op

    @property
    def next(self) -> Node | None:
        n = self._next
        return None if n.graph is None else n

    @property
    def prev(self) -> Node | None:
        n = self._prev
        return None if n.graph is None else n

    def __repr__(self) -> str:
        return f"Node({self.label})"


class Graph:
    """An ordered, linked container of nodes with inputs, constants and outputs.

    Iterating is safe while nodes are inserted or removed: removed nodes are
    skipped and new nodes after the cursor are visited.
    """

    def __init__(
        self,
        inputs: Sequence[Value] = (),
        outputs: Sequence[Value] = (),
        nodes: Iterable[Node] = (),
        *,
        name: str = "main",
    ) -> None:
        self.name = name
        self.inputs: list[Value] = list(inputs)
        self.parent: Node | None = None
        self.opset_imports: dict[str, int] = {}
        self.metadata: dict[str, str] = {}
        self.doc = ""
        self.memory_plan: Any = None  # a graphopt.ir.memory.MemoryPlan once the plan-memory pass ran
        self._constants: dict[Value, None] = {}
        self.input_defaults: dict[Value, Tensor] = {}  # overridable values for inputs (ONNX initializers)
        self._root = Node("<root>")
        self._root._prev = self._root._next = self._root
        self._len = 0
        self._insert_before: Node = self._root
        self._outputs: list[Value] = []
        self._output_names: list[str | None] = []
        for node in nodes:
            self.append(node)
        self.outputs = list(outputs)

    # -- outputs -----------------------------------------------------------------------
    @property
    def outputs(self) -> list[Value]:
        """The graph's results. Assign a new list to change them (keeps bookkeeping exact)."""
        return list(self._outputs)

    @outputs.setter
    def outputs(self, values: Sequence[Value]) -> None:
        self._set_outputs(list(values), [v.name for v in values])

    @property
    def output_names(self) -> list[str | None]:
        """The model's output names. They stay put when a rewrite swaps the value behind an output."""
        return list(self._output_names)

    def set_output(self, index: int, value: Value, name: str | None = None) -> None:
        """Make output ``index`` return ``value``, keeping its name unless ``name`` is given."""
        names = list(self._output_names)
        if name is not None:
            names[index] = name
        values = list(self._outputs)
        values[index] = value
        self._set_outputs(values, names)

    def _set_outputs(self, values: Sequence[Value], names: Sequence[str | None]) -> None:
        for v in self._outputs:
            v._output_of.remove(self)
        self._outputs = list(values)
        self._output_names = list(names)
        for v in self._outputs:
            v._output_of.append(self)

    # -- constants ---------------------------------------------------------------------
    @property
    def constants(self) -> list[Value]:
        return list(self._constants)

    def add_constant(self, data: Tensor | np.ndarray, name: str | None = None) -> Value:
        tensor = data if isinstance(data, Tensor) else ArrayTensor(np.asarray(data))
        value = Value(TensorType(tensor.dtype, tensor.shape), name=name, const=tensor)
        self._constants[value] = None
        return value

    def remove_constant(self, value: Value) -> None:
        if value.has_uses:
            raise IRError(f"constant {value.name!r} is still used by {_describe_uses(value)}")
        del self._constants[value]

    def is_constant(self, value: Value) -> bool:
        return value in self._constants

    # -- nodes -------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Node]:
        cur = self._root._next
        while cur is not self._root:
            if not cur._removed:
                yield cur
            cur = cur._next

    def reversed(self) -> Iterator[Node]:
        cur = self._root._prev
        while cur is not self._root:
            if not cur._removed:
                yield cur
            cur = cur._prev

    def __len__(self) -> int:
        return self._len

    @property
    def nodes(self) -> list[Node]:
        return list(self)

    def walk(self) -> Iterator[Node]:
        """Every node, including those inside subgraphs (parents before their subgraph nodes)."""
        for node in self:
            yield node
            for sub in node.subgraphs():
                yield from sub.walk()

    def insert_before(self, anchor: Node | None, node: Node) -> Node:
        """Link ``node`` before ``anchor`` (``None``: at the end)."""
        if not node._removed:
            raise IRError(f"node {node.label} is already in a graph; remove it first")
        after = self._root if anchor is None else anchor
        if after.graph is not self and after is not self._root:
            raise IRError(f"anchor {after.label} is not in graph {self.name!r}")
        before = after._prev
        node._prev, node._next = before, after
        before._next = node
        after._prev = node
        node._removed = False
        node.graph = self
        for sub in node.subgraphs():
            sub.parent = node
        self._len += 1
        return node

    def insert_after(self, anchor: Node, node: Node) -> Node:
        return self.insert_before(anchor._next if anchor._next is not self._root else None, node)

    def append(self, node: Node) -> Node:
        return self.insert_before(None, node)

    @contextlib.contextmanager
    def inserting_before(self, anchor: Node | None) -> Iterator[None]:
        """Within the block, :meth:`add` inserts before ``anchor`` (``None``: at the end)."""
        saved = self._insert_before
        self._insert_before = self._root if anchor is None else anchor
        try:
            yield
        finally:
            self._insert_before = saved

    def inserting_after(self, anchor: Node) -> contextlib.AbstractContextManager[None]:
        """Within the block, :meth:`add` inserts after ``anchor``, in call order."""
        nxt = anchor._next
        return self.inserting_before(None if nxt is self._root else nxt)

    def add(self, op: str, inputs: Sequence[Value | None] = (), attrs: dict[str, Any] | None = None,
            **kwargs: Any) -> Node:
        """Create a node at the current insertion point (see :meth:`inserting_before`)."""
        node = Node(op, inputs, attrs, **kwargs)
        anchor = self._insert_before
        return self.insert_before(None if anchor is self._root else anchor, node)

    def remove(self, node: Node) -> None:
        """Unlink ``node`` and drop its uses; refuses while its outputs are still read."""
        if node.graph is not self or node._removed:
            raise IRError(f"node {node.label} is not in graph {self.name!r}")
        for out in node._outputs:
            if out is not None and out.has_uses:
                raise IRError(f"cannot remove {node.label}: its output {out.name or '?'} is still "
                              f"used by {_describe_uses(out)}")
        node._detach_inputs()
        self._unlink(node)

    def move_before(self, anchor: Node | None, node: Node) -> None:
        """Move ``node`` (from this or any graph) before ``anchor`` in this graph, keeping all its edges."""
        if node.graph is None or node._removed:
            raise IRError(f"node {node.label} is not in a graph; use insert_before")
        node.graph._unlink(node)
        self.insert_before(anchor, node)

    def _unlink(self, node: Node) -> None:
        node._prev._next = node._next
        node._next._prev = node._prev
        node._removed = True
        node.graph = None
        self._len -= 1
        if self._insert_before is node:
            self._insert_before = node._next

    def replace_all_uses(self, old: Value, new: Value) -> None:
        """Make every reader of ``old`` (nodes at any depth, graph outputs) read ``new``."""
        if old is new:
            return
        for use in list(old._uses):
            use.node.set_input(use.index, new)
        for g in list(dict.fromkeys(old._output_of)):
            g._set_outputs([new if v is old else v for v in g._outputs], g._output_names)

    # -- whole-graph operations --------------------------------------------------------
    def is_sorted(self) -> bool:
        """Whether every node reads only values defined before it (or outside this graph)."""
        seen: set[Node] = set()
        for n in self:
            for v in free_values(n):
                p = v.producer
                if p is not None and p.graph is self and p not in seen:
                    return False
            seen.add(n)
        return True

    def topological_sort(self) -> None:
        """Reorder nodes so every value is defined before use, keeping the current order where free."""
        if self.is_sorted():
            return
        nodes = list(self)
        pos = {n: i for i, n in enumerate(nodes)}
        deps: dict[Node, set[Node]] = {n: set() for n in nodes}
        for n in nodes:
            for v in free_values(n):
                p = _local_producer(v, self)
                if p is not None:  # a node reading its own output is a cycle too
                    deps[n].add(p)
        users: dict[Node, list[Node]] = {n: [] for n in nodes}
        for n, ds in deps.items():
            for d in ds:
                users[d].append(n)
        pending = {n: len(ds) for n, ds in deps.items()}
        ready = [pos[n] for n in nodes if pending[n] == 0]
        heapq.heapify(ready)
        order: list[Node] = []
        while ready:
            n = nodes[heapq.heappop(ready)]
            order.append(n)
            for u in users[n]:
                pending[u] -= 1
                if pending[u] == 0:
                    heapq.heappush(ready, pos[u])
        if len(order) != len(nodes):
            stuck = [n.label for n in nodes if pending[n] > 0]
            raise IRError(f"graph {self.name!r} has a cycle through {len(stuck)} nodes: "
                          f"{', '.join(stuck[:5])}{' …' if len(stuck) > 5 else ''}")
        root = self._root
        prev = root
        for n in order:
            prev._next, n._prev = n, prev
            prev = n
        prev._next, root._prev = root, prev

    def copy(self) -> Graph:
        """A deep copy: new nodes and values, shared (immutable) constant data."""
        with gc_paused():
            return self._copy({})

    def _copy(self, mapping: dict[Value, Value]) -> Graph:
        def clone(v: Value) -> Value:
            nv = Value(v.type, v.name, v.const)
            mapping[v] = nv
            return nv

        g = Graph(name=self.name)
        g.inputs = [clone(v) for v in self.inputs]
        g.input_defaults = {mapping[v]: t for v, t in self.input_defaults.items()}
        for c in self._constants:
            g._constants[clone(c)] = None
        g.opset_imports = dict(self.opset_imports)
        g.metadata = dict(self.metadata)
        g.doc = self.doc
        for n in self:
            attrs = {}
            for k, a in n.attrs.items():
                if a.kind == AttrKind.GRAPH:
                    a = Attr(a.kind, a.value._copy(mapping))
                elif a.kind == AttrKind.GRAPHS:
                    a = Attr(a.kind, tuple(s._copy(mapping) for s in a.value))
                attrs[k] = a
            outs = [None if o is None else clone(o) for o in n._outputs]
            ins = [None if v is None else mapping.get(v, v) for v in n._inputs]
            g.append(Node(n.op, ins, attrs, domain=n.domain, outputs=outs, name=n.name,
                          provenance=n.provenance))
        g._set_outputs([mapping.get(v, v) for v in self._outputs], list(self._output_names))
        if self.memory_plan is not None:
            g.memory_plan = self.memory_plan.remapped(mapping)
        return g

    def to_networkx(self) -> Any:
        """This graph as a ``networkx.MultiDiGraph`` of values and ops, for analysis and drawing
        (see :mod:`graphopt.ir.nx_graph`)."""
        from graphopt.ir.nx_graph import to_networkx

        return to_networkx(self)

    def __str__(self) -> str:
        from graphopt.ir.printer import print_graph

        return print_graph(self)

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self.inputs)} inputs, {self._len} nodes, {len(self._outputs)} outputs)"


def free_values(node: Node) -> Iterator[Value]:
    """Values ``node`` reads: its inputs plus outer values its subgraphs reference."""
    for v in node._inputs:
        if v is not None:
            yield v
    for sub in node.subgraphs():
        yield from outer_references(sub)


def outer_references(graph: Graph) -> list[Value]:
    """Values that ``graph``'s nodes or outputs read but that it does not define."""
    defined: set[Value] = set(graph.inputs) | set(graph._constants)
    seen: dict[Value, None] = {}
    for n in graph:
        for v in free_values(n):
            if v not in defined:
                seen[v] = None
        defined.update(o for o in n._outputs if o is not None)
    for v in graph._outputs:
        if v not in defined:
            seen[v] = None
    return list(seen)


def _local_producer(value: Value, graph: Graph) -> Node | None:
    p = value.producer
    return p if p is not None and p.graph is graph else None


def _describe_uses(value: Value) -> str:
    parts = [u.node.label for u in list(value._uses)[:3]]
    if value._output_of:
        parts.append("the graph outputs")
    more = len(value._uses) - 3
    return ", ".join(parts) + (f" and {more} more" if more > 0 else "")
