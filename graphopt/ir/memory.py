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
over a same-sized input that dies at that op (in place), and a view op
(Reshape, Flatten, Squeeze, Unsqueeze, Identity) may take over the bytes of a
data input that dies there, as runtimes alias a view to its input. A Concat
whose inputs are contiguous runs of its output (only dims of 1 before the
axis, static shapes) can have the inputs that die at it computed straight
into their place in its buffer, which then lives from the first of them on;
the plan does so when that lowers the peak. Offsets come from greedy best-fit
and first-fit placements in several orders; when none reaches the live-set
lower bound, a seeded randomized squeaky-wheel search promotes the tensors
that ended up above the bound, and the lowest peak wins.

A plan describes one node order: any pass that edits the graph afterwards makes
it stale. :func:`evaluate_in_arena` runs a graph inside its plan's single
buffer and refuses any write over a live tensor (and a Concat built in place
whose inputs are not already where it needs them), which is how tests prove a
plan valid.
"""

from __future__ import annotations

import json
import random
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

VIEW_OPS = frozenset({"Flatten", "Identity", "Reshape", "Squeeze", "Unsqueeze"})
"""Ops whose output has the bytes of their data input (input 0) in another shape."""

REFINE_ROUNDS = 64
"""Most rounds of the squeaky-wheel refinement per fit rule (fewer on very large graphs)."""
REFINE_WORK = 4_000_000
"""Budget of conflict checks for the refinement, so planning stays near-linear on huge graphs."""


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
    concat_into: dict[Value, Value] = field(default_factory=dict)
    """Concat input (and each value whose bytes it took over) → the Concat output whose bytes it is computed in."""

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
                          {m(o): m(i) for o, i in self.inplace.items()}, self.alignment, dict(self.dims),
                          {m(v): m(c) for v, c in self.concat_into.items()})

    def describe(self) -> str:
        """One line: peak against the lower bound and the no-reuse total."""
        text = (f"planned peak {_fmt(self.peak_bytes)} ({self.ratio:.3f}x the live-set lower bound "
                f"{_fmt(self.lower_bound_bytes)}; no reuse {_fmt(self.no_reuse_bytes)}), "
                f"{len(self.offsets)} tensors, {len(self.inplace)} in place")
        if self.concat_into:
            text += f", {len(set(self.concat_into.values()))} Concats built in place"
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
                inplace: bool = True, order: Sequence[Node] | None = None) -> MemoryPlan:
    """Plan the arena for ``graph``'s intermediate tensors in its current node order (or in ``order``, a
    topological order of its nodes, to compare schedules without moving nodes)."""
    dims = dict(dims or {})
    order = list(graph) if order is None else list(order)
    sizes: dict[Value, int] = {}
    unplanned: dict[str, str] = {}
    for node in order:
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
    spans = lifetimes(graph, order)
    aliases = _inplace_pairs(order, spans, sizes) if inplace else {}
    root: dict[Value, Value] = {}
    for v in sizes:
        root[v] = root[aliases[v]] if v in aliases else v
    parts = _concat_parts(order, spans, sizes, root) if inplace else {}
    # Building Concats in place copies nothing but holds each Concat's bytes from its first input on, which
    # can raise the peak (UNet++'s nested skips): keep it only where it does not.
    layout = min((_layout(spans, sizes, root, c) for c in ([parts, {}] if parts else [{}])), key=lambda t: t.peak)
    return MemoryPlan(layout.offsets, layout.sizes, layout.peak, layout.bound, sum(sizes.values()), unplanned,
                      aliases, alignment, dims, layout.concat_into)


@dataclass
class _Layout:
    offsets: dict[Value, int]
    sizes: dict[Value, int]
    peak: int
    bound: int
    concat_into: dict[Value, Value]


def _layout(spans: Mapping[Value, tuple[int, int]], sizes: Mapping[Value, int], root: Mapping[Value, Value],
            parts: Mapping[Value, tuple[Value, int]]) -> _Layout:
    """Offsets of every sized value: one buffer per alias root, Concat parts inside their Concat's buffer."""
    sizes = dict(sizes)
    buffer_of: dict[Value, Value] = {}
    offset_in: dict[Value, int] = {}
    for v, r in root.items():
        buffer_of[v], offset_in[v] = parts.get(r, (r, 0))
        if r in parts:
            sizes[v] = tensor_bytes(v)[0] or 0  # unpadded: the parts of one Concat sit back to back
    buffer_span: dict[Value, tuple[int, int]] = {}
    for v, b in buffer_of.items():
        first, last = spans[v]
        old = buffer_span.get(b, (first, last))
        buffer_span[b] = (min(old[0], first), max(old[1], last))
    buffer_size = {b: sizes[b] for b in buffer_span}
    placed, peak = assign_offsets(buffer_span, buffer_size)
    return _Layout({v: placed[b] + offset_in[v] for v, b in buffer_of.items()}, sizes, peak,
                   live_peak(buffer_span, buffer_size), {v: b for v, b in buffer_of.items() if root[v] in parts})


