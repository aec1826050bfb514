"""fuse-activation and graphopt's fused ops: every activation on Conv/Gemm/MatMul before/after, refusals,
the fused kernels, and ONNX Runtime numerics for the portable and the onnxruntime (contrib) lowerings."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import graphopt
from graphopt.ir import evaluate, parse
from graphopt.passes.optimize.fuse_activation import FuseActivation
from tests.backend_cases import run_ort
from tests.passes.util import check_numerics, check_rewrite, check_unchanged

BASES = {
    # base op: (input type, weight decl, base line producing %c, output type, fused op, base attrs)
    "Conv": ("f32[2,2,3,3]", "%w: f32[2,2,1,1] = const [[[[0.5]], [[-1.0]]], [[[2.0]], [[1.5]]]]",
             "Conv(%x, %w) {strides=[1, 1]}", "f32[2,2,3,3]", "FusedConv", "strides=[1, 1]"),
    "Gemm": ("f32[3,2]", "%w: f32[2,2] = const [[0.5, -1.0], [2.0, 1.5]]",
             "Gemm(%x, %w) {transB=1}", "f32[3,2]", "FusedGemm", "transB=1"),
    "MatMul": ("f32[3,2]", "%w: f32[2,2] = const [[0.5, -1.0], [2.0, 1.5]]",
               "MatMul(%x, %w)", "f32[3,2]", "FusedMatMul", ""),
}
# id: (activation lines on %c giving %y, activation attr, activation_params or None, extra constant lines)
ACTIVATIONS = {
    "relu": ("%y: {t} = Relu(%c)", "Relu", None),
    "tanh": ("%y: {t} = Tanh(%c)", "Tanh", None),
    "sigmoid": ("%y: {t} = Sigmoid(%c)", "Sigmoid", None),
    "hardswish": ("%y: {t} = HardSwish(%c)", "HardSwish", None),
    "leakyrelu": ("%y: {t} = LeakyRelu(%c) {{alpha=0.125}}", "LeakyRelu", "[0.125]"),
    "hardsigmoid": ("%y: {t} = HardSigmoid(%c) {{alpha=0.25, beta=0.5}}", "HardSigmoid", "[0.25, 0.5]"),
    "relu6": ("%lo: f32[] = const 0.0\n  %hi: f32[] = const 6.0\n  %y: {t} = Clip(%c, %lo, %hi)", "Clip",
              "[0.0, 6.0]"),
    "gelu": ("%y: {t} = Gelu(%c)", "Gelu", None),
    "gelu-tanh": ('%y: {t} = Gelu(%c) {{approximate="tanh"}}', "GeluTanh", None),
    "swish": ("%y: {t} = Swish(%c) {{alpha=0.5}}", "Swish", "[0.5]"),
    "silu": ("%s: {t} = Sigmoid(%c)\n  %y: {t} = Mul(%c, %s)", "Swish", "[1.0]"),
    "silu-swapped": ("%s: {t} = Sigmoid(%c)\n  %y: {t} = Mul(%s, %c)", "Swish", "[1.0]"),
}
ORT_CONTRIB = {"Conv": {"relu", "tanh", "sigmoid", "leakyrelu", "hardsigmoid", "relu6"},
               "Gemm": {"relu", "tanh", "sigmoid", "leakyrelu", "hardsigmoid"}}


def _texts(base: str, act: str) -> tuple[str, str]:
    in_t, w_line, base_line, out_t, fused, base_attrs = BASES[base]
    lines, activation, params = ACTIVATIONS[act]
    before = f"""
graph main(%x: {in_t}) {{
  {w_line}
  %c: {out_t} = {base_line}
  {lines.format(t=out_t)}
  return %y
}}"""
    attrs = [f'activation="{activation}"'] + ([f"activation_params={params}"] if params else [])
    attrs += [base_attrs] if base_attrs else []
    consts = "".join(f"\n  {line.strip()}" for line in lines.splitlines() if "= const" in line)  # left to dce
    after = f"""
