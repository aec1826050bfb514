"""Layout: sink Transposes through layout-agnostic ops and cancel inverse pairs; optionally express the graph in NHWC.

Exporters from NHWC sources (TensorFlow, TFLite) and the dynamo exporter leave Transposes around every
layout-sensitive op. This pass moves a Transpose below the op that reads it — ``U(Transpose(x, p))`` becomes
``Transpose(U'(x), p)`` with ``U'`` reading the untransposed data — until it meets another Transpose, with
which it composes (:class:`~graphopt.passes.pre.simplify.TransposeTranspose`; an identity composition
disappears). The ops it sinks through, each a rule whose check refuses with a reason:

- unary elementwise ops and activations (extra inputs such as Clip's bounds stay as they are);
- broadcasting elementwise ops (Add, Mul, Where, PRelu …): a constant operand is permuted at compile time, a
  rank-0 operand needs nothing, another full-rank operand gets the inverse Transpose;
- Concat, Split, Softmax/LogSoftmax/Hardmax, ArgMax/ArgMin (axis attribute rewritten); Slice, Pad and the
  Reduce* family (constant ``axes``/``pads`` rewritten; ``keepdims=0`` permutes only the kept axes); Resize
  (constant ``roi``/``scales``/``sizes`` permuted).

The decision is count-based: a rule fires only when it does not increase the number of Transposes — the
inputs' Transposes it frees (one whose only reader is the op), minus the inverse Transposes it must add on
other inputs and the Transposes it adds on outputs (an output read only by Transposes adds none; each of
those that becomes an identity counts as one freed). Moving down with no added input Transposes may tie (a
Transpose slides below a unary op towards its partner); adding inverse Transposes must strictly win, so the
rewriting terminates. Everything is a permutation of data, so results are bit-identical except where a
runtime's kernel sums in a different order after the axes moved (reductions, Softmax, Resize).

Layout choice (``layout`` option): standard ONNX Conv and pooling are NCHW-only, and ONNX Runtime's CPU
execution provider has no float NHWC convolution (``com.microsoft`` NhwcConv/NhwcFusedConv have no CPU
kernel in onnxruntime 1.31), so an NHWC graph in portable ONNX is one with Transposes around every
layout-sensitive op. ``layout="NHWC"`` produces exactly that (:func:`to_nhwc`); ``"keep"`` (the default)
leaves the layout and only sinks and cancels. benchmarks/bench_layout.py measures both
(benchmarks/out/layout.md: 2 shared cores, median of 30 runs, zoo resnet/mobilenet/unet): ONNX Runtime with
its optimizer on removes the Transposes itself, so NHWC and NCHW time the same within noise at 1 thread
(0.98-1.00x) and default threads (0.99-1.01x); with its optimizer off the NHWC form is 0.99-1.08x; OpenVINO
CPU runs the NHWC form 1.08x (resnet), 1.97x (unet) and ~2.4x (mobilenet, noisy) slower and not
bit-identically. NHWC is never faster, so every target keeps NCHW.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphopt.ir.core import Graph, Node, Value
from graphopt.ir.equality import graph_difference
from graphopt.ir.inference import infer_node
from graphopt.ir.types import TensorType
from graphopt.passes.base import PassError, PassResult, register_pass
from graphopt.passes.pre.simplify import TransposeTranspose
from graphopt.passes.rewrite import Builder, Match, Op, Rule, RulePass, RuleSet, apply_rules, unused_constants

Perm = tuple[int, ...]

UNARY = ("Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "BitwiseNot", "Cast", "CastLike", "Ceil",
         "Celu", "Clip", "Cos", "Cosh", "Elu", "Erf", "Exp", "Floor", "Gelu", "HardSigmoid", "HardSwish",
         "Identity", "IsInf", "IsNaN", "LeakyRelu", "Log", "Mish", "Neg", "Not", "Reciprocal", "Relu", "Round",
         "Selu", "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Softplus", "Softsign", "Sqrt", "Tan", "Tanh",
         "ThresholdedRelu")
BROADCAST = ("Add", "And", "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "Div", "Equal", "Greater",
             "GreaterOrEqual", "Less", "LessOrEqual", "Max", "Mean", "Min", "Mod", "Mul", "Or", "Pow", "PRelu",
             "Sub", "Sum", "Where", "Xor")
REDUCE = ("ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin",
          "ReduceProd", "ReduceSum", "ReduceSumSquare")
SINGLE_AXIS = ("Softmax", "LogSoftmax", "Hardmax")

NCHW_TO_NHWC: Perm = (0, 2, 3, 1)
NHWC_TO_NCHW: Perm = (0, 3, 1, 2)
LAYOUT_SENSITIVE = ("Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool",
                    "GlobalMaxPool", "GlobalLpPool", "BatchNormalization", "InstanceNormalization",
                    "LRN", "DepthToSpace", "SpaceToDepth", "graphopt::FusedConv", "graphopt::FusedConvTranspose")
"""Ops whose data input 0 is NCHW (channel axis 1): :func:`to_nhwc` wraps them in Transposes."""


def inverse(perm: Sequence[int]) -> Perm:
    return tuple(int(i) for i in np.argsort(perm))


def _rank(v: Value | None) -> int | None:
    return len(v.shape) if v is not None and isinstance(v.type, TensorType) and v.shape is not None else None


def transpose_perm(node: Node) -> Perm | None:
    """A Transpose node's perm, the default (reversing) one spelled out; ``None`` when the rank is unknown."""
    perm = node.attr("perm", None)
    if perm is not None:
        return tuple(int(i) for i in perm)
    rank = _rank(node.inputs[0])
    return None if rank is None else tuple(range(rank))[::-1]


