"""layout: sinking Transposes through each op family, cancelling, count-based refusals, NHWC, ORT numerics."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import graphopt
from graphopt.ir import parse
from graphopt.passes import PassError
from graphopt.passes.post.layout import Layout
from tests.passes.util import check_numerics, check_rewrite, check_unchanged

# (id, before, after, rtol of the ONNX Runtime comparison: 0 means bit-exact)
REWRITES = [
    ("unary-chain-cancels", """
graph main(%x: f32[N,8,6,3]) {
  %t: f32[N,3,8,6] = Transpose(%x) {perm=[0,3,1,2]}
  %r: f32[N,3,8,6] = Relu(%t)
  %c: f32[N,3,8,6] = Clip(%r) {}
  %s: f32[N,3,8,6] = Sigmoid(%c)
  %o: f32[N,8,6,3] = Transpose(%s) {perm=[0,2,3,1]}
  return %o
}""", """
graph main(%x: f32[N,8,6,3]) {
  %0: f32[N,8,6,3] = Relu(%x)
  %1: f32[N,8,6,3] = Clip(%0)
  %2: f32[N,8,6,3] = Sigmoid(%1)
  return %2 as "o"
}""", 0),
    ("broadcast-constant-permuted", """
graph main(%x: f32[2,8,6,3]) {
  %b: f32[3,1,1] = const [[[1.0]], [[2.0]], [[3.0]]]
  %t: f32[2,3,8,6] = Transpose(%x) {perm=[0,3,1,2]}
  %a: f32[2,3,8,6] = Add(%t, %b)
  %o: f32[2,8,6,3] = Transpose(%a) {perm=[0,2,3,1]}
  return %o
}""", """
graph main(%x: f32[2,8,6,3]) {
  %0: f32[1,1,1,3] = const [[[[1.0, 2.0, 3.0]]]]
  %1: f32[2,8,6,3] = Add(%x, %0)
  return %1 as "o"
}""", 0),
    ("binary-both-transposed", """
graph main(%x: f32[2,8,6,3], %y: f32[2,8,6,3]) {
  %t: f32[2,3,8,6] = Transpose(%x) {perm=[0,3,1,2]}
  %u: f32[2,3,8,6] = Transpose(%y) {perm=[0,3,1,2]}
  %m: f32[2,3,8,6] = Mul(%t, %u)
  return %m
}""", """
graph main(%x: f32[2,8,6,3], %y: f32[2,8,6,3]) {
  %0: f32[2,8,6,3] = Mul(%x, %y)
  %m: f32[2,3,8,6] = Transpose(%0) {perm=[0, 3, 1, 2]}
  return %m
}""", 0),
    ("concat-and-split-axis", """
graph main(%x: f32[2,8,6,3], %y: f32[2,8,6,5]) {
  %t: f32[2,3,8,6] = Transpose(%x) {perm=[0,3,1,2]}
  %u: f32[2,5,8,6] = Transpose(%y) {perm=[0,3,1,2]}
  %c: f32[2,8,8,6] = Concat(%t, %u) {axis=1}
  %s1: f32[2,4,8,6], %s2: f32[2,4,8,6] = Split(%c) {axis=1, num_outputs=2}
  %o1: f32[2,8,6,4] = Transpose(%s1) {perm=[0,2,3,1]}
  %o2: f32[2,8,6,4] = Transpose(%s2) {perm=[0,2,3,1]}
  return %o1, %o2
}""", """
graph main(%x: f32[2,8,6,3], %y: f32[2,8,6,5]) {
  %0: f32[2,8,6,8] = Concat(%x, %y) {axis=3}
  %1: f32[2,8,6,4], %2: f32[2,8,6,4] = Split(%0) {axis=3, num_outputs=2}
  return %1 as "o1", %2 as "o2"
}""", 0),
    ("slice-pad-axes-rewritten", """
