"""infer-shapes: refines types (keeping symbolic dims), says modified only when a type got more precise."""

from __future__ import annotations

import pytest

import graphopt
from graphopt.ir import parse
from graphopt.passes import PassError
from graphopt.passes.pre.shape_inference import InferShapes
from tests.passes.util import check_rewrite, check_unchanged


def test_refines_types_and_keeps_symbolic_dims():
    before = """graph main(%x: f32[N,3,4], %w: f32[12,5]) {
      %s = Shape(%x)
      %start: i64[1] = const [0]
      %stop: i64[1] = const [1]
      %n = Slice(%s, %start, %stop)
      %minus: i64[1] = const [-1]
      %shape = Concat(%n, %minus) {axis=0}
      %flat = Reshape(%x, %shape)
      %y = MatMul(%flat, %w)
      return %y
    }"""
    after = """graph main(%x: f32[N,3,4], %w: f32[12,5]) {
      %start: i64[1] = const [0]
      %stop: i64[1] = const [1]
      %minus: i64[1] = const [-1]
      %s: i64[3] = Shape(%x)
      %n: i64[1] = Slice(%s, %start, %stop)
      %shape: i64[2] = Concat(%n, %minus) {axis=0}
      %flat: f32[N,12] = Reshape(%x, %shape)
      %y: f32[N,5] = MatMul(%flat, %w)
      return %y
    }"""
    _, _, result = check_rewrite(InferShapes(), before, after)
    assert result.counts == {"types_refined": 5}


def test_fully_typed_graph_is_not_modified():
    result = check_unchanged(InferShapes(), """graph main(%x: f32[N,3]) {
      %y: f32[N,3] = Relu(%x)
      return %y
    }""")
    assert result.counts == {"types_refined": 0}


def test_refining_only_a_loop_body_input_counts_as_a_change():
    before = """graph main(%x: f32[3]) {
      %n: i64[] = const 2
      %final: f32[3] = Loop(%n, _, %x) {body=graph body(%i: ?, %cond: ?, %acc: ?) {
          %next: f32[3] = Neg(%acc)
          return %cond, %next
        }}
      return %final
    }"""
    after = """graph main(%x: f32[3]) {
      %n: i64[] = const 2
      %final: f32[3] = Loop(%n, _, %x) {body=graph body(%i: i64[], %cond: bool[], %acc: f32[?]) {
          %next: f32[3] = Neg(%acc)
          return %cond, %next
        }}
      return %final
    }"""
    _, _, result = check_rewrite(InferShapes(), before, after)
    assert result.counts == {"types_refined": 3}


BROKEN = """graph main(%x: f32[N,3], %w: f32[4,5]) {
  %y = MatMul(%x, %w)
  return %y
}"""


def test_inference_failures_are_skipped_unless_strict():
    check_unchanged(InferShapes(), BROKEN)
    with pytest.raises(graphopt.GraphoptError, match="contracted dims differ"):
        InferShapes(strict=True)(parse(BROKEN))


def test_strict_option_from_a_pipeline_spec():
    with pytest.raises(PassError, match=r"pass 'infer-shapes' failed.*contracted dims differ"):
        graphopt.optimize(parse(BROKEN), "infer-shapes{strict=true}")
