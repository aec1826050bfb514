"""One test per bug the fuzzers found, named after it (see FINDINGS.md); each failed before its fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import graphopt
from graphopt.errors import ModelLoadError, VerificationError
from graphopt.passes.pre.fold_constants import FoldConstants
from tests.backend_cases import outputs_match, run_ort
from tests.fuzz.malformed import CASES, _nested_ifs
from tests.fuzz.seeds import const, f32, i64, mlp, model


def _build(name: str) -> onnx.ModelProto | bytes:
    return CASES[name]()[0]


def test_non_utf8_strings_are_load_errors() -> None:
    """Protobuf hands invalid UTF-8 over as bytes: an op type crashed onnx.defs, a value name the emitter."""
    for case in ("names/not-utf8", "names/value-not-utf8"):
        with pytest.raises(ModelLoadError, match="not valid UTF-8"):
            graphopt.load(_build(case))


@pytest.mark.parametrize("case", ["tensors/unknown-dtype", "tensors/undefined-dtype",
                                  "tensors/value-info-unknown-dtype", "tensors/cast-to-invalid-dtype"])
def test_unknown_dtype_codes_are_load_errors(case: str) -> None:
    """DType(999) raised ValueError; UNDEFINED data raised TypeError; Cast(to=12345) crashed eliminate-noops."""
    with pytest.raises(ModelLoadError, match="data type|element type"):
        graphopt.load(_build(case))


@pytest.mark.parametrize("case", ["tensors/minus-one-dim-with-data", "tensors/two-minus-one-dims",
                                  "tensors/negative-dims"])
def test_negative_initializer_dims_are_load_errors(case: str) -> None:
    """dims [-1, -1] with 4 bytes passed the byte-count check (the product is 1) and numpy's reshape raised
    ValueError; dims [-1, 2] with 16 bytes loaded as a 2x2 tensor, numpy inferring the -1."""
    with pytest.raises(ModelLoadError, match="negative dims"):
        graphopt.load(_build(case))


@pytest.mark.parametrize("case", ["tensors/sparse-index-out-of-range", "tensors/sparse-negative-index",
                                  "tensors/sparse-2d-indices-mismatch", "tensors/sparse-huge-dense-shape"])
def test_sparse_initializers_are_checked(case: str) -> None:
    """Indices were used unchecked (IndexError, or a negative one silently wrapped); a huge dense shape
    raised MemoryError."""
    with pytest.raises(ModelLoadError, match="sparse tensor 'w'"):
        graphopt.load(_build(case))


def test_valid_sparse_initializer_still_loads() -> None:
    sparse = helper.make_sparse_tensor(const("w", [1.0, 2.0]), const("w_idx", [[0, 1], [2, 3]], np.int64), [3, 4])
    m = model([helper.make_node("Identity", ["w"], ["y"])], [], [f32("y", [3, 4])], sparse_initializer=[sparse])
    (got,) = graphopt.evaluate(graphopt.load(m), {})
    want = np.zeros((3, 4), np.float32)
    want[0, 1], want[2, 3] = 1.0, 2.0
    np.testing.assert_array_equal(got, want)


def test_node_reading_its_own_output_is_a_cycle() -> None:
    """Graph.topological_sort ignored self-edges, so ``y = Add(x, y)`` loaded and only O0's verifier caught it."""
    with pytest.raises(ModelLoadError, match="cycle through 1 nodes"):
        graphopt.load(_build("structure/self-loop"))


def test_subgraph_shadowing_an_outer_name_is_a_load_error() -> None:
    """``x = Neg(x)`` in a branch bound the input to its own output: a self-loop the simplifier spun on."""
    with pytest.raises(ModelLoadError, match="shadows a value of enclosing graph"):
        graphopt.load(_build("subgraphs/subgraph-shadows-outer-name"))


@pytest.mark.parametrize("case", ["subgraphs/if-branches-disagree", "subgraphs/loop-body-wrong-arity"])
def test_subgraph_arity_is_checked_at_load(case: str) -> None:
    """If branches with 1 and 2 outputs loaded, then dce crashed (zip of unequal lengths) at O1."""
    with pytest.raises(ModelLoadError, match="does not fit the node"):
        graphopt.load(_build(case))


