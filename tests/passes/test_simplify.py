"""simplify: every rule before/after in the text form and in ONNX Runtime, and every refusal with its reason."""

from __future__ import annotations

import numpy as np
import pytest

from graphopt.ir import parse
from graphopt.ir.dtypes import DType
from graphopt.passes.pre.simplify import Simplify, holds_exactly
from tests.passes.util import check_numerics, check_rewrite, check_unchanged

# (id, before, after, rtol of the ONNX Runtime comparison: 0 means bit-exact)
REWRITES = [
    ("mul-by-one", """
graph main(%x: f32[N,3]) {
  %one: f32[] = const 1.0
  %y: f32[N,3] = Mul(%x, %one)
  %z: f32[N,3] = Relu(%y)
  return %z
}""", """
graph main(%x: f32[N,3]) {
  %z: f32[N,3] = Relu(%x)
  return %z
}""", 0),
    ("one-times-x-static-broadcast", """
graph main(%x: f32[2,3]) {
  %one: f32[1,3] = const [[1.0, 1.0, 1.0]]
  %y: f32[2,3] = Mul(%one, %x)
  %z: f32[2,3] = Relu(%y)
  return %z
}""", """
graph main(%x: f32[2,3]) {
  %z: f32[2,3] = Relu(%x)
  return %z
}""", 0),
    ("add-zero-both-sides-sub-zero-div-by-one-pow-one", """
graph main(%x: f32[N,3]) {
  %zero: f32[] = const 0.0
  %one: f32[3] = const [1.0, 1.0, 1.0]
  %a: f32[N,3] = Add(%x, %zero)
  %b: f32[N,3] = Add(%zero, %a)
  %c: f32[N,3] = Sub(%b, %zero)
  %d: f32[N,3] = Div(%c, %one)
  %e: f32[N,3] = Pow(%d, %one)
  %f: f32[N,3] = Tanh(%e)
  return %f
}""", """
graph main(%x: f32[N,3]) {
  %f: f32[N,3] = Tanh(%x)
  return %f
}""", 0),
    ("int-mul-by-zero", """
graph main(%x: i64[2,3]) {
  %zero: i64[] = const 0
  %y: i64[2,3] = Mul(%zero, %x)
  return %y
}""", """
graph main(%x: i64[2,3]) {
  %y: i64[2,3] = const [[0, 0, 0], [0, 0, 0]]
  return %y
}""", 0),
    ("sub-from-zero", """
graph main(%x: f32[N,3]) {
  %zero: f32[] = const 0.0
  %y: f32[N,3] = Sub(%zero, %x)
  return %y
}""", """
graph main(%x: f32[N,3]) {
  %y: f32[N,3] = Neg(%x)
  return %y
}""", 0),
    ("involutions-and-idempotents", """
graph main(%x: f32[N,3], %b: bool[N]) {
  %n1: f32[N,3] = Neg(%x)
  %n2: f32[N,3] = Neg(%n1)
  %r1: f32[N,3] = Relu(%n2)
  %r2: f32[N,3] = Relu(%r1)
  %a1: f32[N,3] = Abs(%r2)
  %a2: f32[N,3] = Abs(%a1)
  %t1: bool[N] = Not(%b)
  %t2: bool[N] = Not(%t1)
  %and: bool[N] = And(%t2, %t2)
  %or: bool[N] = Or(%and, %and)
  return %a2, %or
}""", """
graph main(%x: f32[N,3], %b: bool[N]) {
  %r1: f32[N,3] = Relu(%x)
  %a1: f32[N,3] = Abs(%r1)
  return %a1, %b
}""", 0),
    ("shared-inner-relu", """
graph main(%x: f32[N,3]) {
  %r1: f32[N,3] = Relu(%x)
  %r2: f32[N,3] = Relu(%r1)
  %s: f32[N,3] = Add(%r1, %r2)
  return %s
}""", """
graph main(%x: f32[N,3]) {
  %r1: f32[N,3] = Relu(%x)
  %s: f32[N,3] = Add(%r1, %r1)
  return %s
}""", 0),
    ("transpose-pair-cancels", """
graph main(%x: f32[N,3,4]) {
  %t1: f32[3,4,N] = Transpose(%x) {perm=[1,2,0]}
  %t2: f32[N,3,4] = Transpose(%t1) {perm=[2,0,1]}
  %y: f32[N,3,4] = Relu(%t2)
  return %y
}""", """
graph main(%x: f32[N,3,4]) {
  %y: f32[N,3,4] = Relu(%x)
  return %y
}""", 0),
    ("transpose-pair-composes", """
graph main(%x: f32[N,3,4]) {
  %t1: f32[3,4,N] = Transpose(%x) {perm=[1,2,0]}
  %t2: f32[N,4,3] = Transpose(%t1)
  return %t2
}""", """
graph main(%x: f32[N,3,4]) {
  %t2: f32[N,4,3] = Transpose(%x) {perm=[0,2,1]}
  return %t2
}""", 0),
    ("reshape-pair", """
graph main(%x: f32[N,12]) {
  %s1: i64[3] = const [-1, 3, 4]
  %s2: i64[2] = const [-1, 6]
  %r1: f32[N,3,4] = Reshape(%x, %s1)
  %r2: f32[?,6] = Reshape(%r1, %s2)
  return %r2
}""", """
graph main(%x: f32[N,12]) {
  %s2: i64[2] = const [-1, 6]
  %r2: f32[?,6] = Reshape(%x, %s2)
  return %r2
}""", 0),
    ("reshape-pair-static-zero", """
graph main(%x: f32[2,12]) {
  %s1: i64[3] = const [2, 3, 4]
  %s2: i64[2] = const [0, -1]
  %r1: f32[2,3,4] = Reshape(%x, %s1)
  %r2: f32[2,12] = Reshape(%r1, %s2)
  %y: f32[2,12] = Relu(%r2)
  return %y
}""", """
graph main(%x: f32[2,12]) {
  %s: i64[2] = const [2, -1]
  %r2: f32[2,12] = Reshape(%x, %s)
  %y: f32[2,12] = Relu(%r2)
  return %y
}""", 0),
    ("squeeze-unsqueeze", """
graph main(%x: f32[N,3]) {
  %a: i64[2] = const [0, -1]
  %b: i64[2] = const [3, 0]
  %u: f32[1,N,3,1] = Unsqueeze(%x, %a)
  %s: f32[N,3] = Squeeze(%u, %b)
  %y: f32[N,3] = Relu(%s)
  return %y
}""", """
graph main(%x: f32[N,3]) {
  %y: f32[N,3] = Relu(%x)
  return %y
}""", 0),
    ("unsqueeze-squeeze-static-ones", """
graph main(%x: f32[N,1,3]) {
  %a: i64[1] = const [1]
  %s: f32[N,3] = Squeeze(%x, %a)
  %u: f32[N,1,3] = Unsqueeze(%s, %a)
  %y: f32[N,1,3] = Relu(%u)
  return %y
}""", """
graph main(%x: f32[N,1,3]) {
  %y: f32[N,1,3] = Relu(%x)
  return %y
}""", 0),
    ("slice-slice-distinct-axes", """
graph main(%x: f32[N,6,8]) {
  %s1: i64[1] = const [1]
  %e1: i64[1] = const [5]
  %a1: i64[1] = const [1]
  %s2: i64[1] = const [-1]
  %e2: i64[1] = const [-9]
  %a2: i64[1] = const [-1]
  %p2: i64[1] = const [-2]
  %t: f32[N,4,8] = Slice(%x, %s1, %e1, %a1)
  %y: f32[N,4,4] = Slice(%t, %s2, %e2, %a2, %p2)
  return %y
}""", """
graph main(%x: f32[N,6,8]) {
  %s: i64[2] = const [1, -1]
  %e: i64[2] = const [5, -9]
  %a: i64[2] = const [1, 2]
  %p: i64[2] = const [1, -2]
  %y: f32[N,4,4] = Slice(%x, %s, %e, %a, %p)
  return %y
}""", 0),
    ("slice-slice-same-axis-steps", """
graph main(%x: f32[N,10]) {
  %s1: i64[1] = const [1]
  %e1: i64[1] = const [9]
  %a: i64[1] = const [1]
  %p1: i64[1] = const [2]
  %e2: i64[1] = const [100]
  %t: f32[N,4] = Slice(%x, %s1, %e1, %a, %p1)
  %y: f32[N,3] = Slice(%t, %s1, %e2, %a)
  return %y
}""", """
graph main(%x: f32[N,10]) {
  %s: i64[1] = const [3]
  %e: i64[1] = const [9]
  %a: i64[1] = const [1]
  %p: i64[1] = const [2]
  %y: f32[N,3] = Slice(%x, %s, %e, %a, %p)
  return %y
}""", 0),
    ("slice-slice-reversed-then-cut-and-other-axis", """
graph main(%x: f32[10,N]) {
  %s1: i64[1] = const [-1]
  %e1: i64[1] = const [-11]
  %a1: i64[1] = const [0]
  %s2: i64[2] = const [5, 1]
  %e2: i64[2] = const [10, 1000]
  %a2: i64[2] = const [-2, 1]
  %t: f32[10,N] = Slice(%x, %s1, %e1, %a1, %s1)
  %y: f32[5,M] = Slice(%t, %s2, %e2, %a2)
  return %y
}""", """
graph main(%x: f32[10,N]) {
  %s: i64[2] = const [4, 1]
  %e: i64[2] = const [-9223372036854775808, 1000]
  %a: i64[2] = const [0, 1]
  %p: i64[2] = const [-1, 1]
  %y: f32[5,M] = Slice(%x, %s, %e, %a, %p)
  return %y
}""", 0),
    ("transpose-of-unit-dims-to-reshape", """
graph main(%x: f32[N,1,16], %z: f32[N,S,1,4]) {
  %a: f32[1,N,16] = Transpose(%x) {perm=[1, 0, 2]}
  %b: f32[N,1,S,4] = Transpose(%z) {perm=[0, 2, 1, 3]}
  return %a, %b
}""", """
graph main(%x: f32[N,1,16], %z: f32[N,S,1,4]) {
  %s1: i64[3] = const [1, -1, 16]
  %a: f32[1,N,16] = Reshape(%x, %s1)
  %s2: i64[4] = const [0, 1, -1, 4]
  %b: f32[N,1,S,4] = Reshape(%z, %s2)
  return %a, %b
}""", 0),
    ("transpose-of-unit-dims-merges-into-the-next-transpose-first", """
graph main(%x: f32[2,1,3]) {
  %t1: f32[1,2,3] = Transpose(%x) {perm=[1, 0, 2]}
  %t2: f32[1,3,2] = Transpose(%t1) {perm=[0, 2, 1]}
  return %t2
}""", """
graph main(%x: f32[2,1,3]) {
  %t2: f32[1,3,2] = Transpose(%x) {perm=[1, 2, 0]}
  return %t2
}""", 0),
    ("view-chains-become-one-reshape", """
graph main(%x: f32[2,3,4]) {
  %a0: i64[1] = const [0]
  %a3: i64[1] = const [3]
  %t: i64[2] = const [6, 4]
  %u: f32[1,2,3,4] = Unsqueeze(%x, %a0)
  %r: f32[6,4] = Reshape(%u, %t)
  %v: f32[1,6,4] = Unsqueeze(%r, %a0)
  %w: f32[1,6,4,1] = Unsqueeze(%v, %a3)
  %f: f32[6,4] = Flatten(%w) {axis=2}
  %y: f32[6,4] = Relu(%f)
  return %y
}""", """
graph main(%x: f32[2,3,4]) {
  %0: i64[2] = const [6, 4]
  %f: f32[6,4] = Reshape(%x, %0)
  %y: f32[6,4] = Relu(%f)
  return %y
}""", 0),
    ("cast-f16-f32-f64", """
graph main(%x: f16[N]) {
  %a: f32[N] = Cast(%x) {to=1}
  %b: f64[N] = Cast(%a) {to=11}
  return %b
}""", """
graph main(%x: f16[N]) {
  %b: f64[N] = Cast(%x) {to=11}
  return %b
}""", 0),
    ("cast-i32-i64-f32", """
graph main(%x: i32[N]) {
  %a: i64[N] = Cast(%x) {to=7}
  %b: f32[N] = Cast(%a) {to=1}
  return %b
}""", """
graph main(%x: i32[N]) {
  %b: f32[N] = Cast(%x) {to=1}
  return %b
}""", 0),
    ("cast-round-trip-to-source", """
graph main(%x: f16[N]) {
  %a: f32[N] = Cast(%x) {to=1}
  %b: f16[N] = Cast(%a) {to=10}
  %y: f16[N] = Relu(%b)
  return %y
}""", """
graph main(%x: f16[N]) {
  %y: f16[N] = Relu(%x)
  return %y
}""", 0),
    ("cast-int-narrowing", """
graph main(%x: i64[N]) {
  %a: i32[N] = Cast(%x) {to=6}
  %b: i8[N] = Cast(%a) {to=3}
  return %b
}""", """
graph main(%x: i64[N]) {
  %b: i8[N] = Cast(%x) {to=3}
  return %b
}""", 0),
    ("mul-mul", """
graph main(%x: f32[N,3]) {
  %c1: f32[3] = const [1.5, 2.0, -3.0]
  %c2: f32[] = const 0.1
  %a: f32[N,3] = Mul(%c1, %x)
  %b: f32[N,3] = Mul(%c2, %a)
  return %b
}""", """
graph main(%x: f32[N,3]) {
  %c: f32[3] = const [0.15, 0.2, -0.3]
  %b: f32[N,3] = Mul(%x, %c)
  return %b
}""", 1e-6),
    ("add-add-int", """
graph main(%x: i64[N]) {
  %c1: i64[] = const 5
  %c2: i64[] = const -2
  %a: i64[N] = Add(%x, %c1)
  %b: i64[N] = Add(%a, %c2)
  return %b
}""", """
graph main(%x: i64[N]) {
  %c: i64[] = const 3
  %b: i64[N] = Add(%x, %c)
  return %b
}""", 0),
    ("add-add-float", """
graph main(%x: f32[N,2]) {
  %c1: f32[2] = const [0.25, -1.5]
  %c2: f32[] = const 0.1
  %a: f32[N,2] = Add(%x, %c1)
  %b: f32[N,2] = Add(%c2, %a)
  return %b
}""", """
graph main(%x: f32[N,2]) {
  %c: f32[2] = const [0.35, -1.4]
  %b: f32[N,2] = Add(%x, %c)
  return %b
}""", 1e-6),
    ("div-div", """
graph main(%x: f32[N]) {
  %c1: f32[] = const 3.0
  %c2: f32[] = const 5.0
  %a: f32[N] = Div(%x, %c1)
  %b: f32[N] = Div(%a, %c2)
  return %b
}""", """
graph main(%x: f32[N]) {
  %c: f32[] = const 15.0
  %b: f32[N] = Div(%x, %c)
  return %b
}""", 1e-6),
    ("div-by-power-of-two", """
graph main(%x: f32[N,2]) {
  %c: f32[2] = const [4.0, 0.5]
  %y: f32[N,2] = Div(%x, %c)
  return %y
}""", """
graph main(%x: f32[N,2]) {
  %c: f32[2] = const [0.25, 2.0]
  %y: f32[N,2] = Mul(%x, %c)
  return %y
}""", 0),
    ("div-div-then-power-of-two", """
graph main(%x: f32[N]) {
  %c1: f32[] = const 2.0
  %c2: f32[] = const 4.0
  %a: f32[N] = Div(%x, %c1)
  %b: f32[N] = Div(%a, %c2)
  return %b
}""", """
graph main(%x: f32[N]) {
  %c: f32[] = const 0.125
  %b: f32[N] = Mul(%x, %c)
  return %b
}""", 0),
    ("pow-two", """
graph main(%x: f32[N,3]) {
  %two: f32[] = const 2.0
  %y: f32[N,3] = Pow(%x, %two)
  return %y
}""", """
graph main(%x: f32[N,3]) {
  %y: f32[N,3] = Mul(%x, %x)
  return %y
}""", 0),
]


