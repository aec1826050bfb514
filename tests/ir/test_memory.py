"""Memory planning: liveness, best-fit offsets, in-place reuse, symbolic dims, and running inside the arena."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import graphopt
from graphopt.errors import EvaluationError
from graphopt.ir import evaluate, parse
from graphopt.ir.memory import MemoryPlan, assign_offsets, evaluate_in_arena, lifetimes, live_peak, plan_memory

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
    """No two planned tensors whose lifetimes overlap share bytes, unless one reuses the other in place or
    is an input computed inside the Concat output it belongs to (and then it lies within it)."""
    spans = lifetimes(graph)
    values = list(plan.offsets)
    for part, concat in plan.concat_into.items():
        assert plan.offsets[concat] <= plan.offsets[part]
        assert plan.offsets[part] + plan.sizes[part] <= plan.offsets[concat] + plan.sizes[concat]
    for i, u in enumerate(values):
        for v in values[i + 1:]:
            if plan.inplace.get(u) is v or plan.inplace.get(v) is u:
                continue
            if plan.concat_into.get(u) is v or plan.concat_into.get(v) is u:
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


def test_view_ops_take_over_the_bytes_of_a_dying_data_input():
    g = parse("""graph main(%x: f32[4,16]) {
      %shape: i64[2] = const [8, 8]
      %a: f32[4,16] = Exp(%x)
      %b: f32[8,8] = Reshape(%a, %shape)
      %c: f32[64] = Flatten(%b) {axis=0}
      %d: f32[64] = Relu(%c)
      %e: f32[8,8] = Reshape(%d, %shape)
      %f: f32[64] = Neg(%d)
      return %e, %f
    }""")
    plan = plan_memory(g)
    assert_valid(g, plan)
    # %d is read again by Neg, so the last Reshape copies it; Neg then writes over the dying %d
    assert {v.name: i.name for v, i in plan.inplace.items()} == {"b": "a", "c": "b", "d": "c", "f": "d"}
    assert len(set(by_name(plan).values())) == 2 and plan.peak_bytes == plan.lower_bound_bytes == 2 * 256
    x = np.random.default_rng(3).standard_normal((4, 16)).astype(np.float32)
    for got, want in zip(evaluate_in_arena(g, {"x": x}, plan), evaluate(g, {"x": x})):
        np.testing.assert_array_equal(got, want)


CONCAT = """graph main(%x: f32[B,4,8]) {{
  %a: f32[B,4,8] = Relu(%x)
  %b: f32[B,4,8] = Sigmoid(%x)
  %c: f32[B,8,8] = Concat(%a, %b) {{axis=1}}
  %y: f32[B,8,8] = Tanh(%c)
  return {outputs}
}}"""


def test_concat_inputs_are_computed_inside_the_concat_output():
    g = parse(CONCAT.replace("B", "1").format(outputs="%y"))
    plan = plan_memory(g)
    assert_valid(g, plan)
    assert {v.name: c.name for v, c in plan.concat_into.items()} == {"a": "c", "b": "c"}
    offsets = by_name(plan)
    assert offsets["a"] == offsets["c"] == offsets["y"] and offsets["b"] == offsets["c"] + 128
    assert plan.peak_bytes == plan.lower_bound_bytes == 256  # a copying Concat needs a, b and c: 512
    assert "1 Concats built in place" in plan.describe()
    x = np.random.default_rng(5).standard_normal((1, 4, 8)).astype(np.float32)
    np.testing.assert_array_equal(evaluate_in_arena(g, {"x": x}, plan)[0], evaluate(g, {"x": x})[0])
    a, b = (next(v for v in plan.offsets if v.name == n) for n in "ab")
    plan.offsets[a], plan.offsets[b] = plan.offsets[b], plan.offsets[a]
    with pytest.raises(EvaluationError, match="Concat input . is not where c expects it"):
        evaluate_in_arena(g, {"x": x}, plan)


@pytest.mark.parametrize(("batch", "outputs"), [("2", "%y"), ("1", "%y, %b")])
def test_concat_is_copied_when_its_inputs_are_not_contiguous_runs_or_outlive_it(batch: str, outputs: str):
    g = parse(CONCAT.replace("B", batch).format(outputs=outputs))
    plan = plan_memory(g)
    assert_valid(g, plan)
    assert {v.name for v in plan.concat_into} == ({"a"} if outputs == "%y, %b" else set())


def test_concat_is_copied_when_building_it_in_place_would_raise_the_peak():
    g = parse("""graph main(%x: f32[1,16], %w: f32[16,2048]) {
      %axes: i64[1] = const [1]
      %shape: i64[2] = const [1, 1024]
      %a: f32[1,16] = Relu(%x)
      %t: f32[1,2048] = MatMul(%x, %w)
      %s: f32[1,1] = ReduceSum(%t, %axes)
      %b: f32[1,1024] = Expand(%s, %shape)
      %c: f32[1,1040] = Concat(%a, %b) {axis=1}
      return %c
    }""")
    plan = plan_memory(g)
    assert_valid(g, plan)
    assert not plan.concat_into  # reserving c from %a on would hold it beside the large %t


SQUEAKY = ({"t0": (2, 3), "t1": (4, 4), "t2": (6, 7), "t3": (2, 4), "t4": (4, 8), "t5": (0, 4)},
           {"t0": 4, "t1": 1, "t2": 4, "t3": 1, "t4": 3, "t5": 3})
"""Lifetimes and sizes on which every greedy order ends above the live-set bound (10 against 8)."""


def assert_placement_valid(spans: dict[str, tuple[int, int]], sizes: dict[str, int], offsets: dict[str, int],
                           peak: int) -> None:
    for u in spans:
        assert offsets[u] >= 0 and offsets[u] + sizes[u] <= peak
        for v in spans:
            if u < v and spans[u][0] <= spans[v][1] and spans[v][0] <= spans[u][1]:
                assert offsets[u] + sizes[u] <= offsets[v] or offsets[v] + sizes[v] <= offsets[u], (u, v)


def test_refinement_reaches_the_bound_where_greedy_orders_do_not():
    spans, sizes = SQUEAKY
    assert live_peak(spans, sizes) == 8
    greedy_offsets, greedy_peak = assign_offsets(spans, sizes, refine_rounds=0)
    offsets, peak = assign_offsets(spans, sizes)
    assert (greedy_peak, peak) == (10, 8)
    assert_placement_valid(spans, sizes, greedy_offsets, greedy_peak)
    assert_placement_valid(spans, sizes, offsets, peak)


def test_random_placements_are_valid_and_refining_reaches_the_bound():
    rng = np.random.default_rng(4)
    greedy_above = refined_above = 0
    for _ in range(200):
        n = int(rng.integers(3, 12))
        firsts = rng.integers(0, 10, n)
        spans = {f"t{i}": (int(f), int(f + rng.integers(0, 5))) for i, f in enumerate(firsts)}
        sizes = {f"t{i}": int(rng.choice([64, 128, 192, 256])) for i in range(n)}
        bound = live_peak(spans, sizes)
        greedy = assign_offsets(spans, sizes, refine_rounds=0)[1]
        offsets, peak = assign_offsets(spans, sizes)
        assert_placement_valid(spans, sizes, offsets, peak)
        assert bound <= peak <= greedy
        greedy_above += greedy > bound
        refined_above += peak > bound
    assert greedy_above > 0 and refined_above == 0  # the bound is not always reachable, but it is on these


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
@pytest.mark.parametrize("name", ["resnet", "mobilenet", "unet", "unetpp", "transformer", "lstm", "gpt2", "bert"])
def test_zoo_models_run_identically_inside_their_arena(name: str, zoo_dir: Path):
    from tests import zoo

    model = zoo.export(name, zoo_dir)
    g = graphopt.optimize(graphopt.load(model.path), "O2")
    plan = g.memory_plan
    assert plan is not None and not plan.unplanned
    assert_valid(g, plan)
    assert plan.peak_bytes <= 1.05 * plan.lower_bound_bytes
    for got, want in zip(evaluate_in_arena(g, model.inputs), evaluate(g, model.inputs)):
        np.testing.assert_array_equal(got, want)
