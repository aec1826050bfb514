"""The model zoo through the TorchScript frontend: trace or script → from_torchscript → optimize O2
(verifying after every pass) → to_onnx → ONNX Runtime, matching torch eager at the example batch size
and at another one (every input's leading dim is symbolic)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import graphopt
from graphopt.passes.instruments import VerifyEach
from tests import torchscript_zoo as tz

pytestmark = pytest.mark.slow

CASES = [
    ("resnet", "trace"), ("resnet", "script"),
    ("mobilenet", "trace"), ("mobilenet", "script"),
    ("unet", "trace"), ("unet", "script"),
    ("transformer", "trace"), ("transformer", "script"),
    ("lstm", "trace"), ("lstm", "script"),
    ("gpt2", "trace"), ("bert", "trace"),  # transformers' models do not script
    ("sequence_ops", "trace"), ("sequence_ops", "script"),  # GRU
    ("data_dependent", "script"),  # control flow on tensor values: tracing would bake one path in
]


@pytest.mark.parametrize(("name", "mode"), CASES, ids=[f"{n}-{m}" for n, m in CASES])
def test_zoo_model_matches_torch(name: str, mode: str) -> None:
    case = tz.case(name, mode)
    script = tz.script(case)
    graph = graphopt.from_torchscript(script, tuple(torch.from_numpy(x) for x in case.inputs))
    graphopt.verify(graph)
    model = graphopt.to_onnx(graphopt.optimize(graph, "O2", instruments=[VerifyEach()]))
    for inputs in (case.inputs, case.other_batch):
        assert inputs is not None
        expected = tz.eager(case, inputs)
        got = tz.run_onnx(model, inputs)
        assert len(got) == len(expected)
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5)
    if name == "data_dependent":
        assert {"Loop", "If"} <= {n.op for n in graph.walk()}
