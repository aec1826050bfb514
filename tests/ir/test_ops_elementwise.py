"""Elementwise, cast and quantization ops: backend cases, onnxruntime on random inputs, symbolic inference."""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np
import onnx
import onnx.helper
import pytest

from graphopt.errors import EvaluationError
from graphopt.frontends.onnx import from_onnx
from graphopt.ir import DType, Graph, TensorType, Value, evaluate, infer_node
from graphopt.ir.ops.quantize import cast_array
from tests.backend_cases import node_cases, run_ort
from tests.ir.op_check import check_backend_case, compare_with_ort, one_node_graph, one_node_model

OPS = frozenset({
    "Abs", "Acos", "Acosh", "Add", "And", "Asin", "Asinh", "Atan", "Atanh", "BitShift", "BitwiseAnd", "BitwiseNot",
    "BitwiseOr", "BitwiseXor", "BitCast", "Cast", "CastLike", "Ceil", "Celu", "Clip", "Cos", "Cosh", "Div", "Elu",
    "Equal", "Erf", "Exp", "Floor", "Gelu", "Greater", "GreaterOrEqual", "HardSigmoid", "HardSwish", "IsInf", "IsNaN",
    "LeakyRelu", "Less", "LessOrEqual", "Log", "Max", "Mean", "Min", "Mish", "Mod", "Mul", "Neg", "Not", "Or", "PRelu",
    "Pow", "Reciprocal", "Relu", "Round", "Selu", "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Softplus", "Softsign",
    "Sqrt", "Sub", "Sum", "Swish", "Tan", "Tanh", "ThresholdedRelu", "Where", "Xor", "Identity", "Dropout", "SwiGLU",
    "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
})
RANDOM_DROPOUT = frozenset({"test_training_dropout", "test_training_dropout_mask", "test_training_dropout_default",
                            "test_training_dropout_default_mask"})
"""Training-mode dropout with a nonzero ratio is random: graphopt refuses to evaluate it."""

rng = np.random.default_rng(0)


def family_cases() -> list[Any]:
    """Backend cases built only from this family's ops (and Constant), expanded function bodies included."""
    ops = [(c, {n.op_type for n in c.model.graph.node}) for c in node_cases()]
    return [pytest.param(c, id=c.name) for c, used in ops if used & OPS and used <= OPS | {"Constant"}]


@pytest.mark.parametrize("case", family_cases())
def test_backend_case(case: Any) -> None:
    if case.name in RANDOM_DROPOUT:
        with pytest.raises(EvaluationError, match="training mode"):
            check_backend_case(case)
    else:
        check_backend_case(case)


# -- onnxruntime on random inputs -----------------------------------------------------------------

def normal(*shape: int, dtype: Any = np.float32, scale: float = 2.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(dtype)


def uniform(low: float, high: float, *shape: int, dtype: Any = np.float32) -> np.ndarray:
    return rng.uniform(low, high, shape).astype(dtype)


def ints(low: int, high: int, *shape: int, dtype: Any = np.int32) -> np.ndarray:
    return rng.integers(low, high, shape).astype(dtype)


UNARY_DOMAINS = {
    "Acos": (-1, 1), "Asin": (-1, 1), "Atanh": (-0.99, 0.99), "Acosh": (1, 5), "Log": (0.01, 10),
    "Sqrt": (0, 10), "Reciprocal": (0.1, 5), "Tan": (-1.5, 1.5), "Cosh": (-5, 5), "Sinh": (-5, 5), "Exp": (-10, 10),
}
FLOAT_UNARY = ["Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "Ceil", "Cos", "Cosh", "Erf", "Exp", "Floor",
               "Log", "Neg", "Reciprocal", "Relu", "Round", "Sigmoid", "Sign", "Sin", "Sinh", "Softplus", "Softsign",
               "Sqrt", "Tan", "Tanh", "Mish", "HardSwish"]
NO_DOUBLE_IN_ORT = {"Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "Cosh", "Erf", "Sinh", "Softplus", "Softsign",
                    "Tan", "Mish", "HardSwish"}


@pytest.mark.parametrize(("op", "dtype"), [(op, dtype) for op in FLOAT_UNARY
                                           for dtype in (np.float32, np.float16, np.float64)
                                           if dtype != np.float64 or op not in NO_DOUBLE_IN_ORT])
def test_float_unary(op: str, dtype: Any) -> None:
    x = uniform(*UNARY_DOMAINS.get(op, (-6, 6)), 3, 50, dtype=dtype)
    if op == "Round":
        x = np.concatenate([x, np.array([[0.5, 1.5, 2.5, -0.5, -2.5] * 10] * 3, dtype)])
    compare_with_ort(op, [x], rtol=1e-3 if dtype == np.float16 else 2e-6, atol=1e-6)


ACTIVATIONS = [
    ("Elu", {"alpha": 0.7}), ("Celu", {"alpha": 1.3}), ("Selu", {}), ("Selu", {"alpha": 1.5, "gamma": 2.0}),
    ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}), ("LeakyRelu", {"alpha": 0.1}), ("ThresholdedRelu", {"alpha": 0.5}),
    ("Shrink", {"bias": 0.5, "lambd": 1.0}), ("Gelu", {}), ("Gelu", {"approximate": "tanh"}),
]