def test_deep_nesting_is_refused_with_a_clear_limit() -> None:
    """500 nested Ifs hit Python's recursion limit, reported as 'attribute is malformed: maximum recursion'."""
    with pytest.raises(ModelLoadError, match="nested 31 subgraphs deep"):
        graphopt.load(_nested_ifs(500))
    g = graphopt.load(_nested_ifs(30))
    m = graphopt.to_onnx(graphopt.optimize(g, "O3"))
    assert graphopt.load(m.SerializeToString()).name == g.name


@pytest.mark.parametrize("case", ["external/negative-offset", "external/offset-past-end", "external/short-file",
                                  "external/huge-dims", "external/non-numeric-offset", "external/nul-in-location",
                                  "external/length-disagrees"])
def test_external_data_is_checked_at_load(case: str, tmp_path: Path) -> None:
    """Bad offsets and lengths loaded and failed later inside mmap (ValueError/OverflowError at optimize or
    save); a non-numeric offset or a NUL in the location raised ValueError."""
    m, files = CASES[case]()
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    path = tmp_path / "model.onnx"
    path.write_bytes(m.SerializeToString() if isinstance(m, onnx.ModelProto) else m)
    with pytest.raises(ModelLoadError, match="tensor 'w'"):
        graphopt.load(path)


def test_dims_beyond_int64_are_emitted_unknown() -> None:
    """Conv pads of 2**62 made inferred dims past int64, and the emitter raised protobuf's ValueError."""
    g = graphopt.optimize(graphopt.load(_build("attributes/huge-pads")), "O0")
    out = graphopt.to_onnx(g).graph.output[0]
    assert [d.HasField("dim_value") for d in out.type.tensor_type.shape.dim] == [True, True, False, False]


def test_fold_constants_does_not_run_loops() -> None:
    """A Loop with a constant trip count of 1e12 and constant inputs folded: fold-constants ran it for ever."""
    g = graphopt.load(_build("folding/loop-huge-trip-count"))
    result = FoldConstants()(g)
    assert not result.modified and [n.op for n in g] == ["Loop"]


def test_fold_constants_sizes_outputs_by_inference_not_value_info() -> None:
    """A value_info claiming [1] for ConstantOfShape([2000, 2000]) made the predicted size 4 bytes, so the
    16 MB tensor was materialized (then dropped); a 1e12-element one would be attempted too."""
    m = model([helper.make_node("ConstantOfShape", ["s"], ["y"])], [], [f32("y", [1])],
              [const("s", [2000, 2000], np.int64)])
    g = graphopt.load(m)
    result = FoldConstants()(g)
    assert result.counts["too_large"] == 1 and result.counts["failed"] == 0, result


def test_norm_rewrite_does_not_build_a_huge_scale() -> None:
    """replace-patterns turned a written-out RMSNorm over a 1e12-element axis into RMSNormalization with a
    np.ones scale of that size: MemoryError (a 1e9 axis would have allocated 4 GB)."""
    g = graphopt.optimize(graphopt.load(_build("folding/rms-norm-huge-normalized-dims")), "O2")
    assert "RMSNormalization" not in {n.op for n in g}


