"""Control flow: If, Loop and Scan, whose bodies are subgraphs evaluated by the interpreter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from graphopt.ir.core import Graph, Value
from graphopt.ir.dtypes import DType
from graphopt.ir.inference import InferContext, infer_shapes
from graphopt.ir.interpreter import EvalContext
from graphopt.ir.registry import kernel, shape_inference
from graphopt.ir.types import Dim, OptionalType, SequenceType, TensorType, Type, merge_types

# -- helpers shared with other families that run subgraphs (SequenceMap) -------------------


def join_types(a: Type, b: Type) -> Type:
    """The most precise type that describes both an ``a`` value and a ``b`` value."""
    if a is None or b is None or type(a) is not type(b):
        return None
    if isinstance(a, TensorType):
        assert isinstance(b, TensorType)
        if DType.UNDEFINED in (a.dtype, b.dtype):
            dtype = a.dtype if b.dtype == DType.UNDEFINED else b.dtype
        elif a.dtype == b.dtype:
            dtype = a.dtype
        else:
            return None
        if a.shape is None or b.shape is None or len(a.shape) != len(b.shape):
            return TensorType(dtype, None)
        return TensorType(dtype, tuple(x if x == y else None for x, y in zip(a.shape, b.shape, strict=True)))
    if isinstance(a, SequenceType):
        return SequenceType(join_types(a.elem, b.elem))  # type: ignore[union-attr]
    return OptionalType(join_types(a.elem, b.elem))  # type: ignore[union-attr]


def bind_subgraph_inputs(graph: Graph, types: Sequence[Type]) -> None:
    """Refine the subgraph's input types with what its node feeds them, and re-infer it if any changed."""
    changed = False
    for v, t in zip(graph.inputs, types, strict=False):
        merged = merge_types(v.type, t)
        if merged != v.type:
            v.type = merged
            changed = True
    if changed:
        infer_shapes(graph)


def loose(t: Type) -> Type:
    """``t`` without its dims: all a loop-carried value is sure to keep when shapes change between iterations."""
    if isinstance(t, TensorType) and t.shape is not None:
        return TensorType(t.dtype, (None,) * len(t.shape))
    return t


def padded_inputs(ctx: EvalContext, args: Sequence[Any]) -> list[Any]:
    """The kernel's inputs with one entry per node input.

    The interpreter drops trailing ``None`` inputs, which for a control-flow op may
    be an empty optional passed as loop-carried state rather than an omitted input.
    """
    return [*args, *([None] * (len(ctx.node.inputs) - len(args)))]


def stack_outputs(items: list[np.ndarray], like: Value) -> np.ndarray:
    """Per-iteration values stacked on a new leading axis; with no iteration, an empty tensor of ``like``'s type."""
    if items:
        return np.stack(items)
    t = like.type
    if isinstance(t, TensorType) and t.dtype != DType.UNDEFINED:
        return np.zeros((0, *t.shape) if t.is_static else (0,), t.dtype.numpy)  # type: ignore[misc]
    return np.zeros((0,), np.float32)


def _with_dim(t: Type, axis: int, dim: Dim) -> Type:
    """Tensor type ``t`` with ``dim`` inserted at ``axis`` (negative counts in the result's rank)."""
    if not isinstance(t, TensorType):
        return None
    if t.shape is None:
        return TensorType(t.dtype, None)
    shape = list(t.shape)
    shape.insert(axis if axis >= 0 else len(shape) + 1 + axis, dim)
    return TensorType(t.dtype, tuple(shape))


def _without_dim(t: Type, axis: int) -> Type:
    if not isinstance(t, TensorType) or t.shape is None:
        return None if not isinstance(t, TensorType) else TensorType(t.dtype, None)
    shape = list(t.shape)
    del shape[axis]
    return TensorType(t.dtype, tuple(shape))


# -- If ----------------------------------------------------------------------------------


@kernel("If")
def if_(ctx: EvalContext, cond: np.ndarray, *, then_branch: Graph, else_branch: Graph) -> tuple[Any, ...]:
    branch = then_branch if bool(np.asarray(cond).reshape(-1)[0]) else else_branch
    return tuple(ctx.run(branch, []))


@shape_inference("If")
def infer_if(ctx: InferContext) -> list[Type]:
    then_outs = ctx.attr("then_branch").outputs
    else_outs = ctx.attr("else_branch").outputs
    if len(then_outs) != len(else_outs):
        raise ctx.fail(f"then_branch has {len(then_outs)} outputs but else_branch has {len(else_outs)}")
    cond = ctx.const(0)
    if cond is not None and cond.size == 1:
        return [v.type for v in (then_outs if bool(cond.reshape(-1)[0]) else else_outs)]
    return [join_types(a.type, b.type) for a, b in zip(then_outs, else_outs, strict=True)]


# -- Loop --------------------------------------------------------------------------------