def _concat_parts(order: Sequence[Node], spans: Mapping[Value, tuple[int, int]], sizes: Mapping[Value, int],
                  root: Mapping[Value, Value]) -> dict[Value, tuple[Value, int]]:
    """Buffer (alias root) → (Concat output, byte offset in it) for Concat inputs that can be computed in
    their place inside the output, so the Concat copies nothing: the Concat's axis has only dims of 1 before
    it (each input is one contiguous run of the output's bytes), every shape is static, and the input is
    made by a node of this graph, is not a graph output, is the last value of its buffer, appears once and
    dies at the Concat (so the output's buffer never holds it past that step)."""
    last_of: dict[Value, Value] = {}
    for v in sizes:
        last_of[root[v]] = v
    parts: dict[Value, tuple[Value, int]] = {}
    concats: set[Value] = set()
    for step, node in enumerate(order):
        out = node.outputs[0] if node.op == "Concat" and not node.domain else None
        if out is None or out not in sizes or not _static(out):
            continue
        axis = int(node.attr("axis")) % len(out.shape)
        if int(np.prod(out.shape[:axis])) != 1:
            continue
        inputs = [v for v in node.inputs if v is not None]
        lengths = [tensor_bytes(v)[0] if _static(v) else None for v in inputs]
        claimed: dict[Value, tuple[Value, int]] = {}
        offset = 0
        for v, n in zip(inputs, lengths):
            r = root.get(v)
            if (r is not None and r not in parts and r not in concats and last_of[r] is v and spans[v][1] == step
                    and not v.is_graph_output and inputs.count(v) == 1):
                claimed[r] = (out, offset)
            offset += n or 0
        if claimed and None not in lengths:
            parts.update(claimed)
            concats.add(out)
    return parts


def _static(v: Value) -> bool:
    shape = v.shape
    return shape is not None and all(isinstance(d, int) for d in shape)


def _inplace_pairs(order: Sequence[Node], spans: Mapping[Value, tuple[int, int]], sizes: Mapping[Value, int]
                   ) -> dict[Value, Value]:
    """Output → input for elementwise nodes that can write over a same-shaped input dying at them, and for
    view ops whose data input dies at them."""
    pairs: dict[Value, Value] = {}
    taken: set[Value] = set()
    for step, node in enumerate(order):
        out = node.outputs[0] if len(node.outputs) == 1 else None
        if node.domain or out is None or out not in sizes:
            continue
        candidates: list[Value] = []
        if node.op in VIEW_OPS:
            candidates = [v for v in node.inputs[:1] if v is not None and v.dtype == out.dtype]
        elif node.op in INPLACE_OPS:
            candidates = [v for v in node.inputs if v is not None and v.type == out.type]
        for v in candidates:
            if v in sizes and v not in taken and spans[v][1] == step and not v.is_graph_output \
                    and sizes[v] == sizes[out]:
                pairs[out] = v
                taken.add(v)
                break
    return pairs


Fit = Callable[[list[tuple[int, int]], int], int]
Placement = tuple[dict[Value, int], int]
"""Offsets per buffer and the arena size they need."""


