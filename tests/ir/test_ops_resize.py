"""Resampling (Resize, GridSample, AffineGrid): backend cases, onnxruntime, shape inference."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from onnx.reference import ReferenceEvaluator

from graphopt.ir import DType, Graph, TensorType, Value, evaluate, infer_shapes
from tests.ir.op_check import (
    assert_close,
    check_backend_case,
    compare_with_ort,
    one_node_graph,
    one_node_model,
    single_node_cases,
)

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("case", single_node_cases("Resize", "GridSample", "AffineGrid"))
def test_backend_case(case: Any) -> None:
    check_backend_case(case)


COORDINATES = ["half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric"]
# scales whose products with the input dims are whole numbers, where onnxruntime and the ONNX reference agree
SCALES = [[1, 1, 2, 1.5], [1, 1, 0.5, 0.75], [1, 1, 3, 0.25]]


def _resize(x: np.ndarray, scales: list[float] | None = None, sizes: list[int] | None = None,
            **attrs: Any) -> list[np.ndarray]:
    inputs = [x, None, None if scales is None else np.array(scales, np.float32),
              None if sizes is None else np.array(sizes, np.int64)]
    tol = 1e-5 if x.dtype.kind == "f" else 0
    return compare_with_ort("Resize", inputs, attrs, rtol=tol, atol=tol if tol else 1)


@pytest.mark.parametrize("scales", SCALES)
@pytest.mark.parametrize("coordinates", COORDINATES)
@pytest.mark.parametrize("nearest_mode", ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"])
def test_resize_nearest_matches_ort(scales: list[float], coordinates: str, nearest_mode: str) -> None:
    _resize(RNG.standard_normal((1, 2, 4, 8)).astype(np.float32), scales, mode="nearest",
            coordinate_transformation_mode=coordinates, nearest_mode=nearest_mode)


@pytest.mark.parametrize("scales", SCALES)
@pytest.mark.parametrize("coordinates", COORDINATES)
@pytest.mark.parametrize(("mode", "extra"), [
    ("linear", {}), ("cubic", {}), ("cubic", {"cubic_coeff_a": -0.5, "exclude_outside": 1}),
])
def test_resize_filtered_matches_ort(scales: list[float], coordinates: str, mode: str, extra: dict[str, Any]) -> None:
    _resize(RNG.standard_normal((1, 2, 4, 8)).astype(np.float32), scales, mode=mode,
            coordinate_transformation_mode=coordinates, **extra)


@pytest.mark.parametrize("sizes", [[1, 2, 7, 5], [1, 2, 3, 13], [1, 2, 8, 3]])
@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_resize_to_sizes_matches_ort(sizes: list[int], mode: str) -> None:
    _resize(RNG.standard_normal((1, 2, 4, 8)).astype(np.float32), sizes=sizes, mode=mode)


@pytest.mark.parametrize("policy", ["not_larger", "not_smaller"])
@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize_keeps_aspect_ratio_like_ort(policy: str, mode: str) -> None:
    _resize(RNG.standard_normal((1, 2, 4, 6)).astype(np.float32), sizes=[7, 11], axes=[2, 3], mode=mode,
            keep_aspect_ratio_policy=policy)


@pytest.mark.parametrize("mode", ["linear", "cubic"])
@pytest.mark.parametrize("scales", [[1, 1, 0.5, 0.25], [1, 1, 0.6, 0.8], [1, 1, 2, 0.5]])
def test_resize_antialias_matches_ort(mode: str, scales: list[float]) -> None:
    _resize(RNG.standard_normal((1, 2, 10, 10)).astype(np.float32), scales, mode=mode, antialias=1)


@pytest.mark.parametrize(("axes", "scales"), [([2, 3], [2, 0.5]), ([3, 2], [0.5, 2]), ([-1], [1.5])])
def test_resize_axes_matches_ort(axes: list[int], scales: list[float]) -> None:
    _resize(RNG.standard_normal((1, 2, 4, 8)).astype(np.float32), scales, axes=axes, mode="linear")


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_resize_crop_and_resize_matches_ort(mode: str) -> None:
    x = RNG.standard_normal((1, 2, 6, 8)).astype(np.float32)
    roi = np.array([0, 0, -0.2, 0.3, 1, 1, 0.7, 1.4], np.float32)
    compare_with_ort("Resize", [x, roi, None, np.array([1, 2, 5, 9], np.int64)],
                     {"mode": mode, "coordinate_transformation_mode": "tf_crop_and_resize",
                      "extrapolation_value": -3.0}, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize_integer_images_match_ort(dtype: type, mode: str) -> None:
    info = np.iinfo(dtype)
    x = RNG.integers(info.min, info.max, (1, 3, 4, 6), endpoint=True).astype(dtype)
    _resize(x, [1, 1, 2, 1.5], mode=mode)


def test_resize_keeps_batch_symbol_and_computes_spatial_dims() -> None:
    x = np.zeros((1, 3, 10, 10), np.float32)
    scales = np.array([1, 1, 2, 0.5], np.float32)
    g = one_node_graph("Resize", [x, None, scales], {}, shapes={0: ("N", 3, 10, "W")}, const=[2])
    assert g.outputs[0].type == TensorType(DType.FLOAT, ("N", 3, 20, None))
    g = one_node_graph("Resize", [x, None, np.array([0.7], np.float32)], {"axes": [2]}, const=[2])
    assert g.outputs[0].type == TensorType(DType.FLOAT, (1, 3, 7, 10))  # 10 * 0.7f is 7 in float32


def test_resize_sizes_from_shape_arithmetic_keep_symbols() -> None:
    """Sizes built from Shape + Concat (as exporters write them) keep the symbolic batch dim."""
    g = Graph()
    x = Value(TensorType(DType.FLOAT, ("N", 3, "H", "W")), "x")
    g.inputs.append(x)
    head = g.add("Shape", [x], {"start": 0, "end": 2}).output
    sizes = g.add("Concat", [head, g.add_constant(np.array([32, 48], np.int64))], {"axis": 0}).output
    g.outputs = [g.add("Resize", [x, None, None, sizes], {"mode": "linear"}).output]
    infer_shapes(g, strict=True)
    assert g.outputs[0].type == TensorType(DType.FLOAT, ("N", 3, 32, 48))


@pytest.mark.parametrize(("policy", "expected"), [("stretch", (7, 7)), ("not_larger", (5, 7)),
                                                  ("not_smaller", (7, 11))])
def test_resize_aspect_ratio_shape(policy: str, expected: tuple[int, int]) -> None:
    x = np.zeros((1, 3, 4, 6), np.float32)
    g = one_node_graph("Resize", [x, None, None, np.array([7, 7], np.int64)],
                       {"axes": [2, 3], "keep_aspect_ratio_policy": policy}, const=[3])
    assert g.outputs[0].type == TensorType(DType.FLOAT, (1, 3, *expected))


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [0, 1])
def test_grid_sample_2d_matches_ort(mode: str, padding_mode: str, align_corners: int) -> None:
    x = RNG.standard_normal((2, 3, 5, 6)).astype(np.float32)
    grid = RNG.uniform(-1.4, 1.4, (2, 4, 7, 2)).astype(np.float32)
    attrs = {"mode": mode, "padding_mode": padding_mode, "align_corners": align_corners}
    if (mode, padding_mode) != ("cubic", "border"):
        compare_with_ort("GridSample", [x, grid], attrs, rtol=1e-4, atol=1e-4)
        return
    # onnxruntime clamps every coordinate of a point once any of them is outside; the ONNX reference clamps each
    # coordinate on its own, which changes cubic weights near the border
    ours, = evaluate(one_node_graph("GridSample", [x, grid], attrs), [x, grid])
    theirs, = ReferenceEvaluator(one_node_model("GridSample", [x, grid], attrs)).run(None, {"x0": x, "x1": grid})
    assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
def test_grid_sample_3d_matches_ort(mode: str, padding_mode: str) -> None:
    x = RNG.standard_normal((1, 2, 3, 4, 5)).astype(np.float32)
    grid = RNG.uniform(-1.3, 1.3, (1, 2, 3, 4, 3)).astype(np.float32)
    compare_with_ort("GridSample", [x, grid], {"mode": mode, "padding_mode": padding_mode}, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("size", "align_corners"), [
    ([2, 3, 4, 5], 0), ([2, 3, 4, 5], 1), ([2, 1, 3, 4, 5], 0), ([2, 1, 3, 4, 5], 1),
    ([1, 1, 1, 6], 0),  # a single row with aligned corners is -1 in the ONNX reference, +1 in onnxruntime
])
def test_affine_grid_matches_ort(size: list[int], align_corners: int) -> None:
    rank = len(size) - 2
    theta = RNG.standard_normal((size[0], rank, rank + 1)).astype(np.float32)
    compare_with_ort("AffineGrid", [theta, np.array(size, np.int64)], {"align_corners": align_corners},
                     rtol=1e-5, atol=1e-5, const=[1])


def test_grid_types() -> None:
    theta = np.zeros((2, 2, 3), np.float32)
    g = one_node_graph("AffineGrid", [theta, np.array([2, 3, 16, 24], np.int64)], {}, const=[1])
    assert g.outputs[0].type == TensorType(DType.FLOAT, (2, 16, 24, 2))
    x, grid = np.zeros((1, 3, 8, 8), np.float16), np.zeros((1, 5, 6, 2), np.float16)
    g = one_node_graph("GridSample", [x, grid], {}, shapes={0: ("N", 3, "H", "W"), 1: ("N", 5, 6, 2)})
    assert g.outputs[0].type == TensorType(DType.FLOAT16, ("N", 3, 5, 6))


def test_affine_grid_single_aligned_row_sits_at_minus_one() -> None:
    """As in the ONNX reference: linspace(-1, 1) of one point is -1."""
    theta, size = RNG.standard_normal((1, 2, 3)).astype(np.float32), np.array([1, 1, 1, 6], np.int64)
    ours, = evaluate(one_node_graph("AffineGrid", [theta, size], {"align_corners": 1}, const=[1]), [theta])
    points = np.stack([np.linspace(-1, 1, 6), np.full(6, -1.0), np.ones(6)], axis=-1)
    assert_close(ours, (points @ theta[0].T).astype(np.float32).reshape(1, 1, 6, 2), rtol=1e-6, atol=1e-6)
