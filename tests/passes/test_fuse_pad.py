"""fuse-pad: zero Pad into Conv/AveragePool(count_include_pad=1), -inf Pad into MaxPool; refusals; numerics."""

from __future__ import annotations

import pytest

from graphopt.passes.optimize.fuse_pad import FusePad
from tests.passes.util import check_numerics, check_rewrite, check_unchanged


def _graph(value: str, consumer: str, out: str, pads: str = "[0, 0, 1, 2, 0, 0, 1, 0]", mode: str = "") -> str:
    return f"""
graph main(%x: f32[N,1,4,4]) {{
  %w: f32[1,1,3,3] = const [[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]]]
  %p: i64[8] = const {pads}
  {value}
  %xp: f32[N,1,6,6] = Pad(%x, %p{", %v" if value else ""}){mode}
  %y: f32[{out}] = {consumer}
  return %y
}}"""


def _after(value: str, consumer: str, out: str) -> str:
    return f"""
graph main(%x: f32[N,1,4,4]) {{
  %w: f32[1,1,3,3] = const [[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]]]
  %p: i64[8] = const [0, 0, 1, 2, 0, 0, 1, 0]
  {value}
  %y: f32[{out}] = {consumer}
  return %y
}}"""


REWRITES = [
    ("conv", _graph("", "Conv(%xp, %w) {pads=[0, 1, 0, 1]}", "N,1,4,6"),
     _after("", "Conv(%x, %w) {pads=[1, 3, 1, 1]}", "N,1,4,6")),
    ("conv-explicit-zero", _graph("%v: f32[] = const 0.0", "Conv(%xp, %w)", "N,1,4,4"),
     _after("%v: f32[] = const 0.0", "Conv(%x, %w) {pads=[1, 2, 1, 0]}", "N,1,4,4")),
    ("maxpool-minus-inf", _graph("%v: f32[] = const -inf", "MaxPool(%xp) {kernel_shape=[3, 3]}", "N,1,4,4"),
     _after("%v: f32[] = const -inf", "MaxPool(%x) {kernel_shape=[3, 3], pads=[1, 2, 1, 0]}", "N,1,4,4")),
    ("averagepool-count-include-pad", _graph("", "AveragePool(%xp) {count_include_pad=1, kernel_shape=[3, 3]}",
                                             "N,1,4,4"),
     _after("", "AveragePool(%x) {count_include_pad=1, kernel_shape=[3, 3], pads=[1, 2, 1, 0]}", "N,1,4,4")),
]


@pytest.mark.parametrize(("before", "after"), [r[1:] for r in REWRITES], ids=[r[0] for r in REWRITES])
def test_rewrite(before: str, after: str) -> None:
    original, fused, _ = check_rewrite(FusePad(), before, after)
    check_numerics(original, fused, rtol=1e-6, atol=1e-6)


REFUSALS = [
    ("maxpool-zero-pad", _graph("", "MaxPool(%xp) {kernel_shape=[3, 3]}", "N,1,4,4"),
     "pad value 0.0 is not the -inf that MaxPool pads with"),
    ("conv-nonzero-pad", _graph("%v: f32[] = const 1.0", "Conv(%xp, %w)", "N,1,4,4"),
     "pad value 1.0 is not the 0.0 that Conv pads with"),
    ("averagepool-exclude-pad", _graph("", "AveragePool(%xp) {kernel_shape=[3, 3]}", "N,1,4,4"),
     "AveragePool has count_include_pad=0 (it would skip the pad)"),
    ("reflect-mode", _graph("", "Conv(%xp, %w)", "N,1,4,4", mode=' {mode="reflect"}'),
     "Pad mode is 'reflect', not constant"),
    ("pads-channel-dim", _graph("", "Conv(%xp, %w)", "N,1,4,4", pads="[0, 1, 1, 2, 0, 0, 1, 0]")
     .replace("%xp: f32[N,1,6,6]", "%xp: f32[N,2,6,6]"), "Pad pads the batch or channel dim"),
    ("negative-pads", _graph("", "Conv(%xp, %w)", "N,1,1,1", pads="[0, 0, -1, 0, 0, 0, 0, 0]")
     .replace("%xp: f32[N,1,6,6]", "%xp: f32[N,1,3,4]"), "Pad crops (negative amounts)"),
    ("auto-pad", _graph("", 'Conv(%xp, %w) {auto_pad="SAME_UPPER"}', "N,1,6,6"), "Conv uses auto_pad=SAME_UPPER"),
    ("pool-pad-reaches-kernel", _graph("%v: f32[] = const -inf", "MaxPool(%xp) {kernel_shape=[2, 2]}", "N,1,5,5"),
     "MaxPool pads would reach the kernel size [2, 2]"),
    ("pool-ceil-mode", _graph("%v: f32[] = const -inf", "MaxPool(%xp) {ceil_mode=1, kernel_shape=[3, 3]}",
                              "N,1,4,4"), "MaxPool has ceil_mode=1 (a window starting in the padding would change)"),
]


@pytest.mark.parametrize(("text", "reason"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_refusal(text: str, reason: str) -> None:
    p = FusePad()
    check_unchanged(p, text)
    refused = {r for s in p.last_report.stats.values() for r in s.refused}
    assert reason in refused, p.last_report
