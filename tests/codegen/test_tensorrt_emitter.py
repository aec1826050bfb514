"""The TensorRT emitter's API: check() reports, errors, precision, optimization profiles, layer names."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import graphopt
from graphopt.codegen import tensorrt as gt
from graphopt.errors import ExportError, UnsupportedOpError
from graphopt.ir import DType, TensorType, Value, infer_shapes, parse
from tests import tensorrt_emulator as emulator
from tests.codegen.tensorrt_backends import BACKENDS, build, build_and_run, run


def _cnn(batch: int | str = "N") -> graphopt.Graph:
    rng = np.random.default_rng(0)
    x = Value(TensorType(DType.FLOAT, (batch, 3, 8, 8)), "x")
    g = graphopt.Graph([x], name="cnn")
    w = g.add_constant(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    b = g.add_constant(rng.standard_normal(4).astype(np.float32), "b")
    y = g.add("Conv", [x, w, b], {"pads": [1, 1, 1, 1]}, name="conv").output
    r = g.add("Relu", [y], name="relu").output
    p = g.add("GlobalAveragePool", [r]).output
    g.outputs = [g.add("Flatten", [p]).output]
    infer_shapes(g)
    return g


def _reference(graph: graphopt.Graph, x: np.ndarray) -> np.ndarray:
    return graphopt.evaluate(graph, {"x": x})[0]


# -- check --------------------------------------------------------------------------------------------


def test_check_reports_native_and_plugin_nodes_without_tensorrt():
    g = parse("""
graph g(%x: f32[2,3], %i: i64[]) {
  %y: f32[2,3] = Relu(%x)
  %z: f32[2,3] = Hardmax(%y)
  %c: f32[2,3] = CumSum(%z, %i)
  return %c
}
""")
    report = gt.check(g)
    assert not report.ok
    assert [n.op for n in report.native] == ["Relu"]
    assert [(n.op, reason) for n, reason in report.plugin] == [
        ("Hardmax", "no converter for op Hardmax"),
        ("CumSum", "input(s) [1] must be constants for TensorRT (fold them first)")]
    text = str(report)
    assert "1 of 3 nodes lower natively" in text and "Relu x1" in text
    assert "2 node(s) would need a plugin" in text and "Hardmax" in text and "CumSum" in text


def test_check_explains_capability_refusals():
    g = parse("""
graph g(%x: f32[1,3,8,8], %w: f32[4,3,3,3]) {
  %y: f32[1,4,6,6] = Conv(%x, %w)
  %d: f64[1,4,6,6] = Cast(%y) {to=11}
  return %d
}
""")
    reasons = dict((n.op, r) for n, r in gt.check(g).plugin)
    assert "must be constants" in reasons["Conv"]
    assert "DOUBLE" in reasons["Cast"]


def test_check_on_a_whole_model_says_it_lowers():
    assert "the whole graph lowers" in str(gt.check(_cnn()))


# -- errors -------------------------------------------------------------------------------------------


def test_unsupported_ops_are_all_listed_at_once():
    g = parse("""
