"""fuse-slices: each Split/Slice/Concat chain rule before/after and bit-exact in ONNX Runtime, and its refusals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphopt
from graphopt.ir import DType, Graph, TensorType, Value, infer_node, parse
from graphopt.ir.verifier import verify
from graphopt.passes.optimize.fuse_slices import FuseSlices
from graphopt.passes.optimize.slice_math import AxisSlice, is_ambiguous
from tests.passes.util import check_numerics, check_rewrite, check_unchanged

BIG = 9223372036854775807

REWRITES = [
    ("split-then-concat-in-order-is-identity", """
graph main(%x: f32[N,6]) {
  %sizes: i64[2] = const [2, 4]
  %r: f32[N,6] = Relu(%x)
  %a: f32[N,2], %b: f32[N,4] = Split(%r, %sizes) {axis=1}
  %c: f32[N,6] = Concat(%a, %b) {axis=-1}
  %y: f32[N,6] = Tanh(%c)
  return %y
}""", """
graph main(%x: f32[N,6]) {
  %sizes: i64[2] = const [2, 4]
  %r: f32[N,6] = Relu(%x)
  %y: f32[N,6] = Tanh(%r)
  return %y
}"""),
    ("adjacent-slices-become-one-slice", """
graph main(%x: f32[N,8]) {
  %s0: i64[1] = const [0]
  %e0: i64[1] = const [2]
  %s1: i64[1] = const [-6]
  %e1: i64[1] = const [5]
  %ax: i64[1] = const [1]
  %a: f32[N,2] = Slice(%x, %s0, %e0, %ax)
  %b: f32[N,3] = Slice(%x, %s1, %e1, %ax)
  %c: f32[N,5] = Concat(%a, %b) {axis=1}
  return %c
}""", """
graph main(%x: f32[N,8]) {
  %s0: i64[1] = const [0]
  %e0: i64[1] = const [2]
  %s1: i64[1] = const [-6]
  %e1: i64[1] = const [5]
  %ax: i64[1] = const [1]
  %0: i64[1] = const [0]
  %1: i64[1] = const [5]
  %2: i64[1] = const [1]
  %c: f32[N,5] = Slice(%x, %0, %1, %2)
  return %c
}"""),
    ("part-of-a-split-and-another-input", """
graph main(%x: f32[8,N], %z: f32[3,N]) {
  %sizes: i64[3] = const [2, 2, 4]
  %s0: f32[2,N], %s1: f32[2,N], %s2: f32[4,N] = Split(%x, %sizes) {axis=0}
  %c: f32[9,N] = Concat(%s1, %s2, %z) {axis=0}
  return %c, %s0
}""", """
graph main(%x: f32[8,N], %z: f32[3,N]) {
  %sizes: i64[3] = const [2, 2, 4]
  %s0: f32[2,N], %s1: f32[2,N], %s2: f32[4,N] = Split(%x, %sizes) {axis=0}
  %0: i64[1] = const [2]
  %1: i64[1] = const [8]
  %2: i64[1] = const [0]
  %t: f32[6,N] = Slice(%x, %0, %1, %2)
  %c: f32[9,N] = Concat(%t, %z) {axis=0}
  return %c, %s0
}"""),
    ("nested-concats-flatten-then-slices-merge", f"""
graph main(%x: f32[2,9], %z: f32[2,1]) {{
  %r: f32[2,9] = Relu(%x)
  %s0: i64[1] = const [0]
  %e0: i64[1] = const [4]
  %e1: i64[1] = const [{BIG}]
  %ax: i64[1] = const [-1]
  %a: f32[2,4] = Slice(%r, %s0, %e0, %ax)
  %b: f32[2,5] = Slice(%r, %e0, %e1, %ax)
  %inner: f32[2,5] = Concat(%z, %a) {{axis=1}}
  %c: f32[2,10] = Concat(%inner, %b) {{axis=-1}}
  %y: f32[2,10] = Neg(%c)
  return %y
}}""", f"""
graph main(%x: f32[2,9], %z: f32[2,1]) {{
  %r: f32[2,9] = Relu(%x)
  %s0: i64[1] = const [0]
  %e0: i64[1] = const [4]
  %e1: i64[1] = const [{BIG}]
  %ax: i64[1] = const [-1]
  %c: f32[2,10] = Concat(%z, %r) {{axis=-1}}
  %y: f32[2,10] = Neg(%c)
  return %y
}}"""),
    ("split-of-concat-at-its-seams", """
