"""Normalizations, LRN and the classification losses: backend cases, onnxruntime, shape inference."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from graphopt.ir import DType, TensorType
from tests.ir.op_check import check_backend_case, compare_with_ort, one_node_graph, single_node_cases

RNG = np.random.default_rng(0)

OPS = ("LayerNormalization", "RMSNormalization", "BatchNormalization", "InstanceNormalization",
       "GroupNormalization", "LpNormalization", "MeanVarianceNormalization", "LRN",
       "NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss")


@pytest.mark.parametrize("case", single_node_cases(*OPS))
def test_backend_case(case: Any) -> None:
    check_backend_case(case)


def _randn(shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


def _tol(dtype: type) -> dict[str, float]:
    return {"rtol": 5e-3, "atol": 5e-3} if dtype is np.float16 else {"rtol": 1e-4, "atol": 1e-5}


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize(("axis", "with_bias"), [(-1, True), (1, False), (0, True)])
def test_layer_norm_matches_ort(dtype: type, axis: int, with_bias: bool) -> None:
    x = _randn((2, 3, 4), dtype) * 3 + 1
    norm_shape = x.shape[axis:]
    bias = _randn(norm_shape, dtype) if with_bias else None
    compare_with_ort("LayerNormalization", [x, _randn(norm_shape, dtype), bias], {"axis": axis, "epsilon": 1e-3},
                     num_outputs=3, **_tol(dtype))


def test_layer_norm_stats_keep_symbolic_dims() -> None:
    x, scale = np.zeros((2, 3, 4), np.float16), np.ones(4, np.float16)
    g = one_node_graph("LayerNormalization", [x, scale], {}, num_outputs=3, shapes={0: ("N", "S", 4)})
    assert [v.type for v in g.outputs] == [
        TensorType(DType.FLOAT16, ("N", "S", 4)), TensorType(DType.FLOAT, ("N", "S", 1)),
        TensorType(DType.FLOAT, ("N", "S", 1)),
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("axis", [-1, 1])
def test_rms_norm_matches_ort(dtype: type, axis: int) -> None:
    x = _randn((2, 3, 4), dtype)
    compare_with_ort("RMSNormalization", [x, _randn(x.shape[axis:], dtype)], {"axis": axis}, **_tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5), (2, 3, 4, 5)])
def test_batch_norm_inference_matches_ort(dtype: type, shape: tuple[int, ...]) -> None:
    c = shape[1]
    params = [_randn((c,), dtype), _randn((c,), dtype), _randn((c,), dtype), RNG.uniform(0.5, 2, c).astype(dtype)]
    compare_with_ort("BatchNormalization", [_randn(shape, dtype), *params], {"epsilon": 1e-3}, **_tol(dtype))


def test_batch_norm_training_mode_matches_ort() -> None:
    params = [_randn((3,)), _randn((3,)), _randn((3,)), RNG.uniform(0.5, 2, 3).astype(np.float32)]
    compare_with_ort("BatchNormalization", [_randn((2, 3, 4, 5)), *params], {"training_mode": 1, "momentum": 0.7},
                     num_outputs=3, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 5)])
def test_instance_norm_matches_ort(dtype: type, shape: tuple[int, ...]) -> None:
    compare_with_ort("InstanceNormalization", [_randn(shape, dtype), _randn((3,), dtype), _randn((3,), dtype)],
                     {"epsilon": 1e-4}, **_tol(dtype))


@pytest.mark.parametrize("num_groups", [1, 2, 4])
def test_group_norm_matches_ort(num_groups: int) -> None:
    compare_with_ort("GroupNormalization", [_randn((2, 4, 3, 3)), _randn((4,)), _randn((4,))],
                     {"num_groups": num_groups, "epsilon": 1e-4}, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("p", "axis"), [(1, 0), (2, -1), (2, 1)])
def test_lp_norm_matches_ort(p: int, axis: int) -> None:
    x = _randn((3, 4, 5))
    x[1, :, 2] = 0  # a zero vector along axis 1
    compare_with_ort("LpNormalization", [x], {"p": p, "axis": axis})


@pytest.mark.parametrize("axes", [None, [1], [0, 1, 2, 3]])
def test_mean_variance_norm_matches_ort(axes: list[int] | None) -> None:
    attrs = {} if axes is None else {"axes": axes}
    compare_with_ort("MeanVarianceNormalization", [_randn((2, 3, 4, 5)) + 2], attrs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("size", [1, 3, 5])
def test_lrn_matches_ort(dtype: type, size: int) -> None:
    compare_with_ort("LRN", [_randn((2, 5, 3, 3), dtype)], {"size": size, "alpha": 0.01, "beta": 0.6, "bias": 1.5},
                     **_tol(dtype))


LOSS_SETTINGS = [
    ("none", False, None), ("sum", True, None), ("mean", False, None), ("mean", True, 2), ("mean", False, -1),
    ("none", True, 1),
]


@pytest.mark.parametrize(("reduction", "weighted", "ignore_index"), LOSS_SETTINGS)
@pytest.mark.parametrize("shape", [(4, 5), (2, 5, 3, 2)])
def test_nll_loss_matches_ort(reduction: str, weighted: bool, ignore_index: int | None,
                              shape: tuple[int, ...]) -> None:
    target = RNG.integers(0, shape[1], (shape[0], *shape[2:]))
    target.reshape(-1)[0] = -1 if ignore_index == -1 else target.reshape(-1)[0]
    attrs: dict[str, Any] = {"reduction": reduction}
    if ignore_index is not None:
        attrs["ignore_index"] = ignore_index
    weight = RNG.uniform(0.5, 2, shape[1]).astype(np.float32) if weighted else None
    compare_with_ort("NegativeLogLikelihoodLoss", [_randn(shape), target, weight], attrs)


@pytest.mark.parametrize(("reduction", "weighted", "ignore_index"), LOSS_SETTINGS)
@pytest.mark.parametrize("shape", [(4, 5), (2, 5, 3, 2)])
def test_softmax_cross_entropy_matches_ort(reduction: str, weighted: bool, ignore_index: int | None,
                                           shape: tuple[int, ...]) -> None:
    labels = RNG.integers(0, shape[1], (shape[0], *shape[2:])).astype(np.int32)
    attrs: dict[str, Any] = {"reduction": reduction}
    if ignore_index is not None:
        attrs["ignore_index"] = ignore_index
    weight = RNG.uniform(0.5, 2, shape[1]).astype(np.float32) if weighted else None
    compare_with_ort("SoftmaxCrossEntropyLoss", [_randn(shape), labels, weight], attrs, num_outputs=2,
                     rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("reduction", "expected"), [("none", ("N", "H")), ("mean", ())])
def test_loss_shape_follows_the_target(reduction: str, expected: tuple[str, ...]) -> None:
    x, target = np.zeros((2, 5, 3), np.float32), np.zeros((2, 3), np.int64)
    g = one_node_graph("SoftmaxCrossEntropyLoss", [x, target], {"reduction": reduction}, num_outputs=2,
                       shapes={0: ("N", 5, "H"), 1: ("N", "H")})
    assert g.outputs[0].type == TensorType(DType.FLOAT, expected)
    assert g.outputs[1].type == TensorType(DType.FLOAT, ("N", 5, "H"))