graph g(%x: f32[2,3]) {
  %a: f32[2,3] = Hardmax(%x)
  %b: f32[2,3] = Relu(%a)
  %c: f32[2,3] = Hardmax(%b)
  %d: f32[2,3] = LpNormalization(%c)
  return %d
}
""")
    with pytest.raises(UnsupportedOpError) as info:
        gt.to_tensorrt(g, trt=emulator)
    message = str(info.value)
    assert "3 node(s)" in message and message.count("no converter for op Hardmax") == 2 and "LpNormalization" in message
    assert "target='tensorrt'" in message


def test_unsupported_ops_are_reported_before_tensorrt_is_needed(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # `import tensorrt` raises ImportError
    g = parse("graph g(%x: f32[2]) {\n  %y: f32[2] = Hardmax(%x)\n  return %y\n}")
    with pytest.raises(UnsupportedOpError, match="Hardmax"):
        gt.to_tensorrt(g)


def test_missing_tensorrt_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(gt.TensorRTUnavailableError, match=r'pip install "graphopt\[tensorrt\]"'):
        graphopt.to_tensorrt(_cnn(2))


def test_stub_only_tensorrt_package_is_not_mistaken_for_tensorrt(monkeypatch):
    """tensorrt-stubs installs a `tensorrt` directory of .pyi files, which imports as an empty namespace."""
    namespace = types.ModuleType("tensorrt")
    namespace.__path__ = ["/site-packages/tensorrt"]
    monkeypatch.setitem(sys.modules, "tensorrt", namespace)
    with pytest.raises(gt.TensorRTUnavailableError, match="no Builder"):
        gt.load_tensorrt()


def test_no_gpu_is_a_clear_error():
    """TensorRT's Builder fails to construct (pybind's nullptr TypeError) where no CUDA device is visible."""

    class NoGpuBuilder(emulator.Builder):
        def __init__(self, logger: emulator.Logger) -> None:
            raise TypeError("pybind11::init(): factory function returned nullptr")

    trt = types.SimpleNamespace(**{name: getattr(emulator, name) for name in emulator.__all__})
    trt.Builder = NoGpuBuilder
    with pytest.raises(gt.TensorRTUnavailableError, match="CUDA GPU"):
        gt.to_tensorrt(_cnn(2), trt=trt)


def test_workspace_sets_the_builder_memory_pool_limit():
    configs = []

    class RecordingBuilder(emulator.Builder):
        def build_serialized_network(self, network, config):
            configs.append(config)
            return super().build_serialized_network(network, config)

    trt = types.SimpleNamespace(**{name: getattr(emulator, name) for name in emulator.__all__})
    trt.Builder = RecordingBuilder
    gt.to_tensorrt(_cnn(2), workspace=1 << 20, trt=trt)
    assert configs[0].get_memory_pool_limit(emulator.MemoryPoolType.WORKSPACE) == 1 << 20


def test_training_mode_dropout_does_not_lower_as_identity():
    g = parse("""
graph g(%x: f32[4], %t: bool[]) {
  %y: f32[4] = Dropout(%x, _, %t)
  return %y
}
""")
    assert "training mode" in str(gt.check(g))


def test_bad_precision_is_refused():
    with pytest.raises(ExportError, match="fp8"):
        gt.to_tensorrt(_cnn(2), precision="fp8", trt=emulator)


# -- precision ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_fp32_engine_matches_the_reference(backend):
    g = _cnn(2)
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(build_and_run(backend, g, [x])[0], _reference(g, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("precision", "dtype", "tolerance"), [("fp16", emulator.DataType.HALF, 5e-3),
                                                                ("bf16", emulator.DataType.BF16, 4e-2)])
def test_reduced_precision_casts_inputs_and_weights_and_keeps_float32_io(precision, dtype, tolerance):
    g = _cnn(2)
    network = emulator.Builder(emulator.Logger()).create_network(
        1 << int(emulator.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    gt.populate(g, network, precision, trt=emulator)
    assert network.get_input(0).dtype == emulator.DataType.FLOAT
    assert network.get_output(0).dtype == emulator.DataType.FLOAT
    casts = [layer for layer in network.layers if isinstance(layer, emulator.layers.ICastLayer)]
    assert casts[0].get_input(0) is network.get_input(0) and casts[0].to_type == dtype
    assert casts[-1].get_output(0) is network.get_output(0) and casts[-1].to_type == emulator.DataType.FLOAT
    conv = next(layer for layer in network.layers if isinstance(layer, emulator.layers.IConvolutionLayer))
    if dtype == emulator.DataType.BF16:  # numpy has no bfloat16 for Weights: kernel and bias are cast tensors
        assert conv.kernel.size == 0 and conv.get_input(1).dtype == conv.get_input(2).dtype == dtype
    else:
        assert conv.kernel.dtype == dtype and conv.bias.dtype == dtype
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    out = build_and_run("emulator", g, [x], precision=precision)[0]
    expected = _reference(g, x)
    assert out.dtype == np.float32
    assert np.abs(out - expected).max() <= tolerance * np.abs(expected).max()


# -- dynamic shapes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_dynamic_batch_with_an_optimization_profile(backend):
    g = _cnn("N")
    engine = build(backend, g, shapes={"x": ((1, 3, 8, 8), (4, 3, 8, 8), (8, 3, 8, 8))})
    for batch in (1, 3, 8):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 8, 8)).astype(np.float32)
        out = run(backend, engine, {"x": x})
        np.testing.assert_allclose(out[gt.output_names(g)[0]], _reference(g, x), rtol=1e-5, atol=1e-5)


def test_emulated_engine_rejects_shapes_outside_the_profile():
    engine = build("emulator", _cnn("N"), shapes={"x": ((1, 3, 8, 8), (2, 3, 8, 8), (4, 3, 8, 8))})
    with pytest.raises(emulator.TensorRTError, match="outside the profile"):
        emulator.run(engine, {"x": np.zeros((5, 3, 8, 8), np.float32)})


def test_dynamic_inputs_need_shapes():
    with pytest.raises(ExportError, match=r"\['x'\].*shapes="):
        gt.to_tensorrt(_cnn("N"), trt=emulator)


@pytest.mark.parametrize(("shapes", "message"), [
    ({"x": ((4, 3, 8, 8), (2, 3, 8, 8), (8, 3, 8, 8))}, "min <= opt <= max"),
    ({"x": ((1, 3, 8, 8), (2, 3, 9, 8), (8, 3, 8, 8))}, "does not fit"),
    ({"x": ((1, 3, 8, 8), (2, 3, 8, 8))}, r"\(min, opt, max\)"),
    ({"x": ((1, 3, 8, 8),) * 3, "y": ((1,),) * 3}, "not inputs"),
])
def test_bad_profiles_are_refused(shapes, message):
    with pytest.raises(ExportError, match=message):
        gt.to_tensorrt(_cnn("N"), shapes=shapes, trt=emulator)


def test_dynamic_dims_through_reshape_transpose_and_broadcast():
    """Flatten/Unsqueeze/rank-broadcast with a dynamic batch take run-time shape tensors where they must."""
    g = parse("""