@pytest.mark.parametrize(("op", "attrs"), ACTIVATIONS)
def test_activation(op: str, attrs: dict[str, Any]) -> None:
    compare_with_ort(op, [normal(4, 40)], attrs)


@pytest.mark.parametrize(("op", "dtype"), [(op, dtype) for op in ("Abs", "Neg", "Sign", "Relu")
                                           for dtype in (np.int8, np.int32, np.int64)
                                           if (op, dtype) != ("Relu", np.int64)])  # not in onnxruntime
def test_integer_unary(op: str, dtype: Any) -> None:
    compare_with_ort(op, [ints(-100, 100, 5, 7, dtype=dtype)])


def test_shrink_integer() -> None:
    compare_with_ort("Shrink", [ints(-10, 10, 30, dtype=np.int8)], {"bias": 2.0, "lambd": 3.0})


SPECIALS = np.array([0.0, -0.0, 1.5, -2.5, np.inf, -np.inf, np.nan, 1e30], np.float32)


@pytest.mark.parametrize(("op", "attrs"), [("IsNaN", {}), ("IsInf", {}), ("IsInf", {"detect_negative": 0}),
                                           ("IsInf", {"detect_positive": 0})])
def test_special_value_tests(op: str, attrs: dict[str, Any]) -> None:
    compare_with_ort(op, [SPECIALS], attrs)


BINARY = [
    ("Add", normal(2, 3, 4), normal(3, 1)), ("Sub", normal(2, 3, 4), normal(4)), ("Mul", normal(5), normal(2, 1)),
    ("Div", normal(3, 4), uniform(0.5, 2, 3, 4)), ("Add", ints(-128, 127, 20, dtype=np.int8),
                                                   ints(-128, 127, 20, dtype=np.int8)),
    ("Mul", ints(0, 255, 20, dtype=np.uint8), ints(0, 255, 20, dtype=np.uint8)),
    ("Add", normal(3, 4, dtype=np.float16), normal(4, dtype=np.float16)),
    ("Div", ints(-50, 50, 40), np.array([3, -3, 7, -7] * 10, np.int32)),
    ("Div", ints(0, 200, 40, dtype=np.uint8), ints(1, 9, 40, dtype=np.uint8)),
    ("Div", ints(-10**12, 10**12, 40, dtype=np.int64), ints(1, 1000, 40, dtype=np.int64)),
    ("Pow", uniform(0.1, 3, 3, 4), normal(3, 4)), ("Pow", normal(3, 4), ints(-3, 4, 4)),
    ("Pow", ints(1, 6, 30) * np.array([1, -1], np.int32).repeat(15), ints(-2, 5, 30)),
    ("Pow", ints(0, 6, 30, dtype=np.int64), uniform(0, 3, 30)),
    ("Pow", uniform(0.1, 3, 8, dtype=np.float16), uniform(-2, 2, 8)),
    ("PRelu", normal(2, 3, 4), normal(3, 1)),
    ("BitwiseAnd", ints(0, 255, 9, dtype=np.uint8), ints(0, 255, 9, dtype=np.uint8)),
    ("BitwiseOr", ints(-100, 100, 9), ints(-100, 100, 1)), ("BitwiseXor", ints(0, 9, 9, dtype=np.int64),
                                                         ints(0, 9, 9, dtype=np.int64)),
    ("And", normal(3, 4) > 0, normal(4) > 0), ("Or", normal(3, 4) > 0, normal(3, 4) > 0),
    ("Xor", normal(3, 4) > 0, normal(1) > 0),
]


