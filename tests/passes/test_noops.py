"""eliminate-noops: every kind of no-op it removes, and every refusal with its reason."""

from __future__ import annotations

import numpy as np
import pytest

from graphopt.ir import parse
from graphopt.passes.pre.noops import INPUT_TYPE_REASON, INTERFACE_REASON, EliminateNoops
from tests.passes.util import check_numerics, check_rewrite, check_unchanged

BIG = 9223372036854775807

NOOPS = {
    # name: (input type of %x, constants, the node computing %y from %x)
    "identity": ("f32[N,3]", "", "Identity(%x)"),
    "dropout": ("f32[N,3]", "", "Dropout(%x)"),
    "dropout-inference": ("f32[N,3]", "%r: f32[] = const 0.5\n%t: bool[] = const false", "Dropout(%x, %r, %t)"),
    "cast": ("f32[N,3]", "", "Cast(%x) {to=1}"),
    "castlike": ("i64[N,3]", "%like: i64[] = const 0", "CastLike(%x, %like)"),
    "reshape": ("f32[N,3]", "%s: i64[2] = const [-1, 3]", "Reshape(%x, %s)"),
    "expand": ("f32[N,3]", "%s: i64[2] = const [1, 3]", "Expand(%x, %s)"),
    "flatten": ("f32[N,3]", "", "Flatten(%x) {axis=1}"),
    "slice": ("f32[N,3]", f"%b: i64[2] = const [0, -7]\n%e: i64[2] = const [{BIG}, 3]", "Slice(%x, %b, %e)"),
    "slice-steps": ("f32[2,3]", "%b: i64[1] = const [-2]\n%e: i64[1] = const [5]\n%a: i64[1] = const [0]\n"
                    "%one: i64[1] = const [1]", "Slice(%x, %b, %e, %a, %one)"),
    "pad": ("f32[N,3]", "%p: i64[4] = const [0, 0, 0, 0]", "Pad(%x, %p) {mode=\"reflect\"}"),
    "transpose": ("f32[N,3]", "", "Transpose(%x) {perm=[0, 1]}"),
    "transpose-rank-1": ("f32[N]", "", "Transpose(%x)"),
    "concat": ("f32[N,3]", "", "Concat(%x) {axis=1}"),
    "split": ("f32[N,3]", "", "Split(%x) {axis=1, num_outputs=1}"),
    "squeeze": ("f32[2,3]", "", "Squeeze(%x)"),
    "squeeze-empty-axes": ("f32[2,3]", "%a: i64[0] = const []", "Squeeze(%x, %a)"),
    "unsqueeze": ("f32[N,1,3]", "%a: i64[0] = const []", "Unsqueeze(%x, %a)"),
    "tile": ("f32[N,3]", "%r: i64[2] = const [1, 1]", "Tile(%x, %r)"),
    "resize-linear": ("f32[1,2,4,4]", "%s: f32[4] = const [1.0, 1.0, 1.0, 1.0]",
                      "Resize(%x, _, %s) {mode=\"linear\"}"),
    "resize-nearest": ("f32[1,2,4,4]", "%s: f32[4] = const [1.0, 1.0, 1.0, 1.0]",
                       "Resize(%x, _, %s) {coordinate_transformation_mode=\"asymmetric\", mode=\"nearest\"}"),
    "resize-sizes": ("f32[1,2,4,4]", "%sz: i64[2] = const [4, 4]",
                     "Resize(%x, _, _, %sz) {axes=[2, 3], coordinate_transformation_mode=\"align_corners\", "
                     "mode=\"linear\"}"),
    "where-true": ("f32[N,3]", "%c: bool[3] = const [true, true, true]\n%o: f32[] = const 0.0", "Where(%c, %x, %o)"),
    "where-false": ("f32[N,3]", "%c: bool[1,1] = const [[false]]\n%o: f32[] = const 0.0", "Where(%c, %o, %x)"),
}


def noop_graph(x_type: str, consts: str, node: str, y_type: str = "") -> str:
    """``%y = node`` feeding ``Neg`` (so %y is no graph output); without a node, ``Neg`` reads ``%x``."""
    y = f"%y{': ' + y_type if y_type else ''} = {node}\n" if node else ""
    return f"""graph main(%x: {x_type}) {{
      {consts}
      {y}%z: {x_type} = Neg(%{'y' if node else 'x'})
      return %z
    }}"""


@pytest.mark.parametrize("kind", NOOPS)
def test_noop_is_removed(kind: str):
    x_type, consts, node = NOOPS[kind]
    original, graph, result = check_rewrite(EliminateNoops(), noop_graph(x_type, consts, node, x_type),
                                            noop_graph(x_type, consts, ""))
    assert result.counts == {"rules_fired": 1}
    check_numerics(original, graph)


