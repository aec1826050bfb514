"""Convolutions (Conv, ConvTranspose, ConvInteger, QLinearConv, QLinearMatMul, DeformConv): backend cases,
onnxruntime, shape inference."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from graphopt.codegen.onnx import to_onnx
from graphopt.errors import EvaluationError
from graphopt.ir import DType, Graph, TensorType, Value, evaluate, infer_shapes
from tests.backend_cases import run_ort
from tests.ir.op_check import (
    assert_close,
    check_backend_case,
    compare_with_ort,
    one_node_graph,
    single_node_cases,
)

RNG = np.random.default_rng(0)
OPS = ("Conv", "ConvTranspose", "ConvInteger", "QLinearConv", "QLinearMatMul", "DeformConv")


@pytest.mark.parametrize("case", single_node_cases(*OPS))
def test_backend_case(case: Any) -> None:
    check_backend_case(case)


def _randn(*shape: int, dtype: type = np.float32) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


def _tol(dtype: type) -> dict[str, float]:
    return {"rtol": 1e-2, "atol": 1e-2} if dtype is np.float16 else {"rtol": 1e-4, "atol": 1e-4}


CONV_CASES = [
    # (input shape, weight shape, attributes)
    ((2, 3, 9), (4, 3, 3), {}),
    ((1, 3, 9, 10), (4, 3, 3, 3), {"pads": [1, 1, 1, 1]}),
    ((1, 3, 9, 10), (4, 3, 3, 2), {"pads": [0, 1, 2, 1], "strides": [2, 3]}),
    ((1, 4, 9, 10), (6, 2, 3, 3), {"group": 2, "dilations": [2, 1]}),
    ((2, 8, 7, 7), (8, 1, 3, 3), {"group": 8, "pads": [1, 1, 1, 1]}),  # depthwise
    ((2, 8, 7, 7), (16, 1, 5, 5), {"group": 8, "auto_pad": "SAME_UPPER", "strides": [2, 2]}),  # depthwise x2
    ((1, 3, 8, 7), (4, 3, 4, 3), {"auto_pad": "SAME_UPPER", "strides": [3, 2]}),
    ((1, 3, 8, 7), (4, 3, 4, 3), {"auto_pad": "SAME_LOWER", "strides": [3, 2]}),
    ((1, 3, 8, 7), (4, 3, 3, 3), {"auto_pad": "VALID", "strides": [2, 2]}),
    ((1, 2, 5, 6, 7), (4, 2, 3, 2, 3), {"pads": [1, 0, 1, 1, 0, 1], "strides": [1, 2, 2]}),
    ((2, 16, 6, 6), (32, 16, 1, 1), {}),
    ((1, 3, 6, 6), (4, 3, 3, 3), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize(("x_shape", "w_shape", "attrs"), CONV_CASES)
def test_conv_matches_ort(x_shape: tuple[int, ...], w_shape: tuple[int, ...], attrs: dict[str, Any],
                          dtype: type) -> None:
    bias = _randn(w_shape[0], dtype=dtype)
    compare_with_ort("Conv", [_randn(*x_shape, dtype=dtype), _randn(*w_shape, dtype=dtype), bias], attrs,
                     **_tol(dtype))


CONV_TRANSPOSE_CASES = [
    ((1, 3, 5), (3, 2, 3), {"strides": [2]}),
    ((1, 3, 4, 5), (3, 2, 3, 3), {"strides": [2, 2], "pads": [1, 0, 1, 2]}),
    ((1, 3, 4, 5), (3, 2, 3, 3), {"strides": [3, 2], "output_padding": [1, 1]}),
    ((1, 3, 4, 5), (3, 2, 3, 3), {"strides": [2, 2], "output_shape": [10, 9]}),
    ((1, 3, 4, 5), (3, 2, 3, 3), {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ((1, 3, 4, 5), (3, 2, 3, 3), {"strides": [2, 2], "auto_pad": "SAME_LOWER"}),
    ((1, 3, 4, 5), (3, 2, 2, 3), {"dilations": [2, 3], "strides": [1, 2]}),
    ((2, 4, 4, 5), (4, 3, 3, 3), {"group": 2, "strides": [2, 1], "pads": [1, 1, 0, 0]}),
    ((1, 6, 4, 4), (6, 1, 4, 4), {"group": 6, "strides": [2, 2], "pads": [1, 1, 1, 1]}),  # depthwise upsampling
    ((1, 2, 3, 4, 3), (2, 3, 3, 2, 3), {"strides": [2, 1, 2], "output_padding": [1, 0, 0]}),
]


@pytest.mark.parametrize(("x_shape", "w_shape", "attrs"), CONV_TRANSPOSE_CASES)
def test_conv_transpose_matches_ort(x_shape: tuple[int, ...], w_shape: tuple[int, ...], attrs: dict[str, Any]) -> None:
    compare_with_ort("ConvTranspose", [_randn(*x_shape), _randn(*w_shape), _randn(w_shape[1] * attrs.get("group", 1))],
                     attrs, rtol=1e-4, atol=1e-4)


def _quantized(shape: tuple[int, ...], dtype: type) -> np.ndarray:
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, shape, endpoint=True).astype(dtype)


@pytest.mark.parametrize(("x_dtype", "w_dtype"), [(np.uint8, np.uint8), (np.int8, np.int8), (np.uint8, np.int8)])
@pytest.mark.parametrize("attrs", [{}, {"pads": [1, 1, 1, 1], "strides": [2, 1]}, {"group": 2}])
def test_conv_integer_matches_ort(x_dtype: type, w_dtype: type, attrs: dict[str, Any]) -> None:
    x, w = _quantized((1, 4, 6, 5), x_dtype), _quantized((4, 4 // attrs.get("group", 1), 3, 3), w_dtype)
    compare_with_ort("ConvInteger", [x, w, np.array(7, x_dtype), np.array(3, w_dtype)], attrs, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("per_channel", [False, True])
def test_qlinear_conv_matches_ort(dtype: type, per_channel: bool) -> None:
    x, w = _quantized((1, 4, 7, 6), dtype), _quantized((6, 2, 3, 3), np.int8)
    w_scale = RNG.uniform(0.001, 0.01, 6 if per_channel else ()).astype(np.float32)
    w_zero = np.zeros(w_scale.shape, np.int8)
    inputs = [x, np.array(0.05, np.float32), np.array(9, dtype), w, w_scale, w_zero, np.array(0.2, np.float32),
              np.array(-5 if dtype is np.int8 else 120, dtype), RNG.integers(-500, 500, 6).astype(np.int32)]
    ours = compare_with_ort("QLinearConv", inputs, {"group": 2, "pads": [1, 1, 0, 1]}, rtol=0, atol=1)
    assert len(np.unique(ours[0])) > 10  # the test means something only if the output is not saturated


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize(("a_shape", "b_shape"), [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 6))])
def test_qlinear_matmul_matches_ort(dtype: type, a_shape: tuple[int, ...], b_shape: tuple[int, ...]) -> None:
    a, b = _quantized(a_shape, dtype), _quantized(b_shape, dtype)
    inputs = [a, np.array(0.02, np.float32), np.array(3, dtype), b, np.array(0.03, np.float32), np.array(1, dtype),
              np.array(2.5, np.float32), np.array(4, dtype)]
    compare_with_ort("QLinearMatMul", inputs, rtol=0, atol=1)


@pytest.mark.parametrize("attrs", [{}, {"pads": [1, 1, 1, 1], "strides": [2, 2]}, {"dilations": [2, 1], "group": 2},
                                   {"offset_group": 2, "pads": [0, 1, 0, 1]}])
@pytest.mark.parametrize("with_mask", [False, True])
def test_deform_conv_matches_ort(attrs: dict[str, Any], with_mask: bool) -> None:
    x, w = _randn(2, 4, 7, 6), _randn(6, 4 // attrs.get("group", 1), 3, 3)
    out = one_node_graph("Conv", [x, w], {k: v for k, v in attrs.items() if k != "offset_group"}).outputs[0].shape
    taps = 9 * attrs.get("offset_group", 1)
    offset = (RNG.standard_normal((2, 2 * taps, *out[2:])) * 1.5).astype(np.float32)
    mask = RNG.uniform(0, 1, (2, taps, *out[2:])).astype(np.float32) if with_mask else None
    compare_with_ort("DeformConv", [x, w, offset, _randn(6), mask], attrs, rtol=1e-4, atol=1e-4)


def test_deform_conv_with_zero_offsets_is_conv() -> None:
    x, w, b = _randn(1, 2, 4, 5, 6), _randn(3, 2, 2, 3, 2), _randn(3)
    attrs = {"pads": [1, 0, 1, 0, 1, 1], "strides": [1, 2, 1], "dilations": [2, 1, 1]}
    conv, = evaluate(one_node_graph("Conv", [x, w, b], attrs), [x, w, b])
    offset = np.zeros((1, 3 * 12, *conv.shape[2:]), np.float32)
    deform, = evaluate(one_node_graph("DeformConv", [x, w, offset, b], attrs), [x, w, offset, b])
    assert_close(deform, conv, rtol=1e-5, atol=1e-5)


def _resnet_block(g: Graph, x: Value, c_in: int, c_out: int, stride: int) -> Value:
    """conv-relu-conv plus a (projected) skip, the basic block of ResNet-18."""

    def conv(v: Value, c: int, k: int, s: int) -> Value:
        w = g.add_constant((RNG.standard_normal((c_out, c, k, k)) * 0.1).astype(np.float32))
        b = g.add_constant(RNG.standard_normal(c_out).astype(np.float32))
        return g.add("Conv", [v, w, b], {"strides": [s, s], "pads": [k // 2] * 4}).output

    y = conv(g.add("Relu", [conv(x, c_in, 3, stride)]).output, c_out, 3, 1)
    skip = conv(x, c_in, 1, stride) if stride != 1 or c_in != c_out else x
    return g.add("Relu", [g.add("Add", [y, skip]).output]).output


def test_resnet_like_network_matches_ort() -> None:
    g = Graph()
    x = Value(TensorType(DType.FLOAT, ("N", 3, 64, 64)), "x")
    g.inputs.append(x)
    w = g.add_constant((RNG.standard_normal((32, 3, 7, 7)) * 0.1).astype(np.float32))
    y = g.add("Conv", [x, w], {"strides": [2, 2], "pads": [3, 3, 3, 3]}).output
    y = g.add("MaxPool", [y], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}).output
    channels = 32
    for c_out, stride in [(32, 1), (32, 1), (64, 2), (64, 1), (128, 2), (128, 1)]:
        y, channels = _resnet_block(g, y, channels, c_out, stride), c_out
    g.outputs = [g.add("GlobalAveragePool", [y]).output]
    infer_shapes(g, strict=True)
    assert g.outputs[0].type == TensorType(DType.FLOAT, ("N", 128, 1, 1))
    data = RNG.standard_normal((2, 3, 64, 64)).astype(np.float32)
    ours, = evaluate(g, [data])
    theirs, = run_ort(to_onnx(g), [data])
    assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("op", "x_shape", "w_shape", "attrs", "expected"), [
    ("Conv", ("N", 3, 32, 31), (8, 3, 3, 3), {"strides": [2, 2], "pads": [1, 1, 1, 1]}, ("N", 8, 16, 16)),
    ("Conv", ("N", 3, 32, 31), (8, 3, 3, 3), {"strides": [2, 2], "auto_pad": "SAME_LOWER"}, ("N", 8, 16, 16)),
    ("Conv", ("N", 3, 32, 31), (8, 3, 3, 3), {"auto_pad": "VALID", "dilations": [2, 3]}, ("N", 8, 28, 25)),
    ("Conv", ("N", 3, "H", 31), (8, 3, 3, 3), {}, ("N", 8, None, 29)),
    ("Conv", (1, 3, 7), (8, 3, 3), {"pads": [0, 2], "strides": [2]}, (1, 8, 4)),
    ("ConvTranspose", ("N", 3, 4, 5), (3, 2, 3, 3), {"strides": [2, 2], "group": 1}, ("N", 2, 9, 11)),
    ("ConvTranspose", ("N", 4, 4, 5), (4, 2, 3, 3), {"strides": [2, 2], "group": 2, "output_padding": [1, 0]},
     ("N", 4, 10, 11)),
    ("ConvTranspose", ("N", 3, "H", 5), (3, 2, 3, 3), {"output_shape": [12, 12], "strides": [2, 2]}, ("N", 2, 12, 12)),
    ("ConvTranspose", ("N", 3, "H", 5), (3, 2, 3, 3), {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
     ("N", 2, None, 10)),
])
def test_conv_shape_inference(op: str, x_shape: tuple[Any, ...], w_shape: tuple[int, ...], attrs: dict[str, Any],
                              expected: tuple[Any, ...]) -> None:
    x, w = np.zeros([d if isinstance(d, int) else 1 for d in x_shape], np.float32), np.zeros(w_shape, np.float32)
    g = one_node_graph(op, [x, w], attrs, shapes={0: x_shape})
    assert g.outputs[0].type == TensorType(DType.FLOAT, expected)


def test_quantized_conv_types() -> None:
    x, w = np.zeros((1, 2, 5, 5), np.uint8), np.zeros((3, 2, 3, 3), np.int8)
    g = one_node_graph("ConvInteger", [x, w], {}, shapes={0: ("N", 2, 5, 5)})
    assert g.outputs[0].type == TensorType(DType.INT32, ("N", 3, 3, 3))
    scale = np.array(1, np.float32)
    g = one_node_graph("QLinearConv", [x, scale, np.array(0, np.uint8), w, scale, np.array(0, np.int8), scale,
                                       np.array(0, np.int8)], {"pads": [1, 1, 1, 1]}, shapes={0: ("N", 2, 5, 5)})
    assert g.outputs[0].type == TensorType(DType.INT8, ("N", 3, 5, 5))
    g = one_node_graph("QLinearMatMul", [np.zeros((2, 3, 4), np.uint8), scale, np.array(0, np.uint8),
                                         np.zeros((4, 6), np.uint8), scale, np.array(0, np.uint8), scale,
                                         np.array(0, np.uint8)], {}, shapes={0: ("B", "S", 4)})
    assert g.outputs[0].type == TensorType(DType.UINT8, ("B", "S", 6))


def test_conv_rejects_channel_mismatch() -> None:
    x, w = _randn(1, 3, 5, 5), _randn(4, 2, 3, 3)
    with pytest.raises(EvaluationError, match="channels"):
        evaluate(one_node_graph("Conv", [x, w], {}), [x, w])

