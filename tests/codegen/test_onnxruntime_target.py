"""target="onnxruntime": multi-head attention as com.microsoft.MultiHeadAttention (the ort-attention pass).

Each model is the exporters' written-out attention (projections, head split, Q·Kᵀ, scale, mask, Softmax, ·V,
head merge); the optimized model must give the original's outputs in ONNX Runtime within rtol 1e-4, atol 1e-5.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import onnx
import onnx.helper as oh
import onnxruntime as ort
import pytest
from onnx import numpy_helper

import graphopt
from graphopt.ir import evaluate

B, S, N, H = 2, 5, 4, 8
D = N * H
RTOL, ATOL = 1e-4, 1e-5


def attention_model(mask_rank: int | None = 4, merged: str = "3d", q_perm: tuple[int, ...] = (0, 2, 1, 3),
                    dtype: type = np.float32) -> onnx.ModelProto:
    """x [B, S, D] → self-attention with N heads → [B, S, D] (or [B*S, D] with ``merged="2d"``)."""
    rng = np.random.default_rng(0)
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(op: str, inputs: list[str], out: str, **attrs: Any) -> str:
        nodes.append(oh.make_node(op, inputs, [out], **attrs))
        return out

    split = const("split", np.array([B, S, N, H], np.int64))
    interleaved = const("interleaved", np.array([B, S, H, N], np.int64))  # for q_perm (0, 3, 1, 2)
    heads = {}
    for name, perm in (("q", q_perm), ("k", (0, 2, 3, 1)), ("v", (0, 2, 1, 3))):
        w = const(f"w{name}", (rng.standard_normal((D, D)) / np.sqrt(D)).astype(dtype))
        proj = node("MatMul", ["x", w], f"{name}_proj")
        shape = interleaved if perm == (0, 3, 1, 2) else split
        heads[name] = node("Transpose", [node("Reshape", [proj, shape], f"{name}_4d")], f"{name}_t", perm=list(perm))
    scores = node("Mul", [node("MatMul", [heads["q"], heads["k"]], "qk"), const("scale", np.asarray(H ** -0.5,
                                                                                                      dtype))], "s")
    inputs = [oh.make_tensor_value_info("x", onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), [B, S, D])]
    if mask_rank is not None:
        mask_shape = {2: [S, S], 3: [1, S, S], 4: [B, 1, S, S]}[mask_rank]
        inputs.append(oh.make_tensor_value_info("mask", onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)),
                                                mask_shape))
        scores = node("Add", [scores, "mask"], "masked")
    context = node("MatMul", [node("Softmax", [scores], "probs", axis=-1), heads["v"]], "context")
    merge_shape = [B, S, D] if merged == "3d" else [B * S, D]
    y = node("Reshape", [node("Transpose", [context], "merged_t", perm=[0, 2, 1, 3]),
                         const("merge", np.array(merge_shape, np.int64))], "y")
    output = oh.make_tensor_value_info(y, inputs[0].type.tensor_type.elem_type, None)
    graph = oh.make_graph(nodes, "attention", inputs, [output], inits)
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", 18)], ir_version=9)


def feeds(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    out = {}
    for i in model.graph.input:
        shape = [d.dim_value for d in i.type.tensor_type.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(i.type.tensor_type.elem_type)
        out[i.name] = rng.standard_normal(shape).astype(dtype)
        if i.name == "mask":
            out[i.name] = np.where(rng.random(shape) < 0.3, -1e4, 0).astype(dtype)
    return out


def run(model: onnx.ModelProto, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"]).run(
        None, inputs)


def optimize(model: onnx.ModelProto, target: str | None = "onnxruntime") -> tuple[graphopt.Graph, onnx.ModelProto]:
    graph = graphopt.optimize(graphopt.from_onnx(model), "O2", target=target)
    return graph, graphopt.to_onnx(graph, target=target)


def histogram(model: onnx.ModelProto) -> Counter[str]:
    return Counter(f"{n.domain}::{n.op_type}" if n.domain else n.op_type for n in model.graph.node)


@pytest.mark.parametrize(("mask_rank", "merged"), [(4, "3d"), (2, "3d"), (3, "2d"), (None, "3d")])
def test_attention_becomes_multi_head_attention(mask_rank: int | None, merged: str) -> None:
    model = attention_model(mask_rank, merged)
    graph, out = optimize(model)
    ops = histogram(out)
    assert ops["com.microsoft::MultiHeadAttention"] == 1 and ops["Attention"] == 0, ops
    assert ops["Transpose"] == 0, ops  # the head split and merge transposes are gone
    assert ops["Reshape"] == (merged == "2d"), ops  # only GPT-2-style [B*S, D] outputs keep one Reshape
    assert ops["Unsqueeze"] == (mask_rank is not None and mask_rank < 4), ops
    mha = next(n for n in out.graph.node if n.op_type == "MultiHeadAttention")
    attrs = {a.name: oh.get_attribute_value(a) for a in mha.attribute}
    assert attrs["num_heads"] == N and attrs["scale"] == pytest.approx(H ** -0.5)
    inputs = feeds(model)
    want = run(model, inputs)
    np.testing.assert_allclose(run(out, inputs)[0], want[0], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(evaluate(graph, inputs)[0], want[0], rtol=RTOL, atol=ATOL)


def test_portable_targets_keep_onnx_attention() -> None:
    for target in (None, "openvino"):
        ops = histogram(optimize(attention_model(), target)[1])
        assert ops["Attention"] == 1 and ops["com.microsoft::MultiHeadAttention"] == 0, (target, ops)


def test_heads_not_split_from_the_hidden_dim_keep_onnx_attention() -> None:
    model = attention_model(q_perm=(0, 3, 1, 2))  # Q's heads interleaved in the hidden dim: not a head split
    graph, out = optimize(model)
    ops = histogram(out)
    assert ops["com.microsoft::MultiHeadAttention"] == 0, ops
    inputs = feeds(model)
    np.testing.assert_allclose(run(out, inputs)[0], run(model, inputs)[0], rtol=RTOL, atol=ATOL)


def test_float16_attention_stays_written_out() -> None:
    ops = histogram(optimize(attention_model(dtype=np.float16))[1])  # replace-patterns refuses float16 attention
    assert ops["com.microsoft::MultiHeadAttention"] == 0 and ops["Attention"] == 0 and ops["Softmax"] == 1, ops


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bert", "gpt2"])
def test_zoo_transformers_use_multi_head_attention(tmp_path: object, name: str) -> None:
    from tests import zoo

    exported = zoo.export(name, tmp_path)  # type: ignore[arg-type]
    model = onnx.load(exported.path)
    _, out = optimize(model)
    assert histogram(out)["com.microsoft::MultiHeadAttention"] == 2
    inputs = dict(zip([i.name for i in model.graph.input], exported.inputs))
    np.testing.assert_allclose(run(out, inputs)[0], run(model, inputs)[0], rtol=RTOL, atol=ATOL)
