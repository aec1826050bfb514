"""Values, nodes and graphs: use lists, safe mutation, insertion points, copy, sorting."""

from __future__ import annotations

import numpy as np
import pytest

from graphopt.errors import IRError
from graphopt.ir import DType, Graph, Node, TensorType, Use, Value


def chain() -> tuple[Graph, Value, list[Node]]:
    """x -> Relu -> Neg -> Abs -> output."""
    g = Graph()
    x = Value(TensorType(DType.FLOAT, ("N", 4)), "x")
    g.inputs.append(x)
    relu = g.add("Relu", [x])
    neg = g.add("Neg", [relu.output])
    ab = g.add("Abs", [neg.output])
    ab.output.name = "y"
    g.outputs = [ab.output]
    return g, x, [relu, neg, ab]


def test_uses_track_every_input_edit():
    g, x, (relu, neg, ab) = chain()
    assert x.uses == (Use(relu, 0),)
    add = g.add("Add", [x, x])
    assert x.uses == (Use(relu, 0), Use(add, 0), Use(add, 1))
    add.set_input(1, relu.output)
    assert x.uses == (Use(relu, 0), Use(add, 0))
    assert relu.output.users == [neg, add]
    assert not relu.output.has_one_use()
    assert neg.output.has_one_use()
    assert not ab.output.has_one_use()  # a graph output is a use too


def test_replace_all_uses_rewires_nodes_and_outputs_but_keeps_output_names():
    g, x, (relu, neg, ab) = chain()
    g.replace_all_uses(ab.output, neg.output)
    assert g.outputs == [neg.output]
    assert g.output_names == ["y"]
    g.remove(ab)
    assert [n.op for n in g] == ["Relu", "Neg"]


def test_remove_refuses_while_outputs_are_used():
    g, _, (relu, neg, ab) = chain()
    with pytest.raises(IRError, match="still used by Neg"):
        g.remove(relu)
    with pytest.raises(IRError, match="graph outputs"):
        g.remove(ab)


def test_iteration_survives_removal_and_visits_inserted_nodes():
    g, x, (relu, neg, ab) = chain()
    seen = []
    for node in g:
        seen.append(node.op)
        if node is relu:
            g.replace_all_uses(neg.output, relu.output)
            g.remove(neg)
            with g.inserting_after(relu):
                g.add("Sigmoid", [x])
    assert seen == ["Relu", "Sigmoid", "Abs"]
    assert len(g) == 3


def test_insertion_points_keep_call_order():
    g, x, (relu, neg, ab) = chain()
    with g.inserting_before(neg):
        a = g.add("Exp", [x])
        b = g.add("Log", [a.output])
    with g.inserting_after(ab):
        c = g.add("Tanh", [x])
    assert [n.op for n in g] == ["Relu", "Exp", "Log", "Neg", "Abs", "Tanh"]
    assert (b.prev, c.next) == (a, None)


def test_topological_sort_orders_and_detects_cycles():
    g = Graph()
    x = Value(TensorType(DType.FLOAT, (2,)), "x")
    g.inputs.append(x)
    late = Node("Relu", [x])
    early = Node("Neg", [late.output])
    g.append(early)
    g.append(late)
    g.outputs = [early.output]
    g.topological_sort()
    assert [n.op for n in g] == ["Relu", "Neg"]
    late.set_input(0, early.output)
    with pytest.raises(IRError, match="cycle"):
        g.topological_sort()


def test_copy_is_deep_and_shares_constant_data():
    g, x, _ = chain()
    w = g.add_constant(np.arange(4, dtype=np.float32), "w")
    add = g.add("Add", [g.outputs[0], w])
    g.set_output(0, add.output)
    h = g.copy()
    assert [n.op for n in h] == [n.op for n in g]
    assert h.output_names == ["y"]
    assert set(h.constants).isdisjoint(g.constants)
    assert h.constants[0].const is w.const
    assert all(n.graph is h for n in h)
    h.outputs[0].producer.set_input(0, h.inputs[0])
    assert add.inputs[0].producer.op == "Abs"  # the original is untouched


def test_subgraph_outer_references_are_uses_of_outer_values():
    g = Graph()
    x = Value(TensorType(DType.FLOAT, (2,)), "x")
    c = Value(TensorType(DType.BOOL, ()), "c")
    g.inputs += [x, c]
    then_g = Graph(name="then")
    inner = then_g.add("Relu", [x])
    then_g.outputs = [inner.output]
    else_g = Graph(name="else")
    inner2 = else_g.add("Neg", [x])
    else_g.outputs = [inner2.output]
    node = g.add("If", [c], {"then_branch": then_g, "else_branch": else_g})
    g.outputs = [node.output]
    assert then_g.parent is node
    assert {u.node for u in x.uses} == {inner, inner2}
    h = g.copy()
    assert {u.node.graph.name for u in h.inputs[0].uses} == {"then", "else"}


def test_node_attributes_are_typed_by_schema():
    node = Node("Conv", [], {"strides": [2, 2], "group": 1})
    assert node.attr("strides") == (2, 2)
    assert node.attr("auto_pad") == "NOTSET"  # schema default
    node.set_attr("pads", [])
    assert node.attrs["pads"].kind.name == "INTS"
    lrelu = Node("LeakyRelu", [], {"alpha": 1})
    assert lrelu.attrs["alpha"].kind.name == "FLOAT" and lrelu.attr("alpha") == 1.0
    with pytest.raises(IRError, match="no attribute 'nope'"):
        node.attr("nope")
