"""dce: dead nodes and constants (also in subgraphs), unused control-flow outputs, constant-condition If."""

from __future__ import annotations

import numpy as np
import pytest

import graphopt
from graphopt.ir import parse
from graphopt.passes.pre.dce import DeadCodeElimination
from tests.passes.util import check_numerics, check_rewrite, check_unchanged


def test_removes_dead_nodes_and_constants_but_keeps_inputs():
    before = """graph main(%x: f32[N,3], %unused_input: f32[2]) {
      %k: f32[3] = const [1.0, 2.0, 3.0]
      %never: i64[1] = const [2]
      %y: f32[N,3] = Add(%x, %k)
      %dead: f32[N,3] = Relu(%y)
      %noise: f32[N,3] = Sigmoid(%dead)
      %v: f32[N,2], %i: i64[N,2] = TopK(%dead, %never) {axis=1}
      return %y
    }"""
    after = """graph main(%x: f32[N,3], %unused_input: f32[2]) {
      %k: f32[3] = const [1.0, 2.0, 3.0]
      %y: f32[N,3] = Add(%x, %k)
      return %y
    }"""
    original, graph, result = check_rewrite(DeadCodeElimination(), before, after)
    assert result.counts == {"nodes_removed": 3, "constants_removed": 1, "outputs_removed": 0, "ifs_inlined": 0}
    check_numerics(original, graph)


@pytest.mark.parametrize("random", ["RandomNormalLike(%x)", "RandomUniformLike(%x)", "Bernoulli(%x)",
                                    "RandomNormal() {shape=[3]}"])
def test_dead_random_ops_are_removed(random: str):
    check_rewrite(DeadCodeElimination(), f"""graph main(%x: f32[3]) {{
      %r = {random}
      return %x
    }}""", """graph main(%x: f32[3]) {
      return %x
    }""")


def test_clean_graph_is_not_modified():
    check_unchanged(DeadCodeElimination(), """graph main(%x: f32[N,3], %c: bool[]) {
      %y: f32[N,3] = Relu(%x)
      %z: f32[N,3] = If(%c) {else_branch=graph e() {
          return %x
        }, then_branch=graph t() {
          %s: f32[N,3] = Sigmoid(%y)
          return %s
        }}
      return %z, %y
    }""")


def test_unknown_ops_are_kept():
    check_unchanged(DeadCodeElimination(), """graph main(%x: f32[3]) {
      %log: f32[3] = custom.io::Print(%x)
      return %x
    }""")


def test_dead_code_inside_subgraphs():
    before = """graph main(%x: f32[N,3], %c: bool[]) {
      %y: f32[N,3] = Relu(%x)
      %z: f32[N,3] = If(%c) {else_branch=graph e() {
          %two: f32[] = const 2.0
          %d: f32[N,3] = Mul(%y, %two)
          return %x
        }, then_branch=graph t() {
          %s: f32[N,3] = Sigmoid(%y)
          %unused: f32[N,3] = Exp(%s)
          return %s
        }}
      return %z
    }"""
    after = """graph main(%x: f32[N,3], %c: bool[]) {
      %y: f32[N,3] = Relu(%x)
      %z: f32[N,3] = If(%c) {else_branch=graph e() {
          return %x
        }, then_branch=graph t() {
          %s: f32[N,3] = Sigmoid(%y)
          return %s
        }}
      return %z
    }"""
    original, graph, result = check_rewrite(DeadCodeElimination(), before, after)
    assert result.counts["nodes_removed"] == 2 and result.counts["constants_removed"] == 1
    check_numerics(original, graph, inputs={"x": np.ones((2, 3), np.float32), "c": np.array(False)})
    check_numerics(original, graph, inputs={"x": np.ones((2, 3), np.float32), "c": np.array(True)})


def test_dead_if_releases_the_outer_values_its_branches_return():
    before = """graph main(%x: f32[3], %c: bool[]) {
      %y: f32[3] = Relu(%x)
      %z: f32[3] = If(%c) {else_branch=graph e() {
          return %y
        }, then_branch=graph t() {
          return %x
        }}
      return %x as "out"
    }"""
    after = """graph main(%x: f32[3], %c: bool[]) {
      return %x as "out"
    }"""
    check_rewrite(DeadCodeElimination(), before, after)