@pytest.mark.parametrize(("before", "after", "rtol"), [pytest.param(*c[1:], id=c[0]) for c in REWRITES])
def test_rewrite(before: str, after: str, rtol: float) -> None:
    original, result, report = check_rewrite(Simplify(), before, after)
    assert report.counts["rules_fired"] > 0
    check_numerics(original, result, rtol=rtol)


# (id, graph, rule, expected refusal reason (a substring))
REFUSALS = [
    ("mul-by-one-broadcasts", """
graph main(%x: f32[N,1]) {
  %one: f32[3] = const [1.0, 1.0, 1.0]
  %y: f32[N,3] = Mul(%x, %one)
  return %y
}""", "mul-by-one", "the constant [3] may broadcast x (f32[N,1]) to a larger shape"),
    ("add-zero-raises-rank", """
graph main(%x: f32[3]) {
  %zero: f32[2,3] = const [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
  %y: f32[2,3] = Add(%x, %zero)
  return %y
}""", "add-zero", "the constant [2, 3] has a higher rank than x"),
    ("add-zero-unknown-rank", """
graph main(%x: f32[*]) {
  %zero: f32[1] = const [0.0]
  %y: f32[*] = Add(%x, %zero)
  return %y
}""", "add-zero", "x's rank is unknown"),
    ("float-mul-by-zero", """
graph main(%x: f32[N]) {
  %zero: f32[] = const 0.0
  %y: f32[N] = Mul(%x, %zero)
  return %y
}""", "mul-by-zero", "x*0 is NaN when x is NaN or ±inf"),
    ("int-mul-by-zero-symbolic-shape", """
graph main(%x: i32[N]) {
  %zero: i32[] = const 0
  %y: i32[N] = Mul(%x, %zero)
  return %y
}""", "mul-by-zero", "the result's shape is not static"),
    ("pow-two-int", """
graph main(%x: i32[N]) {
  %two: i32[] = const 2
  %y: i32[N] = Pow(%x, %two)
  return %y
}""", "pow-two", "x is not a float"),
    ("sub-from-zero-unsigned", """
graph main(%x: u8[N]) {
  %zero: u8[] = const 0
  %y: u8[N] = Sub(%zero, %x)
  return %y
}""", "sub-from-zero", "Neg is not defined"),
    ("transpose-default-perm-unknown-rank", """
graph main(%x: f32[*]) {
  %t1: f32[*] = Transpose(%x)
  %t2: f32[*] = Transpose(%t1)
  return %t2
}""", "transpose-transpose", "needs x's rank"),
    ("reshape-zero-copies-symbolic-dim", """
graph main(%x: f32[N,12]) {
  %s1: i64[3] = const [0, 3, 4]
  %s2: i64[2] = const [0, -1]
  %r1: f32[N,3,4] = Reshape(%x, %s1)
  %r2: f32[N,12] = Reshape(%r1, %s2)
  return %r2
}""", "reshape-reshape", "copies (0) dims [0] of the intermediate shape"),
    ("reshape-dynamic-target", """
graph main(%x: f32[N,12], %s: i64[2]) {
  %s1: i64[3] = const [-1, 3, 4]
  %r1: f32[N,3,4] = Reshape(%x, %s1)
  %r2: f32[*] = Reshape(%r1, %s)
  return %r2
}""", "reshape-reshape", "the target shape is not constant"),
    ("squeeze-other-axes", """
graph main(%x: f32[N,1]) {
  %a: i64[1] = const [0]
  %b: i64[1] = const [2]
  %u: f32[1,N,1] = Unsqueeze(%x, %a)
  %s: f32[1,N] = Squeeze(%u, %b)
  return %s
}""", "squeeze-unsqueeze", "the axes differ ([0] vs [2])"),
    ("unsqueeze-squeeze-symbolic-dim", """
graph main(%x: f32[N,3,M]) {
  %a: i64[1] = const [0]
  %s: f32[3,M] = Squeeze(%x, %a)
  %u: f32[1,3,M] = Unsqueeze(%s, %a)
  return %u
}""", "unsqueeze-squeeze", "not all statically 1"),
    ("squeeze-of-unsqueeze-symbolic-result", """
graph main(%x: f32[N,1]) {
  %a: i64[1] = const [0]
  %b: i64[1] = const [2]
  %u: f32[1,N,1] = Unsqueeze(%x, %a)
  %s: f32[1,N] = Squeeze(%u, %b)
  return %s
}""", "squeeze-of-unsqueeze", "the result shape (1, 'N') is not static"),
    ("slice-slice-same-symbolic-axis", """
graph main(%x: f32[6,N]) {
  %s: i64[1] = const [1]
  %e: i64[1] = const [5]
  %a: i64[1] = const [-1]
  %b: i64[1] = const [1]
  %t: f32[6,4] = Slice(%x, %s, %e, %a)
  %y: f32[6,3] = Slice(%t, %s, %e, %b)
  return %y
}""", "slice-slice", "both slices cut axis 1, whose length (N) is not static"),
    ("transpose-of-real-dims", """
graph main(%x: f32[2,1,3]) {
  %t: f32[3,1,2] = Transpose(%x) {perm=[2, 1, 0]}
  return %t
}""", "transpose-to-reshape", "it reorders dims that are not statically 1"),
    ("transpose-of-unit-dims-with-two-moved-symbols", """
graph main(%x: f32[1,N,M]) {
  %t: f32[N,M,1] = Transpose(%x) {perm=[1, 2, 0]}
  return %t
}""", "transpose-to-reshape", "more than one dim is neither static nor kept in place"),
    ("slice-slice-reversed-from-before-the-axis", """
graph main(%x: f32[4]) {
  %s1: i64[1] = const [-9]
  %e1: i64[1] = const [-9]
  %p1: i64[1] = const [-1]
  %s2: i64[1] = const [0]
  %e2: i64[1] = const [1]
  %t: f32[0] = Slice(%x, %s1, %e1, %s2, %p1)
  %y: f32[0] = Slice(%t, %s2, %e2, %s2)
  return %y
}""", "slice-slice", "which runtimes read differently"),
    ("cast-through-narrower-float", """
graph main(%x: f32[N]) {
  %a: f16[N] = Cast(%x) {to=10}
  %b: f32[N] = Cast(%a) {to=1}
  return %b
}""", "cast-cast", "f16 does not hold every f32 value exactly"),
    ("div-by-three", """
graph main(%x: f32[N]) {
  %c: f32[] = const 3.0
  %y: f32[N] = Div(%x, %c)
  return %y
}""", "div-to-mul", "not all powers of two"),
    ("int-div-chain-negative", """
graph main(%x: i64[N]) {
  %c1: i64[] = const 3
  %c2: i64[] = const -2
  %a: i64[N] = Div(%x, %c1)
  %b: i64[N] = Div(%a, %c2)
  return %b
}""", "div-div", "not all positive"),
    ("mul-chain-constants-grow", """
graph main(%x: f32[N,4,4]) {
  %c1: f32[4,1] = const [[1.5], [2.5], [3.5], [4.5]]
  %c2: f32[4] = const [0.5, 1.5, 2.5, 3.5]
  %a: f32[N,4,4] = Mul(%x, %c1)
  %b: f32[N,4,4] = Mul(%a, %c2)
  return %b
}""", "mul-mul", "would make a larger one"),
    ("mul-chain-constant-overflows", """
graph main(%x: f32[N]) {
  %c1: f32[] = const 1e30
  %c2: f32[] = const 1e30
  %a: f32[N] = Mul(%x, %c1)
  %b: f32[N] = Mul(%a, %c2)
  return %b
}""", "mul-mul", "overflows or becomes subnormal"),
    ("f16-div-chain-constant-subnormal", """
graph main(%x: f16[N]) {
  %c1: f16[] = const 0.001
  %c2: f16[] = const 0.001
  %a: f16[N] = Div(%x, %c1)
  %b: f16[N] = Div(%a, %c2)
  return %b
}""", "div-div", "overflows or becomes subnormal"),
]


