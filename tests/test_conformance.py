"""Conformance: every ONNX backend node case ONNX Runtime passes must pass after graphopt's round trip.

The round trip runs at O0, at O2 (standard ONNX) and at O3 for ``target="onnxruntime"`` (so the target's own
passes run too), each on the case as shipped and "frozen": every graph input after the first becomes an
initializer holding the case's input data, so that folding, fusions and pattern rewrites have constants to act
on while the first input keeps at least one node live.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import graphopt
from graphopt.errors import GraphoptError
from tests.backend_cases import as_numpy, node_cases, outputs_match, run_ort

DataSets = list[tuple[list[Any], list[Any]]]


def _ort_passes(case) -> bool:
    inputs, expected = case.data_sets[0]
    try:
        return outputs_match(run_ort(case.model, inputs), expected, case.rtol, case.atol)
    except Exception:
        return False


@pytest.fixture(scope="module")
def ort_cases():
    return [c for c in node_cases() if _ort_passes(c)]


def _frozen(case) -> tuple[onnx.ModelProto, DataSets] | None:
    """The case with its tensor inputs after the first as initializers of its first data set's values
    (None when it has no such input: the unfrozen run covers it)."""
    inputs, expected = case.data_sets[0]
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    graph = model.graph
    initialized = {t.name for t in graph.initializer}
    kept: list[onnx.ValueInfoProto] = []
    feeds: list[Any] = []
    data = iter(inputs)
    for info in graph.input:
        if info.name in initialized:
            kept.append(info)
            continue
        value = next(data)
        if not feeds or not isinstance(value, (np.ndarray, onnx.TensorProto)):
            kept.append(info)
            feeds.append(value)
            continue
        tensor = onnx.TensorProto()
        tensor.CopyFrom(numpy_helper.from_array(value) if isinstance(value, np.ndarray) else value)
        tensor.name = info.name
        graph.initializer.append(tensor)
    if len(feeds) == len(inputs):
        return None
    del graph.input[:]
    graph.input.extend(kept)
    return model, [(feeds, expected)]


def _frozen_cases(cases: list[Any]) -> list[tuple[Any, onnx.ModelProto, DataSets]]:
    frozen = [(case, _frozen(case)) for case in cases]
    return [(case, *f) for case, f in frozen if f is not None]


VARIANTS = [
    pytest.param("O0", None, False, id="O0"),
    pytest.param("O2", None, False, id="O2"),
    pytest.param("O2", None, True, id="O2-frozen"),
    pytest.param("O3", "onnxruntime", False, id="O3-onnxruntime"),
    pytest.param("O3", "onnxruntime", True, id="O3-onnxruntime-frozen"),
]


@pytest.mark.parametrize("pipeline, target, frozen", VARIANTS)
def test_round_trip_keeps_every_case_onnxruntime_passes(ort_cases, record_property, pipeline: str,
                                                        target: str | None, frozen: bool) -> None:
    assert len(ort_cases) > 1200
    failures, changed = [], 0
    cases = _frozen_cases(ort_cases) if frozen else [(c, c.model, c.data_sets) for c in ort_cases]
    for case, model, data_sets in cases:
        try:
            graph = graphopt.load(model)
            optimized = graphopt.optimize(graph, pipeline=pipeline, target=target)
            changed += str(optimized) != str(graph)
            out = graphopt.to_onnx(optimized, target=target)
            if not all(outputs_match(run_ort(out, inputs), expected, case.rtol, case.atol)
                       for inputs, expected in data_sets):
                failures.append(f"{case.name}: outputs differ")
        except Exception as e:
            failures.append(f"{case.name}: {type(e).__name__}: {e}")
    record_property("changed", changed)
    print(f"\n{pipeline} (target {target}, frozen {frozen}): {changed} of {len(cases)} cases changed")
    assert not failures, f"{len(failures)} of {len(cases)} cases broke:\n" + "\n".join(failures[:50])
    assert changed == 0 if pipeline == "O0" else changed >= MIN_CHANGED, "the passes stopped firing on the cases"


MIN_CHANGED = 200  # O2 rewrote 312 of 1334 cases (frozen: 255 of 952) on onnx 1.23.2; a floor, not a target


def test_reference_interpreter_on_backend_cases(record_property):
    """The numpy interpreter runs the cases too; the count is reported, and must not regress."""
    passed, ran = 0, 0
    for case in node_cases():
        try:
            graph = graphopt.load(case.model)
        except GraphoptError:
            continue
        ran += 1
        inputs, expected = case.data_sets[0]
        try:
            actual = graphopt.evaluate(graph, as_numpy(inputs))
        except GraphoptError:
            continue
        passed += outputs_match(actual, as_numpy(expected), case.rtol, case.atol)
    record_property("interpreter_passed", passed)
    print(f"\nreference interpreter: {passed} of {ran} backend node cases pass")
    assert passed >= INTERPRETER_FLOOR


INTERPRETER_FLOOR = 1794  # of 1884 on onnx 1.23.2; the rest: ops without kernels, random ops, bf16 rounding