# -- plans: how an op reads untransposed data ----------------------------------------------------------

@dataclass
class Plan:
    """The rewrite of one op: which inputs carry the transposed layout, what replaces the others, the
    attributes that change, and the perm each output needs afterwards (``None``: none)."""

    layout_inputs: list[int]
    out_perms: list[Perm | None]
    consts: dict[int, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)


Planner = Callable[[Node, Perm], "Plan | str"]


def _axis(node: Node, name: str, rank: int) -> int:
    return int(node.attr(name)) % rank


def _const_axes(node: Node, index: int, rank: int) -> list[int] | str | None:
    """Constant axes of input ``index`` normalized to ``[0, rank)``; ``None`` when omitted."""
    v = node.inputs[index] if index < len(node.inputs) else None
    if v is None:
        return None
    data = v.numpy()
    if data is None:
        return "axes are not constant"
    return [int(a) % rank for a in data.reshape(-1)]


def _outputs(node: Node, perm: Perm | None) -> list[Perm | None]:
    return [perm] * len(node.outputs)


def plan_unary(node: Node, p: Perm) -> Plan:
    return Plan([0], _outputs(node, p))


def plan_broadcast(node: Node, p: Perm) -> Plan:
    return Plan(list(range(len(node.inputs))), _outputs(node, p))


def plan_concat(node: Node, p: Perm) -> Plan:
    return Plan(list(range(len(node.inputs))), _outputs(node, p), attrs={"axis": p[_axis(node, "axis", len(p))]})


def plan_single_axis(node: Node, p: Perm) -> Plan:
    return Plan([0], _outputs(node, p), attrs={"axis": p[_axis(node, "axis", len(p))]})


def plan_split(node: Node, p: Perm) -> Plan:
    return Plan([0], _outputs(node, p), attrs={"axis": p[_axis(node, "axis", len(p))]})


def _reduced_perm(p: Perm, reduced: set[int]) -> Perm | None:
    """The perm that orders a ``keepdims=0`` result (axes ``reduced`` of the transposed frame dropped)."""
    kept = [p[i] for i in range(len(p)) if i not in reduced]
    order = sorted(kept)
    q = tuple(order.index(a) for a in kept)
    return None if q == tuple(range(len(q))) else q


