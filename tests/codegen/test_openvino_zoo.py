"""Every zoo model, emitted straight from graphopt's IR into OpenVINO (at O0 and at O2 for OpenVINO), gives
ONNX Runtime's answers on the original model."""

from __future__ import annotations

import numpy as np
import openvino as ov
import pytest

import graphopt
from tests import zoo
from tests.backend_cases import run_ort

pytestmark = pytest.mark.slow  # exporting the zoo with torch takes ~20 s; emitting and compiling ~10 s

CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}


@pytest.fixture(scope="module")
def core() -> ov.Core:
    return ov.Core()


@pytest.fixture(scope="module", params=zoo.NAMES)
def model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> zoo.ZooModel:
    return zoo.export(request.param, tmp_path_factory.mktemp("zoo"))


@pytest.mark.parametrize("level", ["O0", "O2"])
def test_zoo_model_matches_onnxruntime(core: ov.Core, model: zoo.ZooModel, level: str) -> None:
    import onnx

    expected = run_ort(onnx.load(model.path), model.inputs)
    graph = graphopt.optimize(graphopt.load(model.path), pipeline=level, target="openvino")
    compiled = core.compile_model(graphopt.to_openvino(graph), "CPU", CONFIG)
    result = compiled(model.inputs)
    actual = [result[o] for o in compiled.outputs]
    assert [o.get_any_name() for o in compiled.outputs] == [o.name for o in onnx.load(model.path).graph.output]
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert a.shape == e.shape and a.dtype == e.dtype
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-5)



def test_weights_over_2_gib_are_shared_not_copied(tmp_path) -> None:
    """The large model's 2.25 GB of memory-mapped weights become Constants over the same pages."""
    import psutil

    graph = graphopt.load(zoo.large_model(tmp_path))
    process = psutil.Process()
    before = process.memory_info().rss
    model = graphopt.to_openvino(graph)
    assert process.memory_info().rss - before < 200 * 2**20
    shapes = [tuple(op.get_output_shape(0)) for op in model.get_ops() if op.get_type_name() == "Constant"]
    assert shapes.count(zoo.LARGE_DIMS) == 3