graph main(%a: f32[N,2], %b: f32[N,3], %c: f32[N,1]) {
  %sizes: i64[2] = const [5, 1]
  %cat: f32[N,6] = Concat(%a, %b, %c) {axis=1}
  %p: f32[N,5], %q: f32[N,1] = Split(%cat, %sizes) {axis=1}
  %y: f32[N,1] = Relu(%q)
  return %p, %y
}""", """
graph main(%a: f32[N,2], %b: f32[N,3], %c: f32[N,1]) {
  %sizes: i64[2] = const [5, 1]
  %p: f32[N,5] = Concat(%a, %b) {axis=1}
  %y: f32[N,1] = Relu(%c)
  return %p, %y
}"""),
    ("slice-inside-one-concat-input", """
graph main(%a: f32[2,N], %b: f32[4,N]) {
  %s: i64[1] = const [3]
  %e: i64[1] = const [5]
  %ax: i64[1] = const [0]
  %cat: f32[6,N] = Concat(%a, %b) {axis=0}
  %y: f32[2,N] = Slice(%cat, %s, %e, %ax)
  return %y
}""", """
graph main(%a: f32[2,N], %b: f32[4,N]) {
  %s: i64[1] = const [3]
  %e: i64[1] = const [5]
  %ax: i64[1] = const [0]
  %0: i64[1] = const [1]
  %1: i64[1] = const [3]
  %2: i64[1] = const [0]
  %y: f32[2,N] = Slice(%b, %0, %1, %2)
  return %y
}"""),
    ("slice-drops-axes-it-takes-whole", f"""
graph main(%x: f32[4,6,N]) {{
  %s: i64[3] = const [0, 1, 0]
  %e: i64[3] = const [{BIG}, 3, {BIG}]
  %ax: i64[3] = const [0, 1, 2]
  %y: f32[4,2,N] = Slice(%x, %s, %e, %ax)
  return %y
}}""", f"""
graph main(%x: f32[4,6,N]) {{
  %s: i64[3] = const [0, 1, 0]
  %e: i64[3] = const [{BIG}, 3, {BIG}]
  %ax: i64[3] = const [0, 1, 2]
  %0: i64[1] = const [1]
  %1: i64[1] = const [3]
  %2: i64[1] = const [1]
  %y: f32[4,2,N] = Slice(%x, %0, %1, %2)
  return %y
}}"""),
]


@pytest.mark.parametrize(("before", "after"), [pytest.param(*c[1:], id=c[0]) for c in REWRITES])
def test_rewrite(before: str, after: str) -> None:
    original, result, report = check_rewrite(FuseSlices(), before, after)
    assert report.counts["rules_fired"] > 0
    check_numerics(original, result)


SLICES = """
graph main(%x: f32[N,8], %w: f32[N,8]) {{
  %s0: i64[1] = const [0]
  %e0: i64[1] = const [2]
  %s1: i64[1] = const [{s1}]
  %e1: i64[1] = const [5]
  %ax: i64[1] = const [1]
  %p: i64[1] = const [{step}]
  %a: f32[N,2] = Slice(%x, %s0, %e0, %ax)
  %b: f32[N,{n}] = Slice(%{src}, %s1, %e1, %ax, %p)
  %c: f32[N,{m}] = Concat(%a, %b) {{axis=1}}
  return %c
}}"""

REFUSALS = [
    ("a-gap-between-slices", SLICES.format(s1=3, step=1, src="x", n=2, m=4), "concat-slices",
     "no two adjacent inputs are contiguous pieces of one tensor"),
    ("slices-of-two-tensors", SLICES.format(s1=2, step=1, src="w", n=3, m=5), "concat-slices",
     "no two adjacent inputs are contiguous pieces of one tensor"),
    ("a-strided-slice", SLICES.format(s1=2, step=2, src="x", n=2, m=4), "concat-slices", "Slice steps by 2"),
    ("symbolic-axis-length", """
