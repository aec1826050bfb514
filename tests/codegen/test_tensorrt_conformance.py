"""The TensorRT emitter against ONNX Runtime: every zoo model and the ONNX backend node cases it covers.

Each graph is emitted into the emulator (and into real TensorRT where it and a GPU exist), built, run, and
compared with ONNX Runtime's outputs on the original model.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphopt
from graphopt.codegen import tensorrt as gt
from graphopt.errors import GraphoptError
from graphopt.ir.core import Graph
from tests import zoo
from tests.backend_cases import as_numpy, node_cases, outputs_match, run_ort
from tests.codegen.tensorrt_backends import BACKENDS, build, build_and_run, run

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("zoo_trt")


def _ort(path, inputs):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs)})


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", zoo.NAMES)
def test_zoo_model_matches_onnxruntime(name, backend, zoo_dir):
    model = zoo.export(name, zoo_dir)
    graph = graphopt.optimize(graphopt.load(model.path), "O2", target="tensorrt")
    report = gt.check(graph)
    assert report.ok, str(report)
    expected = _ort(model.path, model.inputs)
    actual = build_and_run(backend, graph, model.inputs)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
@pytest.mark.parametrize("name", ["mobilenet", "transformer"])
def test_zoo_model_at_reduced_precision(name, precision, zoo_dir):
    """fp16/bf16 engines keep float32 I/O and land within the lower type's rounding of float32's answer."""
    model = zoo.export(name, zoo_dir)
    graph = graphopt.optimize(graphopt.load(model.path), "O2", target="tensorrt")
    expected = _ort(model.path, model.inputs)[0]
    actual = build_and_run("emulator", graph, model.inputs, precision=precision)[0]
    assert actual.dtype == np.float32
    tolerance = 0.02 if precision == "fp16" else 0.1  # relative to the output's scale
    scale = float(np.abs(expected).max())
    assert float(np.abs(actual - expected).max()) <= tolerance * scale
    assert not np.array_equal(actual, build_and_run("emulator", graph, model.inputs)[0])  # really lower precision


# -- ONNX backend node cases -----------------------------------------------------------------------


def _with_constant_weights(graph: Graph, inputs: list) -> Graph:
    """All inputs but the first become constants (weights, shapes, axes), as in a deployed model."""
    g = graph.copy()
    if not g.inputs:
        raise ValueError(f"graph {graph.name!r} has no inputs")
    first, *rest = g.inputs
    for v, x in zip(rest, inputs[1:]):
        g.replace_all_uses(v, g.add_constant(np.asarray(x), v.name))
    g.inputs = [first]
    return g


def _covered_cases():
    """(case, graph, inputs, how) for each case the emitter covers: as it is, or else with its non-first inputs
    as constants and O1 applied (the graph must keep at least one real node)."""
    for case in node_cases():
        inputs = case.data_sets[0][0]
        try:
            graph = graphopt.load(case.model)
            if gt.check(graph).ok:
                yield case, graph, inputs, "as is"
                continue
            frozen = graphopt.optimize(_with_constant_weights(graph, as_numpy(inputs)), "O1")
        except (GraphoptError, ValueError):
            continue
        if gt.check(frozen).ok and any(n.op != "Identity" for n in frozen):
            yield case, frozen, inputs[:1], "constant weights"


def test_backend_node_cases_match_onnxruntime(record_property):
    """Cases ONNX Runtime runs correctly are compared with its outputs; cases it cannot run (opsets newer than it
    knows) with the reference outputs shipped with onnx, and counted apart."""
    counts = {"as is": 0, "constant weights": 0, "reference only": 0}
    failures = []
    for case, graph, inputs, how in _covered_cases():
        reference = as_numpy(case.data_sets[0][1])
        try:
            expected = run_ort(case.model, case.data_sets[0][0])
        except Exception:
            if any(np.asarray(r).dtype.name == "bfloat16" for r in reference):
                continue  # a bf16 network rounds after every layer, the reference once: not comparable at its rtol
            expected, how = reference, "reference only"
        if how != "reference only" and not outputs_match(expected, reference, case.rtol, case.atol):
            continue  # ONNX Runtime runs it but disagrees with the reference: no trustworthy answer
        counts[how] += 1
        try:
            actual = build_and_run("emulator", graph, as_numpy(inputs))
            if not outputs_match(actual, expected, case.rtol, case.atol):
                failures.append(f"{case.name} ({how}): outputs differ from the expected ones")
        except Exception as e:
            failures.append(f"{case.name} ({how}): {type(e).__name__}: {e}")
    record_property("tensorrt_cases", counts)
    print(f"\nTensorRT emitter on the emulator, ONNX backend node cases: {counts['as is']} as they are and "
          f"{counts['constant weights']} with constant weights match ONNX Runtime; {counts['reference only']} that "
          "ONNX Runtime cannot run match onnx's reference outputs")
    assert not failures, f"{len(failures)} cases broke:\n" + "\n".join(failures[:40])
    assert counts["as is"] >= 550 and counts["constant weights"] >= 220 and counts["reference only"] >= 70


def _export_dynamic(name: str, directory) -> tuple:
    """Zoo model ``name`` exported with a dynamic batch and sequence length (TorchScript exporter)."""
    import contextlib
    import io
    import warnings

    import torch

    spec = zoo.SPECS[name]
    torch.manual_seed(0)
    model = spec.build().eval()
    inputs = spec.inputs(np.random.default_rng(0))
    path = directory / f"{name}_dynamic.onnx"
    axes = {n: {0: "batch", 1: "sequence"} for n in spec.input_names}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, tuple(torch.from_numpy(x) for x in inputs), str(path), input_names=list(
            spec.input_names), output_names=["output"], opset_version=zoo.OPSET, dynamo=False, dynamic_axes=axes)
    return path, inputs


@pytest.mark.parametrize("name", ["bert", "gpt2"])
def test_transformer_with_dynamic_batch_and_sequence_runs_across_its_profile(name, zoo_dir):
    """Shape computations stay in the network (Shape, Gather, Range as a Fill, Slice and Expand with run-time
    bounds): one engine serves every batch and sequence length in the profile."""
    path, inputs = _export_dynamic(name, zoo_dir)
    graph = graphopt.optimize(graphopt.load(path), "O2", target="tensorrt")
    assert gt.check(graph).ok, str(gt.check(graph))
    shapes = {v.name: ((1, 1), (2, 16), (4, 32)) for v in graph.inputs}
    engine = build("emulator", graph, shapes=shapes)
    for batch, length in ((1, 5), (2, 16), (4, 32)):
        feeds = [np.resize(x, (batch, length)) for x in inputs]
        feeds[1][:, :] = 1  # the attention mask: all positions real
        expected = _ort(path, feeds)[0]
        actual = run("emulator", engine, {v.name: x for v, x in zip(graph.inputs, feeds)})[gt.output_names(graph)[0]]
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)
