"""Small, valid ONNX models the fuzzers start from (built with ``onnx.helper``; the bundled example beside them)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tiny_cnn.onnx"
OPSET = 17


def model(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto],
          initializers: list[onnx.TensorProto] = (), opset: int = OPSET, **graph_fields: object) -> onnx.ModelProto:  # type: ignore[assignment]
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers), **graph_fields)  # type: ignore[arg-type]
    return helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", opset)])


def f32(name: str, shape: list[int | str | None] | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def i64(name: str, shape: list[int | str | None] | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.INT64, shape)


def const(name: str, array: object, dtype: object = np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array, dtype), name)  # type: ignore[call-overload]


def mlp() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Add", ["h", "b1"], ["hb"]),
        helper.make_node("Relu", ["hb"], ["r"]), helper.make_node("Gemm", ["r", "w2", "b2"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["y"], axis=-1),
    ]
    inits = [const("w1", rng.standard_normal((8, 16))), const("b1", rng.standard_normal(16)),
             const("w2", rng.standard_normal((4, 16))), const("b2", rng.standard_normal(4))]
    return model(nodes, [f32("x", ["N", 8])], [f32("y", ["N", 4])], inits)


def shape_math() -> onnx.ModelProto:
    """``Reshape(x, Concat(Gather(Shape(x), 0), [-1]))`` with a symbolic batch, then a Transpose and a Mul."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Concat", ["n", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        helper.make_node("Transpose", ["flat"], ["t"], perm=[1, 0]),
        helper.make_node("Mul", ["t", "two"], ["y"]),
    ]
    inits = [const("zero", [0], np.int64), const("minus1", [-1], np.int64), const("two", 2.0)]
    return model(nodes, [f32("x", ["N", 3, 4])], [f32("y", [12, "N"])], inits)


def control_flow() -> onnx.ModelProto:
    """An If whose branches read an outer value, and a Loop that sums into a carried value."""
    then_g = helper.make_graph([helper.make_node("Add", ["x", "one"], ["t_out"])], "then", [], [f32("t_out", [3])])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e_out"])], "else", [], [f32("e_out", [3])])
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["acc", "x"], ["acc_out"])],
        "body", [i64("i", []), helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []), f32("acc", [3])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), f32("acc_out", [3])])
    nodes = [
        helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0),
        helper.make_node("Greater", ["total", "zero"], ["positive"]),
        helper.make_node("If", ["positive"], ["branch"], then_branch=then_g, else_branch=else_g),
        helper.make_node("Loop", ["trips", "", "branch"], ["y"], body=body),
    ]
    inits = [const("one", 1.0), const("zero", 0.0), const("trips", 3, np.int64)]
    return model(nodes, [f32("x", [3])], [f32("y", [3])], inits)


def conv_block() -> onnx.ModelProto:
    """Conv → BatchNormalization → Relu → MaxPool → Flatten, the shape of most CNN stems."""
    rng = np.random.default_rng(1)
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["bn"]),
        helper.make_node("Relu", ["bn"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["y"]),
    ]
    inits = [const("w", rng.standard_normal((4, 2, 3, 3))), const("b", rng.standard_normal(4)),
             const("scale", rng.uniform(0.5, 1.5, 4)), const("bias", rng.standard_normal(4)),
             const("mean", rng.standard_normal(4)), const("var", rng.uniform(0.5, 1.5, 4))]
    return model(nodes, [f32("x", [1, 2, 6, 6])], [f32("y", [1, 36])], inits)


@functools.cache
def seeds() -> dict[str, bytes]:
    """Every seed model, serialized, by name."""
    built = {name: fn().SerializeToString() for name, fn in
             (("mlp", mlp), ("shape_math", shape_math), ("control_flow", control_flow), ("conv_block", conv_block))}
    return {"tiny_cnn": EXAMPLE.read_bytes(), **built}