@pytest.mark.parametrize(("op", "a", "b"), BINARY, ids=lambda v: v if isinstance(v, str) else str(v.dtype))
def test_binary(op: str, a: np.ndarray, b: np.ndarray) -> None:
    compare_with_ort(op, [a, b], rtol=1e-3 if np.float16 in (a.dtype, b.dtype) else 1e-6)


@pytest.mark.parametrize(("dtype", "fmod"), [(np.int8, 0), (np.int32, 0), (np.int64, 0), (np.int32, 1), (np.int64, 1),
                                             (np.float32, 1)])  # floating-point Mod requires fmod=1
def test_mod(dtype: Any, fmod: int) -> None:
    a = (rng.integers(-60, 60, 40) * (0.7 if dtype == np.float32 else 1)).astype(dtype)
    b = np.array([3, -3, 7, -7] * 10).astype(dtype)
    compare_with_ort("Mod", [a, b], {"fmod": fmod})


@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint32, np.uint64])
def test_bit_shift(dtype: Any, direction: str) -> None:
    compare_with_ort("BitShift", [ints(0, 200, 12, dtype=dtype), ints(0, 7, 12, dtype=dtype)],
                     {"direction": direction})


def test_bitwise_and_logical_not() -> None:
    compare_with_ort("BitwiseNot", [ints(-100, 100, 9)])
    compare_with_ort("Not", [normal(3, 4) > 0])


@pytest.mark.parametrize("op", ["Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual"])
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.uint8])
def test_compare(op: str, dtype: Any) -> None:
    a = ints(0, 4, 3, 5).astype(dtype)
    compare_with_ort(op, [a, ints(0, 4, 5).astype(dtype)])


def test_equal_strings_ignores_bytes_vs_str() -> None:
    a = np.array([b"ab", "cd", "x"], dtype=object)
    out, = evaluate(one_node_graph("Equal", [a, np.array(["ab"], object)], {}), [a, np.array(["ab"], object)])
    assert out.tolist() == [True, False, False]


@pytest.mark.parametrize("op", ["Max", "Min", "Sum", "Mean"])
@pytest.mark.parametrize("n", [1, 3])
def test_variadic(op: str, n: int) -> None:
    inputs = [normal(2, 3, 4), normal(3, 1), normal(4)][:n]
    compare_with_ort(op, inputs)


def test_variadic_integers() -> None:
    compare_with_ort("Max", [ints(-9, 9, 3, 4), ints(-9, 9, 4)])


@pytest.mark.parametrize("dtype", [np.float32, np.int8])
def test_clip(dtype: Any) -> None:
    x = ints(-100, 100, 4, 6).astype(dtype)
    low, high = np.array(-20, dtype), np.array(30, dtype)
    compare_with_ort("Clip", [x, low, high])
    compare_with_ort("Clip", [x, None, high])
    compare_with_ort("Clip", [x, low])
    compare_with_ort("Clip", [x])


def test_where() -> None:
    compare_with_ort("Where", [normal(3, 1) > 0, normal(1, 4), normal(3, 4)])
    compare_with_ort("Where", [normal(5) > 0, ints(0, 9, 5, dtype=np.int64), ints(0, 9, 1, dtype=np.int64)])