def plan_reduce(node: Node, p: Perm) -> Plan | str:
    axes = _const_axes(node, 1, len(p))
    if isinstance(axes, str):
        return axes
    if axes is None or not axes:
        noop = bool(node.attr("noop_with_empty_axes"))
        return Plan([0], [p if noop or node.attr("keepdims") else None])
    consts = {1: np.array([p[a] for a in axes], np.int64)}
    out = p if node.attr("keepdims") else _reduced_perm(p, set(axes))
    return Plan([0], [out], consts)


def plan_arg(node: Node, p: Perm) -> Plan:
    axis = _axis(node, "axis", len(p))
    out = p if node.attr("keepdims") else _reduced_perm(p, {axis})
    return Plan([0], [out], attrs={"axis": p[axis]})


def plan_slice(node: Node, p: Perm) -> Plan | str:
    axes = _const_axes(node, 3, len(p))
    if isinstance(axes, str):
        return axes
    if axes is None:
        starts = node.inputs[1]
        if starts is None or _rank(starts) != 1 or not isinstance(starts.shape[0], int):
            return "starts has no static length, so the implied axes are unknown"
        axes = list(range(starts.shape[0]))
    return Plan([0], _outputs(node, p), {3: np.array([p[a] for a in axes], np.int64)})


def plan_pad(node: Node, p: Perm) -> Plan | str:
    pads = node.inputs[1].numpy() if len(node.inputs) > 1 and node.inputs[1] is not None else None
    if pads is None:
        return "pads are not constant"
    axes = _const_axes(node, 3, len(p))
    if isinstance(axes, str):
        return axes
    if axes is not None:
        return Plan([0], _outputs(node, p), {3: np.array([p[a] for a in axes], np.int64)})
    inv = list(inverse(p))
    begins, ends = pads[:len(p)], pads[len(p):]
    return Plan([0], _outputs(node, p), {1: np.concatenate([begins[inv], ends[inv]]).astype(pads.dtype)})


def plan_resize(node: Node, p: Perm) -> Plan | str:
    if node.attr("axes", None) is not None:
        return "Resize has an axes attribute"
    inv = list(inverse(p))
    consts = {}
    for index in (1, 2, 3):  # roi, scales, sizes
        v = node.inputs[index] if index < len(node.inputs) else None
        if v is None:
            continue
        data = v.numpy()
        if data is None:
            return f"Resize input {index} is not constant"
        if data.size == 0:
            continue
        halves = data.reshape(-1, len(p))  # roi is [begins, ends]; scales and sizes one row
        consts[index] = halves[:, inv].reshape(-1)
    return Plan([0], _outputs(node, p), consts)


PLANNERS: dict[str, Planner] = {
    **{name: plan_unary for name in UNARY},
    **{name: plan_broadcast for name in BROADCAST},
    **{name: plan_reduce for name in REDUCE},
    **{name: plan_single_axis for name in SINGLE_AXIS},
    "Concat": plan_concat, "Split": plan_split, "Slice": plan_slice, "Pad": plan_pad, "Resize": plan_resize,
    "ArgMax": plan_arg, "ArgMin": plan_arg,
}


# -- the sinking rule ----------------------------------------------------------------------------------

class _ReadsTranspose(Op):
    """Any ``op`` node with an input produced by a Transpose; those Transposes join the match's nodes."""

    def match_node(self, node: Node, m: Match) -> str | None:
        if node.op != self.op or node.domain != self.domain:
            return f"expected {self.op}, found {node.op}"
        found = [v.producer for v in node.inputs if v is not None and _is_transpose(v)]
        if not found:
            return "no input is a Transpose"
        m.nodes += [n for n in dict.fromkeys(found) if n is not None]
        return None


def _is_transpose(v: Value | None) -> bool:
    return v is not None and v.producer is not None and v.producer.op == "Transpose" and not v.producer.domain