@pytest.mark.parametrize(("text", "rule", "reason"), [pytest.param(*c[1:], id=c[0]) for c in REFUSALS])
def test_refusal(text: str, rule: str, reason: str) -> None:
    p = Simplify()
    check_unchanged(p, text)
    refused = p.last_report.rule(rule).refused
    assert any(reason in r for r in refused), f"{rule} refusals: {dict(refused)}"


EXACT_REFUSALS = [
    ("add-plus-zero", """
graph main(%x: f32[N]) {
  %zero: f32[] = const 0.0
  %y: f32[N] = Add(%x, %zero)
  return %y
}""", "add-zero", "only -0 keeps the sign"),
    ("plus-zero-minus-x", """
graph main(%x: f32[N]) {
  %zero: f32[] = const 0.0
  %y: f32[N] = Sub(%zero, %x)
  return %y
}""", "sub-from-zero", "only -0 - x"),
    ("float-mul-chain", """
graph main(%x: f32[N]) {
  %c1: f32[] = const 3.0
  %c2: f32[] = const 5.0
  %a: f32[N] = Mul(%x, %c1)
  %b: f32[N] = Mul(%a, %c2)
  return %b
}""", "mul-mul", "not bit-exact"),
]


@pytest.mark.parametrize(("text", "rule", "reason"), [pytest.param(*c[1:], id=c[0]) for c in EXACT_REFUSALS])
def test_exact_mode_refuses_inexact_rewrites(text: str, rule: str, reason: str) -> None:
    p = Simplify(exact=True)
    check_unchanged(p, text)
    assert any(reason in r for r in p.last_report.rule(rule).refused), dict(p.last_report.rule(rule).refused)
    assert Simplify()(parse(text)).modified  # the default mode takes them


