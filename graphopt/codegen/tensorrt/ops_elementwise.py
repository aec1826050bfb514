"""Elementwise converters: binary and variadic ops, unary ops, activations, Clip, Where, Cast."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from graphopt.codegen.tensorrt.emitter import Emitter
from graphopt.codegen.tensorrt.registry import FLOATS, all_checks, converter, float_input, needs_const
from graphopt.ir.core import Node, Value
from graphopt.ir.dtypes import DType

if TYPE_CHECKING:
    from tensorrt import ITensor

BINARY = {"Add": "SUM", "Sub": "SUB", "Mul": "PROD", "Div": "DIV", "Pow": "POW", "Max": "MAX", "Min": "MIN",
          "Sum": "SUM", "Equal": "EQUAL", "Greater": "GREATER", "Less": "LESS", "And": "AND", "Or": "OR",
          "Xor": "XOR"}
UNARY = {"Abs": "ABS", "Neg": "NEG", "Exp": "EXP", "Log": "LOG", "Sqrt": "SQRT", "Reciprocal": "RECIP",
         "Sin": "SIN", "Cos": "COS", "Tan": "TAN", "Asin": "ASIN", "Acos": "ACOS", "Atan": "ATAN",
         "Sinh": "SINH", "Cosh": "COSH", "Asinh": "ASINH", "Acosh": "ACOSH", "Atanh": "ATANH",
         "Ceil": "CEIL", "Floor": "FLOOR", "Erf": "ERF", "Not": "NOT", "Sign": "SIGN", "Round": "ROUND",
         "IsNaN": "ISNAN"}
_FLOAT_UNARY = frozenset(UNARY) - {"Abs", "Neg", "Not", "Sign"}
_LOGICAL = frozenset({"And", "Or", "Xor"})


def _in(node: Node, i: int = 0) -> Value:
    v = node.inputs[i]
    assert v is not None
    return v


def _binary_check(node: Node) -> str | None:
    dtypes = {v.dtype for v in node.inputs if v is not None}
    if len(dtypes) != 1:
        return f"inputs have different element types {sorted(d.name for d in dtypes)}"
    dtype = dtypes.pop()
    if node.op in _LOGICAL:
        return None if dtype == DType.BOOL else f"{node.op} needs BOOL inputs"
    if dtype == DType.BOOL:
        return None if node.op == "Equal" else f"{node.op} on BOOL has no TensorRT elementwise operation"
    if dtype in (DType.INT8, DType.UINT8):
        return f"{node.op} on {dtype.name} is not supported by TensorRT's elementwise layer"
    if node.op == "Pow" and dtype not in FLOATS:
        return "Pow on integers is not supported by TensorRT"
    return None


@converter(*BINARY, "Mean", "GreaterOrEqual", "LessOrEqual", check=_binary_check)
def convert_binary(em: Emitter, node: Node) -> None:
    out = node.outputs[0]
    assert out is not None and out.shape is not None
    rank = len(out.shape)
    values = [v for v in node.inputs if v is not None]
    if node.op in ("GreaterOrEqual", "LessOrEqual"):  # TensorRT has no >= or <=: a > b or a == b (false on NaN)
        a, b = em.operand(values[0], rank), em.operand(values[1], rank)
        strict = em.binary(a, b, "GREATER" if node.op == "GreaterOrEqual" else "LESS")
        em.out(node, em.binary(strict, em.binary(a, b, "EQUAL"), "OR", tag=node.op))
        return
    op = "SUM" if node.op == "Mean" else BINARY[node.op]  # integer DIV truncates towards zero, as ONNX's does
    acc = em.operand(values[0], rank)
    for v in values[1:]:
        acc = em.binary(acc, em.operand(v, rank), op)
    if node.op == "Mean" and len(values) > 1:
        acc = em.binary(acc, em.scalar(len(values), out.dtype, rank), "DIV", tag="mean")
    elif len(values) == 1:
        acc = em.layer_output(em.network.add_identity(acc), em.shape(acc), em.info(acc).dtype)
    em.out(node, acc)


def _unary_check(node: Node) -> str | None:
    dtype = _in(node).dtype
    if node.op == "Not":
        return None if dtype == DType.BOOL else "Not needs a BOOL input"
    if node.op in _FLOAT_UNARY and dtype not in FLOATS:
        return f"{node.op} runs on float types only in TensorRT"
    if dtype not in FLOATS and dtype not in (DType.INT32, DType.INT64):
        return f"{node.op} on {dtype.name} is not supported by TensorRT's unary layer"
    return None


@converter(*UNARY, check=_unary_check)
def convert_unary(em: Emitter, node: Node) -> None:
    em.out(node, em.unary(em.tensor(_in(node)), UNARY[node.op]))


@converter("IsInf", check=all_checks(float_input, lambda n: None if n.attr("detect_negative") and
                                     n.attr("detect_positive") else "IsInf for one sign only"))
def convert_isinf(em: Emitter, node: Node) -> None:
    em.out(node, em.unary(em.tensor(_in(node)), "ISINF"))


# -- activations ---------------------------------------------------------------------------------

ACTIVATIONS = {"Relu": "RELU", "Sigmoid": "SIGMOID", "Tanh": "TANH", "Softsign": "SOFTSIGN"}
_WITH_PARAMS = {  # op → (ActivationType, alpha from, beta from)
    "LeakyRelu": ("LEAKY_RELU", "alpha", None), "Elu": ("ELU", "alpha", None),
    "ThresholdedRelu": ("THRESHOLDED_RELU", "alpha", None), "HardSigmoid": ("HARD_SIGMOID", "alpha", "beta"),
    "Selu": ("SELU", "alpha", "gamma"),
}


FUSABLE = frozenset({"Relu", "Tanh", "Sigmoid", "LeakyRelu", "HardSigmoid", "HardSwish", "Clip", "Swish", "Gelu",
                     "GeluTanh"})
"""graphopt's fused activations that lower to TensorRT activation (or elementwise) layers."""