@dataclass
class _Sink:
    """A checked decision: the perm sunk, the plan, and the operand each layout input becomes."""

    perm: Perm
    plan: Plan
    operands: dict[int, Value | np.ndarray | None]  # None: insert the inverse Transpose


class SinkTranspose(Rule):
    """``U(Transpose(x, p), …) → Transpose(U'(x, …), p)`` for a layout-agnostic ``U`` (see the module doc)."""

    def __init__(self, op_type: str, planner: Planner, only: Perm | None = None) -> None:
        self.name = f"sink-transpose-{op_type}"
        self.pattern = _ReadsTranspose(op_type, ())
        self.planner = planner
        self.only = only  # sink only Transposes with this perm

    def check(self, m: Match) -> str | None:
        decision = self._decide(m.root)
        if isinstance(decision, str):
            return decision
        m.bindings["sink"] = decision
        return None

    def _decide(self, node: Node) -> _Sink | str:
        first = next(v for v in node.inputs if _is_transpose(v))
        assert first is not None and first.producer is not None
        p = transpose_perm(first.producer)
        if p is None:
            return "the Transpose's rank is unknown"
        if self.only is not None and p != self.only:
            return f"sinks only perm {list(self.only)}"
        plan = self.planner(node, p)
        if isinstance(plan, str):
            return plan
        freed = added = 0
        operands: dict[int, Value | np.ndarray | None] = {}
        for i in plan.layout_inputs:
            v = node.inputs[i] if i < len(node.inputs) else None
            if v is None:
                continue
            operand = _operand(v, p)
            if isinstance(operand, str):
                return operand
            operands[i] = operand
            freed += isinstance(operand, Value) and operand is not v and not _read_elsewhere(v, node)
        moved_down = freed
        inserted = sum(1 for o in operands.values() if o is None)
        added = inserted
        for out, q in zip(node.outputs, plan.out_perms):
            if q is None or out is None or not out.has_uses:
                continue
            users = out.users
            if out.is_graph_output or not all(u.op == "Transpose" and not u.domain for u in users):
                added += 1
            else:
                freed += sum(1 for u in users if _composes_to_identity(q, u))
        if added < freed or (added == freed and inserted == 0 and moved_down > 0):
            return _Sink(p, plan, operands)
        return f"would add {added} Transposes and remove {freed}"

    def rewrite(self, m: Match, b: Builder) -> list[Value | None]:
        sink: _Sink = m["sink"]
        node, p, plan = m.root, sink.perm, sink.plan
        inputs: list[Value | None] = list(node.inputs)
        for i, operand in sink.operands.items():
            if operand is None:
                inputs[i] = b.op("Transpose", [node.inputs[i]], {"perm": list(inverse(p))})
            elif isinstance(operand, np.ndarray):
                inputs[i] = b.const(operand)
            else:
                inputs[i] = operand
        for i, data in plan.consts.items():
            inputs[i] = b.const(data)
        attrs = {**node.attrs, **plan.attrs}
        outs = b.op(node.op, inputs, attrs, domain=node.domain, num_outputs=len(node.outputs))
        outs = outs if isinstance(outs, tuple) else (outs,)
        return [o if q is None or o is None else b.op("Transpose", [o], {"perm": list(q)})
                for o, q in zip(outs, plan.out_perms)]


def _operand(v: Value, p: Perm) -> Value | np.ndarray | str | None:
    """What input ``v`` of the sunk op becomes in the untransposed frame: the Transpose's input, a permuted
    constant, ``v`` itself (rank 0), ``None`` (needs the inverse Transpose), or a refusal reason."""
    if _is_transpose(v) and v.producer is not None and transpose_perm(v.producer) == p:
        return v.producer.inputs[0]
    data = v.numpy()
    rank = _rank(v)
    if data is not None:
        if data.ndim > len(p):
            return f"a constant operand has rank {data.ndim} > {len(p)}"
        return data if data.ndim == 0 else data.reshape((1,) * (len(p) - data.ndim) + data.shape).transpose(
            inverse(p))
    if rank == 0:
        return v
    if rank != len(p):
        return f"an operand has rank {rank}, not {len(p)}: it would need an Unsqueeze as well"
    return None


