"""OpenVINO emitter: names, dynamic and symbolic shapes, shared constants, layouts, errors, saving IR."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

import graphopt
from graphopt.errors import GraphoptError, UnsupportedOpError
from graphopt.ir import DType, Graph, TensorType, Value
from tests.backend_cases import run_ort
from tests.codegen.test_onnx_emitter import small_graph  # outputs with clashing names

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tiny_cnn.onnx"
CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}


@pytest.fixture(scope="module")
def core() -> ov.Core:
    return ov.Core()


def run(core: ov.Core, model: ov.Model, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
    compiled = core.compile_model(model, "CPU", CONFIG)
    result = compiled(inputs)
    return {out.get_any_name(): result[out] for out in compiled.outputs}


def test_output_names_are_kept_and_made_unique(core):
    g = small_graph()
    g.outputs = [*g.outputs, g.outputs[0], g.inputs[0]]
    g.set_output(2, g.outputs[0], name="copy")
    g.set_output(3, g.inputs[0], name="passthrough")
    model = graphopt.to_openvino(g)
    assert [i.get_any_name() for i in model.inputs] == ["x"]
    assert [o.get_any_name() for o in model.outputs] == ["t", "t__1", "copy", "passthrough"]
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    out = run(core, model, [x])
    product = x @ np.arange(16, dtype=np.float32).reshape(4, 4)
    np.testing.assert_allclose(out["t__1"], product, rtol=1e-6)
    np.testing.assert_allclose(out["t"], np.maximum(product, 0), rtol=1e-6)
    np.testing.assert_array_equal(out["copy"], out["t"])
    np.testing.assert_array_equal(out["passthrough"], x)


def test_symbolic_dims_become_dynamic_dims_with_shared_symbols():
    g = Graph()
    a = Value(TensorType(DType.FLOAT, ("N", 4)), "a")
    b = Value(TensorType(DType.FLOAT, ("N", None)), "b")
    g.inputs += [a, b]
    g.outputs = [g.add("Concat", [a, b], {"axis": 1}).output]
    graphopt.ir.infer_shapes(g)
    model = graphopt.to_openvino(g)
    sa, sb = (i.get_partial_shape() for i in model.inputs)
    assert sa[0].is_dynamic and sa[1].get_length() == 4 and sb[1].is_dynamic
    assert sa[0].get_symbol() is not None
    assert sa[0].get_symbol() == sb[0].get_symbol()  # the same name "N": one symbol
    assert sb[1].get_symbol() is None  # an unknown dim carries no symbol


def test_dynamic_batch_compiles_once_and_runs_other_batches(core):
    g = graphopt.load(EXAMPLE)
    compiled = core.compile_model(graphopt.to_openvino(g), "CPU", CONFIG)
    rng = np.random.default_rng(0)
    for batch in (1, 3):
        x = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
        (expected,) = run_ort(graphopt.to_onnx(g), [x])
        np.testing.assert_allclose(compiled([x])[0], expected, rtol=1e-4, atol=1e-5)


def test_constants_share_the_graph_arrays():
    g = graphopt.load(EXAMPLE)
    weight = next(c for c in g.constants if c.name == "stem.w")
    model = graphopt.to_openvino(g)
    constants = [op for op in model.get_ops() if op.get_type_name() == "Constant"]
    addresses = {c.get_data().ctypes.data for c in constants}
    assert weight.numpy().ctypes.data in addresses


def test_shared_constants_outlive_the_graph(core):
    g = small_graph()
    model = graphopt.to_openvino(g)
    del g
    gc.collect()
    x = np.ones((2, 4), np.float32)
    out = run(core, model, [x])
    np.testing.assert_allclose(out["t__1"], x @ np.arange(16, dtype=np.float32).reshape(4, 4))


def test_inputs_read_as_images_get_a_layout():
    model = graphopt.to_openvino(graphopt.load(EXAMPLE))
    assert model.inputs[0].get_node().get_layout() == ov.Layout("NCHW")
    assert graphopt.to_openvino(small_graph()).inputs[0].get_node().get_layout().empty


def test_fused_ops_lower_to_openvino(core):
    g = graphopt.load(EXAMPLE)
    optimized = graphopt.optimize(g, pipeline="O2")
    assert any(n.op == "FusedConv" for n in optimized)
    x = np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32)
    (expected,) = run_ort(graphopt.to_onnx(g), [x])
    (actual,) = run(core, graphopt.to_openvino(optimized), [x]).values()
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)


def test_unsupported_ops_are_listed_together():
    g = Graph()
    x = Value(TensorType(DType.FLOAT, (4,)), "x")
    g.inputs.append(x)
    custom = g.add("Frobnicate", [x], domain="com.example", name="mine")
    pool = g.add("MaxPool", [g.add("Unsqueeze", [x, g.add_constant(np.array([0, 1]))]).output],
                 {"kernel_shape": [1], "storage_order": 1}, name="pool")
    g.outputs = [custom.output, pool.outputs[0]]
    with pytest.raises(UnsupportedOpError) as err:
        graphopt.to_openvino(g)
    message = str(err.value)
    assert "2 node(s)" in message
    assert "com.example::Frobnicate 'mine': no OpenVINO converter" in message
    assert "MaxPool 'pool': column-major indices (storage_order=1) are supported for 2-D pooling only" in message


def test_missing_openvino_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # makes `import openvino` raise ImportError
    with pytest.raises(GraphoptError, match=r'pip install "graphopt\[openvino\]"'):
        graphopt.to_openvino(small_graph())


def test_save_writes_openvino_ir_that_reloads(core, tmp_path):
    g = graphopt.load(EXAMPLE)
    path = tmp_path / "tiny.xml"
    graphopt.save(g, path)
    assert path.with_suffix(".bin").stat().st_size > 0
    model = core.read_model(path)
    assert [o.get_any_name() for o in model.outputs] == ["probs"]
    types = {op.get_output_element_type(0).get_type_name() for op in model.get_ops()
             if op.get_type_name() == "Constant" and op.get_output_element_type(0).is_real()}
    assert types == {"f32"}  # weights kept in float32, not OpenVINO's default f16 compression
    x = np.random.default_rng(2).standard_normal((2, 3, 32, 32)).astype(np.float32)
    (expected,) = run_ort(graphopt.to_onnx(g), [x])
    (actual,) = run(core, model, [x]).values()
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)


def test_openvino_pipeline_leaves_scheduling_and_memory_planning_to_openvino():
    from graphopt.passes.pipeline import build_stages

    names = {p.name for stage in build_stages("O2", "openvino") for p in stage.passes}
    assert {"replace-patterns", "fuse-activation", "fuse-matmul-add"} <= names
    assert names.isdisjoint({"schedule", "plan-memory", "nchwc", "ort-attention"})


def test_openvino_ops_are_named_after_their_node_or_the_pass_that_made_it():
    g = graphopt.optimize(graphopt.load(EXAMPLE), "O2", target="openvino")
    names = [op.get_friendly_name() for op in graphopt.to_openvino(g).get_ordered_ops()]
    assert "fuse-conv-relu(stem/relu)" in names  # a FusedConv made by fuse-activation from the stem's Relu
    assert "fuse-conv-relu(stem/relu)/Convolution" in names
    assert {"fc", "fc/MatMul", "softmax"} <= set(names)  # nodes keep the model's own names
    assert len(set(names)) == len(names)