def fused_activation_reason(node: Node) -> str | None:
    """Why a graphopt fused op's activation has no lowering here (``None`` when it has one)."""
    act = node.attr("activation")
    return None if act in FUSABLE else f"activation {act}"


def apply_activation(em: Emitter, t: ITensor, name: str, params: tuple[float, ...] = ()) -> ITensor:
    """Activation ``name`` (graphopt's fused-activation names) on tensor ``t``."""
    if name in ACTIVATIONS:
        return em.activation(t, ACTIVATIONS[name])
    if name == "LeakyRelu":
        return em.activation(t, "LEAKY_RELU", params[0])
    if name == "HardSigmoid":
        return em.activation(t, "HARD_SIGMOID", params[0], params[1])
    if name == "Clip":
        return em.activation(t, "CLIP", params[0], params[1])
    if name in ("Gelu", "GeluTanh"):
        return em.activation(t, "GELU_ERF" if name == "Gelu" else "GELU_TANH")
    if name == "HardSwish":
        gate = em.activation(t, "HARD_SIGMOID", 1 / 6, 0.5)
        return em.binary(t, gate, "PROD", tag="hardswish")
    if name == "Swish":
        scaled = t if params[0] == 1.0 else em.binary(
            t, em.scalar(params[0], em.info(t).dtype, em.rank(t)), "PROD")
        return em.binary(t, em.activation(scaled, "SIGMOID"), "PROD", tag="swish")
    raise AssertionError(f"activation {name} has no TensorRT lowering")


