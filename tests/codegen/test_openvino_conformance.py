"""ONNX backend node cases through the OpenVINO emitter, against OpenVINO's own ONNX frontend.

A case counts when OpenVINO runs the original ONNX model on CPU and matches the expected outputs. Each such
case, loaded into graphopt and emitted directly with ``to_openvino``, must match too, or be refused up front
with an :class:`UnsupportedOpError` (never a wrong answer, never an OpenVINO error). With the installed
versions none is refused; a new onnx or OpenVINO that adds cases may raise UNSUPPORTED_CEILING knowingly.

Compiling dominates the run time (~40 ms per model, whatever its size), so the models are compiled in groups:
the cases of a group become one ``ov.Model`` with disjoint parts, compiled and run once. A group that fails
is retried case by case, so every failure is attributed to its case.
"""

from __future__ import annotations

import collections
from typing import Any

import openvino as ov
import pytest

import graphopt
from graphopt.errors import UnsupportedOpError
from tests.backend_cases import as_numpy, node_cases, outputs_match

pytestmark = pytest.mark.slow

CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}
GROUP = 16
UNSUPPORTED_CEILING = 0
"""Cases OpenVINO runs from ONNX that graphopt refuses: none of the 1371 with onnx 1.23.2 / openvino 2026.4."""

Outcome = list[Any] | Exception


def _run_one(core: ov.Core, model: ov.Model, inputs: list[Any]) -> Outcome:
    try:
        compiled = core.compile_model(model, "CPU", CONFIG)
        result = compiled(inputs)
        return [result[o] for o in compiled.outputs]
    except Exception as e:
        return e


def run_grouped(core: ov.Core, jobs: list[tuple[ov.Model, list[Any]]]) -> list[Outcome]:
    """Outputs (or the error) of each ``(model, inputs)``; models are compiled ``GROUP`` at a time."""
    outcomes: list[Outcome] = []
    for start in range(0, len(jobs), GROUP):
        group = jobs[start:start + GROUP]
        counts = [len(m.outputs) for m, _ in group]
        merged = ov.Model([r for m, _ in group for r in m.get_results()],
                          [p for m, _ in group for p in m.get_parameters()])
        flat = _run_one(core, merged, [x for _, inputs in group for x in inputs])
        if isinstance(flat, Exception):
            outcomes += [_run_one(core, m, inputs) for m, inputs in group]
            continue
        for n in counts:
            outcomes.append(flat[:n])
            flat = flat[n:]
    return outcomes


def _matches(outcome: Outcome, case: Any) -> bool:
    _, expected = case.data_sets[0]
    return not isinstance(outcome, Exception) and outputs_match(outcome, as_numpy(expected), case.rtol, case.atol)


def cases_openvino_runs(core: ov.Core) -> list[Any]:
    jobs, cases = [], []
    for case in node_cases():
        try:
            jobs.append((core.read_model(case.model.SerializeToString(), b""), list(as_numpy(case.data_sets[0][0]))))
            cases.append(case)
        except Exception:
            continue
    return [c for c, outcome in zip(cases, run_grouped(core, jobs)) if _matches(outcome, c)]


def test_every_case_openvino_runs_from_onnx_runs_from_graphopt(record_property):
    assert all(len(c.data_sets) == 1 for c in node_cases())  # one input set per case, as grouping assumes
    core = ov.Core()
    from_onnx = cases_openvino_runs(core)
    refused: collections.Counter[str] = collections.Counter()
    failures, jobs, emitted = [], [], []
    for case in from_onnx:
        try:
            jobs.append((graphopt.to_openvino(graphopt.load(case.model)), list(as_numpy(case.data_sets[0][0]))))
            emitted.append(case)
        except UnsupportedOpError as e:
            label, reason = str(e).splitlines()[1].strip().split(": ", 1)
            refused[f"{label.split()[0]}: {reason}"] += 1
        except Exception as e:
            failures.append(f"{case.name}: {type(e).__name__}: {e}")
    passed = 0
    for case, outcome in zip(emitted, run_grouped(core, jobs)):
        if _matches(outcome, case):
            passed += 1
        else:
            failures.append(f"{case.name}: {outcome!r}" if isinstance(outcome, Exception) else f"{case.name}: "
                            "outputs differ")
    record_property("from_onnx", len(from_onnx))
    record_property("from_graphopt", passed)
    print(f"\nOpenVINO runs {len(from_onnx)} backend node cases from ONNX; graphopt's emitter runs {passed} of "
          f"them and refuses {sum(refused.values())}: {dict(refused.most_common())}")
    assert len(from_onnx) > 1300
    assert not failures, f"{len(failures)} cases broke:\n" + "\n".join(failures[:40])
    assert sum(refused.values()) <= UNSUPPORTED_CEILING
