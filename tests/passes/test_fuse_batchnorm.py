"""fuse-batchnorm: Conv, grouped ConvTranspose, Gemm and MatMul + BatchNormalization before/after (the old
weights and statistics are left for dce), every refusal with its reason, and ONNX Runtime numerics."""

from __future__ import annotations

import pytest

from graphopt.passes.optimize.fuse_batchnorm import FuseBatchNorm
from tests.passes.util import check_numerics, check_rewrite, check_unchanged

# s = scale / sqrt(var + eps) = [1, 4]; the new bias is s * (b - mean) + bias
BN = """
  %scale: f32[2] = const [2.0, 4.0]
  %bias: f32[2] = const [1.0, -1.0]
  %mean: f32[2] = const [0.5, 1.0]
  %var: f32[2] = const [3.75, 0.75]"""

REWRITES = [
    ("conv", f"""
graph main(%x: f32[N,1,3,3]) {{
  %w: f32[2,1,1,1] = const [[[[1.0]]], [[[2.0]]]]
  %b: f32[2] = const [0.25, -0.25]{BN}
  %c: f32[N,2,3,3] = Conv(%x, %w, %b)
  %y: f32[N,2,3,3] = BatchNormalization(%c, %scale, %bias, %mean, %var) {{epsilon=0.25}}
  return %y
}}""", f"""
graph main(%x: f32[N,1,3,3]) {{
  %w: f32[2,1,1,1] = const [[[[1.0]]], [[[2.0]]]]
  %b: f32[2] = const [0.25, -0.25]{BN}
  %0: f32[2,1,1,1] = const [[[[1.0]]], [[[8.0]]]]
  %1: f32[2] = const [0.75, -6.0]
  %y: f32[N,2,3,3] = Conv(%x, %0, %1)
  return %y
}}"""),
    ("convtranspose-grouped", f"""
graph main(%x: f32[N,2,3,3]) {{
  %w: f32[2,1,2,2] = const [[[[1.0, 2.0], [3.0, 4.0]]], [[[-1.0, 0.5], [2.0, 1.0]]]]{BN}
  %c: f32[N,2,4,4] = ConvTranspose(%x, %w) {{group=2}}
  %y: f32[N,2,4,4] = BatchNormalization(%c, %scale, %bias, %mean, %var) {{epsilon=0.25}}
  return %y
}}""", f"""
graph main(%x: f32[N,2,3,3]) {{
  %w: f32[2,1,2,2] = const [[[[1.0, 2.0], [3.0, 4.0]]], [[[-1.0, 0.5], [2.0, 1.0]]]]{BN}
  %0: f32[2,1,2,2] = const [[[[1.0, 2.0], [3.0, 4.0]]], [[[-4.0, 2.0], [8.0, 4.0]]]]
  %1: f32[2] = const [0.5, -5.0]
  %y: f32[N,2,4,4] = ConvTranspose(%x, %0, %1) {{group=2}}
  return %y
}}"""),
    ("convtranspose-dense", f"""
graph main(%x: f32[N,1,3,3]) {{
  %w: f32[1,2,1,1] = const [[[[1.5]], [[-2.0]]]]{BN}
  %c: f32[N,2,3,3] = ConvTranspose(%x, %w)
  %y: f32[N,2,3,3] = BatchNormalization(%c, %scale, %bias, %mean, %var) {{epsilon=0.25}}
  return %y
}}""", f"""
graph main(%x: f32[N,1,3,3]) {{
  %w: f32[1,2,1,1] = const [[[[1.5]], [[-2.0]]]]{BN}
  %0: f32[1,2,1,1] = const [[[[1.5]], [[-8.0]]]]
  %1: f32[2] = const [0.5, -5.0]
  %y: f32[N,2,3,3] = ConvTranspose(%x, %0, %1)
  return %y
}}"""),
    ("gemm-transB-beta", f"""
graph main(%x: f32[N,3]) {{
  %w: f32[2,3] = const [[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]]
  %b: f32[2] = const [0.25, -0.25]{BN}
  %c: f32[N,2] = Gemm(%x, %w, %b) {{beta=2.0, transB=1}}
  %y: f32[N,2] = BatchNormalization(%c, %scale, %bias, %mean, %var) {{epsilon=0.25}}
  return %y
}}""", f"""
graph main(%x: f32[N,3]) {{
  %w: f32[2,3] = const [[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]]
  %b: f32[2] = const [0.25, -0.25]{BN}
  %0: f32[2,3] = const [[1.0, 2.0, 3.0], [-4.0, 2.0, 8.0]]
  %1: f32[2] = const [1.0, -7.0]
  %y: f32[N,2] = Gemm(%x, %0, %1) {{beta=1.0, transB=1}}
  return %y
}}"""),
    ("matmul", f"""
graph main(%x: f32[N,3]) {{
  %w: f32[3,2] = const [[1.0, 2.0], [3.0, -1.0], [0.5, 2.0]]{BN}
  %c: f32[N,2] = MatMul(%x, %w)
  %y: f32[N,2] = BatchNormalization(%c, %scale, %bias, %mean, %var) {{epsilon=0.25}}
  return %y
}}""", f"""
graph main(%x: f32[N,3]) {{
  %w: f32[3,2] = const [[1.0, 2.0], [3.0, -1.0], [0.5, 2.0]]{BN}
  %0: f32[3,2] = const [[1.0, 8.0], [3.0, -4.0], [0.5, 8.0]]
  %1: f32[2] = const [0.5, -5.0]
  %2: f32[N,2] = MatMul(%x, %0)
  %y: f32[N,2] = Add(%2, %1)
  return %y
}}"""),
]