@converter(*ACTIVATIONS, *_WITH_PARAMS, "HardSwish", "Softplus", "Mish", check=float_input)
def convert_activation(em: Emitter, node: Node) -> None:
    x = em.tensor(_in(node))
    if node.op in _WITH_PARAMS:
        kind, a, b = _WITH_PARAMS[node.op]
        alpha = float(node.attr(a))
        beta = float(node.attr(b)) if b else None
        em.out(node, em.activation(x, kind, alpha, beta))
    elif node.op == "Softplus":
        em.out(node, em.activation(x, "SOFTPLUS", 1.0, 1.0))
    elif node.op == "Mish":
        em.out(node, em.binary(x, em.activation(em.activation(x, "SOFTPLUS", 1.0, 1.0), "TANH"), "PROD"))
    else:
        em.out(node, apply_activation(em, x, node.op))


@converter("Gelu", check=float_input)
def convert_gelu(em: Emitter, node: Node) -> None:
    kind = "GELU_TANH" if node.attr("approximate") == "tanh" else "GELU_ERF"
    em.out(node, em.activation(em.tensor(_in(node)), kind))


@converter("Swish", check=float_input)
def convert_swish(em: Emitter, node: Node) -> None:
    em.out(node, apply_activation(em, em.tensor(_in(node)), "Swish", (float(node.attr("alpha")),)))


@converter("PRelu", check=float_input)
def convert_prelu(em: Emitter, node: Node) -> None:
    out = node.outputs[0]
    assert out is not None and out.shape is not None
    rank = len(out.shape)
    x, slope = em.operand(_in(node), rank), em.operand(_in(node, 1), rank)
    layer = em.network.add_parametric_relu(x, slope)
    em.result(node, layer)


def _clip_check(node: Node) -> str | None:
    if (reason := needs_const(1, 2)(node)) is not None:
        return reason
    dtype = _in(node).dtype
    return None if dtype in FLOATS or dtype in (DType.INT32, DType.INT64) else f"Clip on {dtype.name}"


@converter("Clip", check=_clip_check)
def convert_clip(em: Emitter, node: Node) -> None:
    x_value = _in(node)
    x = em.tensor(x_value)
    bounds = [v.numpy() if v is not None else None for v in ((*node.inputs[1:3], None, None))[:2]]
    if x_value.dtype in FLOATS:
        info = np.finfo(np.float32)
        lo = float(bounds[0]) if bounds[0] is not None else float(info.min)
        hi = float(bounds[1]) if bounds[1] is not None else float(info.max)
        em.out(node, em.activation(x, "CLIP", lo, hi))
        return
    for bound, op in zip(bounds, ("MAX", "MIN")):
        if bound is not None:
            x = em.binary(x, em.scalar(bound.item(), x_value.dtype, em.rank(x)), op, tag="clip")
    if x is em.tensor(x_value):
        x = em.layer_output(em.network.add_identity(x), em.shape(x), em.info(x).dtype)
    em.out(node, x)


@converter("Where")
def convert_where(em: Emitter, node: Node) -> None:
    out = node.outputs[0]
    assert out is not None and out.shape is not None
    rank = len(out.shape)
    cond, a, b = (em.operand(_in(node, i), rank) for i in range(3))
    em.result(node, em.network.add_select(cond, a, b))


@converter("Cast", "CastLike")
def convert_cast(em: Emitter, node: Node) -> None:
    out = node.outputs[0]
    assert out is not None
    x = em.tensor(_in(node))
    target = em.cdtype(out.dtype)
    if em.info(x).dtype == target:
        em.out(node, em.layer_output(em.network.add_identity(x), em.shape(x), target))
        return
    em.out(node, em.cast(x, target))


def _dropout_check(node: Node) -> str | None:
    """Inference Dropout is the identity: no training_mode input that could be true, no mask read."""
    training = node.inputs[2] if node.op == "Dropout" and len(node.inputs) > 2 else None
    if training is not None and (training.const is None or bool(training.numpy())):
        return "Dropout in training mode"
    used = [o for o in node.outputs[1:] if o is not None and o.has_uses]
    return "Dropout's mask output is used" if used else None


@converter("Identity", "Dropout", check=_dropout_check)
def convert_identity(em: Emitter, node: Node) -> None:
    em.identity(node)
