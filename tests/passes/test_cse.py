"""cse: identical nodes and constants merge; commutative inputs in any order; subgraphs only when equal."""

from __future__ import annotations

import numpy as np
import pytest

from graphopt.passes.pre.cse import CommonSubexpressionElimination
from tests.passes.util import check_numerics, check_rewrite, check_unchanged


def test_merges_identical_nodes_and_then_their_users():
    before = """graph main(%x: f32[N,3]) {
      %a: f32[N,3] = Relu(%x)
      %b: f32[N,3] = Relu(%x)
      %ea: f32[N,3] = Exp(%a)
      %eb: f32[N,3] = Exp(%b)
      %s: f32[N,3] = Sub(%ea, %eb)
      return %s
    }"""
    after = """graph main(%x: f32[N,3]) {
      %a: f32[N,3] = Relu(%x)
      %ea: f32[N,3] = Exp(%a)
      %s: f32[N,3] = Sub(%ea, %ea)
      return %s
    }"""
    original, graph, result = check_rewrite(CommonSubexpressionElimination(), before, after)
    assert result.counts == {"nodes_merged": 2, "constants_merged": 0}
    check_numerics(original, graph)


def test_explicit_default_attribute_equals_an_absent_one():
    before = """graph main(%x: f32[N,3]) {
      %a: f32[N,3] = LeakyRelu(%x)
      %b: f32[N,3] = LeakyRelu(%x) {alpha=0.01}
      %c: f32[N,3] = LeakyRelu(%x) {alpha=0.2}
      return %a, %b, %c
    }"""
    after = """graph main(%x: f32[N,3]) {
      %a: f32[N,3] = LeakyRelu(%x)
      %c: f32[N,3] = LeakyRelu(%x) {alpha=0.2}
      return %a, %a as "b", %c
    }"""
    original, graph, _ = check_rewrite(CommonSubexpressionElimination(), before, after)
    assert graph.output_names == ["a", "b", "c"]
    check_numerics(original, graph)


@pytest.mark.parametrize(("node", "swapped"), [
    ("Add(%x, %y)", "Add(%y, %x)"),
    ("Mul(%x, %y)", "Mul(%y, %x)"),
    ("Max(%x, %y, %x)", "Max(%x, %x, %y)"),
    ("Min(%y, %x)", "Min(%x, %y)"),
    ("Sum(%x, %y)", "Sum(%y, %x)"),
    ("Mean(%x, %y)", "Mean(%y, %x)"),
])
def test_commutative_ops_match_in_any_order(node: str, swapped: str):
    before = f"""graph main(%x: f32[N,3], %y: f32[3]) {{
      %a: f32[N,3] = {node}
      %b: f32[N,3] = {swapped}
      %d: f32[N,3] = Sub(%a, %b)
      return %d
    }}"""
    after = f"""graph main(%x: f32[N,3], %y: f32[3]) {{
      %a: f32[N,3] = {node}
      %d: f32[N,3] = Sub(%a, %a)
      return %d
    }}"""
    original, graph, _ = check_rewrite(CommonSubexpressionElimination(), before, after)
    check_numerics(original, graph)


@pytest.mark.parametrize(("x_type", "node", "swapped"), [
    ("bool[4]", "And(%x, %y)", "And(%y, %x)"),
    ("bool[4]", "Xor(%x, %y)", "Xor(%y, %x)"),
    ("i32[4]", "BitwiseOr(%x, %y)", "BitwiseOr(%y, %x)"),
])
def test_commutative_logic_and_bitwise_ops(x_type: str, node: str, swapped: str):
    before = f"""graph main(%x: {x_type}, %y: {x_type}) {{
      %a: {x_type} = {node}
      %b: {x_type} = {swapped}
      return %a, %b
    }}"""
    after = f"""graph main(%x: {x_type}, %y: {x_type}) {{
      %a: {x_type} = {node}
      return %a, %a as "b"
    }}"""
    original, graph, _ = check_rewrite(CommonSubexpressionElimination(), before, after)
    check_numerics(original, graph)


