"""Detection heads, random generators, windows, DFT/STFT, the mel filter bank and string ops."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from graphopt.frontends.onnx import from_onnx
from graphopt.ir import DType, Graph, TensorType, evaluate, infer_shapes
from tests.backend_cases import run_ort
from tests.ir.op_check import (
    assert_close,
    assert_type_matches,
    check_backend_case,
    compare_with_ort,
    one_node_graph,
    one_node_model,
    single_node_cases,
)

RNG = np.random.default_rng(0)
NUMERIC_OPS = ("NonMaxSuppression", "RoiAlign", "MaxRoiPool", "HannWindow", "HammingWindow", "BlackmanWindow",
               "DFT", "STFT", "MelWeightMatrix")
STRING_OPS = ("StringConcat", "RegexFullMatch", "StringSplit", "StringNormalizer")
@pytest.mark.parametrize("case", single_node_cases(*NUMERIC_OPS))
def test_backend_case(case: Any) -> None:
    check_backend_case(case)


@pytest.mark.parametrize("case", single_node_cases(*STRING_OPS))
def test_string_backend_case(case: Any) -> None:
    graph = _graph_of(case)
    for inputs, expected in case.data_sets:
        for ours, want, v in zip(evaluate(graph, list(inputs)), expected, graph.outputs, strict=True):
            _assert_output(ours, want)
            assert_type_matches(v.type, ours)


def _graph_of(case: Any) -> Graph:
    graph = from_onnx(case.model)
    infer_shapes(graph, strict=True)
    return graph


def _assert_output(actual: np.ndarray, expected: np.ndarray) -> None:
    """Exact equality; strings as object arrays of str, as the interpreter represents them."""
    if expected.dtype.kind not in "OUS":
        assert_close(actual, expected, 0, 0)
        return
    assert actual.shape == expected.shape, f"shape {actual.shape}, expected {expected.shape}"
    assert actual.dtype.kind == "O", f"dtype {actual.dtype}, expected strings"
    np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("case", single_node_cases("Bernoulli"))
def test_bernoulli_backend_case_shape_and_dtype(case: Any) -> None:
    """The expected values are one random draw; only their shape, dtype and support can be checked."""
    graph = _graph_of(case)
    for inputs, (expected,) in case.data_sets:
        (ours,) = evaluate(graph, list(inputs))
        assert ours.shape == expected.shape and ours.dtype == expected.dtype
        assert set(np.unique(ours)) <= {0, 1}


# -- detection -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("center_point_box", "score_threshold", "limit"),
                         list(itertools.product([0, 1], [None, 0.3], [0, 2, 10])))
def test_non_max_suppression_matches_ort(center_point_box: int, score_threshold: float | None, limit: int) -> None:
    batches, classes, n = 2, 3, 12
    if center_point_box:
        boxes = np.concatenate([RNG.uniform(0, 10, (batches, n, 2)), RNG.uniform(1, 5, (batches, n, 2))], -1)
    else:
        boxes = RNG.uniform(0, 10, (batches, n, 4))  # corners in either order
    scores = RNG.uniform(0, 1, (batches, classes, n)).astype(np.float32)
    scores[0, 0, 3] = scores[0, 0, 5]  # a tie keeps the lower index first
    threshold = None if score_threshold is None else np.array([score_threshold], np.float32)
    compare_with_ort("NonMaxSuppression", [boxes.astype(np.float32), scores, np.array([limit], np.int64),
                                           np.array([0.4], np.float32), threshold],
                     {"center_point_box": center_point_box})


def _compare_with_old_ort(op: str, inputs: list[np.ndarray], attrs: dict[str, Any], opset: int) -> None:
    """onnxruntime implements these ops only at an older opset with the same semantics."""
    model = one_node_model(op, inputs, attrs)
    model.opset_import[0].version = opset
    (expected,) = run_ort(model, inputs)
    g = one_node_graph(op, inputs, attrs)
    (ours,) = evaluate(g, inputs)
    assert_close(ours, expected, 1e-5, 1e-5, op)
    assert_type_matches(g.outputs[0].type, ours)


@pytest.mark.parametrize(("mode", "coordinates", "sampling_ratio"),
                         list(itertools.product(["avg", "max"], ["half_pixel", "output_half_pixel"], [0, 2])))
def test_roi_align_matches_ort(mode: str, coordinates: str, sampling_ratio: int) -> None:
    x = RNG.standard_normal((2, 3, 10, 12)).astype(np.float32)
    rois = np.array([[0, 0, 9, 9], [1.5, 2.3, 7.1, 8.9], [-3, -2, 4, 5], [5, 5, 20, 14], [3, 3, 3.2, 3.1],
                     [11, 1, 14, 9.5]], np.float32)
    attrs = {"mode": mode, "coordinate_transformation_mode": coordinates, "sampling_ratio": sampling_ratio,
             "output_height": 3, "output_width": 4, "spatial_scale": 0.8}
    _compare_with_old_ort("RoiAlign", [x, rois, np.array([0, 1, 1, 0, 1, 0], np.int64)], attrs, 16)


@pytest.mark.parametrize("spatial_scale", [1.0, 0.5])
def test_max_roi_pool_matches_ort(spatial_scale: float) -> None:
    x = RNG.standard_normal((2, 3, 10, 12)).astype(np.float32)
    rois = np.array([[0, 0, 0, 9, 9], [1, 1.5, 2.3, 7.1, 8.9], [1, -3, -2, 4, 5], [0, 5, 5, 20, 14],
                     [1, 3, 3, 3.2, 3.1], [0, 2.5, 1.5, 6.5, 3.5]], np.float32)
    _compare_with_old_ort("MaxRoiPool", [x, rois], {"pooled_shape": [3, 2], "spatial_scale": spatial_scale}, 1)


# -- random generators ---------------------------------------------------------------------------


def _sample(op: str, inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    g = one_node_graph(op, inputs, attrs)
    (out,) = evaluate(g, inputs)
    assert_type_matches(g.outputs[0].type, out)
    return out


@pytest.mark.parametrize(("op", "inputs", "attrs"), [
    ("RandomNormal", [], {"shape": [3, 4], "mean": 2.0, "scale": 0.5}),
    ("RandomUniform", [], {"shape": [5], "low": -1.0, "high": 3.0, "dtype": int(DType.DOUBLE)}),
    ("RandomNormalLike", [np.zeros((2, 3), np.float16)], {}),
    ("RandomUniformLike", [np.zeros((2, 3), np.float32)], {"dtype": int(DType.DOUBLE)}),
    ("Bernoulli", [np.full((4, 5), 0.5, np.float32)], {}),
    ("Multinomial", [np.zeros((2, 3), np.float32)], {"sample_size": 7, "dtype": int(DType.INT64)}),
])
def test_random_ops_honour_the_seed(op: str, inputs: list[np.ndarray], attrs: dict[str, Any]) -> None:
    first = _sample(op, inputs, {**attrs, "seed": 3.0})
    np.testing.assert_array_equal(first, _sample(op, inputs, {**attrs, "seed": 3.0}))
    assert not np.array_equal(first, _sample(op, inputs, {**attrs, "seed": 4.0}))


def test_random_samples_follow_their_distributions() -> None:
    normal = _sample("RandomNormal", [], {"shape": [20000], "mean": 2.0, "scale": 0.5, "seed": 1.0})
    assert abs(normal.mean() - 2.0) < 0.02 and abs(normal.std() - 0.5) < 0.02
    uniform = _sample("RandomUniform", [], {"shape": [20000], "low": -1.0, "high": 3.0, "seed": 1.0})
    assert uniform.min() >= -1 and uniform.max() < 3 and abs(uniform.mean() - 1.0) < 0.05
    p = np.array([0.1, 0.9], np.float64)
    draws = _sample("Bernoulli", [np.tile(p, (5000, 1))], {"seed": 1.0})
    np.testing.assert_allclose(draws.mean(axis=0), p, atol=0.02)
    logits = np.log(np.array([[0.2, 0.3, 0.5]], np.float32))
    picks = _sample("Multinomial", [logits], {"sample_size": 20000, "seed": 1.0})
    assert picks.dtype == np.int32
    np.testing.assert_allclose(np.bincount(picks[0], minlength=3) / 20000, [0.2, 0.3, 0.5], atol=0.02)


# -- windows, DFT, STFT, mel ---------------------------------------------------------------------


@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow", "BlackmanWindow"])
@pytest.mark.parametrize("periodic", [0, 1])
@pytest.mark.parametrize("dtype", [DType.FLOAT, DType.DOUBLE])
def test_windows_match_ort(op: str, periodic: int, dtype: DType) -> None:
    compare_with_ort(op, [np.array(10, np.int64)], {"periodic": periodic, "output_datatype": int(dtype)}, const=[0])


REAL = RNG.standard_normal((2, 8, 6, 1)).astype(np.float32)
COMPLEX = RNG.standard_normal((2, 8, 6, 2)).astype(np.float32)


@pytest.mark.parametrize(("x", "inverse", "onesided", "length"), [
    (REAL, 0, 0, None), (REAL, 0, 0, 5), (REAL, 0, 0, 12), (REAL, 1, 0, None), (REAL, 0, 1, None), (REAL, 0, 1, 5),
    (COMPLEX, 0, 0, None), (COMPLEX, 1, 0, 12), (COMPLEX, 1, 0, 5), (COMPLEX, 1, 1, None),
])
@pytest.mark.parametrize("axis", [1, 2, -2, -3])
def test_dft_matches_ort(x: np.ndarray, inverse: int, onesided: int, length: int | None, axis: int) -> None:
    inputs = [x, None if length is None else np.array(length, np.int64), np.array(axis, np.int64)]
    compare_with_ort("DFT", inputs, {"inverse": inverse, "onesided": onesided}, const=[1, 2], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("complex_input", "onesided", "window", "frame_length"), [
    (False, 1, True, None), (False, 0, True, 16), (False, 1, False, 16), (True, 0, True, None), (True, 0, False, 16),
])
def test_stft_matches_ort(complex_input: bool, onesided: int, window: bool, frame_length: int | None) -> None:
    signal = RNG.standard_normal((2, 40, 2 if complex_input else 1)).astype(np.float32)
    inputs = [signal, np.array(5, np.int64), np.hanning(16).astype(np.float32) if window else None,
              None if frame_length is None else np.array(frame_length, np.int64)]
    compare_with_ort("STFT", inputs, {"onesided": onesided}, const=[1, 3], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("args", [
    (8, 64, 16000, 0.0, 8000.0), (10, 256, 8000, 20.0, 3000.0), (4, 31, 1000, 100.0, 450.0),
])
def test_mel_weight_matrix_matches_ort(args: tuple[Any, ...]) -> None:
    inputs = [np.array(v, np.int64) for v in args[:3]] + [np.array(v, np.float32) for v in args[3:]]
    compare_with_ort("MelWeightMatrix", inputs, {}, const=range(5))


def test_dft_shape_inference_keeps_symbolic_dims() -> None:
    x = np.zeros((2, 8, 6, 1), np.float32)
    g = one_node_graph("DFT", [x, np.array(16, np.int64), np.array(1, np.int64)], {"onesided": 1},
                       shapes={0: ("N", 8, "W", 1)}, const=[1, 2])
    assert g.outputs[0].type == TensorType(DType.FLOAT, ("N", 9, "W", 2))


# -- strings -------------------------------------------------------------------------------------


def _compare_strings_with_ort(op: str, inputs: list[np.ndarray], attrs: dict[str, Any], num_outputs: int = 1) -> None:
    g = one_node_graph(op, inputs, attrs, num_outputs)
    ours = evaluate(g, inputs)
    theirs = run_ort(one_node_model(op, inputs, attrs, num_outputs), inputs)
    for out, expected, v in zip(ours, theirs, g.outputs, strict=True):
        _assert_output(out, expected)
        assert_type_matches(v.type, out)


def test_string_concat_and_regex_match_ort() -> None:
    a = np.array([["ab", "c"], ["", "déf"]], dtype=object)
    _compare_strings_with_ort("StringConcat", [a, np.array(["x", "yz"], dtype=object)], {})
    emails = np.array(["abc@x.com", "no", "q@w.org", ""], dtype=object)
    _compare_strings_with_ort("RegexFullMatch", [emails], {"pattern": r"[a-z]+@[a-z]+\.(com|org)"})


@pytest.mark.parametrize("attrs", [{}, {"delimiter": ","}, {"delimiter": ",", "maxsplit": 1}, {"maxsplit": 1},
                                   {"delimiter": ""}])
def test_string_split_matches_ort(attrs: dict[str, Any]) -> None:
    text = np.array([["a,b,,c", " x  y z "], ["", "lone"]], dtype=object)
    _compare_strings_with_ort("StringSplit", [text], attrs, num_outputs=2)


@pytest.mark.parametrize("attrs", [
    {"case_change_action": "LOWER"}, {"case_change_action": "UPPER", "stopwords": ["monday"]},
    {"stopwords": ["Monday"], "is_case_sensitive": 1}, {"stopwords": ["a", "b"]},
])
@pytest.mark.parametrize("words", [["Monday", "tuesday", "a"], [["Monday", "B", "x"]], ["a", "b"]])
def test_string_normalizer_matches_ort(attrs: dict[str, Any], words: list[Any]) -> None:
    # onnxruntime's default en_US.UTF-8 locale is not installed here; case mapping is the same in C.UTF-8
    _compare_strings_with_ort("StringNormalizer", [np.array(words, dtype=object)], {**attrs, "locale": "C.UTF-8"})