def test_dropout_inference_is_identity_with_ones_mask() -> None:
    x = normal(3, 4)
    out, mask = compare_with_ort("Dropout", [x, np.array(0.3, np.float32)], num_outputs=2)
    assert np.array_equal(out, x) and mask.all()
    compare_with_ort("Dropout", [x, np.array(0.3, np.float32), np.array(False)], num_outputs=2)


def test_dropout_refuses_training_mode() -> None:
    x = normal(3, 4)
    g = one_node_graph("Dropout", [x, None, np.array(True)], {})
    with pytest.raises(EvaluationError, match="training mode"):
        evaluate(g, [x, np.array(True)])


def test_swish_and_swiglu() -> None:
    x, y = normal(3, 5), normal(3, 5)
    swish, = evaluate(one_node_graph("Swish", [x], {"alpha": 1.5}), [x])
    np.testing.assert_allclose(swish, x / (1 + np.exp(-1.5 * x)), rtol=1e-6, atol=1e-6)
    glu, = evaluate(one_node_graph("SwiGLU", [x, y], {"alpha": 0.5}), [x, y])
    np.testing.assert_allclose(glu, x / (1 + np.exp(-0.5 * x)) * y, rtol=1e-6, atol=1e-6)


# -- Cast ---------------------------------------------------------------------------------------------

CAST_SOURCE = np.concatenate([normal(40, scale=30), [0.5, 1.5, 2.5, -0.5, 448, 500, 6e4, 7e4, 1e-9, -0.0]]).astype(
    np.float32)
NUMERIC = [DType.FLOAT16, DType.DOUBLE, DType.INT8, DType.UINT8, DType.INT16, DType.INT32, DType.INT64, DType.UINT32,
           DType.BOOL]


@pytest.mark.parametrize("to", NUMERIC, ids=lambda d: d.name)
@pytest.mark.parametrize("src", [DType.FLOAT, DType.INT64, DType.UINT8, DType.BOOL, DType.FLOAT16],
                         ids=lambda d: d.name)
def test_cast_numeric(src: DType, to: DType) -> None:
    x: np.ndarray = CAST_SOURCE if src.is_float else (CAST_SOURCE * 5).astype(np.int64)
    x = np.clip(x, -100, 100) if src.is_float and to.is_integer else x  # float -> int is undefined out of range
    with np.errstate(over="ignore"):
        compare_with_ort("Cast", [x.astype(src.numpy)], {"to": int(to)})


FLOAT8 = [DType.FLOAT8E4M3FN, DType.FLOAT8E4M3FNUZ, DType.FLOAT8E5M2, DType.FLOAT8E5M2FNUZ]
NARROW_CASTS = [
    *[(to, {}) for to in (DType.BFLOAT16, DType.INT4, DType.UINT4, *FLOAT8)],
    *[(to, {"saturate": 0}) for to in FLOAT8],
    *[(DType.FLOAT8E8M0, {"round_mode": mode, "saturate": saturate})
      for mode in ("up", "down", "nearest") for saturate in (0, 1)],
]
E8M0_SOURCE = np.array([0, 1, 1.25, 1.5, 3, 3e38, 1.7e38, np.inf, 1e-45, 6e-39, 1.2e-38, np.nan, 0.0234], np.float32)


@pytest.mark.parametrize(("to", "attrs"), NARROW_CASTS, ids=lambda v: v.name if isinstance(v, DType) else str(v))
def test_cast_narrow_round_trip(to: DType, attrs: dict[str, Any]) -> None:
    """float32 -> narrow type -> float32 in one model, since onnxruntime cannot return narrow types to numpy."""
    x = np.concatenate([CAST_SOURCE, E8M0_SOURCE]) if to == DType.FLOAT8E8M0 else CAST_SOURCE
    if to.is_integer:
        x = np.clip(np.round(x / 8), -8 if to == DType.INT4 else 0, 7 if to == DType.INT4 else 15)
    nodes = [onnx.helper.make_node("Cast", ["x"], ["n"], to=int(to), **attrs),
             onnx.helper.make_node("Cast", ["n"], ["y"], to=int(DType.FLOAT))]
    model = onnx.helper.make_model(
        onnx.helper.make_graph(nodes, "g", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, x.shape)],
                               [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, x.shape)]),
        ir_version=10, opset_imports=[onnx.helper.make_opsetid("", 25)])
    expected, = run_ort(model, [x])
    ours, = evaluate(from_onnx(model), [x])
    np.testing.assert_array_equal(ours, expected)