graph main(%x: f32[2,8,6,3]) {
  %st: i64[1] = const [1]
  %en: i64[1] = const [3]
  %ax: i64[1] = const [1]
  %pads: i64[8] = const [0, 0, 1, 2, 0, 0, 3, 4]
  %t: f32[2,3,8,6] = Transpose(%x) {perm=[0,3,1,2]}
  %s: f32[2,2,8,6] = Slice(%t, %st, %en, %ax)
  %p: f32[2,2,12,12] = Pad(%s, %pads) {mode="reflect"}
  %o: f32[2,12,12,2] = Transpose(%p) {perm=[0,2,3,1]}
  return %o
}""", """
graph main(%x: f32[2,8,6,3]) {
  %st: i64[1] = const [1]
  %en: i64[1] = const [3]
  %0: i64[1] = const [3]
  %1: i64[8] = const [0, 1, 2, 0, 0, 3, 4, 0]
  %2: f32[2,8,6,2] = Slice(%x, %st, %en, %0)
  %3: f32[2,12,12,2] = Pad(%2, %1) {mode="reflect"}
  return %3 as "o"
}""", 0),
    ("resize-scales-permuted", """
graph main(%x: f32[1,4,4,3]) {
  %roi: f32[0] = const []
  %sc: f32[4] = const [1.0, 1.0, 2.0, 2.0]
  %t: f32[1,3,4,4] = Transpose(%x) {perm=[0,3,1,2]}
  %r: f32[1,3,8,8] = Resize(%t, %roi, %sc) {mode="nearest"}
  %o: f32[1,8,8,3] = Transpose(%r) {perm=[0,2,3,1]}
  return %o
}""", """
graph main(%x: f32[1,4,4,3]) {
  %roi: f32[0] = const []
  %0: f32[4] = const [1.0, 2.0, 2.0, 1.0]
  %1: f32[1,8,8,3] = Resize(%x, %roi, %0) {mode="nearest"}
  return %1 as "o"
}""", 0),
    ("reduce-keepdims-0-permutes-kept-axes", """
graph main(%x: f32[2,8,6,3]) {
  %ax: i64[1] = const [2]
  %t: f32[2,3,8,6] = Transpose(%x) {perm=[0,3,1,2]}
  %s: f32[2,3,6] = ReduceSum(%t, %ax) {keepdims=0}
  return %s
}""", """
graph main(%x: f32[2,8,6,3]) {
  %0: i64[1] = const [1]
  %1: f32[2,6,3] = ReduceSum(%x, %0) {keepdims=0}
  %s: f32[2,3,6] = Transpose(%1) {perm=[0, 2, 1]}
  return %s
}""", 1e-6),
    ("softmax-axis", """
graph main(%x: f32[2,8,6,3]) {
  %t: f32[2,3,8,6] = Transpose(%x) {perm=[0,3,1,2]}
  %s: f32[2,3,8,6] = Softmax(%t) {axis=1}
  %o: f32[2,8,6,3] = Transpose(%s) {perm=[0,2,3,1]}
  return %o
}""", """
graph main(%x: f32[2,8,6,3]) {
  %0: f32[2,8,6,3] = Softmax(%x) {axis=3}
  return %0 as "o"
}""", 1e-6),
    ("multi-use-transpose-sinks-where-it-cancels-then-slides", """
graph main(%x: f32[2,8,6,3]) {
  %t: f32[2,3,8,6] = Transpose(%x) {perm=[0,3,1,2]}
  %r: f32[2,3,8,6] = Relu(%t)
  %o: f32[2,8,6,3] = Transpose(%r) {perm=[0,2,3,1]}
  %e: f32[2,3,8,6] = Exp(%t)
  return %o, %e
}""", """
graph main(%x: f32[2,8,6,3]) {
  %0: f32[2,8,6,3] = Relu(%x)
  %1: f32[2,8,6,3] = Exp(%x)
  %e: f32[2,3,8,6] = Transpose(%1) {perm=[0, 3, 1, 2]}
  return %0 as "o", %e
}""", 0),
]


@pytest.mark.parametrize("before,after,rtol", [r[1:] for r in REWRITES], ids=[r[0] for r in REWRITES])
def test_rewrite(before: str, after: str, rtol: float) -> None:
    original, result, _ = check_rewrite(Layout(), before, after)
    check_numerics(original, result, rtol=rtol, atol=1e-7 if rtol else 0.0)


REFUSALS = [
    ("multi-use-would-add-more", """
graph main(%x: f32[2,8,6,3]) {
  %t: f32[2,3,8,6] = Transpose(%x) {perm=[0,3,1,2]}
  %r: f32[2,3,8,6] = Relu(%t)
  %e: f32[2,3,8,6] = Exp(%t)
  return %r, %e
}""", "would add 1 Transposes and remove 0"),
    ("other-operand-needs-inverse", """
