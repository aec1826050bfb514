"""Hypothesis-driven fuzzing: mutated bytes and protobuf fields of real models, and random graphs of random ops.

Each input goes through load → optimize(O0..O3) → to_onnx → save in a forked child (see ``harness``) and must
end as ``ok`` or a ``GraphoptError``: no other exception, no hang, no crash of the process, no file written
outside the output path. Counts are modest here (seeded, so the same inputs every run); set
``GRAPHOPT_FUZZ_SCALE=20`` for a long run by hand.
"""

from __future__ import annotations

from typing import Any

import onnx
from hypothesis import HealthCheck, given, settings

from tests.fuzz import harness
from tests.fuzz.generators import mutated_bytes, mutated_protos, random_op_models


def _settings(examples: int) -> Any:
    return settings(max_examples=examples * harness.SCALE, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


@_settings(150)
@given(mutated_bytes())
def test_mutated_bytes(case: tuple[str, bytes]) -> None:
    label, data = case
    harness.check(data, f"bytes/{label.split('/')[1]}")


@_settings(120)
@given(mutated_protos())
def test_mutated_protos(case: tuple[str, onnx.ModelProto]) -> None:
    label, model = case
    harness.check(model, "proto-fields")


@_settings(100)
@given(random_op_models())
def test_random_op_graphs(case: tuple[str, onnx.ModelProto]) -> None:
    label, model = case
    harness.check(model, "random-ops")