@kernel("Loop")
def loop(ctx: EvalContext, *args: Any, body: Graph) -> tuple[Any, ...]:
    inputs = padded_inputs(ctx, args)
    trip_count, cond, *states = inputs + [None] * (2 - len(inputs))  # Loop(M, "") is stored as Loop(M)
    n_state = len(states)
    keep_going = True if cond is None else bool(np.asarray(cond).reshape(-1)[0])
    scans: list[list[Any]] = []
    i = 0
    while keep_going and (trip_count is None or i < int(trip_count)):
        outs = ctx.run(body, [np.array(i, np.int64), np.array(keep_going), *states])
        # the spec ignores the body's condition when the cond input is omitted; ONNX Runtime does not
        keep_going = bool(np.asarray(outs[0]).reshape(-1)[0])
        states = outs[1:1 + n_state]
        scans.append(outs[1 + n_state:])
        i += 1
    scan_values = body.outputs[1 + n_state:]
    return (*states, *(stack_outputs([s[j] for s in scans], v) for j, v in enumerate(scan_values)))


@shape_inference("Loop")
def infer_loop(ctx: InferContext) -> list[Type]:
    body: Graph = ctx.attr("body")
    n_state = max(ctx.num_inputs - 2, 0)  # Loop(M, "") is stored as Loop(M): trailing omitted inputs drop
    init = [ctx.type(2 + i) for i in range(n_state)]
    bind_subgraph_inputs(body, [TensorType(DType.INT64, ()), TensorType(DType.BOOL, ()), *map(loose, init)])
    outs = [v.type for v in body.outputs]
    states = [join_types(t, o) for t, o in zip(init, outs[1:1 + n_state], strict=False)]
    trips = _trip_count(ctx, body)
    return states + [_with_dim(t, 0, trips) for t in outs[1 + n_state:]]


def _trip_count(ctx: InferContext, body: Graph) -> Dim:
    """The number of iterations when it is known: a constant (or symbolic) M and no early exit."""
    m = ctx.sym(0) if ctx.has_input(0) else None
    if m is None or len(m) != 1:
        return None
    if ctx.has_input(1):
        cond = ctx.const(1)
        if cond is None or not bool(cond.reshape(-1)[0]):
            return None
    return m[0] if _keeps_going(body) else None


def _keeps_going(body: Graph) -> bool:
    """Whether the body's condition output is provably its condition input (or constant true)."""
    out, cond_in = body.outputs[0], body.inputs[1]
    while out.producer is not None and out.producer.op == "Identity" and out.producer.graph is body:
        out = out.producer.inputs[0]  # type: ignore[assignment]
    if out is cond_in:
        return True
    value = out.numpy()
    return value is not None and value.size == 1 and bool(value.reshape(-1)[0])


# -- Scan --------------------------------------------------------------------------------


@kernel("Scan")
def scan(
    ctx: EvalContext,
    *args: Any,
    body: Graph,
    num_scan_inputs: int,
    scan_input_axes: Sequence[int] | None = None,
    scan_input_directions: Sequence[int] | None = None,
    scan_output_axes: Sequence[int] | None = None,
    scan_output_directions: Sequence[int] | None = None,
) -> tuple[Any, ...]:
    values = padded_inputs(ctx, args)
    n_state = len(values) - num_scan_inputs
    states = values[:n_state]
    xs = []
    for j, x in enumerate(values[n_state:]):
        x = np.moveaxis(x, _item(scan_input_axes, j) % x.ndim, 0)
        xs.append(x[::-1] if _item(scan_input_directions, j) else x)
    steps = xs[0].shape[0] if xs else 0
    per_step = []
    for t in range(steps):
        outs = ctx.run(body, [*states, *(x[t] for x in xs)])
        states = outs[:n_state]
        per_step.append(outs[n_state:])
    results = []
    for k, v in enumerate(body.outputs[n_state:]):
        y = stack_outputs([s[k] for s in per_step], v)
        if _item(scan_output_directions, k):
            y = y[::-1]
        results.append(np.moveaxis(y, 0, _item(scan_output_axes, k) % y.ndim))
    return (*states, *results)


def _item(values: Sequence[int] | None, i: int) -> int:
    return 0 if values is None else int(values[i])


@shape_inference("Scan")
def infer_scan(ctx: InferContext) -> list[Type]:
    body: Graph = ctx.attr("body")
    n_scan = ctx.attr("num_scan_inputs")
    n_state = ctx.num_inputs - n_scan
    in_axes, out_axes = ctx.attr("scan_input_axes"), ctx.attr("scan_output_axes")
    init = [ctx.type(i) for i in range(n_state)]
    slices, steps = [], []
    for j in range(n_scan):
        t, axis = ctx.tensor_type(n_state + j), _item(in_axes, j)
        if t is not None and t.shape is not None:
            axis %= len(t.shape)
            steps.append(t.shape[axis])
        slices.append(_without_dim(t, axis))
    bind_subgraph_inputs(body, [*map(loose, init), *slices])
    outs = [v.type for v in body.outputs]
    states = [join_types(t, o) for t, o in zip(init, outs[:n_state], strict=False)]
    length = next((d for d in steps if isinstance(d, int)), steps[0] if steps else None)
    return states + [_with_dim(t, _item(out_axes, k), length) for k, t in enumerate(outs[n_state:])]
