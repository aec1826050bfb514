"""Builds examples/tiny_cnn.onnx: a small image classifier (Conv-BN-ReLU blocks, residual add, pooling, Gemm).

Weights are fixed-seed random; the file is committed so the README's demo needs no download.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(0)
inits: list[onnx.TensorProto] = []
nodes: list[onnx.NodeProto] = []


def weight(name: str, *shape: int, scale: float = 0.1) -> str:
    inits.append(numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name))
    return name


def conv_bn_relu(x: str, cin: int, cout: int, name: str, stride: int = 1, relu: bool = True) -> str:
    nodes.append(helper.make_node("Conv", [x, weight(f"{name}.w", cout, cin, 3, 3)], [f"{name}.conv"],
                                  name=f"{name}/conv", pads=[1, 1, 1, 1], strides=[stride, stride]))
    bn = [weight(f"{name}.bn.{p}", cout) for p in ("scale", "bias", "mean")]
    inits.append(numpy_helper.from_array(rng.uniform(0.5, 1.5, cout).astype(np.float32), f"{name}.bn.var"))
    nodes.append(helper.make_node("BatchNormalization", [f"{name}.conv", *bn, f"{name}.bn.var"], [f"{name}.bn"],
                                  name=f"{name}/bn"))
    if not relu:
        return f"{name}.bn"
    nodes.append(helper.make_node("Relu", [f"{name}.bn"], [f"{name}.out"], name=f"{name}/relu"))
    return f"{name}.out"


x = conv_bn_relu("image", 3, 16, "stem", stride=2)
y = conv_bn_relu(conv_bn_relu(x, 16, 16, "block1a"), 16, 16, "block1b", relu=False)
nodes.append(helper.make_node("Add", [x, y], ["block1.sum"], name="block1/add"))
nodes.append(helper.make_node("Relu", ["block1.sum"], ["block1.out"], name="block1/relu"))
nodes.append(helper.make_node("GlobalAveragePool", ["block1.out"], ["pooled"], name="pool"))
nodes.append(helper.make_node("Flatten", ["pooled"], ["features"], name="flatten"))
nodes.append(helper.make_node("Gemm", ["features", weight("fc.w", 10, 16), weight("fc.b", 10)], ["logits"],
                              name="fc", transB=1))
nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=-1))

graph = helper.make_graph(nodes, "tiny_cnn",
                          [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 32, 32])],
                          [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 10])], inits)
model = helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17)],
                          producer_name="graphopt-examples")
onnx.checker.check_model(model, full_check=True)
onnx.save(model, Path(__file__).with_name("tiny_cnn.onnx"))
