"""nchwc: ONNX Runtime's blocked-layout convs and pools for target="onnxruntime".

Numerics run the emitted model in ONNX Runtime with its optimizer off (so the graph runs as written) against
the original, within rtol 1e-4, atol 1e-5; the reference interpreter's NCHWc kernels are checked the same way.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx.helper as oh
import onnxruntime as ort
import pytest
from onnx import numpy_helper

import graphopt
from graphopt.ir import evaluate
from graphopt.ir.ops.nchwc import BLOCK_SIZE_KEY, NCHWC_DOMAIN, filter_oihwbibo, filter_oihwbo, from_blocked, to_blocked
from graphopt.passes.pipeline import build_stages
from graphopt.passes.post.nchwc import Nchwc, probe_block_size

RTOL, ATOL = 1e-4, 1e-5
BLOCK = probe_block_size()
needs_nchwc = pytest.mark.skipif(BLOCK is None, reason="this ONNX Runtime has no NCHWc kernels on this CPU")


def run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


class Builder:
    """A float32 ONNX model, node by node, with random weights."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def const(self, array: np.ndarray) -> str:
        name = f"c{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op: str, inputs: list[str], **attrs: Any) -> str:
        out = f"t{len(self.nodes)}"
        self.nodes.append(oh.make_node(op, inputs, [out], **attrs))
        return out

    def conv(self, x: str, cin: int, cout: int, k: int = 3, group: int = 1, stride: int = 1, bias: bool = True,
             dtype: type = np.float32) -> str:
        fan_in = cin // group * k * k
        w = self.const((self.rng.standard_normal((cout, cin // group, k, k)) / np.sqrt(fan_in)).astype(dtype))
        inputs = [x, w] + ([self.const(self.rng.standard_normal(cout).astype(dtype))] if bias else [])
        return self.op("Conv", inputs, group=group, pads=[k // 2] * 4, strides=[stride, stride])

    def model(self, inputs: dict[str, list[int]], outputs: list[str], elem: int = onnx.TensorProto.FLOAT
              ) -> onnx.ModelProto:
        graph = oh.make_graph(self.nodes, "net", [oh.make_tensor_value_info(n, elem, s) for n, s in inputs.items()],
                              [oh.make_tensor_value_info(o, elem, None) for o in outputs], self.inits)
        return oh.make_model(graph, opset_imports=[oh.make_opsetid("", 18)], ir_version=9)


def small_cnn() -> onnx.ModelProto:
    """Every conversion in one net: a 3-channel stem, residual Add+Relu, depthwise, a grouped conv, pools,
    an SE-style broadcast Mul (stays NCHW), Concat, bilinear Resize, an unsupported activation, two outputs."""
    b = Builder()
    stem = b.op("Relu", [b.conv("x", 3, 16)])
    pooled = b.op("MaxPool", [stem], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    branch = b.op("Clip", [b.conv(pooled, 16, 16), b.const(np.float32(0)), b.const(np.float32(6))])
    res = b.op("Relu", [b.op("Add", [b.conv(branch, 16, 16), pooled])])
    dw = b.op("HardSigmoid", [b.conv(res, 16, 16, group=16)], alpha=0.2, beta=0.5)
    grouped = b.conv(b.op("Concat", [dw, res], axis=1), 32, 32, group=2)
    gate = b.op("Sigmoid", [b.op("GlobalAveragePool", [grouped])])
    scaled = b.op("Mul", [grouped, gate])
    wide = b.conv(scaled, 32, 24, k=1)
    up = b.op("Resize", [wide, "", b.const(np.array([1, 1, 2, 2], np.float32))], mode="linear",
              coordinate_transformation_mode="half_pixel")
    same = b.op("Mul", [b.op("Tanh", [up]), b.conv(stem, 16, 24, k=1)])
    head = b.op("Erf", [b.conv(same, 24, 20, k=1)])
    return b.model({"x": [2, 3, 16, 16]}, [head, wide])


def optimized(model: onnx.ModelProto) -> tuple[graphopt.Graph, onnx.ModelProto]:
    graph = graphopt.optimize(graphopt.from_onnx(model), "O2", target="onnxruntime")
    return graph, graphopt.to_onnx(graph, target="onnxruntime")


def histogram(model: onnx.ModelProto) -> Counter[str]:
    return Counter(f"{n.domain}::{n.op_type}" if n.domain else n.op_type for n in model.graph.node)


# -- layouts -------------------------------------------------------------------------------------------------

def test_blocked_layout_round_trips_and_pads_with_zeros() -> None:
    x = np.arange(2 * 5 * 3 * 2, dtype=np.float32).reshape(2, 5, 3, 2)
    blocked = to_blocked(x, 4)
    assert blocked.shape == (2, 8, 3, 2)
    assert blocked.reshape(2, 2, 3, 2, 4)[0, 0, 1, 1].tolist() == x[0, :4, 1, 1].tolist()  # [N, C/B, H, W, B]
    assert blocked.reshape(2, 2, 3, 2, 4)[1, 1, 2, 0].tolist() == [x[1, 4, 2, 0], 0, 0, 0]
    assert np.array_equal(from_blocked(blocked, 4, 5), x)


def test_filter_layouts() -> None:
    w = np.arange(6 * 5 * 2 * 1, dtype=np.float32).reshape(6, 5, 2, 1)
    bibo = filter_oihwbibo(w, 4).reshape(2, 2, 2, 1, 4, 4)  # [O/B, I/B, KH, KW, Bi, Bo]
    assert bibo.shape == (2, 2, 2, 1, 4, 4)
    assert bibo[1, 0, 1, 0, 3, 1] == w[5, 3, 1, 0]
    assert bibo[1, 1, 0, 0, 0, 2] == 0 and bibo[0, 1, 0, 0, 1, 0] == 0  # padded outputs / inputs are zero
    bo = filter_oihwbo(w, 4).reshape(2, 5, 2, 1, 4)  # [O/B, I, KH, KW, Bo]
    assert bo[1, 4, 1, 0, 1] == w[5, 4, 1, 0] and bo[1, 4, 1, 0, 3] == 0


# -- numerics in ONNX Runtime ----------------------------------------------------------------------------------

@needs_nchwc
def test_small_cnn_matches_in_onnx_runtime() -> None:
    model = small_cnn()
    graph, out = optimized(model)
    ops = histogram(out)
    nchwc = f"{NCHWC_DOMAIN}::"
    assert ops[nchwc + "Conv"] == 8 and ops["Conv"] == 0, ops
    assert ops[nchwc + "MaxPool"] == 1 and ops[nchwc + "GlobalAveragePool"] == 1 and ops[nchwc + "Upsample"] == 1
    assert ops["Mul"] == 2 and ops["Concat"] == 1, ops  # the broadcast Mul in NCHW, the same-shape Mul blocked
    convs = [n for n in out.graph.node if n.domain == NCHWC_DOMAIN and n.op_type == "Conv"]
    assert sum(len(n.input) == 4 for n in convs) == 1  # the residual Add became the Conv's Sum input
    assert {oh.get_attribute_value(a) for n in convs for a in n.attribute if a.name == "activation"} == {
        b"Relu", b"Clip", b"HardSigmoid"}
    assert ops[nchwc + "ReorderInput"] == 1  # only into the 1x1 conv after the broadcast Mul
    assert {p.key: p.value for p in out.metadata_props}[BLOCK_SIZE_KEY] == str(BLOCK)
    feeds = {"x": np.random.default_rng(1).standard_normal((2, 3, 16, 16)).astype(np.float32)}
    want = run(model, feeds)
    got = run(out, feeds)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)
    for g, w in zip(evaluate(graph, feeds), want):  # the reference kernels emulate the blocked memory
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


@needs_nchwc
def test_activation_the_nchwc_conv_lacks_runs_on_the_blocked_tensor() -> None:
    b = Builder()
    c = b.conv(b.conv("x", 3, 16), 16, 16)
    y = b.op("Mul", [c, b.op("Sigmoid", [c])])  # SiLU: fused as graphopt::FusedConv's Swish
    model = b.model({"x": [1, 3, 8, 8]}, [y])
    graph, out = optimized(model)
    assert histogram(out) == Counter({f"{NCHWC_DOMAIN}::Conv": 2, "Sigmoid": 1, "Mul": 1,
                                      f"{NCHWC_DOMAIN}::ReorderOutput": 1}), histogram(out)
    feeds = {"x": np.random.default_rng(3).standard_normal((1, 3, 8, 8)).astype(np.float32)}
    np.testing.assert_allclose(run(out, feeds)[0], run(model, feeds)[0], rtol=RTOL, atol=ATOL)


@needs_nchwc
def test_reloaded_model_keeps_its_block_size(tmp_path: Path) -> None:
    _, out = optimized(small_cnn())
    onnx.save(out, tmp_path / "m.onnx")
    graph = graphopt.load(tmp_path / "m.onnx")
    assert graph.metadata[BLOCK_SIZE_KEY] == str(BLOCK)
    feeds = {"x": np.random.default_rng(2).standard_normal((2, 3, 16, 16)).astype(np.float32)}
    for g, w in zip(evaluate(graph, feeds), run(out, feeds)):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


# -- refusals ----------------------------------------------------------------------------------------------------

def _convert(model: onnx.ModelProto, block: int = 16) -> tuple[graphopt.Graph, Counter[str]]:
    graph = graphopt.optimize(graphopt.from_onnx(model), "O1")
    result = Nchwc(block_size=block)(graph)
    ops = Counter(n.qualified_op for n in graph)
    assert result.modified == (ops[f"{NCHWC_DOMAIN}::Conv"] > 0 or ops[f"{NCHWC_DOMAIN}::MaxPool"] > 0)
    return graph, ops


@pytest.mark.parametrize(("cin", "cout", "group", "why"), [
    (16, 16, 2, "8 channels per group"),
    (24, 24, 3, "8 channels per group, 3 groups"),
    (18, 16, 1, "18 input channels: ReorderInput needs a multiple of 4"),
    (6, 6, 6, "depthwise over 6 channels"),
])
def test_convs_that_do_not_qualify_stay_nchw(cin: int, cout: int, group: int, why: str) -> None:
    b = Builder()
    y = b.conv("x", cin, cout, group=group)
    graph, ops = _convert(b.model({"x": [1, cin, 8, 8]}, [y]))
    assert ops == Counter({"Conv": 1}), (why, ops)
    assert BLOCK_SIZE_KEY not in graph.metadata


def test_non_constant_filter_and_float16_stay_nchw() -> None:
    b = Builder()
    y = b.op("Conv", ["x", "w"], pads=[1, 1, 1, 1])
    model = b.model({"x": [1, 16, 8, 8], "w": [16, 16, 3, 3]}, [y])
    assert _convert(model)[1] == Counter({"Conv": 1})
    h = Builder()
    y = h.conv("x", 16, 16, dtype=np.float16)
    assert _convert(h.model({"x": [1, 16, 8, 8]}, [y], onnx.TensorProto.FLOAT16))[1] == Counter({"Conv": 1})


def test_pool_on_channels_off_the_block_stays_nchw() -> None:
    b = Builder()
    y = b.op("MaxPool", [b.conv("x", 3, 8)], kernel_shape=[2, 2], strides=[2, 2])
    _, ops = _convert(b.model({"x": [1, 3, 8, 8]}, [y]))
    assert ops == Counter({f"{NCHWC_DOMAIN}::Conv": 1, f"{NCHWC_DOMAIN}::ReorderOutput": 1, "MaxPool": 1}), ops


def test_conv_reading_nchw_data_of_few_channels_takes_it_directly() -> None:
    b = Builder()
    y = b.conv(b.conv("x", 3, 8), 8, 16)  # both convs read plain NCHW: 3 and 8 channels are under the block
    graph, ops = _convert(b.model({"x": [1, 3, 8, 8]}, [y]))
    assert ops == Counter({f"{NCHWC_DOMAIN}::Conv": 2, f"{NCHWC_DOMAIN}::ReorderOutput": 2}), ops


def test_second_run_changes_nothing() -> None:
    graph = graphopt.optimize(graphopt.from_onnx(small_cnn()), "O1")
    assert Nchwc(block_size=16)(graph).modified
    text = str(graph)
    assert not Nchwc(block_size=16)(graph).modified
    assert str(graph) == text


def test_runs_only_for_an_explicit_onnxruntime_target() -> None:
    def names(target: str | None) -> list[str]:
        return [p.name for s in build_stages("O2", target) for p in s.passes]

    assert "nchwc" in names("onnxruntime")
    assert "nchwc" not in names(None) and "nchwc" not in names("openvino")
    assert "nchwc" not in [p.name for s in build_stages("O1", "onnxruntime") for p in s.passes]


# -- the zoo CNNs ------------------------------------------------------------------------------------------------

@needs_nchwc
@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet", "mobilenet", "unet"])
def test_zoo_cnns_match_in_onnx_runtime(tmp_path: Path, name: str) -> None:
    from tests import zoo

    exported = zoo.export(name, tmp_path)
    _, out = optimized(onnx.load(exported.path))
    ops = histogram(out)
    assert ops["Conv"] == 0 and ops[f"{NCHWC_DOMAIN}::Conv"] > 0, ops
    feeds = {"x": exported.inputs[0]}
    for g, w in zip(run(out, feeds), run(onnx.load(exported.path), feeds)):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)