@pytest.mark.parametrize(("node", "other"), [
    ("Sub(%x, %y)", "Sub(%y, %x)"),  # not commutative
    ("Sum(%x, %y, %z)", "Sum(%z, %y, %x)"),  # three float terms round differently in another order
    ("Relu(%x)", "Relu(%y)"),
    ("RandomUniformLike(%x)", "RandomUniformLike(%x)"),  # random ops are never merged
    ("custom::Stateful(%x)", "custom::Stateful(%x)"),  # unknown ops may have side effects
])
def test_different_or_unmergeable_nodes_stay(node: str, other: str):
    check_unchanged(CommonSubexpressionElimination(), f"""graph main(%x: f32[3], %y: f32[3], %z: f32[3]) {{
      %a: f32[3] = {node}
      %b: f32[3] = {other}
      return %a, %b
    }}""")


def test_multi_output_nodes_merge_when_the_same_outputs_exist():
    before = """graph main(%x: f32[N,4]) {
      %k: i64[1] = const [2]
      %v1: f32[N,2], %i1: i64[N,2] = TopK(%x, %k) {axis=1}
      %v2: f32[N,2], %i2: i64[N,2] = TopK(%x, %k) {axis=1}
      %y1: f32[N,4], %m1: bool[N,4] = Dropout(%x)
      %y2: f32[N,4] = Dropout(%x)
      return %v1, %i2, %y1, %y2, %m1
    }"""
    after = """graph main(%x: f32[N,4]) {
      %k: i64[1] = const [2]
      %v1: f32[N,2], %i1: i64[N,2] = TopK(%x, %k) {axis=1}
      %y1: f32[N,4], %m1: bool[N,4] = Dropout(%x)
      %y2: f32[N,4] = Dropout(%x)
      return %v1, %i1 as "i2", %y1, %y2, %m1
    }"""
    original, graph, _ = check_rewrite(CommonSubexpressionElimination(), before, after)
    check_numerics(original, graph)


def test_identical_constants_merge_by_dtype_shape_and_content():
    before = """graph main(%x: f32[2]) {
      %a: f32[2] = const [1.0, 2.0]
      %b: f32[2] = const [1.0, 2.0]
      %c: f32[1,2] = const [[1.0, 2.0]]
      %d: f64[2] = const [1.0, 2.0]
      %e: f32[2] = const [1.0, 3.0]
      %s1: f32[2] = Add(%x, %a)
      %s2: f32[2] = Add(%x, %b)
      %s3: f32[1,2] = Add(%x, %c)
      %cd: f32[2] = Cast(%d) {to=1}
      %s4: f32[2] = Add(%cd, %e)
      return %s1, %s2, %s3, %s4
    }"""
    after = """graph main(%x: f32[2]) {
      %a: f32[2] = const [1.0, 2.0]
      %c: f32[1,2] = const [[1.0, 2.0]]
      %d: f64[2] = const [1.0, 2.0]
      %e: f32[2] = const [1.0, 3.0]
      %s1: f32[2] = Add(%x, %a)
      %s3: f32[1,2] = Add(%x, %c)
      %cd: f32[2] = Cast(%d) {to=1}
      %s4: f32[2] = Add(%cd, %e)
      return %s1, %s1 as "s2", %s3, %s4
    }"""
    original, graph, result = check_rewrite(CommonSubexpressionElimination(), before, after)
    assert result.counts == {"nodes_merged": 1, "constants_merged": 1}
    check_numerics(original, graph)