def test_exact_mode_keeps_exact_rewrites() -> None:
    before = """
graph main(%x: f32[N], %i: i32[N]) {
  %mzero: f32[] = const -0.0
  %c1: i32[] = const 3
  %c2: i32[] = const 5
  %a: f32[N] = Add(%x, %mzero)
  %b: f32[N] = Sub(%mzero, %a)
  %j: i32[N] = Mul(%i, %c1)
  %k: i32[N] = Mul(%j, %c2)
  return %b, %k
}"""
    after = """
graph main(%x: f32[N], %i: i32[N]) {
  %c: i32[] = const 15
  %b: f32[N] = Neg(%x)
  %k: i32[N] = Mul(%i, %c)
  return %b, %k
}"""
    original, result, _ = check_rewrite(Simplify(exact=True), before, after)
    zeros = {"x": np.array([0.0, -0.0, 1.5], np.float32), "i": np.array([1, -7, 2**30], np.int32)}
    check_numerics(original, result, inputs=zeros)


def test_subgraphs_are_simplified() -> None:
    before = """
graph main(%c: bool[], %x: f32[N]) {
  %one: f32[] = const 1.0
  %y: f32[N] = If(%c) {
    else_branch=graph else() {
      %e: f32[N] = Neg(%x)
      return %e
    },
    then_branch=graph then() {
      %t: f32[N] = Mul(%x, %one)
      %u: f32[N] = Relu(%t)
      return %u
    }
  }
  return %y
}"""
    after = """
graph main(%c: bool[], %x: f32[N]) {
  %y: f32[N] = If(%c) {
    else_branch=graph else() {
      %e: f32[N] = Neg(%x)
      return %e
    },
    then_branch=graph then() {
      %u: f32[N] = Relu(%x)
      return %u
    }
  }
  return %y
}"""
    check_rewrite(Simplify(), before, after)