graph main(%x: f32[2,8,6,3], %y: f32[2,3,8,6]) {
  %t: f32[2,3,8,6] = Transpose(%x) {perm=[0,3,1,2]}
  %a: f32[2,3,8,6] = Add(%t, %y)
  return %a
}""", "would add 2 Transposes and remove 1"),
    ("rank-changing-broadcast", """
graph main(%x: f32[8,3], %y: f32[2,3,8]) {
  %t: f32[3,8] = Transpose(%x) {perm=[1,0]}
  %a: f32[2,3,8] = Add(%t, %y)
  return %a
}""", "an operand has rank 3, not 2: it would need an Unsqueeze as well"),
    ("dynamic-axes", """
graph main(%x: f32[2,8,6,3], %ax: i64[1]) {
  %t: f32[2,3,8,6] = Transpose(%x) {perm=[0,3,1,2]}
  %s: f32[2,1,8,6] = ReduceMax(%t, %ax)
  return %s
}""", "axes are not constant"),
]


@pytest.mark.parametrize("text,reason", [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_refusal(text: str, reason: str) -> None:
    p = Layout()
    check_unchanged(p, text)
    refused = collections.Counter()
    for stats in p.last_report.stats.values():
        refused.update(stats.refused)
    assert reason in refused, refused


def test_unknown_layout_is_an_error() -> None:
    with pytest.raises(PassError, match="unknown layout"):
        Layout(layout="NCWH")(parse("graph main(%x: f32[2]) {\n  return %x\n}"))


NHWC_BEFORE = """
graph main(%x: f32[1,3,8,8]) {
  %w: f32[4,3,3,3] = const <random>
  %w2: f32[4,4,1,1] = const <random>
  %b: f32[4,1,1] = const [[[0.5]], [[-1.0]], [[2.0]], [[0.0]]]
  %c: f32[1,4,8,8] = Conv(%x, %w) {pads=[1,1,1,1]}
  %a: f32[1,4,8,8] = Add(%c, %b)
  %r: f32[1,4,8,8] = Relu(%a)
  %d: f32[1,4,8,8] = Conv(%r, %w2)
  return %d
}"""


def _random_weights(text: str) -> str:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 3, 3)).round(3).tolist()
    w2 = rng.standard_normal((4, 4, 1, 1)).round(3).tolist()
    return text.replace("%w: f32[4,3,3,3] = const <random>", f"%w: f32[4,3,3,3] = const {w}").replace(
        "%w2: f32[4,4,1,1] = const <random>", f"%w2: f32[4,4,1,1] = const {w2}")


def test_nhwc_round_trip_is_exact() -> None:
    """layout=NHWC runs Add and Relu on NHWC data between Transposes; the default pass undoes it."""
    original = parse(_random_weights(NHWC_BEFORE))
    nhwc = original.copy()
    result = Layout(layout="NHWC")(nhwc)
    assert result.counts["ops_to_nhwc"] == 2
    ops = [n.op for n in nhwc]
    assert ops == ["Conv", "Transpose", "Add", "Relu", "Transpose", "Conv"], ops
    assert nhwc.nodes[2].inputs[1].shape == (1, 1, 1, 4)
    check_numerics(original, nhwc)
    back = nhwc.copy()
    assert Layout()(back).modified
    assert [n.op for n in back] == ["Conv", "Add", "Relu", "Conv"]
    check_numerics(original, back)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet", "mobilenet", "unet"])
def test_zoo_o3_and_nhwc_match_ort(name: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests import zoo

    model = zoo.export(name, tmp_path)
    graph = graphopt.load(model.path)
    o3 = graphopt.optimize(graph, "O3")
    check_numerics(graph, o3, rtol=1e-4, atol=1e-5, inputs=dict(zip([v.name for v in graph.inputs], model.inputs)))
    nhwc = graphopt.optimize(o3, [Layout(layout="NHWC")])
    assert any(n.op == "Transpose" for n in nhwc)
    check_numerics(o3, nhwc, inputs=dict(zip([v.name for v in graph.inputs], model.inputs)))
    back = graphopt.optimize(nhwc, [Layout()])
    assert sum(n.op == "Transpose" for n in back) == sum(n.op == "Transpose" for n in o3)
