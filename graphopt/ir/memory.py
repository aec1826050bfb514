"""Memory planning: liveness over the node order, one arena with an offset per intermediate tensor.

The plan covers the outputs of the top graph's nodes. Graph inputs and constants
are not in the arena (the caller and the weights own them). A node with
subgraphs (If, Loop, Scan) has its outputs planned; the tensors inside its
bodies are not (the interpreter allocates them as it runs the body), and the
plan says so in :attr:`MemoryPlan.unplanned`. A tensor whose size is not known
(an unknown dim, a symbolic dim without an upper bound in ``dims``, strings,
sequences) is left unplanned with the reason.

Liveness: a tensor is live from the step of the node that makes it through the
step of its last reader (a node whose subgraph reads it counts as a reader);
graph outputs live to the end. Two tensors may share bytes only when their
lifetimes do not overlap, except that an elementwise op may write its output
over a same-sized input that dies at that op (in place). Offsets come from a
best-fit assignment (several orderings are tried; the lowest peak wins).

A plan describes one node order: any pass that edits the graph afterwards makes
it stale. :func:`evaluate_in_arena` runs a graph inside its plan's single
buffer and refuses any write over a live tensor, which is how tests prove a
plan valid.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphopt.errors import EvaluationError
from graphopt.ir.core import Graph, Node, Value
from graphopt.ir.interpreter import evaluate
from graphopt.ir.types import TensorType

DEFAULT_ALIGNMENT = 64

INPLACE_OPS = frozenset({
    "Abs", "Acos", "Asin", "Atan", "Ceil", "Celu", "Clip", "Cos", "Cosh", "Elu", "Erf", "Exp", "Floor", "Gelu",
    "HardSigmoid", "HardSwish", "Identity", "LeakyRelu", "Log", "Mish", "Neg", "Not", "Reciprocal", "Relu", "Round",
    "Selu", "Sigmoid", "Sign", "Sin", "Sinh", "Softplus", "Softsign", "Sqrt", "Tan", "Tanh", "ThresholdedRelu",
    "Add", "And", "Div", "Max", "Min", "Mul", "Or", "Pow", "PRelu", "Sub", "Xor",
})
"""Elementwise ops (default domain) whose output may overwrite a same-shaped input that dies there."""


@dataclass
class MemoryPlan:
    """Where each planned tensor lives in one arena of ``peak_bytes`` bytes.

    ``lower_bound_bytes`` is the largest live set of the planned node order (after in-place sharing): no
    assignment of offsets can do better for that order. ``no_reuse_bytes`` is what giving every tensor its
    own bytes would take. Sizes are rounded up to ``alignment``.
    """

    offsets: dict[Value, int]
    sizes: dict[Value, int]
    peak_bytes: int
    lower_bound_bytes: int
    no_reuse_bytes: int
    unplanned: dict[str, str] = field(default_factory=dict)
    inplace: dict[Value, Value] = field(default_factory=dict)
    """Output → the dying input whose bytes it reuses."""
    alignment: int = DEFAULT_ALIGNMENT
    dims: dict[str, int] = field(default_factory=dict)
    """Upper bounds used for symbolic dims."""

    @property
    def ratio(self) -> float:
        """Planned peak over the live-set lower bound (1.0 is optimal for the order)."""
        return self.peak_bytes / self.lower_bound_bytes if self.lower_bound_bytes else 1.0

    def remapped(self, mapping: Mapping[Value, Value]) -> MemoryPlan:
        """The same plan for a copy of its graph (``mapping``: old value → new value)."""
        def m(v: Value) -> Value:
            return mapping.get(v, v)

        return MemoryPlan({m(v): o for v, o in self.offsets.items()}, {m(v): s for v, s in self.sizes.items()},
                          self.peak_bytes, self.lower_bound_bytes, self.no_reuse_bytes, dict(self.unplanned),
                          {m(o): m(i) for o, i in self.inplace.items()}, self.alignment, dict(self.dims))

    def describe(self) -> str:
        """One line: peak against the lower bound and the no-reuse total."""
        text = (f"planned peak {_fmt(self.peak_bytes)} ({self.ratio:.3f}x the live-set lower bound "
                f"{_fmt(self.lower_bound_bytes)}; no reuse {_fmt(self.no_reuse_bytes)}), "
                f"{len(self.offsets)} tensors, {len(self.inplace)} in place")
        if not self.unplanned:
            return text
        reasons = Counter(self.unplanned.values()).most_common(1)[0][0]
        return f"{text}, {len(self.unplanned)} unplanned (e.g. {reasons})"

    def metadata(self, names: Mapping[Value, str]) -> dict[str, str]:
        """``graphopt.memory.*`` entries for a model's metadata; ``names`` gives each value's exported name
        (values without one, e.g. removed when lowering, are left out)."""
        offsets = {names[v]: [o, self.sizes[v]] for v, o in self.offsets.items() if v in names}
        md = {"graphopt.memory.peak_bytes": str(self.peak_bytes),
              "graphopt.memory.lower_bound_bytes": str(self.lower_bound_bytes),
              "graphopt.memory.no_reuse_bytes": str(self.no_reuse_bytes),
              "graphopt.memory.alignment": str(self.alignment),
              "graphopt.memory.offsets": json.dumps(dict(sorted(offsets.items())), separators=(",", ":"))}
        if self.unplanned:
            md["graphopt.memory.unplanned"] = json.dumps(self.unplanned, sort_keys=True, separators=(",", ":"))
        return md


def _fmt(n: int) -> str:
    return f"{n / 2**20:.2f} MiB" if n >= 2**20 else f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} B"


# -- sizes and lifetimes -----------------------------------------------------------------


def tensor_bytes(value: Value, dims: Mapping[str, int] | None = None) -> tuple[int | None, str]:
    """(bytes, "") for a tensor of known size (symbolic dims at their bound in ``dims``), else (None, reason)."""
    t = value.type
    if not isinstance(t, TensorType):
        return None, "not a tensor" if t is not None else "unknown type"
    if t.shape is None:
        return None, "unknown rank"
    try:
        itemsize = t.dtype.numpy.itemsize
    except TypeError:
        return None, f"dtype {t.dtype.name} has no array form"
    if t.dtype.numpy.kind == "O":
        return None, "strings have no fixed size"
    count = 1
    for d in t.shape:
        if isinstance(d, str):
            if dims is None or d not in dims:
                return None, f"symbolic dim {d!r} has no upper bound (plan with dims={{{d!r}: ...}})"
            d = dims[d]
        if d is None:
            return None, "unknown dim"
        count *= d
    return count * itemsize, ""


def parse_dims(text: str) -> dict[str, int]:
    """Upper bounds for symbolic dims written as ``"N:8;S:128"`` (the form pass options take)."""
    dims = {}
    for part in filter(None, (p.strip() for p in text.replace(",", ";").split(";"))):
        name, sep, bound = part.partition(":")
        if not sep or not bound.strip().isdigit():
            raise ValueError(f"dim bound {part!r} is not written as NAME:INT")
        dims[name.strip()] = int(bound)
    return dims


def value_label(value: Value) -> str:
    """A name for messages and plans: the value's name, else its producer and output index."""
    if value.name:
        return value.name
    p = value.producer
    return f"{p.name or p.op}:{value.index}" if p is not None else "?"


