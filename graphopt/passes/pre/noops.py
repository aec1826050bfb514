"""Eliminate no-ops: nodes whose output is provably one of their inputs (Identity, inference Dropout,
Cast to the same dtype, Reshape/Expand/Flatten to the same shape, whole Slice, zero Pad, identity
Transpose, one-input Concat, one-output Split, Squeeze/Unsqueeze of nothing, Tile by ones, Resize by
scale 1, Where with a constant all-true/all-false condition).

Each is a rewrite rule whose check refuses, with a reason, unless the shapes are statically known to
be unchanged (symbolic dims count as equal when they have the same name). The shapes are the types
recorded on the values, so run ``infer-shapes`` first (the pre stage does). Arithmetic identities
(``Mul`` by 1, ``Add`` of 0) belong to ``simplify``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from graphopt.ir.core import Value
from graphopt.ir.dtypes import DType
from graphopt.ir.printer import format_type
from graphopt.ir.tensor import ArrayTensor
from graphopt.ir.types import TensorType, merge_types
from graphopt.passes.base import register_pass
from graphopt.passes.rewrite import Builder, Match, Op, Rule, RulePass, RuleSet, const, op, optional, var

Keep = Callable[[Match], Value | str]
"""Given a match, the input value that the node's output equals, or the reason it cannot be proven."""

INTERFACE_REASON = "would merge two graph interface values"
INPUT_TYPE_REASON = "the output's type is more precise than the graph input's; removing the node would lose it"


class NoopRule(Rule):
    """Replaces the root's (first) output by the input ``keep`` picks, unless that would change the interface."""

    def __init__(self, name: str, pattern: Op, keep: Keep | None = None) -> None:
        self.name = name
        self.pattern = pattern
        self.keep = keep if keep is not None else (lambda m: m["x"])

    def check(self, m: Match) -> str | None:
        kept = self.keep(m)
        if isinstance(kept, str):
            return kept
        out = m.root.outputs[0]
        if out is None:
            return None
        if out.is_graph_output and (_is_input(kept) or kept.is_graph_output):
            return INTERFACE_REASON
        if _is_input(kept) and merge_types(kept.type, out.type) != kept.type:
            return INPUT_TYPE_REASON  # the interface type stays as declared, so the readers would see less
        return None

    def rewrite(self, m: Match, b: Builder) -> Value | Sequence[Value | None] | None:
        kept = self.keep(m)
        assert isinstance(kept, Value)
        return kept


class InferenceDropout(NoopRule):
    """Dropout outside training is its input; a used mask output becomes an all-true tensor of its shape."""

    def __init__(self) -> None:
        super().__init__("dropout-inference", op("Dropout", var("x"), optional("ratio"), optional("training_mode")),
                         _dropout_keep)

    def rewrite(self, m: Match, b: Builder) -> Sequence[Value | None]:
        x: Value = m["x"]
        outs = m.root.outputs
        if len(outs) < 2 or outs[1] is None or not outs[1].has_uses:
            return [x]
        shape = x.shape
        if shape is not None and all(isinstance(d, int) for d in shape):
            dims = b.const(np.array(shape, np.int64))
        else:
            dims = b.op("Shape", [x])
        mask = b.op("ConstantOfShape", [dims], {"value": ArrayTensor(np.array([True]))})
        return [x, mask]


def _is_input(v: Value) -> bool:
    """A graph input (of this graph or an enclosing one): neither produced by a node nor constant."""
    return v.producer is None and v.const is None


# -- shape facts -------------------------------------------------------------------------

def same_shape(a: Value, b: Value) -> bool:
    """Whether ``a`` and ``b`` provably have the same dtype and shape (equal ints or equal symbols)."""
    ta, tb = a.type, b.type
    if not isinstance(ta, TensorType) or not isinstance(tb, TensorType) or ta.dtype != tb.dtype:
        return False
    if ta.shape is None or tb.shape is None or len(ta.shape) != len(tb.shape):
        return False
    return all(x is not None and x == y for x, y in zip(ta.shape, tb.shape, strict=True))


def _unchanged(m: Match, kept: Value | None = None) -> Value | str:
    """The kept value (default ``x``) when the root's output provably has its shape; else the reason."""
    kept = m["x"] if kept is None else kept
    out = m.root.outputs[0]
    assert out is not None
    if same_shape(kept, out):
        return kept
    return f"output {format_type(out.type)} is not known to have the shape of input {format_type(kept.type)}"


# -- the checks --------------------------------------------------------------------------

def _dropout_keep(m: Match) -> Value | str:
    mode = m.get("training_mode")
    if mode is None:
        return m["x"]
    flag = mode.numpy()
    if flag is None:
        return "training_mode is not a constant"
    return "training_mode is true" if bool(np.asarray(flag).reshape(-1)[0]) else m["x"]


def _cast_keep(m: Match) -> Value | str:
    x: Value = m["x"]
    if x.dtype is None or x.dtype == DType.UNDEFINED:
        return "input dtype is unknown"
    to = DType(m.root.attr("to"))
    return x if x.dtype == to else f"casts {x.dtype.short} to {to.short}"


def _cast_like_keep(m: Match) -> Value | str:
    x, like = m["x"], m["like"]
    if x.dtype in (None, DType.UNDEFINED) or like.dtype in (None, DType.UNDEFINED):
        return "input dtype is unknown"
    return x if x.dtype == like.dtype else f"casts {x.dtype.short} to {like.dtype.short}"


