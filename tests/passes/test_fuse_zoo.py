"""The fusion passes on real CNNs: optimize(g, "O2") still matches ONNX Runtime on the original model, emitted
portably and for target="onnxruntime" (contrib FusedConv), within rtol 1e-4 / atol 1e-5."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import graphopt
from tests import zoo
from tests.test_zoo_roundtrip import run

pytestmark = pytest.mark.slow  # exports three torch models (~5 s)


@pytest.fixture(scope="module", params=["resnet", "mobilenet", "unet"])
def model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> zoo.ZooModel:
    return zoo.export(request.param, tmp_path_factory.mktemp("zoo"))


@pytest.mark.parametrize("target", [None, "onnxruntime"])
def test_o2_matches_original(model: zoo.ZooModel, target: str | None, tmp_path: Path) -> None:
    graph = graphopt.load(model.path)
    optimized = graphopt.optimize(graph, "O2", target=target, disable=["nchwc"])  # nchwc: tests/passes/test_nchwc.py
    assert sum(n.op == "FusedConv" for n in optimized) >= 3
    emitted = graphopt.to_onnx(optimized, target=target)
    domains = {n.domain for n in emitted.graph.node}
    assert domains == ({"", "com.microsoft"} if target == "onnxruntime" else {""})
    want = run(model.path, model.inputs)
    got = run(emitted, model.inputs)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