def top_node(node: Node, graph: Graph) -> Node | None:
    """The node of ``graph`` that is ``node`` or holds it in a subgraph (None if neither)."""
    while node.graph is not graph:
        parent = node.graph.parent if node.graph is not None else None
        if parent is None:
            return None
        node = parent
    return node


def lifetimes(graph: Graph, order: Sequence[Node] | None = None) -> dict[Value, tuple[int, int]]:
    """(first step, last step) of each node output in ``order`` (default: the graph's): it is live from its
    producer through its last reader; graph outputs live through the last step."""
    order = list(graph) if order is None else list(order)
    step = {n: i for i, n in enumerate(order)}
    end = max(len(order) - 1, 0)
    spans: dict[Value, tuple[int, int]] = {}
    for i, node in enumerate(order):
        for out in node.outputs:
            if out is None:
                continue
            last = end if out.is_graph_output else i
            for use in out.uses:
                reader = top_node(use.node, graph)
                if reader is not None:
                    last = max(last, step[reader])
            spans[out] = (i, last)
    return spans


def live_peak(spans: Mapping[Any, tuple[int, int]], sizes: Mapping[Any, int]) -> int:
    """The largest total size of buffers live at one step."""
    events: dict[int, int] = {}
    for key, size in sizes.items():
        first, last = spans[key]
        events[first] = events.get(first, 0) + size
        events[last + 1] = events.get(last + 1, 0) - size
    peak = live = 0
    for s in sorted(events):
        live += events[s]
        peak = max(peak, live)
    return peak


# -- planning ------------------------------------------------------------------------------