def test_large_constants_merge_by_content():
    data = np.arange(1000, dtype=np.float32)
    text = """graph main(%x: f32[1000]) {
      %a: f32[1000] = const <elided>
      %b: f32[1000] = const <elided>
      %c: f32[1000] = const <elided>
      %s: f32[1000] = Add(%x, %a)
      %t: f32[1000] = Mul(%s, %b)
      %u: f32[1000] = Sub(%t, %c)
      return %u
    }"""
    from graphopt.ir import parse

    g = parse(text, constants={"a": data, "b": data.copy(), "c": data + 1})
    result = CommonSubexpressionElimination()(g)
    assert result.counts["constants_merged"] == 1
    assert [c.name for c in g.constants] == ["a", "c"]
    assert [n.inputs[1].name for n in g] == ["a", "a", "c"]


def test_subgraph_reuses_outer_nodes_and_constants():
    before = """graph main(%x: f32[N,3], %c: bool[]) {
      %two: f32[] = const 2.0
      %r: f32[N,3] = Relu(%x)
      %z: f32[N,3] = If(%c) {else_branch=graph e() {
          %r2: f32[N,3] = Relu(%x)
          %t2: f32[] = const 2.0
          %m: f32[N,3] = Mul(%r2, %t2)
          return %m
        }, then_branch=graph t() {
          %n: f32[N,3] = Neg(%r)
          return %n
        }}
      %m3: f32[N,3] = Mul(%r, %two)
      %o: f32[N,3] = Add(%z, %m3)
      return %o
    }"""
    after = """graph main(%x: f32[N,3], %c: bool[]) {
      %two: f32[] = const 2.0
      %r: f32[N,3] = Relu(%x)
      %z: f32[N,3] = If(%c) {else_branch=graph e() {
          %m: f32[N,3] = Mul(%r, %two)
          return %m
        }, then_branch=graph t() {
          %n: f32[N,3] = Neg(%r)
          return %n
        }}
      %m3: f32[N,3] = Mul(%r, %two)
      %o: f32[N,3] = Add(%z, %m3)
      return %o
    }"""
    original, graph, result = check_rewrite(CommonSubexpressionElimination(), before, after)
    assert result.counts == {"nodes_merged": 1, "constants_merged": 1}
    for c in (False, True):
        check_numerics(original, graph, inputs={"x": np.arange(6, dtype=np.float32).reshape(2, 3) - 3,
                                                "c": np.array(c)})


IFS = """graph main(%x: f32[3], %y: f32[3], %c: bool[]) {{
  %a: f32[3] = If(%c) {{else_branch=graph e() {{
      %n: f32[3] = Neg(%x)
      return %n
    }}, then_branch=graph t() {{
      return %y
    }}}}
  %b: f32[3] = If(%c) {{else_branch=graph e2() {{
      %n2: f32[3] = Neg({else_reads})
      return %n2
    }}, then_branch=graph t2() {{
      return %y
    }}}}
  %d: f32[3] = Sub(%a, %b)
  return %d
}}"""


def test_nodes_with_equal_subgraphs_merge():
    after = """graph main(%x: f32[3], %y: f32[3], %c: bool[]) {
      %a: f32[3] = If(%c) {else_branch=graph e() {
          %n: f32[3] = Neg(%x)
          return %n
        }, then_branch=graph t() {
          return %y
        }}
      %d: f32[3] = Sub(%a, %a)
      return %d
    }"""
    original, graph, _ = check_rewrite(CommonSubexpressionElimination(), IFS.format(else_reads="%x"), after)
    for c in (False, True):
        check_numerics(original, graph, inputs={"x": np.ones(3, np.float32), "y": np.zeros(3, np.float32),
                                                "c": np.array(c)})


def test_subgraphs_reading_different_outer_values_do_not_merge():
    check_unchanged(CommonSubexpressionElimination(), IFS.format(else_reads="%y"))


def test_clean_graph_is_not_modified():
    result = check_unchanged(CommonSubexpressionElimination(), """graph main(%x: f32[3]) {
      %one: f32[] = const 1.0
      %a: f32[3] = Add(%x, %one)
      %b: f32[3] = Sub(%x, %one)
      return %a, %b
    }""")
    assert result.counts == {"nodes_merged": 0, "constants_merged": 0}
