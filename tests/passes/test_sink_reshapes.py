"""sink-reshapes: elementwise chains move above a Reshape so the Reshape pair around them cancels."""

from __future__ import annotations

import pytest

from graphopt.passes.pre.sink_reshapes import SinkReshapes
from tests.passes.util import check_numerics, check_rewrite, check_unchanged

CHAIN = """graph main(%a: f32[32,256]) {{
  %s: i64[3] = const [2, 16, 256]
  %t: i64[2] = const [32, 256]
  %h: f32[] = const 0.5
  %r: f32[2,16,256] = Reshape(%a, %s)
  %m: f32[2,16,256] = Mul(%r, %h)
  %p: f32[2,16,256] = Tanh(%r)
  %q: f32[2,16,256] = Add(%m, %p)
  %y: f32[32,256] = Reshape(%q, %t)
  {tail}
}}"""


def test_chain_runs_on_the_reshape_input():
    before = CHAIN.format(tail="return %y")
    after = """graph main(%a: f32[32,256]) {
      %s: i64[3] = const [2, 16, 256]
      %t: i64[2] = const [32, 256]
      %h: f32[] = const 0.5
      %m: f32[32,256] = Mul(%a, %h)
      %p: f32[32,256] = Tanh(%a)
      %q: f32[32,256] = Add(%m, %p)
      %y: f32[32,256] = Reshape(%q, %t)
      return %y
    }"""
    original, result, report = check_rewrite(SinkReshapes(), before, after)
    assert report.counts == {"reshapes_removed": 1}
    check_numerics(original, result)


@pytest.mark.parametrize(("tail", "why"), [
    ("%o: f32[2,16,256] = Relu(%q)\n  return %y, %o", "a reader outside the chain sees the reshaped shape"),
    ("return %y, %q", "a graph output is inside the chain"),
])
def test_refused_when_something_else_reads_the_chain(tail: str, why: str):
    check_unchanged(SinkReshapes(), CHAIN.format(tail=tail))


def test_non_scalar_operands_stop_the_region():
    check_unchanged(SinkReshapes(), """graph main(%a: f32[32,256]) {
      %s: i64[3] = const [2, 16, 256]
      %b: f32[256] = const <elided>
      %r: f32[2,16,256] = Reshape(%a, %s)
      %m: f32[2,16,256] = Add(%r, %b)
      return %m
    }""".replace("const <elided>", "const [" + ", ".join(["1.0"] * 256) + "]"))
