"""Converters of elementwise ops: unary math, activations, broadcasting binaries, comparisons, casts."""

from __future__ import annotations

from functools import reduce
from typing import Any

import openvino.opset16 as ov_ops

from graphopt.codegen.openvino.emitter import OV_TYPES, Lowering
from graphopt.codegen.openvino.table import converter, known_rank, refuse_attrs
from graphopt.ir.core import Node
from graphopt.ir.dtypes import DType

UNARY = {
    "Abs": ov_ops.absolute, "Acos": ov_ops.acos, "Acosh": ov_ops.acosh, "Asin": ov_ops.asin,
    "Asinh": ov_ops.asinh, "Atan": ov_ops.atan, "Atanh": ov_ops.atanh, "Ceil": ov_ops.ceiling, "Cos": ov_ops.cos,
    "Cosh": ov_ops.cosh, "Erf": ov_ops.erf, "Exp": ov_ops.exp, "Floor": ov_ops.floor, "Log": ov_ops.log,
    "Neg": ov_ops.negative, "Relu": ov_ops.relu, "Sigmoid": ov_ops.sigmoid, "Sign": ov_ops.sign,
    "Sin": ov_ops.sin, "Sinh": ov_ops.sinh, "Sqrt": ov_ops.sqrt, "Tan": ov_ops.tan, "Tanh": ov_ops.tanh,
    "Softplus": ov_ops.softplus, "Softsign": ov_ops.softsign, "Mish": ov_ops.mish, "Not": ov_ops.logical_not,
    "BitwiseNot": ov_ops.bitwise_not, "IsNaN": ov_ops.is_nan, "HardSwish": ov_ops.hswish,
}
BINARY = {
    "Add": ov_ops.add, "Sub": ov_ops.subtract, "Mul": ov_ops.multiply,
    "Equal": ov_ops.equal, "Greater": ov_ops.greater, "Less": ov_ops.less, "GreaterOrEqual": ov_ops.greater_equal,
    "LessOrEqual": ov_ops.less_equal, "And": ov_ops.logical_and, "Or": ov_ops.logical_or,
    "Xor": ov_ops.logical_xor, "BitwiseAnd": ov_ops.bitwise_and, "BitwiseOr": ov_ops.bitwise_or,
    "BitwiseXor": ov_ops.bitwise_xor,
}
VARIADIC = {"Max": ov_ops.maximum, "Min": ov_ops.minimum, "Sum": ov_ops.add, "Mean": ov_ops.add}


@converter(*UNARY)
def unary(b: Lowering, node: Node, x: list[Any]) -> Any:
    return UNARY[node.op](x[0])


@converter(*BINARY)
def binary(b: Lowering, node: Node, x: list[Any]) -> Any:
    return BINARY[node.op](x[0], x[1])