graph g(%x: f32[N,4,6], %s: f32[6]) {
  %t: f32[N,6,4] = Transpose(%x) {perm=[0, 2, 1]}
  %a: i64[1] = const [1]
  %u: f32[N,1,6,4] = Unsqueeze(%t, %a)
  %m: f32[N,1,6,4] = Mul(%u, %u)
  %f: f32[N,24] = Flatten(%m)
  %y: f32[N,24] = Softmax(%f) {axis=1}
  %z: f32[N,4,6] = Add(%x, %s)
  return %y, %z
}
""")
    engine = build("emulator", g, shapes={"x": ((1, 4, 6), (2, 4, 6), (3, 4, 6))})
    rng = np.random.default_rng(0)
    for batch in (1, 3):
        feeds = {"x": rng.standard_normal((batch, 4, 6)).astype(np.float32),
                 "s": rng.standard_normal(6).astype(np.float32)}
        out = emulator.run(engine, feeds)
        for name, expected in zip(("y", "z"), graphopt.evaluate(g, feeds)):
            np.testing.assert_allclose(out[name], expected, rtol=1e-5, atol=1e-6)


# -- names and populate -------------------------------------------------------------------------------


def test_layer_names_carry_node_names_and_provenance():
    g = graphopt.optimize(_cnn(2), "O2")  # fuse-activation makes a graphopt::FusedConv
    network = emulator.Builder(emulator.Logger()).create_network(
        1 << int(emulator.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    gt.populate(g, network, trt=emulator)
    names = [layer.name for layer in network.layers]
    fused = [n for n in names if "fuse-" in n]
    assert fused and all("conv" in n for n in fused)
    assert any(layer.metadata.startswith("fuse-") for layer in network.layers)
    assert len(set(names)) == len(names)


def test_tensorrt_target_keeps_fusions_tensorrt_does_itself_as_plain_ops():
    g = _cnn(2)
    ops = {n.qualified_op for n in graphopt.optimize(g, "O2", target="tensorrt")}
    assert "graphopt::FusedConv" not in ops and {"Conv", "Relu"} <= ops
    assert "graphopt::FusedConv" in {n.qualified_op for n in graphopt.optimize(g, "O2")}
    assert graphopt.optimize(g, "O2", target="tensorrt").memory_plan is None


def test_graph_input_returned_as_output_gets_an_identity():
    g = parse("graph g(%x: f32[2]) {\n  %y: f32[2] = Relu(%x)\n  return %x, %y\n}")
    assert gt.output_names(g) == ["x__1", "y"]
    out = build_and_run("emulator", g, [np.array([-1, 2], np.float32)])
    np.testing.assert_array_equal(out[0], [-1, 2])
    np.testing.assert_array_equal(out[1], [0, 2])


# -- control flow -------------------------------------------------------------------------------------


IF_GRAPH = """
graph g(%x: f32[2,3]) {
  %s: f32[] = ReduceSum(%x) {keepdims=0}
  %zero: f32[] = const 0.0
  %c: bool[] = Greater(%s, %zero)
  %y: f32[2,3] = If(%c) {else_branch=graph neg() {
      %one: f32[] = const 1.0
      %e: f32[2,3] = Sub(%x, %one)
      return %e
    }, then_branch=graph pos() {
      %t: f32[2,3] = Mul(%x, %x)
      %u: f32[2,3] = Relu(%t)
      return %u
    }}
  return %y
}
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_if_lowers_to_a_conditional_that_runs_the_taken_branch(backend):
    g = parse(IF_GRAPH)
    assert gt.check(g).ok
    engine = build(backend, g)
    for sign in (1.0, -1.0):
        x = (sign * np.abs(np.random.default_rng(0).standard_normal((2, 3)))).astype(np.float32)
        out = run(backend, engine, {"x": x})[gt.output_names(g)[0]]
        np.testing.assert_allclose(out, graphopt.evaluate(g, {"x": x})[0], rtol=1e-6)


