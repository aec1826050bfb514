"""Fuzzing one real exported model (the zoo's transformer encoder: attention, LayerNorm, shape arithmetic):
its bytes and its protobuf fields mutated, each result through the whole pipeline in a forked child."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz import harness
from tests.fuzz.generators import mutated_bytes, mutated_protos

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def zoo_model(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    from tests.zoo import export

    path: Path = export("transformer", tmp_path_factory.mktemp("zoo")).path
    data = path.read_bytes()
    assert harness.check(data, "zoo/seed").status == "ok"
    return {"transformer": data}


def test_mutated_zoo_model(zoo_model: dict[str, bytes]) -> None:
    @settings(max_examples=30 * harness.SCALE, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(mutated_bytes(zoo_model))
    def bytes_case(case: tuple[str, bytes]) -> None:
        harness.check(case[1], "zoo/bytes")

    @settings(max_examples=30 * harness.SCALE, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(mutated_protos(zoo_model))
    def proto_case(case: tuple[str, onnx.ModelProto]) -> None:
        harness.check(case[1], "zoo/proto-fields")

    bytes_case()
    proto_case()