@converter("Pow")
def pow_(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.power(x[0], ov_ops.convert_like(x[1], x[0]))  # ONNX lets the exponent's type differ


@converter("Div")
def div(b: Lowering, node: Node, x: list[Any]) -> Any:
    y = ov_ops.divide(x[0], x[1])
    y.set_attribute("m_pythondiv", False)  # integers truncate towards zero, as in ONNX (not floor)
    return y


@converter("Mod")
def mod(b: Lowering, node: Node, x: list[Any]) -> Any:
    return (ov_ops.mod if node.attr("fmod") else ov_ops.floor_mod)(x[0], x[1])


@converter(*VARIADIC)
def variadic(b: Lowering, node: Node, x: list[Any]) -> Any:
    y = reduce(VARIADIC[node.op], x)
    return ov_ops.divide(y, b.const(len(x), x[0])) if node.op == "Mean" else y


@converter("BitShift")
def bit_shift(b: Lowering, node: Node, x: list[Any]) -> Any:
    shift = ov_ops.bitwise_left_shift if node.attr("direction") == "LEFT" else ov_ops.bitwise_right_shift
    bits = b.const(x[0].get_element_type().bitwidth, x[1])
    out_of_range = ov_ops.greater_equal(x[1], bits)
    if x[1].get_element_type().is_signed():
        out_of_range = ov_ops.logical_or(out_of_range, ov_ops.less(x[1], b.const(0, x[1])))
    return ov_ops.select(out_of_range, b.const(0, x[0]), shift(x[0], x[1]))  # ONNX: such shifts give 0


@converter("Where")
def where(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.select(x[0], x[1], x[2])


@converter("Identity")
def identity(b: Lowering, node: Node, x: list[Any]) -> Any:
    return x[0]


@converter("Reciprocal")
def reciprocal(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.divide(b.const(1, x[0]), x[0])


@converter("Round")
def round_(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.round(x[0], "half_to_even")


@converter("IsInf")
def is_inf(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.is_inf(x[0], {"detect_negative": bool(node.attr("detect_negative")),
                                "detect_positive": bool(node.attr("detect_positive"))})


def _cast_check(node: Node) -> str | None:
    if node.attr("to") not in {int(d) for d in OV_TYPES}:
        return f"cast target type {node.attr('to')} is not supported by OpenVINO"
    return None


@converter("Cast", check=_cast_check)
def cast(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.convert(x[0], OV_TYPES[DType(node.attr("to"))])


@converter("CastLike")
def cast_like(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.convert_like(x[0], x[1])


# -- activations with parameters ---------------------------------------------------------------


@converter("LeakyRelu")
def leaky_relu(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.prelu(x[0], b.const([node.attr("alpha")], x[0]))


@converter("PRelu")
def prelu(b: Lowering, node: Node, x: list[Any]) -> Any:
    data, slope = x
    negative = ov_ops.less(data, b.const(0, data))
    return ov_ops.select(negative, ov_ops.multiply(data, slope), data)


@converter("Elu")
def elu(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.elu(x[0], node.attr("alpha"))


@converter("Selu")
def selu(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.selu(x[0], b.const([node.attr("alpha")], x[0]), b.const([node.attr("gamma")], x[0]))


@converter("Celu")
def celu(b: Lowering, node: Node, x: list[Any]) -> Any:
    alpha = b.const(node.attr("alpha"), x[0])
    zero = b.const(0, x[0])
    expm1 = ov_ops.subtract(ov_ops.exp(ov_ops.divide(x[0], alpha)), b.const(1, x[0]))
    return ov_ops.add(ov_ops.maximum(x[0], zero), ov_ops.minimum(zero, ov_ops.multiply(alpha, expm1)))


@converter("HardSigmoid")
def hard_sigmoid(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.hard_sigmoid(x[0], b.const(node.attr("alpha"), x[0]), b.const(node.attr("beta"), x[0]))


@converter("ThresholdedRelu")
def thresholded_relu(b: Lowering, node: Node, x: list[Any]) -> Any:
    keep = ov_ops.greater(x[0], b.const(node.attr("alpha"), x[0]))
    return ov_ops.select(keep, x[0], b.const(0, x[0]))


@converter("Shrink")
def shrink(b: Lowering, node: Node, x: list[Any]) -> Any:
    lambd, bias = b.const(node.attr("lambd"), x[0]), b.const(node.attr("bias"), x[0])
    low = ov_ops.less(x[0], ov_ops.negative(lambd))
    high = ov_ops.greater(x[0], lambd)
    zero = b.const(0, x[0])
    return ov_ops.select(low, ov_ops.add(x[0], bias), ov_ops.select(high, ov_ops.subtract(x[0], bias), zero))


@converter("Clip")
def clip(b: Lowering, node: Node, x: list[Any]) -> Any:
    y = x[0]
    if len(x) > 1 and x[1] is not None:
        y = ov_ops.maximum(y, x[1])
    if len(x) > 2 and x[2] is not None:
        y = ov_ops.minimum(y, x[2])
    return y


@converter("Gelu", check=refuse_attrs(approximate=("none", "tanh")))
def gelu(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.gelu(x[0], "erf" if node.attr("approximate") == "none" else "tanh")


@converter("Swish")
def swish(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.swish(x[0], b.const(node.attr("alpha", 1.0), x[0]))


# -- softmax family ----------------------------------------------------------------------------


@converter("Softmax")
def softmax(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.softmax(x[0], node.attr("axis"))


@converter("LogSoftmax")
def log_softmax(b: Lowering, node: Node, x: list[Any]) -> Any:
    return ov_ops.log_softmax(x[0], node.attr("axis"))


@converter("Hardmax", check=known_rank(0))
def hardmax(b: Lowering, node: Node, x: list[Any]) -> Any:
    axis = node.attr("axis")
    top = ov_ops.topk(x[0], b.i64(1), axis, "max", "value", "i64", stable=True)
    depth = ov_ops.gather(ov_ops.shape_of(x[0], "i64"), b.i64(axis), b.i64(0))
    indices = ov_ops.squeeze(top.output(1), b.i64([axis]))
    on, off = b.const(1, x[0]), b.const(0, x[0])
    rank = x[0].get_partial_shape().rank.get_length()
    return ov_ops.one_hot(indices, depth, on, off, axis % rank)