graph main(%x: f32[2,M]) {
  %s0: i64[1] = const [0]
  %e0: i64[1] = const [2]
  %e1: i64[1] = const [4]
  %ax: i64[1] = const [1]
  %a: f32[2,2] = Slice(%x, %s0, %e0, %ax)
  %b: f32[2,2] = Slice(%x, %e0, %e1, %ax)
  %c: f32[2,4] = Concat(%a, %b) {axis=1}
  return %c
}""", "concat-slices", "Slice cuts axis 1, whose length is not static"),
    ("split-along-another-axis", """
graph main(%x: f32[4,6]) {
  %a: f32[2,6], %b: f32[2,6] = Split(%x) {axis=0, num_outputs=2}
  %c: f32[2,12] = Concat(%a, %b) {axis=1}
  return %c
}""", "concat-slices", "a piece along axis 0, not 1"),
    ("graph-input-would-become-an-output", """
graph main(%x: f32[4,6]) {
  %a: f32[4,2], %b: f32[4,4] = Split(%x) {axis=1, split=[2, 4]}
  %c: f32[4,6] = Concat(%a, %b) {axis=1}
  return %c
}""", "concat-slices", "would merge two graph interface values"),
    ("a-reversed-slice-starting-before-the-axis", """
graph main(%x: f32[2,4]) {
  %s0: i64[1] = const [-9]
  %e0: i64[1] = const [-9]
  %m1: i64[1] = const [-1]
  %one: i64[1] = const [1]
  %big: i64[1] = const [100]
  %a: f32[2,0] = Slice(%x, %s0, %e0, %one, %m1)
  %b: f32[2,3] = Slice(%x, %one, %big, %one)
  %c: f32[2,3] = Concat(%a, %b) {axis=1}
  return %c
}""", "concat-slices", "which runtimes read differently"),
    ("a-reversed-slice-to-int64-max", """
graph main(%x: f32[2,4]) {
  %zero: i64[1] = const [0]
  %big: i64[1] = const [9223372036854775807]
  %m1: i64[1] = const [-1]
  %one: i64[1] = const [1]
  %a: f32[2,0] = Slice(%x, %zero, %big, %one, %m1)
  %b: f32[2,3] = Slice(%x, %one, %big, %one)
  %c: f32[2,3] = Concat(%b, %a) {axis=1}
  return %c
}""", "concat-slices", "which runtimes read differently"),
    ("split-cuts-inside-a-concat-input", """
graph main(%a: f32[N,2], %b: f32[N,3]) {
  %sizes: i64[2] = const [1, 4]
  %cat: f32[N,5] = Concat(%a, %b) {axis=1}
  %p: f32[N,1], %q: f32[N,4] = Split(%cat, %sizes) {axis=1}
  return %p, %q
}""", "split-concat", "the Split cuts at 1, inside a Concat input"),
    ("slice-spans-two-concat-inputs", """
graph main(%a: f32[2,N], %b: f32[4,N]) {
  %s: i64[1] = const [1]
  %e: i64[1] = const [5]
  %ax: i64[1] = const [0]
  %cat: f32[6,N] = Concat(%a, %b) {axis=0}
  %y: f32[4,N] = Slice(%cat, %s, %e, %ax)
  return %y
}""", "slice-of-concat", "the Slice spans more than one Concat input"),
    ("slice-cuts-every-axis-it-names", """
