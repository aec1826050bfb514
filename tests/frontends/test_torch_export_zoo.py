"""The model zoo through the torch.export frontend: from_torch → optimize O2 (verifying after every
pass) → to_onnx → ONNX Runtime, against torch eager (rtol 1e-4, atol 1e-5), with static shapes and
with a dynamic batch dim run at a batch size other than the example's."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

import graphopt
from graphopt.passes.instruments import VerifyEach
from tests import torch_zoo

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::FutureWarning")]


def run(graph: graphopt.Graph, inputs: tuple[torch.Tensor, ...]) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    model = graphopt.to_onnx(graph)
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x.numpy() for i, x in zip(session.get_inputs(), inputs)})


def check(graph: graphopt.Graph, model: torch_zoo.TorchModel, inputs: tuple[torch.Tensor, ...]) -> None:
    optimized = graphopt.optimize(graph, "O2", instruments=[VerifyEach()])
    with torch.no_grad():
        expected = model.module(*inputs)
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = run(optimized, inputs)
    assert len(got) == len(expected)
    for actual, want in zip(got, expected):
        assert actual.shape == tuple(want.shape)
        np.testing.assert_allclose(actual, want.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", torch_zoo.NAMES)
def test_static_shapes_match_torch(name: str) -> None:
    model = torch_zoo.build(name)
    graph = graphopt.from_torch(model.module, model.example)
    graphopt.verify(graph)
    check(graph, model, model.example)


@pytest.mark.parametrize("name", torch_zoo.NAMES)
def test_dynamic_batch_runs_at_another_batch_size(name: str) -> None:
    model = torch_zoo.build(name)
    batch = torch.export.Dim("batch", max=64)
    graph = graphopt.from_torch(model.module, model.example, dynamic_shapes=tuple({0: batch} for _ in model.example))
    assert all(v.shape is not None and v.shape[0] == "batch" for v in graph.inputs)
    check(graph, model, model.other)


def test_gpt2_with_fused_attention_takes_any_batch_and_sequence_length() -> None:
    model = torch_zoo.build("gpt2_sdpa")
    batch, seq = torch.export.Dim("batch", max=16), torch.export.Dim("seq", min=2, max=32)
    graph = graphopt.from_torch(model.module, model.example, dynamic_shapes=({0: batch, 1: seq}, {0: batch, 1: seq}))
    assert [str(v.type) for v in graph.inputs] == ["i64[batch,seq]", "i64[batch,seq]"]
    assert any(n.op == "Attention" for n in graph)  # SDPA is kept whole, not decomposed
    ids, mask = (x[:, :14] for x in model.other)  # row 1 keeps two padded positions
    check(graph, model, (ids.contiguous(), mask.contiguous()))
