"""Pools (AveragePool, MaxPool with Indices, LpPool, the global pools, MaxUnpool): backend cases, onnxruntime,
shape inference."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from graphopt.ir import DType, TensorType, evaluate
from tests.backend_cases import run_ort
from tests.ir.op_check import (
    assert_close,
    check_backend_case,
    compare_with_ort,
    one_node_graph,
    one_node_model,
    single_node_cases,
)

RNG = np.random.default_rng(0)
OPS = ("AveragePool", "MaxPool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "MaxUnpool")


@pytest.mark.parametrize("case", single_node_cases(*OPS))
def test_backend_case(case: Any) -> None:
    check_backend_case(case)


WINDOWS = [
    # (input shape, attributes)
    ((2, 3, 9), {"kernel_shape": [3], "strides": [2]}),
    ((1, 2, 7, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ((1, 2, 7, 8), {"kernel_shape": [3, 2], "strides": [2, 3], "pads": [0, 1, 2, 0], "ceil_mode": 1}),
    ((1, 2, 8, 8), {"kernel_shape": [2, 2], "strides": [3, 3], "ceil_mode": 1}),
    ((1, 2, 9, 8), {"kernel_shape": [2, 3], "dilations": [2, 2], "strides": [1, 2]}),
    ((1, 2, 9, 8), {"kernel_shape": [2, 2], "dilations": [2, 3], "strides": [2, 2], "ceil_mode": 1}),
    ((1, 2, 7, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ((1, 2, 7, 8), {"kernel_shape": [4, 3], "strides": [3, 2], "auto_pad": "SAME_LOWER"}),
    ((1, 2, 7, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "VALID"}),
    ((1, 2, 5, 6, 7), {"kernel_shape": [2, 3, 2], "strides": [2, 1, 2], "pads": [1, 0, 1, 0, 1, 1]}),
]


def _case_id(case: Any) -> str:
    return "-".join(f"{k}={v}" for k, v in case[1].items()) + f"-rank{len(case[0]) - 2}"


@pytest.mark.parametrize(("shape", "attrs"), WINDOWS, ids=map(_case_id, WINDOWS))
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int8, np.uint8])
def test_max_pool_matches_ort(shape: tuple[int, ...], attrs: dict[str, Any], dtype: type) -> None:
    if np.dtype(dtype).kind in "iu":
        x = RNG.permutation(np.arange(np.prod(shape)) % 250).astype(dtype).reshape(shape)
    else:
        x = RNG.permutation(np.prod(shape)).astype(dtype).reshape(shape)  # distinct values: argmax is unambiguous
    two_outputs = dtype is np.float32 and len(shape) < 5  # onnxruntime computes Indices for 1-D and 2-D float only
    compare_with_ort("MaxPool", [x], attrs, num_outputs=2 if two_outputs else 1, rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (1, 2, 3, 4, 5)])
def test_max_pool_column_major_indices(shape: tuple[int, ...]) -> None:
    x = RNG.permutation(np.prod(shape)).astype(np.float32).reshape(shape)
    attrs = {"kernel_shape": [2] * (len(shape) - 2), "pads": [1] * (2 * len(shape) - 4), "storage_order": 1}
    values, indices = evaluate(one_node_graph("MaxPool", [x], attrs, num_outputs=2), [x])
    planes = x.reshape(-1, *shape[2:])
    column_major = planes.transpose(0, *range(planes.ndim - 1, 0, -1)).reshape(-1)  # spatial dims reversed
    np.testing.assert_array_equal(column_major[indices], values)


def test_max_pool_indices_skip_padding_for_all_minus_inf_window() -> None:
    x = np.full((1, 1, 2, 2), -np.inf, np.float32)
    _, indices = evaluate(one_node_graph("MaxPool", [x], {"kernel_shape": [2, 2], "pads": [1, 1, 0, 0]},
                                         num_outputs=2), [x])
    np.testing.assert_array_equal(indices, [[[[0, 0], [0, 0]]]])


@pytest.mark.parametrize(("shape", "attrs"), WINDOWS, ids=map(_case_id, WINDOWS))
@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_average_pool_matches_ort(shape: tuple[int, ...], attrs: dict[str, Any], count_include_pad: int) -> None:
    compare_with_ort("AveragePool", [RNG.standard_normal(shape).astype(np.float32)],
                     {**attrs, "count_include_pad": count_include_pad}, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("shape", "attrs"), WINDOWS, ids=map(_case_id, WINDOWS))
@pytest.mark.parametrize("p", [1, 2, 3])
def test_lp_pool_matches_ort(shape: tuple[int, ...], attrs: dict[str, Any], p: int) -> None:
    compare_with_ort("LpPool", [RNG.standard_normal(shape).astype(np.float32)], {**attrs, "p": p}, rtol=1e-5,
                     atol=1e-5)


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
@pytest.mark.parametrize("shape", [(2, 3, 7), (2, 3, 4, 5), (1, 2, 3, 4, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_global_pool_matches_ort(op: str, shape: tuple[int, ...], dtype: type) -> None:
    tol = 2e-3 if dtype is np.float16 else 1e-5
    compare_with_ort(op, [RNG.standard_normal(shape).astype(dtype)], rtol=tol, atol=tol)


@pytest.mark.parametrize("p", [1, 2, 3])
@pytest.mark.parametrize("shape", [(2, 3, 7), (2, 3, 4, 5)])
def test_global_lp_pool_is_lp_pool_over_everything(p: int, shape: tuple[int, ...]) -> None:
    """onnxruntime has no GlobalLpPool at opset 25: compare with its LpPool over the whole spatial extent."""
    x = RNG.standard_normal(shape).astype(np.float32)
    ours, = evaluate(one_node_graph("GlobalLpPool", [x], {"p": p}), [x])
    theirs, = run_ort(one_node_model("LpPool", [x], {"kernel_shape": list(shape[2:]), "p": p}), [x])
    assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("shape", "attrs"), [
    ((1, 2, 6, 8), {"kernel_shape": [2, 2], "strides": [2, 2]}),
    ((2, 3, 7, 7), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ((1, 2, 9), {"kernel_shape": [3], "strides": [3]}),
])
def test_max_unpool_inverts_max_pool_like_ort(shape: tuple[int, ...], attrs: dict[str, Any]) -> None:
    x = RNG.permutation(np.prod(shape)).astype(np.float32).reshape(shape)
    values, indices = evaluate(one_node_graph("MaxPool", [x], attrs, num_outputs=2), [x])
    compare_with_ort("MaxUnpool", [values, indices], attrs, rtol=0, atol=0)


@pytest.mark.parametrize(("op", "shape", "attrs", "expected"), [
    ("MaxPool", ("N", 3, 32, 31), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
     ("N", 3, 16, 16)),
    ("MaxPool", ("N", "C", 32, 31), {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}, ("N", "C", 16, 15)),
    ("AveragePool", ("N", 3, 8, 8), {"kernel_shape": [2, 2], "strides": [3, 3], "ceil_mode": 1}, ("N", 3, 3, 3)),
    ("AveragePool", ("N", 3, 7, 8), {"kernel_shape": [4, 3], "strides": [3, 2], "auto_pad": "SAME_LOWER"},
     ("N", 3, 3, 4)),
    ("LpPool", ("N", 3, "H", 8), {"kernel_shape": [2, 2], "dilations": [2, 2]}, ("N", 3, None, 6)),
    ("GlobalAveragePool", ("N", 3, "H", "W"), {}, ("N", 3, 1, 1)),
    ("GlobalMaxPool", ("N", 3, 5), {}, ("N", 3, 1)),
    ("MaxUnpool", ("N", 3, 4, "W"), {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [0, 1, 0, 1]},
     ("N", 3, 8, None)),
])
def test_pool_shape_inference(op: str, shape: tuple[Any, ...], attrs: dict[str, Any],
                              expected: tuple[Any, ...]) -> None:
    x = np.zeros([d if isinstance(d, int) else 1 for d in shape], np.float32)
    inputs = [x, x.astype(np.int64)] if op == "MaxUnpool" else [x]
    g = one_node_graph(op, inputs, attrs, shapes={0: shape, 1: shape})
    assert g.outputs[0].type == TensorType(DType.FLOAT, expected)


def test_max_pool_indices_type() -> None:
    x = np.zeros((1, 3, 8, 8), np.float16)
    g = one_node_graph("MaxPool", [x], {"kernel_shape": [2, 2], "strides": [2, 2]}, num_outputs=2,
                       shapes={0: ("N", 3, 8, 8)})
    assert [v.type for v in g.outputs] == [TensorType(DType.FLOAT16, ("N", 3, 4, 4)),
                                           TensorType(DType.INT64, ("N", 3, 4, 4))]


def test_max_unpool_output_shape_from_constant() -> None:
    x, i = np.ones((1, 1, 2, 2), np.float32), np.array([[[[0, 3], [8, 15]]]], np.int64)
    shape = np.array([1, 1, 5, 5], np.int64)
    g = one_node_graph("MaxUnpool", [x, i, shape], {"kernel_shape": [2, 2], "strides": [2, 2]}, const=[2])
    assert g.outputs[0].type == TensorType(DType.FLOAT, (1, 1, 5, 5))
    y, = evaluate(g, [x, i])
    expected = np.zeros((1, 1, 5, 5), np.float32)
    expected[0, 0, [0, 0, 2, 3], [0, 3, 0, 3]] = 1  # positions in the 4x4 MaxPool input, kept in the corner
    assert_close(y, expected, rtol=0, atol=0)