@pytest.mark.parametrize(("before", "after"), [r[1:] for r in REWRITES], ids=[r[0] for r in REWRITES])
def test_rewrite(before: str, after: str) -> None:
    original, fused, result = check_rewrite(FuseBatchNorm(), before, after)
    assert result.counts == {"rules_fired": 1}
    assert all(n.provenance is not None for n in fused)
    check_numerics(original, fused, rtol=1e-5, atol=1e-6)


def _conv_bn(conv: str = "%c: f32[N,2,3,3] = Conv(%x, %w)", bn_attrs: str = "{epsilon=0.25}",
             inputs: str = "%x: f32[N,1,3,3]", extra: str = "", ret: str = "%y", w_dtype: str = "f32") -> str:
    return f"""
graph main({inputs}) {{
  %w: {w_dtype}[2,1,1,1] = const [[[[1.0]]], [[[2.0]]]]{BN}
  {conv}
  %y: f32[N,2,3,3] = BatchNormalization(%c, %scale, %bias, %mean, %var) {bn_attrs}{extra}
  return {ret}
}}"""


REFUSALS = [
    ("conv-feeds-two-consumers", _conv_bn(extra="\n  %z: f32[N,2,3,3] = Relu(%c)", ret="%y, %z"),
     "Conv output has 2 users (needs exactly one)"),
    ("conv-output-is-graph-output", _conv_bn(ret="%y, %c"), "Conv output has 2 users (needs exactly one)"),
    ("weights-not-constant", _conv_bn(conv="%c: f32[N,2,3,3] = Conv(%x, %v)",
                                      inputs="%x: f32[N,1,3,3], %v: f32[2,1,1,1]"), "w is not a constant"),
    ("stats-not-constant", _conv_bn(inputs="%x: f32[N,1,3,3], %m: f32[2]").replace(
        "%c, %scale, %bias, %mean, %var", "%c, %scale, %bias, %m, %var"), "mean is not a constant"),
    ("bias-not-constant", _conv_bn(conv="%c: f32[N,2,3,3] = Conv(%x, %w, %cb)",
                                   inputs="%x: f32[N,1,3,3], %cb: f32[2]"), "the producer's bias is not a constant"),
    ("dtype-mismatch", _conv_bn(w_dtype="f16", inputs="%x: f16[N,1,3,3]", conv="%c: f16[N,2,3,3] = Conv(%x, %w)")
     .replace("%y: f32", "%y: f16"), "operand dtypes differ (or are not floating point)"),
    ("channel-count-mismatch", _conv_bn().replace("%w: f32[2,1,1,1] = const [[[[1.0]]], [[[2.0]]]]",
                                                  "%w: f32[1,1,1,1] = const [[[[1.0]]]]")
     .replace("%c: f32[N,2,3,3]", "%c: f32[N,1,3,3]"),
     "BatchNormalization has 2 channels, the producer makes 1"),
    ("matmul-rank-3", f"""
graph main(%x: f32[N,5,3]) {{
  %w: f32[3,2] = const [[1.0, 2.0], [3.0, -1.0], [0.5, 2.0]]{BN}
  %c: f32[N,5,2] = MatMul(%x, %w)
  %y: f32[N,5,2] = BatchNormalization(%c, %scale, %bias, %mean, %var)
  return %y
}}""", "MatMul output rank is 3; BN's channel axis 1 is the last axis only for rank 2"),
]


@pytest.mark.parametrize(("text", "reason"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_refusal(text: str, reason: str) -> None:
    p = FuseBatchNorm()
    check_unchanged(p, text)
    refused = {r for s in p.last_report.stats.values() for r in s.refused}
    assert reason in refused, p.last_report


def test_training_mode_is_refused() -> None:
    from graphopt.ir import parse

    text = _conv_bn(bn_attrs="{training_mode=1}")
    p = FuseBatchNorm()
    assert not p(parse(text)).modified
    refused = {r for s in p.last_report.stats.values() for r in s.refused}
    assert "BatchNormalization is in training mode" in refused