graph main(%x: f32[4,6]) {
  %s: i64[2] = const [1, 1]
  %e: i64[2] = const [3, 3]
  %ax: i64[2] = const [0, 1]
  %y: f32[2,2] = Slice(%x, %s, %e, %ax)
  return %y
}""", "slice-whole-axes", "no axis is taken whole"),
]


@pytest.mark.parametrize(("text", "rule", "reason"), [pytest.param(*c[1:], id=c[0]) for c in REFUSALS])
def test_refusal(text: str, rule: str, reason: str) -> None:
    p = FuseSlices()
    check_unchanged(p, text)
    refused = p.last_report.rule(rule).refused
    assert any(reason in r for r in refused), f"{rule} refusals: {dict(refused)}"


def test_o2_runs_fuse_slices_and_records_provenance() -> None:
    g = parse(REWRITES[2][1])
    out = graphopt.optimize(g, "O2")
    (slice_node,) = [n for n in out if n.op == "Slice"]
    assert slice_node.provenance.creator == "concat-slices"
    check_numerics(g, out)


# -- property: random Split/Slice/Concat chains keep their values exactly ------------------------------


def _add(g: Graph, op_type: str, inputs: list[Value], attrs: dict[str, int] | None = None, outputs: int = 1
         ) -> list[Value]:
    node = g.add(op_type, inputs, attrs, num_outputs=outputs)
    for out, t in zip(node.outputs, infer_node(node), strict=True):
        out.type = t
    return node.outputs


@st.composite
def slice_chains(draw: st.DrawFn) -> Graph:
    """A random graph of Slices (any start, end and step, including negative and out-of-range ones),
    Splits and Concats over one static 2-D input; its last few values are the outputs."""
    g = Graph()
    x = Value(TensorType(DType.FLOAT, (draw(st.integers(2, 6)), draw(st.integers(2, 6)))), "x")
    g.inputs.append(x)
    pool = _add(g, "Relu", [x])
    index = st.integers(-8, 8) | st.sampled_from([BIG, -BIG - 1])
    for _ in range(draw(st.integers(2, 7))):
        v = draw(st.sampled_from(pool))
        axis = draw(st.integers(0, 1))
        kind = draw(st.sampled_from(["slice", "slice", "split", "concat", "concat"]))
        if kind == "slice":
            params = [draw(index), draw(index), axis, draw(st.sampled_from([1, 1, 2, -1]))]
            if is_ambiguous(params[0], params[1], params[3], v.shape[axis]):
                params[:2] = [BIG, -BIG - 1]  # runtimes disagree on those (see the refusals); a full reversal
            outs = _add(g, "Slice", [v, *(g.add_constant(np.array([p], np.int64)) for p in params)])
        elif kind == "split" and v.shape[axis] >= 2:
            cut = draw(st.integers(1, v.shape[axis] - 1))
            sizes = g.add_constant(np.array([cut, v.shape[axis] - cut], np.int64))
            outs = _add(g, "Split", [v, sizes], {"axis": axis}, outputs=2)
        else:
            same = [w for w in pool if w.shape[1 - axis] == v.shape[1 - axis]]
            parts = draw(st.lists(st.sampled_from(same), min_size=1, max_size=4))
            outs = _add(g, "Concat", [v, *parts], {"axis": draw(st.sampled_from([axis, axis - 2]))})
        pool += outs
    g.outputs = list(dict.fromkeys(pool[-3:]))
    return g


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(slice_chains())
def test_random_slice_chains_keep_their_values(graph: Graph) -> None:
    optimized = graphopt.optimize(graph, "infer-shapes,simplify,fuse-slices,eliminate-noops,dce")
    verify(optimized)
    x = np.arange(np.prod(graph.inputs[0].shape), dtype=np.float32).reshape(graph.inputs[0].shape) - 7
    for got, want in zip(graphopt.evaluate(optimized, [x]), graphopt.evaluate(graph, [x]), strict=True):
        np.testing.assert_array_equal(got, want)
    check_numerics(graph, optimized, inputs={"x": x})


def test_axis_slice_takes_what_numpy_takes_and_writes_it_back() -> None:
    for dim in range(6):
        x = np.arange(dim)
        for start in [*range(-8, 9), BIG, -BIG - 1]:
            for end in [*range(-8, 9), BIG, -BIG - 1]:
                for step in (1, 2, 3, -1, -2):
                    if is_ambiguous(start, end, step, dim):
                        continue
                    taken = AxisSlice.of(start, end, step, dim)
                    want = x[start:end:step]
                    got = taken.first + taken.step * np.arange(taken.count)
                    np.testing.assert_array_equal(got, want, err_msg=f"{dim=} {start=} {end=} {step=}")
                    np.testing.assert_array_equal(x[slice(*taken.params())], want)
