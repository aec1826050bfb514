"""schedule and plan-memory: reordering lowers the peak on a U-Net-like graph; the plan is attached and valid."""

from __future__ import annotations

import numpy as np
import pytest

import graphopt
from graphopt.ir import evaluate, parse
from graphopt.ir.memory import evaluate_in_arena, plan_memory
from graphopt.passes.numerics import random_inputs
from graphopt.passes.post.plan_memory import PlanMemory
from graphopt.passes.post.schedule import Schedule
from tests.passes.util import check_numerics, check_rewrite, check_unchanged

HEADER = ("graph main(%x: f32[1,4,16,16], %w: f32[4,4,3,3], %ws: f32[8,4,1,1], %wa: f32[128,4,3,3], "
          "%wb: f32[128,128,1,1], %wc: f32[4,128,3,3], %wt: f32[4,4,2,2], %wt8: f32[4,8,2,2]) {")
SKIP = "  %s1: f32[1,8,16,16] = Conv(%e1, %ws)\n"
ENCODER = """  %e1: f32[1,4,16,16] = Conv(%x, %w) {pads=[1, 1, 1, 1]}
"""
MIDDLE = """  %p1: f32[1,4,8,8] = MaxPool(%e1) {kernel_shape=[2, 2], strides=[2, 2]}
  %e2: f32[1,4,8,8] = Conv(%p1, %w) {pads=[1, 1, 1, 1]}
  %p2: f32[1,4,4,4] = MaxPool(%e2) {kernel_shape=[2, 2], strides=[2, 2]}
  %ma: f32[1,128,4,4] = Conv(%p2, %wa) {pads=[1, 1, 1, 1]}
  %mb: f32[1,128,4,4] = Conv(%ma, %wb)
  %mc: f32[1,4,4,4] = Conv(%mb, %wc) {pads=[1, 1, 1, 1]}
  %u2: f32[1,4,8,8] = ConvTranspose(%mc, %wt) {strides=[2, 2]}
  %d2: f32[1,4,8,8] = Add(%u2, %e2)
"""
DECODER = """  %u1: f32[1,8,16,16] = ConvTranspose(%d2, %wt8) {strides=[2, 2]}
  %y: f32[1,8,16,16] = Add(%u1, %s1)
  return %y
}"""
UNET = HEADER + "\n" + ENCODER + SKIP + MIDDLE + DECODER
"""A U-Net-like graph whose skip branch (%s1, twice %e1's size) is computed eagerly, before the wide middle."""


def test_schedule_delays_the_skip_branch_and_lowers_the_peak():
    original, graph, result = check_rewrite(Schedule(), UNET, HEADER + "\n" + ENCODER + MIDDLE + SKIP + DECODER)
    assert result.counts == {"graphs_reordered": 1, "graphs_skipped": 0, "bytes_saved": 4096}
    before, after = plan_memory(original), plan_memory(graph)
    assert after.peak_bytes < before.peak_bytes
    assert (before.peak_bytes, after.peak_bytes, after.lower_bound_bytes) == (25 * 1024, 21 * 1024, 21 * 1024)
    check_numerics(original, graph)
    feeds = random_inputs(graph, 0)
    np.testing.assert_array_equal(evaluate_in_arena(graph, feeds, after)[0], evaluate(original, feeds)[0])


def test_schedule_keeps_a_good_order_and_skips_unsized_graphs():
    check_unchanged(Schedule(), HEADER + "\n" + ENCODER + MIDDLE + SKIP + DECODER)
    symbolic = """graph main(%x: f32[N,64]) {
      %axes: i64[1] = const [1]
      %a: f32[N,64] = Exp(%x)
      %b: f32[N,64] = Sin(%x)
      %ra: f32[N,1] = ReduceSum(%a, %axes)
      %rb: f32[N,1] = ReduceSum(%b, %axes)
      %y: f32[N,1] = Add(%ra, %rb)
      return %y
    }"""
    assert check_unchanged(Schedule(), symbolic).counts["graphs_skipped"] == 1
    bounded = parse(symbolic)
    assert Schedule(dims="N:4")(bounded).counts == {"graphs_reordered": 1, "graphs_skipped": 0, "bytes_saved": 960}
    assert [n.op for n in bounded] == ["Exp", "ReduceSum", "Sin", "ReduceSum", "Add"]


def test_plan_memory_attaches_the_plan_without_claiming_a_change():
    graph = parse(UNET)
    result = PlanMemory()(graph)
    assert not result.modified and graph.memory_plan is not None
    assert result.counts["peak_bytes"] == graph.memory_plan.peak_bytes == 25 * 1024
    assert result.counts["tensors_planned"] == 12 and result.counts["tensors_in_place"] == 2
    assert graphopt.ir.graphs_equal(graph, parse(UNET))


def test_o2_pipeline_schedules_and_plans():
    graph = graphopt.optimize(parse(UNET), "O2")
    plan = graph.memory_plan
    assert plan is not None and plan.peak_bytes < plan_memory(parse(UNET)).peak_bytes
    assert plan.peak_bytes <= 1.05 * plan.lower_bound_bytes
    feeds = random_inputs(graph, 1)
    np.testing.assert_allclose(evaluate_in_arena(graph, feeds)[0], evaluate(parse(UNET), feeds)[0],
                               rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_schedule_lowers_the_planned_peak_of_unet_plus_plus(tmp_path):
    """UNet++'s reference order computes each nested decoder column as soon as it can; running the backbone
    first and the nested nodes later leaves fewer skips alive at the widest Concat."""
    from tests import zoo

    model = zoo.export("unetpp", tmp_path)
    graph = graphopt.load(model.path)
    original = graphopt.optimize(graph, "O2", disable=["schedule"])
    scheduled = graphopt.optimize(graph, "O2")
    before, after = original.memory_plan, scheduled.memory_plan
    assert after.peak_bytes < before.peak_bytes and after.peak_bytes <= 1.05 * after.lower_bound_bytes
    for got, want in zip(evaluate_in_arena(scheduled, model.inputs), evaluate(graph, model.inputs)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
