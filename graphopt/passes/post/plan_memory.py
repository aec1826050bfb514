"""Memory planning pass: computes the arena plan and attaches it as ``graph.memory_plan``.

The plan is metadata beside the IR, not a change of it (no node, value, type
or order changes), so the pass reports ``modified=False``; its counts carry
the plan's numbers. It runs last: a pass that edits the graph afterwards makes
the plan stale (run ``plan-memory`` again).
"""

from __future__ import annotations

from graphopt.ir.core import Graph
from graphopt.ir.memory import DEFAULT_ALIGNMENT, parse_dims, plan_memory
from graphopt.passes.base import Pass, PassResult, register_pass


@register_pass
class PlanMemory(Pass):
    """Assigns every sized intermediate tensor an offset in one arena (see graphopt.ir.memory)."""

    name = "plan-memory"
    level = 2
    stage = "post"
    targets = frozenset({"onnxruntime"})  # not tensorrt/openvino: their compilers plan memory themselves
    doc = "plan one arena for the intermediate tensors (liveness, best-fit offsets, in-place elementwise ops)"
    dims: str = ""
    """Upper bounds for symbolic dims, e.g. ``N:8;S:128``; tensors with unbounded symbolic dims stay unplanned."""
    alignment: int = DEFAULT_ALIGNMENT
    inplace: bool = True

    def run(self, graph: Graph) -> PassResult:
        plan = plan_memory(graph, dims=parse_dims(self.dims), alignment=self.alignment, inplace=self.inplace)
        graph.memory_plan = plan
        return PassResult(False, {"tensors_planned": len(plan.offsets), "tensors_unplanned": len(plan.unplanned),
                                  "tensors_in_place": len(plan.inplace), "peak_bytes": plan.peak_bytes,
                                  "lower_bound_bytes": plan.lower_bound_bytes})
