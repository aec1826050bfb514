"""The rewrite engine's refusal reasons for commutative patterns: each operand order's failure is reported."""

from __future__ import annotations

from graphopt.ir import parse
from graphopt.passes.rewrite import Rule, apply_rules, const, op, var

AFFINE = Rule.define("affine", op("Add", op("MatMul", var("a"), const("b")), const("c"), commutative=True),
                     lambda m, b: b.op("Gemm", [m["a"], m["b"], m["c"]]))


def refusals(text: str) -> dict[str, int]:
    return dict(apply_rules(parse(text), [AFFINE]).rule("affine").refused)


def test_both_operand_orders_are_reported_when_they_fail_differently():
    refused = refusals("""graph main(%x: f32[4,3], %w: f32[3,2], %k: f32[2]) {
      %m: f32[4,2] = MatMul(%x, %w)
      %y: f32[4,2] = Add(%m, %k)
      return %y
    }""")
    assert refused == {"Add operands as written: b is not a constant; "
                       "swapped: expected MatMul, found a graph input or constant": 1}


def test_the_swapped_order_is_the_informative_one_too():
    refused = refusals("""graph main(%x: f32[4,3], %k: f32[2]) {
      %w: f32[3,2] = const [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
      %m: f32[4,2] = MatMul(%x, %w)
      %y: f32[4,2] = Add(%k, %m)
      return %y, %m
    }""")
    # the last order tried (MatMul on the left) used to hide the first order's reason
    assert refused == {"Add operands as written: expected MatMul, found a graph input or constant; "
                       "swapped: MatMul output has 2 users (needs exactly one)": 1}


def test_one_reason_when_both_orders_fail_alike():
    refused = refusals("""graph main(%x: f32[4,2], %k: f32[2]) {
      %y: f32[4,2] = Add(%x, %k)
      return %y
    }""")
    assert refused == {"expected MatMul, found a graph input or constant": 1}
