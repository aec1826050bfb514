"""Fuzzing from the ONNX backend node tests' models (every op, real attribute settings) as seeds: their
protobuf fields mutated, each result through the whole pipeline in a forked child. Slow: building the
1,884 node-test models takes a while (the conformance tests share the cached set)."""

from __future__ import annotations

import functools

import onnx
import pytest
from hypothesis import HealthCheck, given, settings

from tests.backend_cases import node_cases
from tests.fuzz import harness
from tests.fuzz.generators import mutated_protos

pytestmark = pytest.mark.slow


@functools.cache
def _models() -> dict[str, bytes]:
    return {case.name: case.model.SerializeToString() for case in node_cases()}


def test_mutated_backend_models() -> None:
    @settings(max_examples=100 * harness.SCALE, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(mutated_protos(_models()))
    def case(case: tuple[str, onnx.ModelProto]) -> None:
        harness.check(case[1], "backend-models/proto-fields")

    case()