ALL_DTYPES = [d for d in DType if d not in (DType.UNDEFINED, DType.COMPLEX64, DType.COMPLEX128)]


@pytest.mark.parametrize("src", ALL_DTYPES, ids=lambda d: d.name)
def test_cast_every_pair(src: DType) -> None:
    """A value every type holds (1) survives a cast from ``src`` to every type, in that type's numpy dtype."""
    x = cast_array(np.array(["1", "1"], dtype=object), src)
    assert x.dtype == src.numpy
    for to in ALL_DTYPES:
        y = cast_array(x, to)
        assert y.dtype == to.numpy, to
        assert [str(v) for v in y.tolist()] == ["1", "1"] if to == DType.STRING else y.astype(float).tolist() == [1, 1]


def test_cast_to_string_formats_like_onnxruntime() -> None:
    x = np.array([0.1, 1e10, -np.inf, np.inf, np.nan, 3.0, -0.0, 1.2345678e-5, 123456789], np.float32)
    for source in (x, x.astype(np.float64), np.array([0, -7, 2**40], np.int64), np.array([True, False])):
        g = one_node_graph("Cast", [source], {"to": int(DType.STRING)})
        ours, = evaluate(g, [source])
        theirs, = run_ort(one_node_model("Cast", [source], {"to": int(DType.STRING)}), [source])
        assert ours.tolist() == theirs.tolist()
        assert g.outputs[0].type == TensorType(DType.STRING, source.shape)


@pytest.mark.parametrize("to", [DType.FLOAT, DType.DOUBLE, DType.INT64, DType.INT32, DType.FLOAT16, DType.UINT8])
def test_cast_from_string(to: DType) -> None:
    texts = ["12", "-3", "1E3", "+INF", "-inf", "NaN", "0.25", "7"] if to.is_float else ["12", "-3", "0", "100"]
    ours, = compare_with_ort("Cast", [np.array(texts, dtype=object)], {"to": int(to)})
    as_bytes = np.array([s.encode() for s in texts], dtype=object)
    np.testing.assert_array_equal(evaluate(one_node_graph("Cast", [as_bytes], {"to": int(to)}), [as_bytes])[0], ours)


def test_cast_like_and_bitcast() -> None:
    x = normal(3, 4)
    compare_with_ort("CastLike", [x, np.zeros(2, np.float16)])
    out, = evaluate(one_node_graph("BitCast", [x], {"to": int(DType.INT32)}), [x])
    np.testing.assert_array_equal(out, x.view(np.int32))
    codes = np.arange(16, dtype=np.uint8).view(ml_dtypes.int4)
    out, = evaluate(one_node_graph("BitCast", [codes], {"to": int(DType.UINT4)}), [codes])
    assert out.dtype == ml_dtypes.uint4 and out.astype(np.int32).tolist() == list(range(16))
    with pytest.raises(EvaluationError, match="widths must match"):
        evaluate(one_node_graph("BitCast", [codes], {"to": int(DType.UINT8)}), [codes])


# -- quantization ----------------------------------------------------------------------------------------