def test_loop_without_condition_survives_the_pipeline() -> None:
    """``Loop(M, "")`` (no condition, no carried values, one scan output) failed verification after the
    frontend trimmed the trailing empty input; then Loop's shape inference took the condition for the scan
    output, its kernel failed to unpack, and the emitter wrote one input, which ORT refuses."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["c"], ["c_out"]), helper.make_node("Add", ["x", "one"], ["scan"])],
        "body", [i64("i", []), helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []), f32("scan", [2])])
    m = model([helper.make_node("Loop", ["n", ""], ["y"], body=body)], [f32("x", [2])], [f32("y", [3, 2])],
              [const("n", 3, np.int64), const("one", 1.0)])
    x = np.array([1.0, 2.0], np.float32)
    want = run_ort(m, [x])
    assert outputs_match(graphopt.evaluate(graphopt.load(m), {"x": x}), want, 0, 0)
    for level in ("O0", "O2"):
        got = run_ort(graphopt.to_onnx(graphopt.optimize(graphopt.load(m), level)), [x])
        assert outputs_match(got, want, 0, 0), (level, got, want)


def test_malformed_graphs_stop_at_verification_before_any_pass() -> None:
    """Graphs that load but do not verify (stale value_info, ill-typed ops) reached the O1+ passes, which
    crashed on them (simplify: IndexError/OverflowError; dce: zip of unequal lengths)."""
    m = mlp()
    m.graph.value_info.append(helper.make_tensor_value_info("h", TensorProto.INT64, [1, 2, 3]))
    g = graphopt.load(m)
    for level in ("O1", "O2", "O3"):
        with pytest.raises(VerificationError, match="MatMul"):
            graphopt.optimize(g, level)


@pytest.mark.parametrize("version", [0, -3])
def test_opset_zero_is_a_load_error(version: int) -> None:
    """An opset import of version 0 made onnx.defs.get_schema raise SchemaError in the normalizer."""
    m = mlp()
    m.opset_import[0].version = version
    with pytest.raises(ModelLoadError, match=f"not part of opset {version}"):
        graphopt.load(m)


def test_op_from_a_later_opset_is_a_load_error() -> None:
    """Attention (opset 23) under an opset-18 import loaded as the canonical 7-input op; the saved model then
    declared opset 23, where Attention takes at most 6 inputs, and graphopt could not read its own output."""
    m = model([helper.make_node("Attention", ["q", "k", "v"], ["y"])],
              [f32("q", [1, 2, 4, 8]), f32("k", [1, 2, 4, 8]), f32("v", [1, 2, 4, 8])], [f32("y", [1, 2, 4, 8])],
              opset=18)
    with pytest.raises(ModelLoadError, match="Attention is not part of opset 18"):
        graphopt.load(m)
    m.opset_import[0].version = 23
    graphopt.load(m)


def test_input_dtypes_are_checked_against_the_schema() -> None:
    """A Slice whose ``ends`` was rewired to a float weight verified (Slice's inference cannot read a
    non-constant), and fuse-slices crashed (zip of unequal lengths); Add(float, int64) even folded."""
    nodes = [helper.make_node("Slice", ["x", "starts", "w"], ["y"])]
    m = model(nodes, [f32("x", [4, 4])], [f32("y", None)],
              [const("starts", [0], np.int64), const("w", np.ones((2, 3)))])
    for level in ("O0", "O2"):
        with pytest.raises(VerificationError, match=r"input 2 \(w\) is float, the op takes tensor\(int32\)"):
            graphopt.optimize(graphopt.load(m), level)
    with pytest.raises(VerificationError, match="another input of type T is float"):
        graphopt.optimize(graphopt.load(_build("tensors/mixed-dtypes-folding")), "O1")


def test_simplify_tolerates_perms_that_do_not_fit_the_rank() -> None:
    """A mutated zoo model verified while ranks were unknown; once infer-shapes refined them, a Transpose's
    perm no longer fit its input, inference of that node was skipped (by design), and simplify crashed
    (IndexError in transpose-to-reshape and transpose-transpose)."""
    from graphopt.ir import DType, Graph, TensorType, Value

    g = Graph()
    x = Value(TensorType(DType.FLOAT, (2, 1, 3)), "x")
    g.inputs.append(x)
    single = g.add("Transpose", [x], {"perm": [3, 1, 2, 0]}).output
    inner = g.add("Transpose", [x], {"perm": [1, 0, 2]}).output
    double = g.add("Transpose", [inner], {"perm": [3, 2, 1, 0]}).output
    g.outputs = [single, double]
    for i, v in enumerate(g.outputs):
        g.set_output(i, v, f"y{i}")
    result = graphopt.optimize(g, "simplify")  # a custom pipeline: no verification first
    assert [n.op for n in result] == ["Transpose"] * 3
