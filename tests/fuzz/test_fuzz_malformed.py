"""Every hand-built hostile model (``malformed.CASES``) ends as ``ok`` or a ``GraphoptError``, in bounded time,
writing nothing outside the output path; the ones that must be refused are refused at load, saying why."""

from __future__ import annotations

import pytest

from tests.fuzz import harness
from tests.fuzz.malformed import CASES

MUST_REFUSE_AT_LOAD = {
    "structure/cycle": "cycle", "structure/self-loop": "cycle", "structure/cycle-in-subgraph": "cycle",
    "structure/duplicate-outputs": "more than once", "names/not-utf8": "not valid UTF-8",
    "names/value-not-utf8": "not valid UTF-8", "tensors/unknown-dtype": "no ONNX data type",
    "tensors/undefined-dtype": "no element type", "tensors/minus-one-dim-with-data": "negative dims",
    "tensors/two-minus-one-dims": "negative dims", "tensors/negative-dims": "negative dims",
    "tensors/value-info-unknown-dtype": "no ONNX data type",
    "tensors/cast-to-invalid-dtype": "no ONNX data type", "tensors/sparse-index-out-of-range": "outside",
    "tensors/sparse-negative-index": "outside", "tensors/sparse-huge-dense-shape": "too large",
    "tensors/sparse-2d-indices-mismatch": "do not match", "subgraphs/if-nested-500": "nested",
    "subgraphs/if-branches-disagree": "does not fit", "subgraphs/loop-body-wrong-arity": "does not fit",
    "subgraphs/subgraph-shadows-outer-name": "shadows", "external/parent-directory": "escapes",
    "external/absolute-path": "escapes", "external/missing-file": "does not exist",
    "external/offset-past-end": "need", "external/short-file": "need", "external/negative-offset": "need",
    "external/non-numeric-offset": "not integers", "external/length-disagrees": "need",
    "external/huge-dims": "need", "external/nul-in-location": "NUL", "external/empty-location": "escapes",
}
MUST_PASS = {
    "structure/empty-graph", "structure/output-is-input", "structure/output-is-initializer",
    "structure/same-value-two-outputs", "structure/nodes-out-of-order", "structure/long-chain",
    "names/path-separators", "names/control-characters", "subgraphs/if-nested-30", "external/valid",
    "folding/constant-of-shape", "folding/expand", "folding/tile", "folding/range", "folding/broadcast-add",
    "folding/pad", "folding/one-hot", "folding/loop-huge-trip-count", "folding/eye-like",
    "folding/mul-by-zero-huge-input", "folding/rms-norm-huge-normalized-dims",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_model(name: str) -> None:
    model, external = CASES[name]()
    outcome = harness.check(model, name.split("/")[0], external)
    if name in MUST_REFUSE_AT_LOAD:
        assert outcome.status == "rejected", outcome
        loads = [line for line in outcome.detail.splitlines() if line.startswith(("load(path)", "load(proto)"))]
        assert any("ModelLoadError" in line and MUST_REFUSE_AT_LOAD[name] in line for line in loads), outcome
    if name in MUST_PASS:
        lines = outcome.detail.splitlines()
        assert not [line for line in lines if not line.startswith(("load(bytes)", "load(proto)"))], outcome


def test_expectations_name_real_cases() -> None:
    assert (MUST_REFUSE_AT_LOAD.keys() | MUST_PASS) <= CASES.keys()
