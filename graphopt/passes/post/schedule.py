"""Scheduling: reorder independent nodes so fewer intermediate bytes are live at once.

Greedy list scheduling, forward (run the ready node that frees the most bytes
net of what it allocates) and backward from the outputs (place last the node
that frees the most); ties keep the current order. Each order is judged by the
arena that :func:`~graphopt.ir.memory.plan_memory` plans for it (default
alignment, in-place reuse on), and the better one is kept only when its
planned peak is strictly lower than the current order's, so the pass never
makes the planned peak worse and a second run changes nothing. A graph is left
alone when some node output has no known size (an unknown dim, or a symbolic
dim without a bound in ``dims``): its peak could not be compared. Subgraphs
are scheduled too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from graphopt.ir.core import Graph, Node, Value, free_values
from graphopt.ir.memory import parse_dims, plan_memory, tensor_bytes, top_node
from graphopt.passes.base import Pass, PassResult, register_pass


@register_pass
class Schedule(Pass):
    """Reorders independent nodes to lower the peak of live intermediate tensors."""

    name = "schedule"
    level = 2
    stage = "post"
    targets = frozenset({"onnxruntime"})  # not tensorrt/openvino: their compilers order layers themselves
    doc = "reorder independent nodes to lower the planned arena peak (greedy list scheduler)"
    dims: str = ""
    """Upper bounds for symbolic dims, e.g. ``N:8;S:128``."""

    def run(self, graph: Graph) -> PassResult:
        counts: Counter[str] = Counter(graphs_reordered=0, graphs_skipped=0, bytes_saved=0)
        _schedule_all(graph, parse_dims(self.dims), counts)
        return PassResult(counts["graphs_reordered"] > 0, dict(counts))


def _schedule_all(graph: Graph, dims: dict[str, int], counts: Counter[str]) -> None:
    for node in graph:
        for sub in node.subgraphs():
            _schedule_all(sub, dims, counts)
    sizes: dict[Value, int] = {}
    for node in graph:
        for out in node.outputs:
            if out is not None:
                size, _ = tensor_bytes(out, dims)
                if size is None:
                    counts["graphs_skipped"] += 1
                    return
                sizes[out] = size
    current = list(graph)
    candidates = [o for o in greedy_orders(graph, sizes) if o != current]
    if not candidates:
        return
    before = plan_memory(graph, dims=dims).peak_bytes
    after, order = min(((plan_memory(graph, dims=dims, order=o).peak_bytes, o) for o in candidates),
                       key=lambda pair: pair[0])
    if after < before:
        for node in order:
            graph.move_before(None, node)
        counts["graphs_reordered"] += 1
        counts["bytes_saved"] += before - after


def greedy_orders(graph: Graph, sizes: dict[Value, int]) -> list[list[Node]]:
    """Two topological orders of ``graph``'s nodes from greedy list scheduling.

    Forward: run the ready node that frees the most bytes net of what it keeps allocated. Backward (from the
    outputs): place last the node whose outputs free the most bytes net of the inputs it makes live, which
    delays a big tensor until just before its reader (the forward pass alone computes a skip connection's
    branch too early when the next node on the main path allocates more). Ties keep the current order.
    """
    nodes = list(graph)
    pos = {n: i for i, n in enumerate(nodes)}
    reads = {n: [v for v in dict.fromkeys(free_values(n)) if v in sizes] for n in nodes}
    readers: dict[Value, set[Node]] = {v: set() for v in sizes}
    for n in nodes:
        for v in reads[n]:
            readers[v].add(n)
    preds: dict[Node, set[Node]] = {}
    for n in nodes:
        preds[n] = {p for v in reads[n] if (p := top_node(v.producer, graph)) is not None} - {n}  # type: ignore[arg-type]
    succs: dict[Node, set[Node]] = {n: set() for n in nodes}
    for n, ps in preds.items():
        for p in ps:
            succs[p].add(n)
    outputs = {n: [o for o in n.outputs if o is not None] for n in nodes}

    unread = {v: len(r) for v, r in readers.items()}

    def forward_gain(n: Node) -> int:
        freed = sum(sizes[v] for v in reads[n] if unread[v] == 1 and not v.is_graph_output)
        return freed - sum(sizes[o] for o in outputs[n] if readers[o] or o.is_graph_output)

    def forward_done(n: Node) -> None:
        for v in reads[n]:
            unread[v] -= 1

    forward = _list_schedule(nodes, preds, succs, forward_gain, forward_done, lambda n: -pos[n])
    live: set[Value] = set()

    def backward_gain(n: Node) -> int:
        made_live = sum(sizes[v] for v in reads[n] if v not in live and not v.is_graph_output)
        return sum(sizes[o] for o in outputs[n] if o in live or o.is_graph_output) - made_live

    backward = _list_schedule(nodes, succs, preds, backward_gain, lambda n: live.update(reads[n]), pos.__getitem__)
    return [forward, backward[::-1]]


def _list_schedule(nodes: list[Node], preds: dict[Node, set[Node]], succs: dict[Node, set[Node]],
                   gain: Callable[[Node], int], done: Callable[[Node], None], tie: Callable[[Node], int]
                   ) -> list[Node]:
    """Repeatedly take the ready node (all ``preds`` taken) with the highest (gain, tie)."""
    pending = {n: len(preds[n]) for n in nodes}
    ready = [n for n in nodes if pending[n] == 0]
    order: list[Node] = []
    while ready:
        best = max(ready, key=lambda n: (gain(n), tie(n)))
        ready.remove(best)
        order.append(best)
        done(best)
        for u in succs[best]:
            pending[u] -= 1
            if pending[u] == 0:
                ready.append(u)
    return order
