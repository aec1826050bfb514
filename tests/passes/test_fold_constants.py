"""fold-constants: folding chains, shape queries on static and symbolic shapes, the size budget, failures,
nondeterministic ops, overridable inputs and subgraphs."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from graphopt.ir import parse
from graphopt.passes.numerics import random_inputs
from graphopt.passes.pre.fold_constants import FoldConstants
from tests.passes.util import check_numerics, check_rewrite, check_unchanged

FOLDS = [
    ("chain", """
graph main(%x: f32[N,3]) {
  %a: f32[3] = const [1.0, 4.0, 9.0]
  %b: f32[] = const 2.0
  %s: f32[3] = Sqrt(%a)
  %m: f32[3] = Mul(%s, %b)
  %y: f32[N,3] = Add(%x, %m)
  return %y
}""", """
graph main(%x: f32[N,3]) {
  %m: f32[3] = const [2.0, 4.0, 6.0]
  %y: f32[N,3] = Add(%x, %m)
  return %y
}"""),
    ("shared-input-stays", """
graph main(%x: f32[3]) {
  %a: f32[3] = const [1.0, 2.0, 3.0]
  %n: f32[3] = Neg(%a)
  %y: f32[3] = Add(%x, %a)
  %z: f32[3] = Mul(%y, %n)
  return %z
}""", """
graph main(%x: f32[3]) {
  %a: f32[3] = const [1.0, 2.0, 3.0]
  %n: f32[3] = const [-1.0, -2.0, -3.0]
  %y: f32[3] = Add(%x, %a)
  %z: f32[3] = Mul(%y, %n)
  return %z
}"""),
    ("multi-output-and-graph-output", """
graph main(%x: i64[2]) {
  %a: i64[4] = const [1, 2, 3, 4]
  %p: i64[2], %q: i64[2] = Split(%a) {num_outputs=2}
  %y: i64[2] = Add(%x, %p)
  return %y, %q as "second"
}""", """
graph main(%x: i64[2]) {
  %p: i64[2] = const [1, 2]
  %q: i64[2] = const [3, 4]
  %y: i64[2] = Add(%x, %p)
  return %y, %q as "second"
}"""),
    ("shape-of-static-and-size", """
graph main(%x: f32[2,3]) {
  %s: i64[2] = Shape(%x)
  %n: i64[] = Size(%x)
  return %s, %n
}""", """
graph main(%x: f32[2,3]) {
  %s: i64[2] = const [2, 3]
  %n: i64[] = const 6
  return %s, %n
}"""),
    ("shape-start-end-of-symbolic", """
graph main(%x: f32[N,3,4]) {
  %s: i64[2] = Shape(%x) {start=1}
  %t: i64[1] = Shape(%x) {end=-1, start=-2}
  %r: f32[N,3,4] = Expand(%x, %s)
  return %r, %t
}""", """
graph main(%x: f32[N,3,4]) {
  %s: i64[2] = const [3, 4]
  %t: i64[1] = const [3]
  %r: f32[N,3,4] = Expand(%x, %s)
  return %r, %t
}"""),
    ("gather-and-slice-of-partly-symbolic-shape", """
graph main(%x: f32[N,3,4]) {
  %i: i64[] = const 1
  %st: i64[1] = const [-2]
  %en: i64[1] = const [100]
  %s: i64[3] = Shape(%x)
  %g: i64[] = Gather(%s, %i) {axis=0}
  %l: i64[2] = Slice(%s, %st, %en)
  return %g, %l
}""", """
graph main(%x: f32[N,3,4]) {
  %g: i64[] = const 3
  %l: i64[2] = const [3, 4]
  %s: i64[3] = Shape(%x)  # dead now: dce's to remove
  return %g, %l
}"""),
    ("in-subgraph-from-outer-constants", """
graph main(%c: bool[], %x: f32[2]) {
  %a: f32[2] = const [1.0, 2.0]
  %y: f32[2] = If(%c) {
    else_branch=graph else() {
      %e: f32[2] = Neg(%x)
      return %e
    },
    then_branch=graph then() {
      %k: f32[] = const 3.0
      %t: f32[2] = Mul(%a, %k)
      %u: f32[2] = Add(%x, %t)
      return %u
    }
  }
  return %y
}""", """
graph main(%c: bool[], %x: f32[2]) {
  %y: f32[2] = If(%c) {
    else_branch=graph else() {
      %e: f32[2] = Neg(%x)
      return %e
    },
    then_branch=graph then() {
      %t: f32[2] = const [3.0, 6.0]
      %u: f32[2] = Add(%x, %t)
      return %u
    }
  }
  return %y
}"""),
]


@pytest.mark.parametrize(("before", "after"), [pytest.param(b, a, id=i) for i, b, a in FOLDS])
def test_fold(before: str, after: str) -> None:
    original, result, report = check_rewrite(FoldConstants(), before, after)
    assert report.counts["folded"] > 0 and report.counts["failed"] == 0
    feeds = {v.name: np.asarray(a) for v, a in zip(original.inputs, random_inputs(original).values())}
    check_numerics(original, result, inputs=feeds)


def test_folded_constants_keep_output_names() -> None:
    _, result, _ = check_rewrite(FoldConstants(), FOLDS[0][1], FOLDS[0][2])
    assert [c.name for c in result.constants] == ["m"]


def test_transcendental_fold_matches_onnxruntime() -> None:
    text = """
