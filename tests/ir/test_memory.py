"""Memory planning: liveness, best-fit offsets, in-place reuse, symbolic dims, and running inside the arena."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import graphopt
from graphopt.errors import EvaluationError
from graphopt.ir import evaluate, parse
from graphopt.ir.memory import MemoryPlan, evaluate_in_arena, lifetimes, plan_memory

CHAIN = """graph main(%x: f32[4,64], %w: f32[64,64]) {
  %a: f32[4,64] = MatMul(%x, %w)
  %b: f32[4,64] = Relu(%a)
  %c: f32[4,64] = MatMul(%b, %w)
  %d: f32[4,64] = Add(%c, %b)
  %e: f32[4,64] = MatMul(%d, %w)
  return %e
}"""
"""Each tensor is 1 KiB; %b feeds %c and %d, so it is live beside them."""


def chain_inputs(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((4, 64)).astype(np.float32), "w": rng.standard_normal((64, 64)).astype(np.float32)}


def assert_valid(graph: graphopt.Graph, plan: MemoryPlan) -> None:
    """No two planned tensors whose lifetimes overlap share bytes, unless one reuses the other in place."""
    spans = lifetimes(graph)
    values = list(plan.offsets)
    for i, u in enumerate(values):
        for v in values[i + 1:]:
            if plan.inplace.get(u) is v or plan.inplace.get(v) is u:
                continue
            time = spans[u][0] <= spans[v][1] and spans[v][0] <= spans[u][1]
            ou, ov = plan.offsets[u], plan.offsets[v]
            space = ou < ov + plan.sizes[v] and ov < ou + plan.sizes[u]
            assert not (time and space), (u, v)
    assert plan.lower_bound_bytes <= plan.peak_bytes <= plan.no_reuse_bytes
    assert all(o + plan.sizes[v] <= plan.peak_bytes for v, o in plan.offsets.items())


def by_name(plan: MemoryPlan) -> dict[str, int]:
    return {v.name: o for v, o in plan.offsets.items()}


def test_chain_plan_numbers_and_in_place():
    g = parse(CHAIN)
    plan = plan_memory(g)
    assert_valid(g, plan)
    assert plan.no_reuse_bytes == 5 * 1024
    assert {v.name: i.name for v, i in plan.inplace.items()} == {"b": "a", "d": "c"}
    # live sets: {a} {a=b} {b,c} {b,c=d} {d,e}: never more than two 1 KiB buffers
    assert plan.lower_bound_bytes == plan.peak_bytes == 2048
    offsets = by_name(plan)
    assert offsets["a"] == offsets["b"] and offsets["c"] == offsets["d"] != offsets["b"]
    np.testing.assert_array_equal(evaluate_in_arena(g, chain_inputs(), plan)[0], evaluate(g, chain_inputs())[0])


def test_without_in_place_outputs_never_share_with_dying_inputs():
    g = parse(CHAIN)
    plan = plan_memory(g, inplace=False)
    assert_valid(g, plan)
    assert not plan.inplace and plan.peak_bytes == plan.lower_bound_bytes == 3072  # {b, c, d} at Add


def test_in_place_needs_a_dying_input_of_the_same_type():
    g = parse("""graph main(%x: f32[4,8], %y: f32[8]) {
      %a: f32[4,8] = Exp(%x)
      %b: f32[4,8] = Relu(%a)
      %c: f32[4,8] = Add(%a, %b)
      %s: f32[8] = Neg(%y)
      %d: f32[4,8] = Mul(%c, %s)
      %e: i64[4,8] = Cast(%d) {to=7}
      return %e, %c
    }""")
    plan = plan_memory(g)
    assert_valid(g, plan)
    # %a is read again by Add, %c is a graph output, %s is smaller, Cast is not elementwise-in-place
    assert {v.name: i.name for v, i in plan.inplace.items()} == {"c": "a"}


def test_graph_inputs_and_constants_are_not_planned_and_dead_outputs_are():
    g = parse("""graph main(%x: f32[16]) {
      %k: f32[1] = const [1.0]
      %two: i64[1] = const [2]
      %v: f32[2], %i: i64[2] = TopK(%x, %two) {axis=0}
      %y: f32[16] = Sub(%x, %k)
      return %y, %v
    }""")
    plan = plan_memory(g, alignment=1)
    assert set(by_name(plan)) == {"v", "i", "y"}
    assert {v.name: n for v, n in plan.sizes.items()} == {"v": 8, "i": 16, "y": 64}
    assert_valid(g, plan)


def test_symbolic_dims_unplanned_with_reason_or_planned_by_bound():
    text = """graph main(%x: f32[N,32]) {
      %a: f32[N,32] = Sigmoid(%x)
      %b: f32[N,32] = Mul(%a, %x)
      %s: i64[2] = Shape(%b)
      return %b, %s
    }"""
    g = parse(text)
    plan = plan_memory(g)
    assert set(plan.unplanned) == {"a", "b"} and "'N'" in plan.unplanned["a"] and "dims=" in plan.unplanned["a"]
    assert set(by_name(plan)) == {"s"}
    bounded = plan_memory(g, dims={"N": 8})
    assert not bounded.unplanned and bounded.sizes[g.outputs[0]] == 8 * 32 * 4
    assert_valid(g, bounded)
    x = np.random.default_rng(1).standard_normal((5, 32)).astype(np.float32)  # smaller than the bound
    for got, want in zip(evaluate_in_arena(g, {"x": x}, bounded), evaluate(g, {"x": x})):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(EvaluationError, match="needs 1536 bytes"):
        evaluate_in_arena(g, {"x": np.ones((12, 32), np.float32)}, bounded)


def test_subgraph_outputs_are_planned_but_not_their_bodies():
    g = parse("""graph main(%x: f32[4,4], %c: bool[]) {
      %y: f32[4,4] = Relu(%x)
      %z: f32[4,4] = If(%c) {else_branch=graph e() {
          %n: f32[4,4] = Neg(%y)
          return %n
        }, then_branch=graph t() {
          %s: f32[4,4] = Sigmoid(%y)
          return %s
        }}
      %w: f32[4,4] = Mul(%z, %z)
      return %w
    }""")
    plan = plan_memory(g)
    assert set(by_name(plan)) == {"y", "z", "w"}
    assert any("subgraphs are not planned" in reason for reason in plan.unplanned.values())
    assert lifetimes(g)[g.nodes[0].output] == (0, 1)  # the If's body reads %y
    assert_valid(g, plan)
    x = np.random.default_rng(2).standard_normal((4, 4)).astype(np.float32)
    for cond in (True, False):
        feeds = {"x": x, "c": np.array(cond)}
        np.testing.assert_array_equal(evaluate_in_arena(g, feeds, plan)[0], evaluate(g, feeds)[0])


def test_arena_refuses_a_plan_that_overwrites_a_live_tensor():
    g = parse(CHAIN)
    plan = plan_memory(g, inplace=False)
    offsets = by_name(plan)
    c = next(v for v in plan.offsets if v.name == "c")
    plan.offsets[c] = offsets["b"]  # %b is still read by Add after %c is written
    with pytest.raises(EvaluationError, match="would overwrite live tensor b"):
        evaluate_in_arena(g, chain_inputs(), plan)


def test_plan_survives_copy_and_reaches_summary_and_onnx_metadata():
    g = graphopt.optimize(parse(CHAIN), "plan-memory")
    assert g.memory_plan is not None
    copy = g.copy()
    assert by_name(copy.memory_plan) == by_name(g.memory_plan)
    assert set(copy.memory_plan.offsets) == {n.output for n in copy}
    from graphopt.ir.summary import summarize

    assert "memory: planned peak 2.0 KiB (1.000x the live-set lower bound 2.0 KiB; no reuse 5.0 KiB)" \
        in summarize(g)
    props = {p.key: p.value for p in graphopt.to_onnx(g).metadata_props}
    assert props["graphopt.memory.peak_bytes"] == "2048"
    assert props["graphopt.memory.no_reuse_bytes"] == "5120"
    import json

    offsets = json.loads(props["graphopt.memory.offsets"])
    assert offsets["e"] == [by_name(g.memory_plan)["e"], 1024] and len(offsets) == 5


# -- the model zoo -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("zoo_memory")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet", "mobilenet", "unet", "transformer", "lstm", "gpt2"])
def test_zoo_models_run_identically_inside_their_arena(name: str, zoo_dir: Path):
    from tests import zoo

    model = zoo.export(name, zoo_dir)
    g = graphopt.optimize(graphopt.load(model.path), "O1,schedule,plan-memory")
    plan = g.memory_plan
    assert plan is not None and not plan.unplanned
    assert_valid(g, plan)
    assert plan.peak_bytes <= 1.05 * plan.lower_bound_bytes
    for got, want in zip(evaluate_in_arena(g, model.inputs), evaluate(g, model.inputs)):
        np.testing.assert_array_equal(got, want)