def _read_elsewhere(v: Value, node: Node) -> bool:
    """Whether anything but ``node`` reads ``v`` (then its Transpose stays)."""
    return v.is_graph_output or any(u.node is not node for u in v.uses)


def _composes_to_identity(q: Perm, user: Node) -> bool:
    after = transpose_perm(user)
    return after is not None and len(after) == len(q) and all(q[i] == j for j, i in enumerate(after))


RULES = RuleSet([*(SinkTranspose(name, planner) for name, planner in PLANNERS.items()), TransposeTranspose()])


# -- NHWC --------------------------------------------------------------------------------------------

def to_nhwc(graph: Graph) -> int:
    """Make the layout-agnostic ops between 4-D layout-sensitive ops (convolutions, pools, normalizations)
    run on NHWC data: each sensitive op reads ``Transpose(NHWC→NCHW)`` and its output goes to NHWC at once.
    Built by wrapping each such op's input and output in a cancelling pair, sinking the NCHW-restoring
    Transposes and composing what meets. Returns the number of ops wrapped (recursing into subgraphs)."""
    wrapped = 0
    for node in list(graph):
        for sub in node.subgraphs():
            wrapped += to_nhwc(sub)
        out = node.outputs[0] if node.outputs else None
        if node.qualified_op not in LAYOUT_SENSITIVE or _rank(node.inputs[0]) != 4 or out is None:
            continue
        with graph.inserting_before(node):
            node.set_input(0, _pair(graph, node.inputs[0]))
        uses, outputs = out.uses, graph.outputs
        with graph.inserting_after(node):
            back = _pair(graph, out)
        for use in uses:
            use.node.set_input(use.index, back)
        for i, v in enumerate(outputs):
            if v is out:
                graph.set_output(i, back)
        wrapped += 1
    if wrapped:
        apply_rules(graph, [SinkTranspose(name, planner, NHWC_TO_NCHW) for name, planner in PLANNERS.items()])
        apply_rules(graph, [TransposeTranspose()])
    return wrapped


def _pair(graph: Graph, v: Value | None) -> Value:
    """``Transpose(Transpose(v, NCHW→NHWC), NHWC→NCHW)`` at the insertion point, typed."""
    for perm in (NCHW_TO_NHWC, NHWC_TO_NCHW):
        node = graph.add("Transpose", [v], {"perm": list(perm)})
        node.output.type = infer_node(node)[0]
        v = node.output
    assert v is not None
    return v


LAYOUTS = ("keep", "NHWC")


@register_pass
class Layout(RulePass):
    """Sink Transposes through layout-agnostic ops and cancel inverse pairs; ``layout=NHWC`` first rewrites
    4-D convolutions, pools and normalizations to read NHWC data (see the module docstring)."""

    name = "layout"
    level = 3
    stage = "post"
    doc = "sink Transposes through elementwise/Concat/Pad/Resize/reductions and cancel pairs; optional NHWC"
    rules = RULES
    layout: str = "keep"  # the measured best for every target (module docstring)

    def run(self, graph: Graph) -> PassResult:
        if self.layout not in LAYOUTS:
            raise PassError(f"layout: unknown layout {self.layout!r} (one of {', '.join(LAYOUTS)})")
        unused = set(unused_constants(graph))
        if self.layout == "NHWC":
            before = graph.copy()
            wrapped = to_nhwc(graph)
            modified = graph_difference(before, graph) is not None  # an NHWC graph comes back the same
            counts = {"ops_to_nhwc": wrapped}
        else:
            report = apply_rules(graph, self.rules)
            self.last_report = report
            modified, counts = report.fired > 0, {"rules_fired": report.fired}
        for g, c in unused_constants(graph):
            if (g, c) not in unused:  # the axes, pads and operands this run replaced
                g.remove_constant(c)
        return PassResult(modified, counts)
