"""ONNX emitter: valid models, unique names, output names kept, opsets, external data, OpenVINO loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphopt
from graphopt.errors import ExportError
from graphopt.ir import DType, Graph, Node, Provenance, TensorType, Value
from tests.backend_cases import run_ort


def small_graph() -> Graph:
    g = Graph()
    x = Value(TensorType(DType.FLOAT, ("N", 4)), "x")
    g.inputs.append(x)
    w = g.add_constant(np.arange(16, dtype=np.float32).reshape(4, 4), "w")
    mm = g.add("MatMul", [x, w])
    mm.output.name = "t"
    relu = g.add("Relu", [mm.output])
    relu.output.name = "t"  # a clashing name: made unique at export
    g.outputs = [relu.output, mm.output]
    graphopt.ir.infer_shapes(g)
    return g


def test_emitted_model_is_valid_and_names_are_unique():
    m = graphopt.to_onnx(small_graph())
    onnx.checker.check_model(m, full_check=True)
    names = [o for n in m.graph.node for o in n.output]
    assert len(names) == len(set(names))
    assert [o.name for o in m.graph.output] == ["t", "t__1"]
    assert {vi.name for vi in m.graph.value_info}.isdisjoint(o.name for o in m.graph.output)
    x = np.ones((3, 4), np.float32)
    relu, mm = run_ort(m, [x])
    np.testing.assert_allclose(mm, x @ np.arange(16, dtype=np.float32).reshape(4, 4))
    assert m.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "N"


def test_output_names_survive_rewrites_and_shared_outputs():
    g = small_graph()
    g.outputs = [g.outputs[0], g.outputs[0], g.inputs[0]]
    g.set_output(1, g.outputs[0], name="copy")
    g.set_output(2, g.inputs[0], name="passthrough")
    m = graphopt.to_onnx(g)
    onnx.checker.check_model(m)
    assert [o.name for o in m.graph.output][1:] == ["copy", "passthrough"]
    x = np.ones((2, 4), np.float32)
    a, b, c = run_ort(m, [x])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(c, x)


def test_provenance_reaches_node_names_and_docs():
    g = small_graph()
    relu = next(n for n in g if n.op == "Relu")
    relu.provenance = Provenance("fuse-matmul-relu", ("mm1", "relu1"))
    m = graphopt.to_onnx(g)
    node = next(n for n in m.graph.node if n.op_type == "Relu")
    assert node.name.startswith("fuse-matmul-relu/")
    assert "mm1, relu1" in node.doc_string


def test_lower_opset_turns_inputs_back_into_attributes():
    g = Graph()
    x = Value(TensorType(DType.FLOAT, (2, 3)), "x")
    g.inputs.append(x)
    axes = g.add_constant(np.array([0], np.int64))
    u = g.add("Unsqueeze", [x, axes])
    r = g.add("ReduceSum", [u.output, g.add_constant(np.array([2], np.int64))], {"keepdims": 0})
    g.outputs = [r.output]
    graphopt.ir.infer_shapes(g)
    x_val = np.arange(6, dtype=np.float32).reshape(2, 3)
    for opset in (11, 13, 17, 25):
        m = graphopt.to_onnx(g, opset=opset)
        onnx.checker.check_model(m)
        unsq = next(n for n in m.graph.node if n.op_type == "Unsqueeze")
        assert (len(unsq.input) == 1) == (opset < 13)
        np.testing.assert_allclose(run_ort(m, [x_val])[0], x_val.sum(axis=1)[None])
    dyn = Graph()
    y = Value(TensorType(DType.FLOAT, (2, 3)), "y")
    a = Value(TensorType(DType.INT64, (1,)), "a")
    dyn.inputs += [y, a]
    dyn.outputs = [dyn.add("Unsqueeze", [y, a]).output]
    dyn.outputs[0].type = TensorType(DType.FLOAT, None)
    with pytest.raises(ExportError, match="input 1 must be a constant"):
        graphopt.to_onnx(dyn, opset=11)


def test_ops_newer_than_the_requested_opset_are_refused():
    g = Graph()
    x = Value(TensorType(DType.FLOAT, (2,)), "x")
    g.inputs.append(x)
    g.outputs = [g.add("Gelu", [x]).output]
    graphopt.ir.infer_shapes(g)
    with pytest.raises(ExportError, match="Gelu needs opset >= 20"):
        graphopt.to_onnx(g, opset=17)
    assert graphopt.to_onnx(g).opset_import[0].version >= 20  # default rises to what the ops need


def test_save_with_external_data_round_trips(tmp_path: Path):
    w = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)
    m = helper.make_model(
        helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 256])],
                          [numpy_helper.from_array(w, "w")]),
        ir_version=8, opset_imports=[helper.make_opsetid("", 17)])
    g = graphopt.load(m)
    graphopt.save(g, tmp_path / "out.onnx", external_data=True)
    assert (tmp_path / "out.onnx.data").stat().st_size == w.nbytes
    onnx.checker.check_model(str(tmp_path / "out.onnx"))
    again = graphopt.load(tmp_path / "out.onnx")
    np.testing.assert_array_equal(again.constants[0].numpy(), w)
    x = np.ones((1, 256), np.float32)
    np.testing.assert_allclose(run_ort(onnx.load(tmp_path / "out.onnx"), [x])[0], x @ w, rtol=1e-4, atol=1e-4)


def test_emitted_model_runs_in_openvino():
    ov = pytest.importorskip("openvino")
    g = small_graph()
    m = graphopt.to_onnx(g)
    core = ov.Core()
    compiled = core.compile_model(core.read_model(m.SerializeToString(), b""), "CPU")
    x = np.ones((2, 4), np.float32)
    result = compiled([x])
    np.testing.assert_allclose(result[compiled.outputs[0]], run_ort(m, [x])[0], rtol=1e-5)


def test_unsupported_graphopt_ops_are_listed():
    g = Graph()
    x = Value(TensorType(DType.FLOAT, (2,)), "x")
    g.inputs.append(x)
    node = Node("MysteryFusion", [x], domain="graphopt")
    node.output.type = x.type
    g.append(node)
    g.outputs = [node.output]
    with pytest.raises(graphopt.GraphoptError, match="MysteryFusion"):
        graphopt.to_onnx(g)