QUANT = [
    ({}, np.array(0.05, np.float32), np.array(10, np.uint8)),
    ({}, np.array(0.05, np.float32), np.array(-3, np.int8)),
    ({}, np.array(0.05, np.float32), None),
    ({"axis": 1}, uniform(0.01, 0.1, 4), ints(-5, 5, 4, dtype=np.int8)),
    ({"axis": 0}, uniform(0.01, 0.1, 3), ints(0, 20, 3, dtype=np.uint16)),
    ({"axis": 2, "block_size": 2}, uniform(0.01, 0.1, 3, 4, 3), ints(-5, 5, 3, 4, 3, dtype=np.int8)),
    ({"output_dtype": int(DType.INT16)}, np.array(0.001, np.float32), None),
    ({}, np.array(0.05, np.float16), np.array(3, np.uint8)),
]


@pytest.mark.parametrize(("attrs", "scale", "zero_point"), QUANT)
def test_quantize_dequantize(attrs: dict[str, Any], scale: np.ndarray, zero_point: np.ndarray | None) -> None:
    x = normal(3, 4, 5, scale=5).astype(scale.dtype)
    q, = compare_with_ort("QuantizeLinear", [x, scale, zero_point], attrs)
    attrs.pop("output_dtype", None)
    compare_with_ort("DequantizeLinear", [q, scale, zero_point], attrs)


@pytest.mark.parametrize(("zero_point", "expected"), [
    (np.zeros((), ml_dtypes.float8_e4m3fn), lambda q: cast_array(q, DType.FLOAT8E4M3FN)),
    (np.zeros((), ml_dtypes.int4), lambda q: np.clip(np.rint(q), -8, 7).astype(ml_dtypes.int4)),
])
def test_quantize_to_narrow_types(zero_point: np.ndarray, expected: Any) -> None:
    x, scale = normal(4, 6, scale=50), np.array(0.5, np.float32)
    q, = evaluate(one_node_graph("QuantizeLinear", [x, scale, zero_point], {}, const=(2,)), [x, scale])
    want = expected(x / scale)
    assert q.dtype == want.dtype
    np.testing.assert_array_equal(q.astype(np.float32), want.astype(np.float32))


@pytest.mark.parametrize("x", [normal(3, 4), np.abs(normal(20)), -np.abs(normal(2, 2)), np.zeros(5, np.float32)],
                         ids=["mixed", "positive", "negative", "zeros"])
def test_dynamic_quantize(x: np.ndarray) -> None:
    compare_with_ort("DynamicQuantizeLinear", [x], num_outputs=3)


# -- shape inference ---------------------------------------------------------------------------------------

def infer(op: str, types: list[TensorType | None], attrs: dict[str, Any] | None = None, num_outputs: int = 1,
          sym: dict[int, tuple[Any, ...]] | None = None, consts: dict[int, np.ndarray] | None = None
          ) -> tuple[list[Any], tuple[Any, ...] | None]:
    """Inferred output types of one node, and its output's symbolic value (``sym`` gives the inputs')."""
    g = Graph()
    values = [g.add_constant(consts[i]) if consts and i in consts else Value(t, f"x{i}") for i, t in enumerate(types)]
    node = g.add(op, values, attrs or {}, num_outputs=num_outputs)
    known = {values[i]: s for i, s in (sym or {}).items()}
    types_out = infer_node(node, known)
    return types_out, known.get(node.output) if num_outputs == 1 else None


F32, I64, BOOL = DType.FLOAT, DType.INT64, DType.BOOL


@pytest.mark.parametrize(("op", "shapes", "expected"), [
    ("Add", [("N", 1, 3), (4, 1)], ("N", 4, 3)),
    ("Mul", [("N", "C"), ("N", 1)], ("N", "C")),
    ("Sub", [("N", 3), ("M", 3)], (None, 3)),
    ("Max", [(2, 1, 1), (1, "S", 1), (1, 1, 5)], (2, "S", 5)),
    ("Sum", [("B", 4)], ("B", 4)),
    ("Pow", [("N", 2), ()], ("N", 2)),
    ("PRelu", [("N", 3, 8), (3, 1)], ("N", 3, 8)),
])
def test_broadcast_inference(op: str, shapes: list[tuple[Any, ...]], expected: tuple[Any, ...]) -> None:
    (t,), _ = infer(op, [TensorType(F32, s) for s in shapes])
    assert t == TensorType(F32, expected)