def test_dropout_mask_becomes_all_true():
    before = """graph main(%x: f32[N,3]) {
      %y: f32[N,3], %mask: bool[N,3] = Dropout(%x)
      %z: f32[N,3] = Neg(%y)
      %m: bool[N,3] = Not(%mask)
      return %z, %m
    }"""
    after = """graph main(%x: f32[N,3]) {
      %s: i64[2] = Shape(%x)
      %mask: bool[N,3] = ConstantOfShape(%s) {value=tensor bool[1] [true]}
      %z: f32[N,3] = Neg(%x)
      %m: bool[N,3] = Not(%mask)
      return %z, %m
    }"""
    original, graph, _ = check_rewrite(EliminateNoops(), before, after)
    check_numerics(original, graph)


def test_dropout_mask_of_a_static_shape_uses_a_constant_shape():
    before = """graph main(%x: f32[2,3]) {
      %r: f32[2,3] = Relu(%x)
      %y: f32[2,3], %mask: bool[2,3] = Dropout(%r)
      return %mask, %y
    }"""
    after = """graph main(%x: f32[2,3]) {
      %s: i64[2] = const [2, 3]
      %r: f32[2,3] = Relu(%x)
      %mask: bool[2,3] = ConstantOfShape(%s) {value=tensor bool[1] [true]}
      return %mask, %r as "y"
    }"""
    original, graph, _ = check_rewrite(EliminateNoops(), before, after)
    check_numerics(original, graph)


def test_noops_inside_subgraphs_and_chains():
    before = """graph main(%x: f32[N,3], %c: bool[]) {
      %r: f32[N,3] = Relu(%x)
      %z: f32[N,3] = If(%c) {else_branch=graph e() {
          %a: f32[N,3] = Identity(%r)
          %b: f32[N,3] = Identity(%a)
          return %b
        }, then_branch=graph t() {
          %d: f32[N,3] = Cast(%x) {to=1}
          %n: f32[N,3] = Neg(%d)
          return %n
        }}
      return %z
    }"""
    after = """graph main(%x: f32[N,3], %c: bool[]) {
      %r: f32[N,3] = Relu(%x)
      %z: f32[N,3] = If(%c) {else_branch=graph e() {
          return %r
        }, then_branch=graph t() {
          %n: f32[N,3] = Neg(%x)
          return %n
        }}
      return %z
    }"""
    original, graph, result = check_rewrite(EliminateNoops(), before, after)
    assert result.counts == {"rules_fired": 3}
    for c in (False, True):
        check_numerics(original, graph, inputs={"x": np.arange(6, dtype=np.float32).reshape(2, 3) - 3,
                                                "c": np.array(c)})


def test_output_that_is_a_graph_output_keeps_its_name():
    before = """graph main(%x: f32[3]) {
      %r: f32[3] = Relu(%x)
      %y: f32[3] = Identity(%r)
      return %y
    }"""
    after = """graph main(%x: f32[3]) {
      %r: f32[3] = Relu(%x)
      return %r as "y"
    }"""
    _, graph, _ = check_rewrite(EliminateNoops(), before, after)
    assert graph.output_names == ["y"]