graph main(%x: f32[N,4]) {
  %a: f32[4] = const [0.1, -2.5, 3.0, 0.7]
  %e: f32[4] = Exp(%a)
  %t: f32[4] = Tanh(%e)
  %p: f32[4] = Pow(%a, %e)
  %y: f32[N,4] = Mul(%x, %t)
  %z: f32[N,4] = Add(%y, %p)
  return %z
}"""
    original = parse(text)
    graph = original.copy()
    assert FoldConstants()(graph).modified
    assert [n.op for n in graph] == ["Mul", "Add"]
    check_numerics(original, graph, rtol=1e-6, atol=1e-6)


EXPAND = """
graph main(%x: f32[256,256]) {
  %one: f32[] = const 1.5
  %shape: i64[2] = const [256, 256]
  %big: f32[256,256] = Expand(%one, %shape)
  %y: f32[256,256] = Add(%x, %big)
  return %y
}"""


def test_max_bytes_stops_growth() -> None:
    result = check_unchanged(FoldConstants(max_bytes=1 << 16), EXPAND)
    assert result.counts["too_large"] == 1
    graph = parse(EXPAND)
    assert FoldConstants()(graph).modified  # 256 KiB is within the default 1 MiB
    assert [n.op for n in graph] == ["Add"] and graph.constants[0].const.shape == (256, 256)


def test_max_bytes_from_a_pipeline_spec() -> None:
    import graphopt

    assert graphopt.optimize(parse(EXPAND), "fold-constants{max-bytes=65536}").nodes[0].op == "Expand"


def test_max_bytes_allows_folds_that_do_not_grow_the_model() -> None:
    weights = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)
    sole = """
graph main(%x: f32[N,64]) {
  %w: f32[64,64] = const <elided>
  %t: f32[64,64] = Transpose(%w)
  %y: f32[N,64] = MatMul(%x, %t)
  return %y
}"""
    graph = parse(sole, constants={"w": weights})
    result = FoldConstants(max_bytes=1024)(graph)
    assert result.modified and result.counts["constants_removed"] == 1
    np.testing.assert_array_equal(graph.constants[0].numpy(), weights.T)
    shared = sole.replace("return %y", "%z: f32[N,64] = MatMul(%x, %w)\n  return %y, %z")
    result = FoldConstants(max_bytes=1024)(parse(shared, constants={"w": weights}))
    assert not result.modified and result.counts["too_large"] == 1


@pytest.mark.parametrize("text", [
    pytest.param("""
graph main(%x: f32[N,3]) {
  %s: i64[2] = Shape(%x)
  %i: i64[] = const 0
  %g: i64[] = Gather(%s, %i) {axis=0}
  %r: f32[*] = Reshape(%x, %s)
  return %r, %g
}""", id="symbolic-shape-and-symbolic-dim"),
    pytest.param("""
graph main(%x: f32[*]) {
  %s: i64[?] = Shape(%x)
  %n: i64[] = Size(%x)
  return %s, %n
}""", id="unknown-rank"),
    pytest.param("""
graph main(%x: f32[3], %b: f32[3] = [0.0, 0.5, 1.0]) {
  %c: f32[3] = const [1.0, 1.0, 1.0]
  %s: f32[3] = Add(%b, %c)
  %y: f32[3] = Mul(%x, %s)
  return %y
}""", id="input-default-is-not-a-constant"),
    pytest.param("""
graph main(%x: f32[2,3]) {
  %shape: i64[2] = const [2, 3]
  %r: f32[2,3] = RandomNormal() {shape=[2,3]}
  %u: f32[2,3] = RandomUniformLike(%x)
  %y: f32[2,3] = Add(%r, %u)
  return %y
}""", id="random-ops"),
])
def test_not_folded(text: str) -> None:
    result = check_unchanged(FoldConstants(), text)
    assert result.counts["failed"] == 0


def test_kernel_failure_leaves_the_node(caplog: pytest.LogCaptureFixture) -> None:
    text = """
graph main(%x: f32[5]) {
  %a: f32[6] = const [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
  %s: i64[1] = const [5]
  %r: f32[5] = Reshape(%a, %s)
  %y: f32[5] = Add(%x, %r)
  return %y
}"""
    with caplog.at_level(logging.DEBUG, logger="graphopt.passes.pre.fold_constants"):
        result = check_unchanged(FoldConstants(), text)
    assert result.counts["failed"] == 1
    assert "Reshape" in caplog.text


def test_dropout_in_inference_mode_folds_but_training_mode_does_not() -> None:
    text = """
graph main(%x: f32[3]) {
  %a: f32[3] = const [1.0, 2.0, 3.0]
  %train: bool[] = const MODE
  %ratio: f32[] = const 0.5
  %d: f32[3] = Dropout(%a, %ratio, %train)
  %y: f32[3] = Add(%x, %d)
  return %y
}"""
    assert FoldConstants()(parse(text.replace("MODE", "false"))).modified
    result = check_unchanged(FoldConstants(), text.replace("MODE", "true"))
    assert result.counts["failed"] == 0
