"""Reductions, arg-reductions and the softmax family: backend cases, onnxruntime, shape inference."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from graphopt.ir import DType, TensorType, evaluate
from graphopt.ir.ops.reduce import REDUCE_OPS
from tests.ir.op_check import check_backend_case, compare_with_ort, one_node_graph, single_node_cases

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("case", single_node_cases(*REDUCE_OPS, "ArgMax", "ArgMin", "Softmax", "LogSoftmax", "Hardmax"))
def test_backend_case(case: Any) -> None:
    check_backend_case(case)


def _data(dtype: type, shape: tuple[int, ...] = (2, 3, 4)) -> np.ndarray:
    if np.dtype(dtype).kind in "iu":
        return RNG.integers(1, 5, shape).astype(dtype)
    return RNG.uniform(0.5, 2.0, shape).astype(dtype)


@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32])
@pytest.mark.parametrize(("axes", "keepdims", "noop"), [
    ([1], 1, 0), ([-1, 0], 0, 0), (None, 0, 0), ([], 1, 0), ([], 0, 1), (None, 1, 1),
])
def test_reduce_matches_ort(op: str, dtype: type, axes: list[int] | None, keepdims: int, noop: int) -> None:
    if dtype is np.int32 and op in ("ReduceLogSum", "ReduceLogSumExp", "ReduceL2"):
        pytest.skip("onnxruntime has no integer kernel for this reduction")
    axes_in = None if axes is None else np.array(axes, np.int64)
    tol = 2e-3 if dtype is np.float16 else 1e-5
    compare_with_ort(op, [_data(dtype), axes_in], {"keepdims": keepdims, "noop_with_empty_axes": noop},
                     rtol=tol, atol=tol, const=[1])


@pytest.mark.parametrize(("op", "identity"), [
    ("ReduceSum", 0.0), ("ReduceProd", 1.0), ("ReduceMax", -np.inf), ("ReduceMin", np.inf),
    ("ReduceLogSumExp", -np.inf), ("ReduceLogSum", -np.inf), ("ReduceL2", 0.0),
])
def test_reduce_empty_set_gives_identity(op: str, identity: float) -> None:
    g = one_node_graph(op, [np.zeros((2, 0, 3), np.float32), np.array([1], np.int64)], {"keepdims": 0}, const=[1])
    out, = evaluate(g, [np.zeros((2, 0, 3), np.float32)])
    np.testing.assert_array_equal(out, np.full((2, 3), identity, np.float32))


def test_reduce_max_of_empty_int_set_is_the_dtype_minimum() -> None:
    g = one_node_graph("ReduceMax", [np.zeros((0, 2), np.int32)], {"keepdims": 0})
    out, = evaluate(g, [np.zeros((0, 2), np.int32)])
    assert out.dtype == np.int32 and out.shape == () and out == np.iinfo(np.int32).min


def test_reduce_keeps_symbolic_dims() -> None:
    x = np.zeros((2, 3, 4), np.float32)
    axes = np.array([1], np.int64)
    g = one_node_graph("ReduceMean", [x, axes], {"keepdims": 0}, shapes={0: ("N", 3, "S")}, const=[1])
    assert g.outputs[0].type == TensorType(DType.FLOAT, ("N", "S"))
    g = one_node_graph("ReduceSum", [x, axes], {"keepdims": 1}, shapes={0: ("N", 3, "S")}, const=[1])
    assert g.outputs[0].type == TensorType(DType.FLOAT, ("N", 1, "S"))


@pytest.mark.parametrize(("keepdims", "expected"), [(1, (None, None, None)), (0, (None,))])
def test_reduce_with_runtime_axes_knows_only_the_rank(keepdims: int, expected: tuple[None, ...]) -> None:
    g = one_node_graph("ReduceSum", [np.zeros((2, 3, 4), np.float32), np.array([0, 2], np.int64)],
                       {"keepdims": keepdims}, shapes={0: ("N", 3, 4)})
    assert g.outputs[0].type == TensorType(DType.FLOAT, expected)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32])
@pytest.mark.parametrize(("axis", "keepdims", "last"), [(0, 1, 0), (-1, 0, 1), (1, 1, 1)])
def test_arg_reduce_matches_ort(op: str, dtype: type, axis: int, keepdims: int, last: int) -> None:
    x = RNG.integers(0, 3, (3, 4, 5)).astype(dtype)  # many ties, so select_last_index matters
    compare_with_ort(op, [x], {"axis": axis, "keepdims": keepdims, "select_last_index": last})


def test_arg_reduce_keeps_symbolic_dims() -> None:
    g = one_node_graph("ArgMax", [np.zeros((2, 3), np.float32)], {"axis": 1, "keepdims": 0}, shapes={0: ("N", 3)})
    assert g.outputs[0].type == TensorType(DType.INT64, ("N",))


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_family_matches_ort(op: str, dtype: type, axis: int) -> None:
    if op == "Hardmax" and dtype is np.float64:
        pytest.skip("onnxruntime has no double Hardmax")
    x = (RNG.standard_normal((3, 4, 5)) * 10).astype(dtype)
    tol = 2e-3 if dtype is np.float16 else 1e-5
    compare_with_ort(op, [x], {"axis": axis}, rtol=tol, atol=tol)