def test_unused_if_outputs_are_dropped_from_the_node_and_both_branches():
    before = """graph main(%x: f32[N,3], %c: bool[]) {
      %a: f32[N,3], %b: f32[N,3] = If(%c) {else_branch=graph e() {
          %n: f32[N,3] = Neg(%x)
          %e: f32[N,3] = Exp(%x)
          return %n, %e
        }, then_branch=graph t() {
          %s: f32[N,3] = Sigmoid(%x)
          %r: f32[N,3] = Relu(%x)
          return %s, %r
        }}
      return %b
    }"""
    after = """graph main(%x: f32[N,3], %c: bool[]) {
      %b: f32[N,3] = If(%c) {else_branch=graph e() {
          %e: f32[N,3] = Exp(%x)
          return %e
        }, then_branch=graph t() {
          %r: f32[N,3] = Relu(%x)
          return %r
        }}
      return %b
    }"""
    original, graph, result = check_rewrite(DeadCodeElimination(), before, after)
    assert result.counts["outputs_removed"] == 1 and result.counts["nodes_removed"] == 2
    for c in (False, True):
        check_numerics(original, graph, inputs={"x": np.ones((2, 3), np.float32), "c": np.array(c)})


def test_unused_loop_scan_outputs_are_dropped_but_carried_values_stay():
    before = """graph main(%x: f32[3]) {
      %n: i64[] = const 4
      %yes: bool[] = const true
      %final: f32[3], %s1: f32[4,3], %s2: f32[4,3] = Loop(%n, %yes, %x) {body=graph body(
          %i: i64[], %cond: bool[], %acc: f32[3]) {
          %next: f32[3] = Add(%acc, %x)
          %sq: f32[3] = Mul(%next, %next)
          %neg: f32[3] = Neg(%next)
          return %cond, %next, %sq, %neg
        }}
      return %s2
    }"""
    after = """graph main(%x: f32[3]) {
      %n: i64[] = const 4
      %yes: bool[] = const true
      %final: f32[3], %s2: f32[4,3] = Loop(%n, %yes, %x) {body=graph body(
          %i: i64[], %cond: bool[], %acc: f32[3]) {
          %next: f32[3] = Add(%acc, %x)
          %neg: f32[3] = Neg(%next)
          return %cond, %next, %neg
        }}
      return %s2
    }"""
    original, graph, result = check_rewrite(DeadCodeElimination(), before, after)
    assert result.counts["outputs_removed"] == 1
    check_numerics(original, graph)


def test_unused_scan_outputs_are_dropped_with_their_axes():
    before = """graph main(%init: f32[2], %xs: f32[5,2]) {
      %last: f32[2], %ys: f32[5,2], %zs: f32[2,5] = Scan(%init, %xs) {body=graph body(%acc: f32[2], %x: f32[2]) {
          %sum: f32[2] = Add(%acc, %x)
          %twice: f32[2] = Add(%sum, %sum)
          return %sum, %twice, %sum
        }, num_scan_inputs=1, scan_output_axes=[0, 1], scan_output_directions=[1, 0]}
      return %zs, %last
    }"""
    after = """graph main(%init: f32[2], %xs: f32[5,2]) {
      %last: f32[2], %zs: f32[2,5] = Scan(%init, %xs) {body=graph body(%acc: f32[2], %x: f32[2]) {
          %sum: f32[2] = Add(%acc, %x)
          return %sum, %sum
        }, num_scan_inputs=1, scan_output_axes=[1], scan_output_directions=[0]}
      return %zs, %last
    }"""
    original, graph, _ = check_rewrite(DeadCodeElimination(), before, after)
    check_numerics(original, graph)