graph main(%x: {in_t}) {{
  {w_line}{consts}
  %y: {out_t} = graphopt::{fused}(%x, %w) {{{", ".join(sorted(attrs))}}}
  return %y
}}"""
    return before, after


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("base", BASES)
def test_fuse(base: str, act: str) -> None:
    before, after = _texts(base, act)
    original, fused, result = check_rewrite(FuseActivation(), before, after)
    assert result.counts == {"rules_fired": 1}
    node = next(iter(fused))
    assert node.provenance is not None and node.provenance.creator.startswith(f"fuse-{base.lower()}-")
    x = np.random.default_rng(0).standard_normal(original.inputs[0].shape).astype(np.float32)
    want, = evaluate(original, {"x": x})
    got, = evaluate(fused, {"x": x})  # the fused reference kernel
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    if act == "swish":  # ONNX Runtime has no kernel for Swish-24: compare the lowered graph with the reference
        for target in (None, "onnxruntime"):
            ort_out, = run_ort(graphopt.to_onnx(fused, target=target), [x])
            np.testing.assert_allclose(ort_out, want, rtol=1e-5, atol=1e-6)
        return
    check_numerics(original, fused, rtol=1e-6, atol=1e-6)
    check_numerics(original, fused, rtol=1e-5, atol=1e-6, target="onnxruntime")


@pytest.mark.parametrize("base", ["Conv", "Gemm"])
def test_onnxruntime_lowering_uses_contrib_ops_where_supported(base: str) -> None:
    for act in ACTIVATIONS:
        graph = parse(_texts(base, act)[1])
        model = graphopt.to_onnx(graph, target="onnxruntime")
        ops = [(n.domain, n.op_type) for n in model.graph.node]
        if act in ORT_CONTRIB[base]:
            assert ops == [("com.microsoft", f"Fused{base}")], (act, ops)
            assert any(o.domain == "com.microsoft" for o in model.opset_import)
        else:
            assert all(d == "" for d, _ in ops) and ops[0] == ("", base), (act, ops)
        portable = graphopt.to_onnx(graph)
        assert all(n.domain == "" for n in portable.graph.node)
        onnx.checker.check_model(portable, full_check=True)


REFUSALS = [
    ("activation-has-two-users", """
graph main(%x: f32[3,2]) {
  %w: f32[2,2] = const [[0.5, -1.0], [2.0, 1.5]]
  %c: f32[3,2] = MatMul(%x, %w)
  %y: f32[3,2] = Relu(%c)
  %z: f32[3,2] = Add(%c, %y)
  return %z
}""", "MatMul output has 2 users (needs exactly one)"),
    ("base-is-graph-output", """
graph main(%x: f32[3,2]) {
  %w: f32[2,2] = const [[0.5, -1.0], [2.0, 1.5]]
  %c: f32[3,2] = MatMul(%x, %w)
  %y: f32[3,2] = Relu(%c)
  return %c, %y
}""", "MatMul output has 2 users (needs exactly one)"),
    ("silu-extra-user", """
graph main(%x: f32[3,2]) {
  %w: f32[2,2] = const [[0.5, -1.0], [2.0, 1.5]]
  %c: f32[3,2] = MatMul(%x, %w)
  %s: f32[3,2] = Sigmoid(%c)
  %y: f32[3,2] = Mul(%c, %s)
  %z: f32[3,2] = Add(%y, %c)
  return %z
}""", "the base op's output is also read outside Mul(x, Sigmoid(x))"),
    ("clip-runtime-bound", """
graph main(%x: f32[3,2], %hi: f32[]) {
  %w: f32[2,2] = const [[0.5, -1.0], [2.0, 1.5]]
  %lo: f32[] = const 0.0
  %c: f32[3,2] = MatMul(%x, %w)
  %y: f32[3,2] = Clip(%c, %lo, %hi)
  return %y
}""", "Clip needs both bounds as constants"),
    ("clip-one-bound", """
graph main(%x: f32[3,2]) {
  %w: f32[2,2] = const [[0.5, -1.0], [2.0, 1.5]]
  %lo: f32[] = const 0.0
  %c: f32[3,2] = MatMul(%x, %w)
  %y: f32[3,2] = Clip(%c, %lo)
  return %y
}""", "Clip needs both bounds as constants"),
]


@pytest.mark.parametrize(("text", "reason"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_refusal(text: str, reason: str) -> None:
    p = FuseActivation()
    check_unchanged(p, text)
    refused = {r for s in p.last_report.stats.values() for r in s.refused}
    assert reason in refused, p.last_report


def test_fused_op_shape_inference_and_kernel() -> None:
    g = parse("""
graph main(%x: f32[N,2,5,5]) {
  %w: f32[3,2,3,3] = const <elided>
  %b: f32[3] = const [0.5, -0.5, 1.0]
  %y = graphopt::FusedConv(%x, %w, %b) {activation="LeakyRelu", activation_params=[0.25], pads=[1, 1, 1, 1],
                                         strides=[2, 2]}
  return %y
}""", constants={"w": np.random.default_rng(1).standard_normal((3, 2, 3, 3)).astype(np.float32)})
    graphopt.ir.infer_shapes(g, strict=True)
    assert str(g.outputs[0].type) == "f32[N,3,3,3]"
    x = np.random.default_rng(2).standard_normal((2, 2, 5, 5)).astype(np.float32)
    got, = evaluate(g, {"x": x})
    check_numerics(g, g, rtol=1e-5, atol=1e-6, inputs={"x": x}, target="onnxruntime")
    want, = run_ort(graphopt.to_onnx(g), [x])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