REFUSALS = {
    # name: (rule, input type of %x, constants, node with its output type, reason)
    "cast-other": ("cast-same-dtype", "f32[N,3]", "", "f16[N,3] = Cast(%x) {to=10}", "casts f32 to f16"),
    "cast-unknown": ("cast-same-dtype", "?", "", "f32[*] = Cast(%x) {to=1}", "input dtype is unknown"),
    "dropout-training": ("dropout-inference", "f32[N,3]", "%r: f32[] = const 0.5\n%t: bool[] = const true",
                         "f32[N,3] = Dropout(%x, %r, %t)", "training_mode is true"),
    "reshape-other": ("reshape-same-shape", "f32[N,3]", "%s: i64[2] = const [3, -1]",
                      "f32[3,N] = Reshape(%x, %s)", "is not known to have the shape"),
    "reshape-unknown": ("reshape-same-shape", "f32[N,3]", "%s: i64[2] = const [-1, 3]",
                        "f32[?,3] = Reshape(%x, %s)",
                        "output f32[?,3] is not known to have the shape of input f32[N,3]"),
    "expand-broadcasts": ("expand-same-shape", "f32[N,1]", "%s: i64[2] = const [1, 3]",
                          "f32[N,3] = Expand(%x, %s)", "is not known to have the shape"),
    "slice-part": ("slice-everything", "f32[N,3]", "%b: i64[1] = const [1]\n%e: i64[1] = const [3]\n"
                   "%a: i64[1] = const [1]", "f32[N,2] = Slice(%x, %b, %e, %a)", "is not known to have the shape"),
    "slice-reverse": ("slice-everything", "f32[2,1]", f"%b: i64[1] = const [-1]\n%e: i64[1] = const [-{BIG}]\n"
                      "%a: i64[1] = const [0]\n%s: i64[1] = const [-1]", "f32[2,1] = Slice(%x, %b, %e, %a, %s)",
                      "steps are not all 1"),
    "pad-nonzero": ("pad-zero", "f32[N,3]", "%p: i64[4] = const [0, 1, 0, 0]", "f32[N,4] = Pad(%x, %p)",
                    "pads are not all 0"),
    "transpose-swap": ("transpose-identity", "f32[N,3]", "", "f32[3,N] = Transpose(%x) {perm=[1, 0]}",
                       "perm [1, 0] is not the identity"),
    "transpose-default": ("transpose-identity", "f32[N,3]", "", "f32[3,N] = Transpose(%x)",
                          "the default perm reverses the dims"),
    "squeeze-symbolic": ("squeeze-nothing", "f32[N,3]", "", "f32[*] = Squeeze(%x)", "may have dims of size 1"),
    "squeeze-empty-ort": ("squeeze-nothing", "f32[2,1]", "%a: i64[0] = const []", "f32[2,1] = Squeeze(%x, %a)",
                          "may have dims of size 1"),
    "squeeze-axes": ("squeeze-nothing", "f32[2,1]", "%a: i64[1] = const [1]", "f32[2] = Squeeze(%x, %a)",
                     "squeezes the given axes"),
    "unsqueeze-axes": ("unsqueeze-nothing", "f32[N,3]", "%a: i64[1] = const [0]",
                       "f32[1,N,3] = Unsqueeze(%x, %a)", "inserts dims"),
    "tile-repeats": ("tile-ones", "f32[N,3]", "%r: i64[2] = const [1, 2]", "f32[N,6] = Tile(%x, %r)",
                     "repeats are not all 1"),
    "resize-cubic": ("resize-unit-scale", "f32[1,1,4,4]", "%s: f32[4] = const [1.0, 1.0, 1.0, 1.0]",
                     "f32[1,1,4,4] = Resize(%x, _, %s) {mode=\"cubic\"}", "mode 'cubic' is not nearest or linear"),
    "resize-crop": ("resize-unit-scale", "f32[1,1,4,4]", "%s: f32[4] = const [1.0, 1.0, 1.0, 1.0]",
                    "f32[1,1,4,4] = Resize(%x, _, %s) {coordinate_transformation_mode=\"tf_crop_and_resize\"}",
                    "may move pixels at scale 1"),
    "resize-upsample": ("resize-unit-scale", "f32[1,1,4,4]", "%s: f32[4] = const [1.0, 1.0, 2.0, 2.0]",
                        "f32[1,1,8,8] = Resize(%x, _, %s)", "scales are not all 1"),
    "where-mixed": ("where-constant-condition", "f32[N,3]", "%c: bool[3] = const [true, false, true]\n"
                    "%o: f32[] = const 0.0", "f32[N,3] = Where(%c, %x, %o)", "neither all true nor all false"),
    "where-broadcasts": ("where-constant-condition", "f32[3]", "%c: bool[1] = const [true]\n"
                         "%o: f32[2,3] = const [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]", "f32[2,3] = Where(%c, %x, %o)",
                         "is not known to have the shape"),
}


@pytest.mark.parametrize("kind", REFUSALS)
def test_refuses_with_a_reason(kind: str):
    rule, x_type, consts, node, reason = REFUSALS[kind]
    y_type, node = node.split(" = ", 1)
    p = EliminateNoops()
    check_unchanged(p, noop_graph(x_type, consts, node, y_type))
    refused = p.last_report.rule(rule).refused
    assert any(reason in r for r in refused), dict(refused)


@pytest.mark.parametrize("text", [
    """graph main(%x: f32[3]) {
      %y: f32[3] = Identity(%x)
      return %y
    }""",
    """graph main(%x: f32[3]) {
      %r: f32[3] = Relu(%x)
      %y: f32[3] = Identity(%r)
      return %r, %y
    }""",
    """graph main(%x: f32[3]) {
      %n: i64[] = const 2
      %final: f32[3] = Loop(%n, _, %x) {body=graph body(%i: i64[], %cond: bool[], %acc: f32[3]) {
          %keep: bool[] = Identity(%cond)
          %same: f32[3] = Identity(%acc)
          return %keep, %same
        }}
      return %final
    }""",
], ids=["input-as-output", "two-outputs", "loop-body-passthrough"])
def test_refuses_to_merge_graph_interface_values(text: str):
    p = EliminateNoops()
    check_unchanged(p, text)
    assert INTERFACE_REASON in p.last_report.rule("identity").refused


def test_refuses_to_change_a_graph_input_type():
    p = EliminateNoops()
    check_unchanged(p, """graph main(%x: f32[?,3]) {
      %y: f32[2,3] = Identity(%x)
      %z: f32[2,3] = Neg(%y)
      return %z
    }""")
    assert INPUT_TYPE_REASON in p.last_report.rule("identity").refused


def test_clean_graph_is_not_modified():
    result = check_unchanged(EliminateNoops(), """graph main(%x: f32[N,3]) {
      %y: f32[N,3] = Relu(%x)
      return %y
    }""")
    assert result.counts == {"rules_fired": 0}


def test_dropout_with_a_training_mode_input_is_refused():
    p = EliminateNoops()
    g = parse("""graph main(%x: f32[3], %training: bool[]) {
      %y: f32[3] = Dropout(%x, _, %training)
      %z: f32[3] = Neg(%y)
      return %z
    }""")
    assert not p(g).modified
    assert "training_mode is not a constant" in p.last_report.rule("dropout-inference").refused