IF_CONST = """graph main(%x: f32[N,3]) {{
  %cond: bool[] = const {cond}
  %k: f32[3] = const [1.0, 2.0, 3.0]
  %y: f32[N,3] = Add(%x, %k)
  %z: f32[N,3], %w: f32[N,3] = If(%cond) {{else_branch=graph e() {{
      %two: f32[] = const 2.0
      %m: f32[N,3] = Mul(%y, %two)
      return %m, %x
    }}, then_branch=graph t() {{
      %s: f32[N,3] = Sigmoid(%y)
      %unused: f32[N,3] = Exp(%s)
      return %s, %y
    }}}}
  %out: f32[N,3] = Sub(%z, %w)
  return %out, %z as "branch"
}}"""


@pytest.mark.parametrize(("cond", "after"), [
    ("true", """graph main(%x: f32[N,3]) {
      %k: f32[3] = const [1.0, 2.0, 3.0]
      %y: f32[N,3] = Add(%x, %k)
      %s: f32[N,3] = Sigmoid(%y)
      %out: f32[N,3] = Sub(%s, %y)
      return %out, %s as "branch"
    }"""),
    ("false", """graph main(%x: f32[N,3]) {
      %k: f32[3] = const [1.0, 2.0, 3.0]
      %two: f32[] = const 2.0
      %y: f32[N,3] = Add(%x, %k)
      %m: f32[N,3] = Mul(%y, %two)
      %out: f32[N,3] = Sub(%m, %x)
      return %out, %m as "branch"
    }"""),
])
def test_if_with_a_constant_condition_is_inlined(cond: str, after: str):
    original, graph, result = check_rewrite(DeadCodeElimination(), IF_CONST.format(cond=cond), after)
    assert result.counts["ifs_inlined"] == 1
    assert graph.output_names == ["out", "branch"]
    check_numerics(original, graph)


def test_inlined_if_keeps_interface_values_apart():
    before = """graph main(%x: f32[3]) {
      %cond: bool[] = const [false]
      %z: f32[3] = If(%cond) {else_branch=graph e() {
          return %x
        }, then_branch=graph t() {
          %r: f32[3] = Relu(%x)
          return %r
        }}
      return %z
    }"""
    after = """graph main(%x: f32[3]) {
      %z: f32[3] = Identity(%x)
      return %z
    }"""
    original, graph, _ = check_rewrite(DeadCodeElimination(), before, after)
    assert graph.output_names == ["z"]
    assert [o.name for o in graphopt.to_onnx(graph).graph.output] == ["z"]
    check_numerics(original, graph)


def test_nested_constant_ifs_inside_a_subgraph_are_inlined():
    before = """graph main(%x: f32[3], %c: bool[]) {
      %yes: bool[] = const true
      %z: f32[3] = If(%c) {else_branch=graph e() {
          return %x
        }, then_branch=graph t() {
          %inner: f32[3] = If(%yes) {else_branch=graph e2() {
              %n: f32[3] = Neg(%x)
              return %n
            }, then_branch=graph t2() {
              %one: f32[] = const 1.0
              %p: f32[3] = Add(%x, %one)
              return %p
            }}
          %q: f32[3] = Relu(%inner)
          return %q
        }}
      return %z
    }"""
    after = """graph main(%x: f32[3], %c: bool[]) {
      %z: f32[3] = If(%c) {else_branch=graph e() {
          return %x
        }, then_branch=graph t() {
          %one: f32[] = const 1.0
          %p: f32[3] = Add(%x, %one)
          %q: f32[3] = Relu(%p)
          return %q
        }}
      return %z
    }"""
    original, graph, _ = check_rewrite(DeadCodeElimination(), before, after)
    for c in (False, True):
        check_numerics(original, graph, inputs={"x": np.arange(3, dtype=np.float32) - 1, "c": np.array(c)})


def test_runs_by_name_in_a_pipeline():
    g = parse("""graph main(%x: f32[3]) {
      %d: f32[3] = Relu(%x)
      %y: f32[3] = Neg(%x)
      return %y
    }""")
    out = graphopt.optimize(g, "dce")
    assert len(out) == 1 and len(g) == 2
