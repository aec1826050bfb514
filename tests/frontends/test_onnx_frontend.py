"""ONNX frontend: opset normalization, external data, and clear errors for malformed models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphopt
from graphopt.errors import ModelLoadError
from tests.backend_cases import run_ort


def model(nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", opset)])


def f32(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def test_garbage_and_truncated_protobuf(tmp_path: Path):
    good = model([helper.make_node("Relu", ["x"], ["y"])], [f32("x", [2])], [f32("y", [2])]).SerializeToString()
    cases = [("garbage.onnx", b"\xff\x00not a model at all" * 10), ("truncated.onnx", good[: len(good) // 2])]
    for name, data in cases:
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ModelLoadError, match=name):
            graphopt.load(path)
    with pytest.raises(ModelLoadError, match="cannot read"):
        graphopt.load(tmp_path / "missing.onnx")


def test_undefined_input_names_the_node():
    m = model([helper.make_node("Add", ["x", "ghost"], ["y"], name="adder")], [f32("x", [2])], [f32("y", [2])])
    with pytest.raises(ModelLoadError, match=r"Add 'adder' reads 'ghost'"):
        graphopt.load(m)


def test_cycle_is_reported():
    nodes = [helper.make_node("Add", ["x", "b"], ["a"], name="n1"), helper.make_node("Relu", ["a"], ["b"], name="n2")]
    m = model(nodes, [f32("x", [2])], [f32("b", [2])])
    with pytest.raises(ModelLoadError, match="cycle"):
        graphopt.load(m)


def test_duplicate_names():
    m = model([helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Neg", ["x"], ["y"])],
              [f32("x", [2])], [f32("y", [2])])
    with pytest.raises(ModelLoadError, match="'y' is defined twice"):
        graphopt.load(m)
    m = model([helper.make_node("Relu", ["x"], ["y"])], [f32("x", [2])], [f32("y", [2]), f32("y", [2])])
    with pytest.raises(ModelLoadError, match="lists output 'y' more than once"):
        graphopt.load(m)


def test_wrong_arity_and_attributes():
    m = model([helper.make_node("Relu", ["x", "x"], ["y"], name="r")], [f32("x", [2])], [f32("y", [2])])
    with pytest.raises(ModelLoadError, match=r"node r \(Relu\): Relu-14 takes 1..1 inputs"):
        graphopt.load(m)
    m = model([helper.make_node("Concat", ["x"], ["y"])], [f32("x", [2])], [f32("y", [2])])
    with pytest.raises(ModelLoadError, match="required attribute 'axis'"):
        graphopt.load(m)


def test_external_data_is_lazy_and_confined(tmp_path: Path):
    w = np.arange(4096, dtype=np.float32)
    m = model([helper.make_node("Add", ["x", "w"], ["y"])], [f32("x", [4096])], [f32("y", [4096])],
              [numpy_helper.from_array(w, "w")])
    onnx.save(m, tmp_path / "m.onnx", save_as_external_data=True, location="m.bin", size_threshold=0)
    g = graphopt.load(tmp_path / "m.onnx")
    const = g.constants[0].const
    assert type(const).__name__ == "ExternalTensor"
    assert isinstance(const.numpy(), np.memmap)
    np.testing.assert_array_equal(const.numpy(), w)

    evil = onnx.load(tmp_path / "m.onnx", load_external_data=False)
    for entry in evil.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = "../../etc/passwd"
    onnx.save(evil, tmp_path / "evil.onnx")
    with pytest.raises(ModelLoadError, match="escapes the model directory"):
        graphopt.load(tmp_path / "evil.onnx")


@pytest.mark.parametrize("opset", [7, 9, 11, 13, 17, 21])
def test_old_opsets_normalize_to_the_same_results(opset):
    """Attribute-vs-input forms (Reshape, Unsqueeze, ReduceSum/Mean, Slice, Clip, Pad, Split) across opsets."""
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    nodes, inits = [], []

    def const(name, value):
        inits.append(numpy_helper.from_array(np.array(value, dtype=np.int64), name))

    if opset < 13:
        nodes.append(helper.make_node("Unsqueeze", ["x"], ["u"], axes=[0]))
        nodes.append(helper.make_node("ReduceMean", ["u"], ["m"], axes=[3], keepdims=0))
    else:
        const("ax0", [0])
        const("ax3", [3])
        nodes.append(helper.make_node("Unsqueeze", ["x", "ax0"], ["u"]))
        nodes.append(helper.make_node("ReduceMean", ["u", "ax3"] if opset >= 18 else ["u"], ["m"],
                                      **({} if opset >= 18 else {"axes": [3]}), keepdims=0))
    if opset < 10:
        nodes.append(helper.make_node("Slice", ["m"], ["s"], starts=[0], ends=[2], axes=[2]))
    else:
        const("st", [0])
        const("en", [2])
        const("axs", [2])
        nodes.append(helper.make_node("Slice", ["m", "st", "en", "axs"], ["s"]))
    if opset < 11:
        nodes.append(helper.make_node("Clip", ["s"], ["c"], min=-0.5, max=0.5))
    else:
        inits += [numpy_helper.from_array(np.array(-0.5, np.float32), "lo"),
                  numpy_helper.from_array(np.array(0.5, np.float32), "hi")]
        nodes.append(helper.make_node("Clip", ["s", "lo", "hi"], ["c"]))
    const("shape", [2, 2])
    nodes.append(helper.make_node("Reshape", ["c", "shape"], ["y"]))
    m = model(nodes, [f32("x", [2, 3, 4])], [f32("y", [2, 2])], inits, opset=opset)
    expected = run_ort(m, [x])[0]
    g = graphopt.load(m)
    assert not any(n.op == "Reshape" and "shape" in n.attrs for n in g)
    np.testing.assert_allclose(graphopt.evaluate(g, {"x": x})[0], expected, rtol=1e-6)
    for target in (None, 25):
        np.testing.assert_allclose(run_ort(graphopt.to_onnx(g, opset=target), [x])[0], expected, rtol=1e-6)


def test_softmax_before_opset13_flattens():
    x = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)
    m = model([helper.make_node("Softmax", ["x"], ["y"], axis=1)], [f32("x", [2, 3, 4])], [f32("y", [2, 3, 4])],
              opset=11)
    expected = run_ort(m, [x])[0]
    g = graphopt.load(m)
    np.testing.assert_allclose(run_ort(graphopt.to_onnx(g, opset=25), [x])[0], expected, rtol=1e-5)
    np.testing.assert_allclose(graphopt.evaluate(g, [x])[0], expected, rtol=1e-5)


def test_model_local_functions_are_inlined():
    fn = helper.make_function("local", "DoubleRelu", ["a"], ["b"],
                              [helper.make_node("Relu", ["a"], ["t"]), helper.make_node("Add", ["t", "t"], ["b"])],
                              [helper.make_opsetid("", 17)])
    graph = helper.make_graph([helper.make_node("DoubleRelu", ["x"], ["y"], domain="local")], "g",
                              [f32("x", [3])], [f32("y", [3])])
    m = helper.make_model(graph, ir_version=8, functions=[fn],
                          opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local", 1)])
    g = graphopt.load(m)
    assert [n.op for n in g] == ["Relu", "Add"]
