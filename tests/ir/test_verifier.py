"""The verifier names the node and the broken invariant; the interpreter says what it cannot run."""

from __future__ import annotations

import numpy as np
import pytest

from graphopt.errors import EvaluationError, VerificationError
from graphopt.ir import DType, Graph, Node, TensorType, Value, evaluate, infer_shapes
from graphopt.ir.verifier import verify

F32 = TensorType(DType.FLOAT, ("N", 4))


def graph_with(*ops: str) -> Graph:
    g = Graph()
    x = Value(F32, "x")
    g.inputs.append(x)
    v = x
    for op in ops:
        v = g.add(op, [v], name=op.lower()).output
    g.outputs = [v]
    infer_shapes(g)
    return g


def test_a_good_graph_verifies():
    verify(graph_with("Relu", "Neg"))


def test_use_before_definition():
    g = graph_with("Relu", "Neg")
    relu, neg = g.nodes
    relu.set_input(0, neg.output)
    with pytest.raises(VerificationError, match="Relu 'relu': input 0 .* is defined later"):
        verify(g)


def test_value_from_another_graph_is_out_of_scope():
    other = graph_with("Relu")
    g = graph_with("Neg")
    g.nodes[0].set_input(0, other.nodes[0].output)
    with pytest.raises(VerificationError, match="outside this graph's scope"):
        verify(g)


def test_stale_use_list():
    g = graph_with("Relu")
    x = g.inputs[0]
    x._uses[next(iter(x._uses))._replace(index=3)] = None
    with pytest.raises(VerificationError, match="stale use list"):
        verify(g)


def test_schema_violations():
    g = graph_with("Relu")
    g.nodes[0].set_attr("alpha", 0.5)
    with pytest.raises(VerificationError, match="Relu 'relu': unknown attribute 'alpha'"):
        verify(g)
    g = graph_with("Relu")
    g.nodes[0].append_input(g.inputs[0])
    with pytest.raises(VerificationError, match="takes 1..1 inputs, has 2"):
        verify(g)
    g = Graph()
    g.inputs.append(Value(F32, "x"))
    g.append(Node("Concat", [g.inputs[0]]))
    g.outputs = [g.nodes[0].output]
    with pytest.raises(VerificationError, match="required attribute 'axis' is missing"):
        verify(g)
    g = graph_with("Relu")
    g.nodes[0].op = "NotAnOnnxOp"
    with pytest.raises(VerificationError, match="NotAnOnnxOp is not an op of the canonical ONNX opset"):
        verify(g)


def test_recorded_type_must_agree_with_inference():
    g = graph_with("Relu")
    g.outputs[0].type = TensorType(DType.INT64, ("N", 4))
    with pytest.raises(VerificationError, match=r"recorded as i64\[N,4\] but the op gives f32\[N,4\]"):
        verify(g)


def test_subgraph_scoping():
    g = graph_with("Relu")
    body = Graph(name="then")
    inner = body.add("Neg", [g.nodes[0].output])
    body.outputs = [inner.output]
    other = Graph(name="else")
    other.outputs = [other.add("Neg", [g.inputs[0]]).output]
    cond = g.add_constant(np.array(True))
    node = Node("If", [cond], {"then_branch": body, "else_branch": other})
    g.insert_before(g.nodes[0], node)  # the If now reads Relu's output before Relu runs
    with pytest.raises(VerificationError, match="graph 'then': Neg: input 0 .* outside this graph's scope"):
        verify(g, check_types=False)


def test_ops_without_kernel_are_representable_but_not_evaluable():
    g = Graph()
    x = Value(F32, "x")
    g.inputs.append(x)
    node = g.add("MyCustomOp", [x], domain="com.example")
    node.output.type = F32
    g.outputs = [node.output]
    verify(g)
    with pytest.raises(EvaluationError, match="com.example::MyCustomOp has no reference kernel"):
        evaluate(g, {"x": np.ones((2, 4), np.float32)})
