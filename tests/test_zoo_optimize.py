"""Model zoo through graphopt's pipelines: load → optimize O1 / O2 (verifying after every pass) → to_onnx.

Each zoo model (tests/zoo.py) must give the original's ONNX Runtime outputs within rtol 1e-4, atol 1e-5,
and O1 (the pre stage) must leave no more nodes than onnxsim and onnxslim do on the same model.
Nodes are counted at the top level without ``Constant`` nodes: graphopt lifts those into
initializers, and onnxsim keeps some of its folded results as ``Constant`` nodes.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import graphopt
from graphopt.passes.instruments import VerifyEach
from tests import zoo

pytestmark = pytest.mark.slow  # exporting the zoo with torch takes ~20 s

LEVELS = ("O1", "O2")
PEERS = ("onnxsim", "onnxslim")



@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], zoo.ZooModel]:
    """Zoo model by name, exported on first request."""
    directory = tmp_path_factory.mktemp("zoo")
    return functools.cache(lambda name: zoo.export(name, directory))


@pytest.fixture(scope="module")
def optimized(export: Callable[[str], zoo.ZooModel]) -> Callable[[str, str], onnx.ModelProto]:
    """Zoo model by name optimized at a level (verifying after every pass), emitted as ONNX on first request."""

    @functools.cache
    def optimize(name: str, level: str) -> onnx.ModelProto:
        graph = graphopt.load(export(name).path)
        return graphopt.to_onnx(graphopt.optimize(graph, level, instruments=[VerifyEach()]))

    return optimize


def run(model: onnx.ModelProto, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """ONNX Runtime outputs, with graph optimizations off so the graph runs as written."""
    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs)})


def op_histogram(model: onnx.ModelProto) -> Counter[str]:
    return Counter(n.op_type for n in model.graph.node if n.op_type != "Constant")


def peer_output(peer: str, model: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    if peer == "onnxsim":
        import onnxsim

        simplified, ok = onnxsim.simplify(copy)
        assert ok
        return simplified
    import onnxslim

    return onnxslim.slim(copy)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", zoo.NAMES)
def test_outputs_match_the_original(export: Callable[[str], zoo.ZooModel],
                                    optimized: Callable[[str, str], onnx.ModelProto], name: str, level: str) -> None:
    model = export(name)
    expected = run(onnx.load(model.path), model.inputs)
    actual = run(optimized(name, level), model.inputs)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert a.dtype == e.dtype
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("name", "peer"), [(name, peer) for name in zoo.NAMES for peer in PEERS])
def test_o1_has_no_more_nodes_than_peer(export: Callable[[str], zoo.ZooModel],
                                        optimized: Callable[[str, str], onnx.ModelProto], name: str,
                                        peer: str) -> None:
    ours = op_histogram(optimized(name, "O1"))
    theirs = op_histogram(peer_output(peer, onnx.load(export(name).path)))
    assert ours.total() <= theirs.total(), \
        f"O1 leaves {ours.total()} nodes, {peer} {theirs.total()}; O1 has more {dict(ours - theirs)}, " \
        f"fewer {dict(theirs - ours)}"
