"""Shared helpers for pass tests: before/after in the text form, idempotence, and numerics in ONNX Runtime."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

import graphopt
from graphopt.ir import Graph, graph_difference, parse
from graphopt.ir.verifier import verify
from graphopt.passes import Pass, PassResult
from graphopt.passes.numerics import random_inputs
from tests.backend_cases import outputs_match, run_ort


def check_rewrite(p: Pass, before: str, after: str) -> tuple[Graph, Graph, PassResult]:
    """Run ``p`` on the graph ``before`` describes and check it becomes ``after`` (structurally), verifies,
    reports ``modified`` truthfully, and changes nothing when run again. Returns (original, result, report)."""
    original = parse(before)
    graph = original.copy()
    result = p(graph)
    verify(graph)
    expected = parse(after)
    diff = graph_difference(graph, expected)
    assert diff is None, f"{diff}\n--- got:\n{graph}\n--- expected:\n{expected}"
    assert result.modified == (graph_difference(original, expected) is not None), result
    again = p(graph)
    assert not again.modified, f"a second run still changed the graph: {again}\n{graph}"
    return original, graph, result


def check_unchanged(p: Pass, text: str) -> PassResult:
    """``p`` leaves the graph alone and says so."""
    graph = parse(text)
    result = p(graph)
    assert not result.modified, result
    diff = graph_difference(graph, parse(text))
    assert diff is None, diff
    return result


def check_numerics(before: Graph, after: Graph, *, rtol: float = 0.0, atol: float = 0.0, seed: int = 0,
                   inputs: Mapping[str, np.ndarray] | None = None, target: str | None = None) -> None:
    """Both graphs, emitted as ONNX (``after`` for ``target``), give the same outputs in ONNX Runtime on the
    same random inputs (exactly by default)."""
    feeds = dict(inputs) if inputs is not None else random_inputs(before, seed)
    args = [feeds[v.name] for v in before.inputs]  # type: ignore[index]
    want = run_ort(graphopt.to_onnx(before), args)
    got = run_ort(graphopt.to_onnx(after, target=target), args)
    assert outputs_match(got, want, rtol, atol), f"outputs differ:\n{got}\nvs\n{want}"