def assign_offsets(spans: Mapping[Any, tuple[int, int]], sizes: Mapping[Any, int], *,
                   refine_rounds: int = REFINE_ROUNDS) -> Placement:
    """Offsets for buffers with the given lifetimes (inclusive steps) and sizes, and the arena size: the best
    of a few greedy orderings and fit rules, refined for up to ``refine_rounds`` rounds per fit rule (see
    :func:`_refine`) while above the live-set lower bound."""
    position = {v: i for i, v in enumerate(spans)}
    conflicts = _overlapping(spans)
    orderings: list[Callable[[Value], tuple[int, ...]]] = [
        lambda v: (-sizes[v], spans[v][0] - spans[v][1], position[v]),   # biggest first
        lambda v: (spans[v][0] - spans[v][1], -sizes[v], position[v]),   # longest-lived first
        lambda v: (spans[v][0], -sizes[v], position[v]),                 # in program order
        lambda v: ((spans[v][0] - spans[v][1] - 1) * sizes[v], position[v]),  # largest size x lifetime first
    ]
    placements = [_place(sorted(spans, key=key), conflicts, sizes, fit)
                  for key in orderings for fit in (_best_fit, _first_fit)]
    best = min(placements, key=lambda p: p[1])
    bound = live_peak(spans, sizes)
    work = len(spans) + sum(len(c) for c in conflicts.values())
    rounds = min(refine_rounds, REFINE_WORK // max(work, 1))
    rng = random.Random(0)  # a fixed seed: the same graph always gets the same plan
    for fit in (_best_fit, _first_fit):
        best = _refine(best, spans, conflicts, sizes, fit, bound, rounds, rng)
    return best


def _refine(best: Placement, spans: Mapping[Any, tuple[int, int]], conflicts: Mapping[Any, list[Any]],
            sizes: Mapping[Any, int], fit: Fit, bound: int, rounds: int, rng: random.Random) -> Placement:
    """Randomized squeaky-wheel search. Each round places the buffers by priority, then by their size times
    a random factor; every buffer that ends above ``bound`` gains its size in priority, so it goes earlier
    in the next round. Returns the best placement seen, ``best`` included; stops at the bound."""
    priority: Counter[Any] = Counter()
    for _ in range(rounds):
        if best[1] <= bound:
            break
        noise = {v: rng.random() for v in spans}
        offsets, peak = _place(sorted(spans, key=lambda v: -priority[v] - sizes[v] * noise[v]), conflicts, sizes, fit)
        if peak < best[1]:
            best = offsets, peak
        for v, offset in offsets.items():
            if offset + sizes[v] > bound:
                priority[v] += sizes[v]
    return best


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
           fit: Fit) -> Placement:
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
    output reuses, and the inputs a Concat built in place); dropping a tensor frees its bytes. Concat inputs
    built in place are written in C order, the layout their Concat expects.
    """

    def __init__(self, plan: MemoryPlan, arena: np.ndarray) -> None:
        super().__init__()
        self.plan = plan
        self.arena = arena
        self.live: dict[Value, tuple[int, int]] = {}
        self.parts: dict[Value, set[Value]] = {}
        for part, concat in plan.concat_into.items():
            self.parts.setdefault(concat, set()).add(part)

    def __setitem__(self, v: Value, result: Any) -> None:
        if v not in self.plan.offsets:
            super().__setitem__(v, _detach(result, self.arena))
            return
        if not isinstance(result, np.ndarray):
            raise EvaluationError(f"planned tensor {value_label(v)} got a {type(result).__name__}, not an array")
        start, size = self.plan.offsets[v], self.plan.sizes[v]
        if result.nbytes > size:
            raise EvaluationError(f"tensor {value_label(v)} needs {result.nbytes} bytes; its plan holds {size}")
        allowed = self.parts.get(v, set()) | {self.plan.inplace.get(v)}
        for other, (lo, hi) in self.live.items():
            if other not in allowed and lo < start + result.nbytes and start < hi:
                raise EvaluationError(f"writing {value_label(v)} at [{start}, {start + result.nbytes}) would "
                                      f"overwrite live tensor {value_label(other)} at [{lo}, {hi})")
        self._check_parts_in_place(v, result, start)
        strides = None if v in self.plan.concat_into else _dense_strides(result)
        view = np.ndarray(result.shape, result.dtype, buffer=self.arena, offset=start, strides=strides)
        np.copyto(view, result)
        self.live[v] = (start, start + result.nbytes)
        super().__setitem__(v, view)

    def _check_parts_in_place(self, concat: Value, result: np.ndarray, start: int) -> None:
        """A Concat built in place must find each live input's bytes already where its result puts them
        (a runtime would not copy them)."""
        data = np.ascontiguousarray(result).reshape(-1).view(np.uint8)
        for part in self.parts.get(concat, ()):
            if part in self.live:
                lo, hi = self.live[part]
                if not np.array_equal(self.arena[lo:hi], data[lo - start:hi - start]):
                    raise EvaluationError(f"Concat input {value_label(part)} is not where {value_label(concat)} "
                                          f"expects it in the arena")

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