def plan_memory(graph: Graph, *, dims: Mapping[str, int] | None = None, alignment: int = DEFAULT_ALIGNMENT,
                inplace: bool = True) -> MemoryPlan:
    """Plan the arena for ``graph``'s intermediate tensors in its current node order."""
    dims = dict(dims or {})
    sizes: dict[Value, int] = {}
    unplanned: dict[str, str] = {}
    for node in graph:
        if node.subgraphs():
            unplanned[f"{node.label} bodies"] = "tensors inside subgraphs are not planned; the node's outputs are"
        for out in node.outputs:
            if out is None:
                continue
            size, reason = tensor_bytes(out, dims)
            if size is None:
                unplanned[value_label(out)] = reason
            else:
                sizes[out] = -(-size // alignment) * alignment
    spans = lifetimes(graph)
    aliases = _inplace_pairs(graph, spans, sizes) if inplace else {}
    root: dict[Value, Value] = {}
    for v in sizes:
        root[v] = root[aliases[v]] if v in aliases else v
    buffer_span: dict[Value, tuple[int, int]] = {}
    for v, r in root.items():
        first, last = spans[v]
        old = buffer_span.get(r, (first, last))
        buffer_span[r] = (min(old[0], first), max(old[1], last))
    buffer_size = {r: sizes[r] for r in buffer_span}
    placed, peak = _assign(buffer_span, buffer_size)
    return MemoryPlan({v: placed[r] for v, r in root.items()}, sizes, peak, live_peak(buffer_span, buffer_size),
                      sum(sizes.values()), unplanned, aliases, alignment, dims)


def _inplace_pairs(graph: Graph, spans: Mapping[Value, tuple[int, int]], sizes: Mapping[Value, int]
                   ) -> dict[Value, Value]:
    """Output → input for elementwise nodes that can write over a same-shaped input dying at them."""
    pairs: dict[Value, Value] = {}
    taken: set[Value] = set()
    for step, node in enumerate(graph):
        if node.domain or node.op not in INPLACE_OPS or len(node.outputs) != 1 or node.outputs[0] not in sizes:
            continue
        out = node.outputs[0]
        for v in node.inputs:
            if (v is not None and v in sizes and v not in taken and spans[v][1] == step
                    and not v.is_graph_output and v.type == out.type and sizes[v] == sizes[out]):
                pairs[out] = v
                taken.add(v)
                break
    return pairs


Fit = Callable[[list[tuple[int, int]], int], int]


def _assign(spans: Mapping[Value, tuple[int, int]], sizes: Mapping[Value, int]) -> tuple[dict[Value, int], int]:
    """Offsets for buffers with the given lifetimes: the best of a few greedy orderings and fit rules."""
    position = {v: i for i, v in enumerate(spans)}
    conflicts = _overlapping(spans)
    orderings: list[Callable[[Value], tuple[int, ...]]] = [
        lambda v: (-sizes[v], spans[v][0] - spans[v][1], position[v]),   # biggest first
        lambda v: (spans[v][0] - spans[v][1], -sizes[v], position[v]),   # longest-lived first
        lambda v: (spans[v][0], -sizes[v], position[v]),                 # in program order
        lambda v: ((spans[v][0] - spans[v][1] - 1) * sizes[v], position[v]),  # largest size x lifetime first
    ]
    best: tuple[dict[Value, int], int] | None = None
    for key in orderings:
        for fit in (_best_fit, _first_fit):
            offsets, peak = _place(sorted(spans, key=key), conflicts, sizes, fit)
            if best is None or peak < best[1]:
                best = offsets, peak
    return best if best is not None else ({}, 0)


def _overlapping(spans: Mapping[Value, tuple[int, int]]) -> dict[Value, list[Value]]:
    """For each buffer, the buffers whose lifetimes overlap its own."""
    by_start = sorted(spans, key=lambda v: spans[v][0])
    found: dict[Value, list[Value]] = {v: [] for v in spans}
    for i, v in enumerate(by_start):
        last = spans[v][1]
        for u in by_start[i + 1:]:
            if spans[u][0] > last:
                break
            found[v].append(u)
            found[u].append(v)
    return found


def _place(order: list[Value], conflicts: Mapping[Value, list[Value]], sizes: Mapping[Value, int],
           fit: Fit) -> tuple[dict[Value, int], int]:
    offsets: dict[Value, int] = {}
    peak = 0
    for v in order:
        busy = sorted((offsets[u], offsets[u] + sizes[u]) for u in conflicts[v] if u in offsets and sizes[u])
        offsets[v] = fit(busy, sizes[v])
        peak = max(peak, offsets[v] + sizes[v])
    return offsets, peak


def _gaps(busy: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Free (start, end) ranges between sorted busy ranges, the last one unbounded."""
    gaps, cursor = [], 0
    for start, end in busy:
        if start > cursor:
            gaps.append((cursor, start))
        cursor = max(cursor, end)
    gaps.append((cursor, -1))
    return gaps


def _best_fit(busy: list[tuple[int, int]], size: int) -> int:
    """The start of the smallest free range that holds ``size`` bytes (else the top)."""
    bounded = [(end - start, start) for start, end in _gaps(busy)[:-1] if end - start >= size]
    return min(bounded)[1] if bounded else _gaps(busy)[-1][0]


def _first_fit(busy: list[tuple[int, int]], size: int) -> int:
    """The lowest offset where ``size`` bytes fit."""
    return next(start for start, end in _gaps(busy) if end < 0 or end - start >= size)


# -- executing inside the arena ------------------------------------------------------------


class _ArenaValues(dict):  # type: ignore[type-arg]
    """The interpreter's value table for the top graph: planned tensors are copied into views of the arena.

    Writing a tensor checks that its bytes overlap no live tensor (except the dying input an in-place
    output reuses); dropping a tensor frees its bytes.
    """

    def __init__(self, plan: MemoryPlan, arena: np.ndarray) -> None:
        super().__init__()
        self.plan = plan
        self.arena = arena
        self.live: dict[Value, tuple[int, int]] = {}

    def __setitem__(self, v: Value, result: Any) -> None:
        if v not in self.plan.offsets:
            super().__setitem__(v, _detach(result, self.arena))
            return
        if not isinstance(result, np.ndarray):
            raise EvaluationError(f"planned tensor {value_label(v)} got a {type(result).__name__}, not an array")
        start, size = self.plan.offsets[v], self.plan.sizes[v]
        if result.nbytes > size:
            raise EvaluationError(f"tensor {value_label(v)} needs {result.nbytes} bytes; its plan holds {size}")
        allowed = self.plan.inplace.get(v)
        for other, (lo, hi) in self.live.items():
            if other is not allowed and lo < start + result.nbytes and start < hi:
                raise EvaluationError(f"writing {value_label(v)} at [{start}, {start + result.nbytes}) would "
                                      f"overwrite live tensor {value_label(other)} at [{lo}, {hi})")
        view = np.ndarray(result.shape, result.dtype, buffer=self.arena, offset=start, strides=_dense_strides(result))
        np.copyto(view, result)
        self.live[v] = (start, start + result.nbytes)
        super().__setitem__(v, view)

    def pop(self, v: Value, default: Any = None) -> Any:
        self.live.pop(v, None)
        return super().pop(v, default)


def _dense_strides(a: np.ndarray) -> tuple[int, ...] | None:
    """``a``'s strides when it is a dense permutation of its axes (a transposed view), else None (C order).

    Keeping that layout keeps results bit-identical: numpy's BLAS calls take transposed operands directly."""
    expected = a.itemsize
    for axis in sorted(range(a.ndim), key=lambda i: a.strides[i]):
        if a.shape[axis] > 1:
            if a.strides[axis] != expected:
                return None
            expected *= a.shape[axis]
    return a.strides


def _detach(result: Any, arena: np.ndarray) -> Any:
    """``result`` with copies of any arrays that view the arena (unplanned values must not alias it)."""
    if isinstance(result, np.ndarray):
        return result.copy() if np.may_share_memory(result, arena) else result
    if isinstance(result, list):
        return [_detach(r, arena) for r in result]
    return result


def evaluate_in_arena(graph: Graph, inputs: Mapping[str, Any] | Sequence[Any], plan: MemoryPlan | None = None,
                      *, dims: Mapping[str, int] | None = None) -> list[Any]:
    """Run ``graph`` with every planned tensor living in one preallocated ``np.uint8`` buffer of the plan's
    peak size (``plan`` defaults to ``graph.memory_plan``, else a fresh plan). Raises if a write would
    overwrite a live tensor, so identical outputs to :func:`~graphopt.ir.interpreter.evaluate` prove the plan
    valid on these inputs. The arena starts filled with 0xFF bytes (NaN for floats), so reading bytes the
    plan never wrote shows up in the outputs."""
    plan = plan or graph.memory_plan or plan_memory(graph, dims=dims)
    arena = np.full(plan.peak_bytes, 0xFF, np.uint8)
    return [_detach(r, arena) for r in evaluate(graph, inputs, values=_ArenaValues(plan, arena))]