def _slice_keep(m: Match) -> Value | str:
    steps = m.get("steps")
    if steps is not None:
        values = steps.numpy()
        if values is None:
            return "steps are not constant"
        if not np.all(values == 1):
            return "steps are not all 1"
    return _unchanged(m)


def _all_equal(name: str, target: int) -> Keep:
    def keep(m: Match) -> Value | str:
        values = m.const(name)
        return m["x"] if np.all(values == target) else f"{name} are not all {target}"

    return keep


def _transpose_keep(m: Match) -> Value | str:
    x: Value = m["x"]
    perm = m.root.attr("perm")
    if perm is None:  # the default perm reverses the dims
        rank = None if x.shape is None else len(x.shape)
        if rank is None:
            return "input rank is unknown (the default perm reverses the dims)"
        return x if rank <= 1 else "the default perm reverses the dims"
    return x if tuple(perm) == tuple(range(len(perm))) else f"perm {list(perm)} is not the identity"


def _split_keep(m: Match) -> Value | str:
    return m["x"] if len(m.root.outputs) == 1 else f"splits into {len(m.root.outputs)} outputs"


def _squeeze_keep(m: Match) -> Value | str:
    axes = m.get("axes")
    if axes is not None:
        values = axes.numpy()
        if values is None:
            return "axes are not constant"
        if values.size:
            return "squeezes the given axes"
    # No (or empty) axes squeezes every dim of size 1; ONNX Runtime reads empty axes that way too.
    x: Value = m["x"]
    if x.shape is None or not all(isinstance(d, int) and d != 1 for d in x.shape):
        return f"input {format_type(x.type)} may have dims of size 1, which Squeeze without axes removes"
    return x


def _unsqueeze_keep(m: Match) -> Value | str:
    values = m["axes"].numpy()
    if values is None:
        return "axes are not constant"
    return m["x"] if values.size == 0 else "inserts dims"


RESIZE_MODES = frozenset({"nearest", "linear"})
RESIZE_COORDINATES = frozenset({"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                                "asymmetric"})
"""Coordinate transformations that map every output pixel onto the same input pixel at scale 1."""


def _resize_keep(m: Match) -> Value | str:
    node = m.root
    if node.attr("mode") not in RESIZE_MODES:
        return f"mode {node.attr('mode')!r} is not nearest or linear"
    coordinates = node.attr("coordinate_transformation_mode")
    if coordinates not in RESIZE_COORDINATES:
        return f"coordinate_transformation_mode {coordinates!r} may move pixels at scale 1"
    scales, sizes = m.get("scales"), m.get("sizes")
    if scales is not None and scales.shape != (0,):
        values = scales.numpy()
        if values is None:
            return "scales are not constant"
        if not np.all(values == 1):
            return "scales are not all 1"
    elif sizes is None:
        return "neither scales nor sizes are given"
    return _unchanged(m)  # with sizes, the output shape says whether they equal the input's


def _where_keep(m: Match) -> Value | str:
    cond = m.const("cond")
    if cond.size and np.all(cond):
        kept = m["x"]
    elif cond.size and not np.any(cond):
        kept = m["y"]
    else:
        return "condition is neither all true nor all false"
    return _unchanged(m, kept)


NOOP_RULES = RuleSet([
    NoopRule("identity", op("Identity", var("x"))),
    InferenceDropout(),
    NoopRule("cast-same-dtype", op("Cast", var("x")), _cast_keep),
    NoopRule("castlike-same-dtype", op("CastLike", var("x"), var("like")), _cast_like_keep),
    NoopRule("reshape-same-shape", op("Reshape", var("x"), var()), _unchanged),
    NoopRule("expand-same-shape", op("Expand", var("x"), var()), _unchanged),
    NoopRule("flatten-same-shape", op("Flatten", var("x")), _unchanged),
    NoopRule("slice-everything", op("Slice", var("x"), var(), var(), optional("axes"), optional("steps")),
             _slice_keep),
    NoopRule("pad-zero", op("Pad", var("x"), const("pads"), optional("value"), optional("axes")),
             _all_equal("pads", 0)),
    NoopRule("transpose-identity", op("Transpose", var("x")), _transpose_keep),
    NoopRule("concat-single", op("Concat", var("x"))),
    NoopRule("split-single", op("Split", var("x"), optional("split")), _split_keep),
    NoopRule("squeeze-nothing", op("Squeeze", var("x"), optional("axes")), _squeeze_keep),
    NoopRule("unsqueeze-nothing", op("Unsqueeze", var("x"), var("axes")), _unsqueeze_keep),
    NoopRule("tile-ones", op("Tile", var("x"), const("repeats")), _all_equal("repeats", 1)),
    NoopRule("resize-unit-scale", op("Resize", var("x"), optional("roi"), optional("scales"), optional("sizes")),
             _resize_keep),
    NoopRule("where-constant-condition", op("Where", const("cond"), var("x"), var("y")), _where_keep),
])


@register_pass
class EliminateNoops(RulePass):
    """Removes nodes whose output is provably one of their inputs."""

    name = "eliminate-noops"
    level = 1
    stage = "pre"
    doc = "remove Identity, inference Dropout, same-dtype Cast and other nodes that return an input unchanged"
    rules = NOOP_RULES
