"""Model zoo through graphopt's ONNX round trip: load → optimize O0 → to_onnx / save.

Each zoo model (tests/zoo.py) must come back with bit-identical ONNX Runtime outputs, the same node
sequence (graphopt lifts ``Constant`` nodes into initializers, so those are the one expected
difference, checked value by value), a model that passes the full ONNX checker, a file that
reloads, and a model that OpenVINO compiles and runs to the same answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort
import pytest

import graphopt
from graphopt.ir.tensor import ExternalTensor
from tests import zoo

pytestmark = pytest.mark.slow  # exporting the zoo with torch takes ~20 s


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("zoo")


@pytest.fixture(scope="module", params=zoo.NAMES)
def model(request: pytest.FixtureRequest, zoo_dir: Path) -> zoo.ZooModel:
    return zoo.export(request.param, zoo_dir)


@pytest.fixture(scope="module")
def original(model: zoo.ZooModel) -> onnx.ModelProto:
    return onnx.load(model.path)


@pytest.fixture(scope="module")
def graph(model: zoo.ZooModel) -> graphopt.Graph:
    return graphopt.optimize(graphopt.load(model.path), pipeline="O0")


@pytest.fixture(scope="module")
def emitted(graph: graphopt.Graph) -> onnx.ModelProto:
    return graphopt.to_onnx(graph)


@pytest.fixture(scope="module")
def expected(original: onnx.ModelProto, model: zoo.ZooModel) -> list[np.ndarray]:
    return run(original, model.inputs)


def run(model: onnx.ModelProto | Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """ONNX Runtime outputs, with graph optimizations off so the graph runs as written."""
    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    source = str(model) if isinstance(model, Path) else model.SerializeToString()
    session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs)})


def assert_identical(actual: list[np.ndarray], expected: list[np.ndarray]) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert a.dtype == e.dtype
        np.testing.assert_array_equal(a, e)


def op_sequence(model: onnx.ModelProto) -> list[tuple[str, str]]:
    return [(n.op_type, n.domain) for n in model.graph.node if n.op_type != "Constant"]


def constant_node_values(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Output name → value of each top-level ``Constant`` node."""
    values = {}
    for n in model.graph.node:
        if n.op_type == "Constant":
            (a,) = n.attribute
            value: Any = onnx.helper.get_attribute_value(a)
            values[n.output[0]] = (onnx.numpy_helper.to_array(value) if isinstance(value, onnx.TensorProto)
                                   else np.array(value))
    return values


def test_outputs_are_bit_identical(emitted: onnx.ModelProto, model: zoo.ZooModel,
                                   expected: list[np.ndarray]) -> None:
    assert_identical(run(emitted, model.inputs), expected)


def test_interface_is_kept(emitted: onnx.ModelProto, original: onnx.ModelProto) -> None:
    assert [i.name for i in emitted.graph.input] == [i.name for i in original.graph.input]
    assert [o.name for o in emitted.graph.output] == [o.name for o in original.graph.output]
    assert emitted.opset_import[0].version == original.opset_import[0].version


def test_op_sequence_is_kept_with_constants_lifted(emitted: onnx.ModelProto, original: onnx.ModelProto) -> None:
    assert op_sequence(emitted) == op_sequence(original)
    assert all(n.op_type != "Constant" for n in emitted.graph.node)
    initializers = {t.name: onnx.numpy_helper.to_array(t) for t in emitted.graph.initializer}
    lifted = constant_node_values(original)
    expected_names = {t.name for t in original.graph.initializer} | set(lifted)
    assert set(initializers) == expected_names
    for name, value in lifted.items():
        assert initializers[name].dtype == value.dtype, name
        np.testing.assert_array_equal(initializers[name], value, err_msg=name)
    for t in original.graph.initializer:
        np.testing.assert_array_equal(initializers[t.name], onnx.numpy_helper.to_array(t), err_msg=t.name)


def test_passes_full_checker(emitted: onnx.ModelProto) -> None:
    onnx.checker.check_model(emitted, full_check=True)


@pytest.mark.parametrize("external", [False, True], ids=["inline", "external"])
def test_save_and_load_back(graph: graphopt.Graph, original: onnx.ModelProto, model: zoo.ZooModel,
                            expected: list[np.ndarray], tmp_path: Path, external: bool) -> None:
    path = tmp_path / "saved.onnx"
    graphopt.save(graph, path, external_data=external)
    data_path = tmp_path / "saved.onnx.data"
    assert data_path.exists() == external
    onnx.checker.check_model(str(path), full_check=True)
    assert_identical(run(path, model.inputs), expected)

    reloaded = graphopt.load(path)
    lazy = [c for c in reloaded.constants if isinstance(c.const, ExternalTensor)]
    assert bool(lazy) == external
    again = graphopt.to_onnx(reloaded)
    assert op_sequence(again) == op_sequence(original)
    assert_identical(run(again, model.inputs), expected)


def test_openvino_compiles_and_agrees(emitted: onnx.ModelProto, model: zoo.ZooModel, expected: list[np.ndarray],
                                      tmp_path: Path) -> None:
    ov = pytest.importorskip("openvino")
    path = tmp_path / "emitted.onnx"
    onnx.save(emitted, path)
    core = ov.Core()
    # OpenVINO's CPU plugin runs in bf16 by default on CPUs that have it; ask for f32 to compare at 1e-4.
    compiled = core.compile_model(core.read_model(str(path)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    results = compiled(model.inputs)
    actual = [results[o] for o in compiled.outputs]
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-4)


def test_reference_interpreter_agrees(graph: graphopt.Graph, model: zoo.ZooModel,
                                      expected: list[np.ndarray]) -> None:
    actual = graphopt.evaluate(graph, model.inputs)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert np.asarray(a).dtype == e.dtype
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-5)