def test_clean_graph_is_unchanged() -> None:
    result = check_unchanged(Simplify(), """
graph main(%x: f32[N,3]) {
  %two: f32[] = const 2.0
  %y: f32[N,3] = Mul(%x, %two)
  %z: f32[N,3] = Relu(%y)
  return %z
}""")
    assert result.counts == {"rules_fired": 0, "constants_removed": 0}


@pytest.mark.parametrize(("target", "source", "exact"), [
    (DType.FLOAT, DType.FLOAT16, True), (DType.DOUBLE, DType.FLOAT, True), (DType.FLOAT16, DType.FLOAT, False),
    (DType.BFLOAT16, DType.FLOAT16, False), (DType.FLOAT16, DType.BFLOAT16, False),
    (DType.INT64, DType.INT32, True), (DType.INT32, DType.UINT32, False), (DType.FLOAT, DType.INT16, True),
    (DType.FLOAT, DType.INT32, False), (DType.DOUBLE, DType.INT32, True), (DType.FLOAT16, DType.UINT8, True),
    (DType.INT8, DType.BOOL, True), (DType.BOOL, DType.INT8, False), (DType.INT32, DType.FLOAT, False),
])
def test_holds_exactly(target: DType, source: DType, exact: bool) -> None:
    assert holds_exactly(target, source) == exact
    if exact and source.numpy.kind in "iub":
        info = np.iinfo(source.numpy) if source != DType.BOOL else None
        values = np.array([info.min, -1, 0, 1, info.max] if info else [False, True]).astype(source.numpy)
        assert np.array_equal(values.astype(target.numpy).astype(source.numpy), values)