def test_output_dtypes() -> None:
    x, i = TensorType(F32, ("N", 3)), TensorType(I64, (3,))
    assert infer("Less", [x, x])[0] == [TensorType(BOOL, ("N", 3))]
    assert infer("IsNaN", [x])[0] == [TensorType(BOOL, ("N", 3))]
    assert infer("Pow", [x, i])[0] == [TensorType(F32, ("N", 3))]
    assert infer("Where", [TensorType(BOOL, ("N", 1)), i, TensorType(I64, ())])[0] == [TensorType(I64, ("N", 3))]
    assert infer("Cast", [x], {"to": int(DType.FLOAT16)})[0] == [TensorType(DType.FLOAT16, ("N", 3))]
    assert infer("CastLike", [x, TensorType(DType.INT8, ())])[0] == [TensorType(DType.INT8, ("N", 3))]
    assert infer("Dropout", [x], num_outputs=2)[0] == [x, TensorType(BOOL, ("N", 3))]
    assert infer("QuantizeLinear", [x, TensorType(F32, ())])[0] == [TensorType(DType.UINT8, ("N", 3))]
    assert infer("QuantizeLinear", [x, TensorType(F32, ()), TensorType(DType.INT4, ())])[0] == [
        TensorType(DType.INT4, ("N", 3))]
    assert infer("DequantizeLinear", [TensorType(DType.INT8, ("N",)), TensorType(DType.FLOAT16, ())])[0] == [
        TensorType(DType.FLOAT16, ("N",))]
    assert infer("DynamicQuantizeLinear", [x], num_outputs=3)[0] == [
        TensorType(DType.UINT8, ("N", 3)), TensorType(F32, ()), TensorType(DType.UINT8, ())]


def test_incompatible_broadcast_fails() -> None:
    with pytest.raises(Exception, match="broadcast"):
        infer("Add", [TensorType(F32, (3,)), TensorType(F32, (4,))])


SHAPE_VEC = TensorType(I64, (3,))


@pytest.mark.parametrize(("op", "a", "b", "expected"), [
    ("Mul", ("N", 4, 8), (1, 2, 1), ("N", 8, 8)),
    ("Div", ("N", -7, 8), (1, 2, 3), ("N", -3, 2)),
    ("Add", ("N", "S", 8), (0,), ("N", "S", 8)),
    ("Sub", ("N", "S", 8), ("N", 1, 0), (0, None, 8)),
    ("Max", ("N", 3, 1), ("N", 1, 5), ("N", 3, 5)),
])
def test_symbolic_values_through_arithmetic(op: str, a: tuple[Any, ...], b: tuple[Any, ...],
                                            expected: tuple[Any, ...]) -> None:
    _, sym = infer(op, [SHAPE_VEC, TensorType(I64, (len(b),))], sym={0: a, 1: b})
    assert sym == expected


def test_symbolic_values_through_identity_cast_where() -> None:
    assert infer("Identity", [SHAPE_VEC], sym={0: ("N", 3, "T")})[1] == ("N", 3, "T")
    assert infer("Cast", [SHAPE_VEC], {"to": int(DType.INT32)}, sym={0: ("N", 3, 2**40)})[1] == ("N", 3, None)
    assert infer("Cast", [SHAPE_VEC], {"to": int(DType.FLOAT)}, sym={0: ("N", 3, 1)})[1] is None
    cond = np.array([True, False, True])
    assert infer("Where", [None, SHAPE_VEC, SHAPE_VEC], sym={1: ("N", 1, 2), 2: (5, "S", 7)},
                 consts={0: cond})[1] == ("N", "S", 2)


def test_float_arithmetic_does_not_make_symbolic_values() -> None:
    assert infer("Mul", [TensorType(F32, (2,)), TensorType(F32, (2,))], sym={0: (1, 2), 1: (3, 4)})[1] is None
