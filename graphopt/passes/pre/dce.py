"""Dead-code elimination: unused nodes and constants, unused control-flow outputs, constant-condition ``If``.

One reverse walk per graph: when a node is reached, every node after it has
been visited and, if dead, removed, so a node's own use lists say whether it
is still needed (O(nodes + uses)). A live node's subgraphs are swept when it is
reached, before the values they read from outside are looked at. Graph inputs
(and their ``input_defaults``) are the interface and always stay.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from graphopt.ir.attributes import Attr, AttrKind
from graphopt.ir.core import Graph, Node, Provenance, Value
from graphopt.ir.registry import ONNX_DOMAINS
from graphopt.ir.types import merge_types
from graphopt.passes.base import Pass, PassResult, register_pass

PASS_NAME = "dce"


@register_pass
class DeadCodeElimination(Pass):
    """Removes nodes and constants nothing reads, control-flow outputs nothing reads, and inlines
    ``If`` nodes whose condition is a constant."""

    name = PASS_NAME
    level = 1
    stage = "pre"
    doc = ("remove unused nodes and constants (also in subgraphs), unused If/Loop/Scan outputs, "
           "and inline If with a constant condition")

    def run(self, graph: Graph) -> PassResult:
        counts: Counter[str] = Counter(nodes_removed=0, constants_removed=0, outputs_removed=0, ifs_inlined=0)
        _sweep(graph, counts)
        return PassResult(any(counts.values()), dict(counts))


def _sweep(graph: Graph, counts: Counter[str]) -> None:
    for node in graph.reversed():
        if _is_dead(node):
            graph.remove(node)
            counts["nodes_removed"] += 1
        elif (branch := _taken_branch(node)) is not None:
            _inline_if(node, branch, counts)  # the inlined nodes now precede the cursor: the walk visits them next
        elif not _drop_unused_outputs(node, counts):  # a rebuilt node is visited next, in the same way
            for sub in node.subgraphs():
                _sweep(sub, counts)
    for c in graph.constants:
        if not c.has_uses:
            graph.remove_constant(c)
            counts["constants_removed"] += 1


def _is_dead(node: Node) -> bool:
    """No output is read. Every op with a schema is side-effect free (a dead random op may go too);
    ops graphopt knows nothing about are kept."""
    return node.schema is not None and not any(o is not None and o.has_uses for o in node.outputs)


# -- If with a constant condition -----------------------------------------------------------

def _taken_branch(node: Node) -> Graph | None:
    """The branch an If with a constant condition always takes."""
    if node.op != "If" or node.domain not in ONNX_DOMAINS:
        return None
    cond = node.inputs[0].numpy() if node.inputs and node.inputs[0] is not None else None
    if cond is None or cond.size != 1:
        return None
    branch: Graph = node.attr("then_branch" if bool(np.asarray(cond).reshape(-1)[0]) else "else_branch")
    return branch if not branch.inputs else None


def _inline_if(node: Node, branch: Graph, counts: Counter[str]) -> None:
    """Move ``branch``'s constants and nodes in front of ``node`` and let its outputs replace the If's."""
    graph = node.graph
    assert graph is not None
    moved: set[Value] = set()
    for c in branch.constants:
        new = graph.add_constant(c.const, c.name)  # type: ignore[arg-type]
        graph.replace_all_uses(c, new)
        branch.remove_constant(c)
        moved.add(new)
    for inner in list(branch):
        graph.move_before(node, inner)
        moved.update(o for o in inner.outputs if o is not None)
    results = branch.outputs
    branch.outputs = []
    for old, new in zip(node.outputs, results, strict=True):
        if old is None:
            continue
        if old.is_graph_output and (_is_input(new) or new.is_graph_output):
            new = _identity(graph, node, new, old.name)  # keep two interface values apart
        elif new in moved:
            new.type = merge_types(new.type, old.type)
        graph.replace_all_uses(old, new)
    graph.remove(node)
    counts["ifs_inlined"] += 1


def _detach_subgraphs(node: Node) -> None:
    """Take the subgraph attributes off ``node`` so removing it leaves them intact (they move to a copy)."""
    for key in [k for k, a in node.attrs.items() if a.kind in (AttrKind.GRAPH, AttrKind.GRAPHS)]:
        node.set_attr(key, None)


def _is_input(v: Value) -> bool:
    """A graph input (of this graph or an enclosing one): neither produced by a node nor constant."""
    return v.producer is None and v.const is None


def _identity(graph: Graph, anchor: Node, v: Value, name: str | None) -> Value:
    with graph.inserting_before(anchor):
        node = graph.add("Identity", [v], provenance=Provenance(PASS_NAME, (anchor.name,) if anchor.name else ()))
    node.output.type, node.output.name = v.type, name
    return node.output


# -- unused outputs of If, Loop and Scan ----------------------------------------------------

def _drop_unused_outputs(node: Node, counts: Counter[str]) -> bool:
    """Rebuild an If/Loop/Scan without the outputs nothing reads, dropping the matching body outputs.

    Loop and Scan carried values cannot be dropped: each feeds the next iteration through a body
    input and comes from an initial-value input, so only their per-iteration (scan) outputs can go.
    """
    layout = _output_layout(node)
    if layout is None:
        return False
    first, body_offset, bodies = layout
    outs = node.outputs
    dead = {i for i in range(first, len(outs)) if outs[i] is None or not outs[i].has_uses}  # type: ignore[union-attr]
    if not dead:
        return False
    keep = [i for i in range(len(outs)) if i not in dead]
    attrs = dict(node.attrs)
    if node.op == "Scan":
        for key in ("scan_output_axes", "scan_output_directions"):
            if key in attrs:
                values = attrs[key].value
                attrs[key] = Attr(attrs[key].kind, tuple(values[i - first] for i in keep if i >= first))
    for body in bodies:
        _keep_outputs(body, [i for i in range(body_offset)] + [i + body_offset for i in keep])
    _rebuild(node, keep, attrs)
    counts["outputs_removed"] += len(dead)
    return True


def _output_layout(node: Node) -> tuple[int, int, list[Graph]] | None:
    """(first droppable node output, how many leading body outputs have no node output, bodies)."""
    if node.domain not in ONNX_DOMAINS:
        return None
    if node.op == "If":
        return 0, 0, [node.attr("then_branch"), node.attr("else_branch")]
    if node.op == "Loop":
        return len(node.inputs) - 2, 1, [node.attr("body")]
    if node.op == "Scan":
        return len(node.inputs) - node.attr("num_scan_inputs"), 0, [node.attr("body")]
    return None


def _keep_outputs(graph: Graph, keep: Sequence[int]) -> None:
    """Keep only the outputs at ``keep`` (in order), with their names."""
    values, names = graph.outputs, graph.output_names
    graph.outputs = [values[i] for i in keep]
    for j, i in enumerate(keep):
        if names[i] != values[i].name:
            graph.set_output(j, values[i], names[i])


def _rebuild(node: Node, keep: Sequence[int], attrs: dict[str, Attr]) -> Node:
    graph = node.graph
    assert graph is not None
    old_outs = [node.outputs[i] for i in keep]
    new_outs = [None if o is None else Value(o.type, o.name) for o in old_outs]
    _detach_subgraphs(node)
    with graph.inserting_before(node):
        new = graph.add(node.op, node.inputs, attrs, domain=node.domain, outputs=new_outs, name=node.name,
                        provenance=Provenance(PASS_NAME, (node.name,) if node.name else ()))
    for old, nv in zip(old_outs, new_outs, strict=True):
        if old is not None and nv is not None:
            graph.replace_all_uses(old, nv)
    graph.remove(node)
    return new