def test_if_input_boundaries_carry_outer_values_into_branches():
    network = emulator.Builder(emulator.Logger()).create_network(
        1 << int(emulator.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    gt.populate(parse(IF_GRAPH), network, trt=emulator)
    (conditional,) = network._conditionals
    assert len(conditional.inputs) == 2  # x, once per branch
    assert conditional.branch(0) and conditional.branch(1)


def test_if_with_branches_of_different_shapes_needs_a_plugin():
    g = parse("""
graph g(%c: bool[], %x: f32[3]) {
  %y: f32[?] = If(%c) {else_branch=graph a() {
      %k: f32[2] = const [1.0, 2.0]
      return %k
    }, then_branch=graph b() {
      return %x
    }}
  return %y
}
""")
    assert "not one static shape" in str(gt.check(g))


def test_gather_with_negative_indices_on_a_dynamic_axis_reads_the_size_at_run_time():
    g = parse("""
graph g(%x: f32[N,3], %i: i64[2]) {
  %y: f32[2,3] = Gather(%x, %i) {axis=0}
  return %y
}
""")
    engine = build("emulator", g, shapes={"x": ((1, 3), (4, 3), (8, 3)), "i": ((2,), (2,), (2,))})
    for rows in (2, 5):
        feeds = {"x": np.arange(rows * 3, dtype=np.float32).reshape(rows, 3), "i": np.array([-1, 0])}
        np.testing.assert_array_equal(emulator.run(engine, feeds)["y"], graphopt.evaluate(g, feeds)[0])


def test_lstm_unrolls_with_a_dynamic_batch():
    rng = np.random.default_rng(0)
    hidden, features, steps = 3, 2, 4
    x = Value(TensorType(DType.FLOAT, (steps, "N", features)), "x")
    g = graphopt.Graph([x], name="lstm")
    w, r, b = (g.add_constant(rng.standard_normal(shape).astype(np.float32)) for shape in
               ((2, 4 * hidden, features), (2, 4 * hidden, hidden), (2, 8 * hidden)))
    node = g.add("LSTM", [x, w, r, b], {"hidden_size": hidden, "direction": "bidirectional"}, num_outputs=3)
    g.outputs = list(node.outputs)
    infer_shapes(g)
    engine = build("emulator", g, shapes={"x": ((steps, 1, features), (steps, 2, features), (steps, 5, features))})
    for batch in (1, 5):
        feeds = {"x": rng.standard_normal((steps, batch, features)).astype(np.float32)}
        out = emulator.run(engine, feeds)
        for name, expected in zip(gt.output_names(g), graphopt.evaluate(g, feeds)):
            np.testing.assert_allclose(out[name], expected, rtol=1e-5, atol=1e-6)


def test_normalization_runs_in_float32_inside_an_fp16_network():
    g = parse("""
graph g(%x: f32[2,8]) {
  %s: f32[8] = const [1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0]
  %y: f32[2,8] = LayerNormalization(%x, %s) {axis=-1}
  return %y
}
""")
    network = emulator.Builder(emulator.Logger()).create_network(
        1 << int(emulator.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    gt.populate(g, network, "fp16", trt=emulator)
    (norm,) = [layer for layer in network.layers if isinstance(layer, emulator.layers.INormalizationLayer)]
    assert {t.dtype for t in norm._inputs} == {emulator.DataType.FLOAT}
    # (the emulator computes every layer in float32 and rounds its output, so the types above are the proof;
    # this checks the casts around the layer keep the answer)
    x = (np.random.default_rng(0).standard_normal((2, 8)) * 300).astype(np.float32)
    out = build_and_run("emulator", g, [x], precision="fp16")[0]
    np.testing.assert_allclose(out, graphopt.evaluate(g, {"x": x})[0], rtol=2e-2, atol=2e-2)
