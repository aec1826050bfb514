"""fuse-slices: Split/Slice/Concat chains that cut a tensor apart and glue pieces back together.

- ``concat-concat``: a Concat input that is itself a Concat on the same axis is replaced by its inputs.
- ``concat-slices``: adjacent Concat inputs that are contiguous pieces of one tensor along the Concat
  axis (Slices with step 1 that cut only that axis, or Split outputs) become one Slice of it, or the
  tensor itself when they cover the whole axis; so a Split whose outputs are concatenated in order
  disappears, and a Concat left with one input is that input.
- ``split-concat``: a Split of a Concat along the same axis whose cuts fall on the Concat's seams gives
  back the Concat's inputs (or smaller Concats of them).
- ``slice-of-concat``: a Slice of a Concat along its axis that stays inside one input slices that input.
- ``slice-whole-axes``: a Slice's parameters for axes it takes whole are dropped (a Slice that takes
  everything is left to ``eliminate-noops``).

All of them only move data, so they are exact. Pieces are located with static lengths along the
sliced axis; other dims may be symbolic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphopt.ir.core import Node, Value
from graphopt.passes.base import register_pass
from graphopt.passes.optimize.slice_math import AMBIGUOUS_REASON, INT64_MAX, AxisSlice, is_ambiguous, slice_params
from graphopt.passes.rewrite import Builder, Match, Op, Rule, RulePass, RuleSet, op, optional, var

INTERFACE_REASON = "would merge two graph interface values"


class AnyInputs(Op):
    """Matches a node of type ``op`` whatever its inputs (a variadic Concat); the rule reads them itself."""

    def match_node(self, node: Node, m: Match) -> str | None:
        if node.op != self.op or node.domain != self.domain:
            return f"expected {self.op}, found {node.op}"
        reason = m.bind(self.name, node)
        if reason is None and node is not m.root:
            m.nodes.append(node)
        return reason


def any_inputs(op_type: str, name: str | None = None, shared: bool = False) -> AnyInputs:
    return AnyInputs(op_type, (), name, shared=shared)


def _rank(v: Value | None) -> int | None:
    return None if v is None or v.shape is None else len(v.shape)


def _axis(node: Node, rank: int | None) -> int | None:
    """The node's ``axis`` attribute in ``[0, rank)`` (None when negative with the rank unknown)."""
    axis = int(node.attr("axis"))
    if axis >= 0:
        return axis
    return None if rank is None else axis + rank


def _static_dim(v: Value, axis: int) -> int | None:
    shape = v.shape
    dim = shape[axis] if shape is not None and 0 <= axis < len(shape) else None
    return dim if isinstance(dim, int) else None


@dataclass(frozen=True)
class Piece:
    """``source[start:stop]`` along ``axis``, every other axis whole."""

    source: Value
    axis: int
    start: int
    stop: int


def piece_of(v: Value) -> Piece | str:
    """Which contiguous piece of which tensor ``v`` is, or why it is not one."""
    node = v.producer
    if node is None or node.domain:
        return "not made by a Slice or Split"
    if node.op == "Split":
        return _split_piece(node, v)
    if node.op == "Slice":
        return _slice_piece(node)
    return f"made by {node.op}, not a Slice or Split"


def _split_piece(node: Node, v: Value) -> Piece | str:
    x = node.inputs[0]
    assert x is not None
    axis = _axis(node, _rank(x))
    if axis is None:
        return "Split axis is negative with the input's rank unknown"
    lengths = [None if o is None else _static_dim(o, axis) for o in node.outputs]
    if any(n is None for n in lengths):
        return "a Split output's length along the axis is not static"
    start = sum(lengths[:v.index])  # type: ignore[arg-type]
    return Piece(x, axis, start, start + lengths[v.index])  # type: ignore[operator]


def _slice_piece(node: Node) -> Piece | str:
    x = node.inputs[0]
    assert x is not None
    params = slice_params(node, _rank(x))
    if isinstance(params, str):
        return params
    cuts: list[tuple[int, AxisSlice]] = []
    for axis, (start, end, step) in params.items():
        dim = _static_dim(x, axis)
        if _takes_whole(x, axis, start, end, step):
            continue
        if dim is None:
            return f"Slice cuts axis {axis}, whose length is not static"
        if is_ambiguous(start, end, step, dim):
            return AMBIGUOUS_REASON
        cuts.append((axis, AxisSlice.of(start, end, step, dim)))
    if len(cuts) != 1:
        return "Slice takes the whole tensor" if not cuts else "Slice cuts more than one axis"
    axis, taken = cuts[0]
    if taken.step != 1 and taken.count > 1:
        return f"Slice steps by {taken.step}"
    return Piece(x, axis, taken.first, taken.first + taken.count)


def _takes_whole(x: Value, axis: int, start: int, end: int, step: int) -> bool:
    """Whether Slice parameters take all of ``x``'s ``axis`` (known even for a symbolic length when they run
    from 0 to the largest index)."""
    dim = _static_dim(x, axis)
    if dim is None:
        return (start, step) == (0, 1) and end >= INT64_MAX // 2
    return not is_ambiguous(start, end, step, dim) and AxisSlice.of(start, end, step, dim).is_whole(dim)


def _slice(b: Builder, x: Value, axis: int, start: int, stop: int) -> Value:
    """``x[start:stop]`` along ``axis``, or ``x`` itself when that is all of it."""
    if start == 0 and stop == _static_dim(x, axis):
        return x
    return b.op("Slice", [x, *(b.const(np.array([i], np.int64)) for i in (start, stop, axis))])


def _crosses_interface(out: Value | None, result: Value) -> bool:
    """Whether replacing ``out`` by ``result`` would make a graph input, constant or another graph output
    a graph output too."""
    return out is not None and out.is_graph_output and (result.producer is None or result.is_graph_output)


def _claim(m: Match, nodes: list[Node | None]) -> None:
    """Count ``nodes`` as matched: they are named in the provenance and removed once nothing reads them."""
    m.nodes += [n for n in dict.fromkeys(nodes) if n is not None and n not in m.nodes]


# -- Concat ------------------------------------------------------------------------------


class ConcatConcat(Rule):
    name = "concat-concat"
    pattern = any_inputs("Concat")

    def _inner(self, m: Match) -> list[Node | None] | str:
        """Per input, the Concat to inline (None: keep the input)."""
        rank = _rank(m.root.output)
        axis = _axis(m.root, rank)
        inner: list[Node | None] = []
        for v in m.root.inputs:
            n = None if v is None else v.producer
            same = n is not None and n.op == "Concat" and not n.domain and axis is not None and _axis(n, rank) == axis
            inner.append(n if same else None)
        return inner if any(n is not None for n in inner) else "no input is a Concat along the same axis"

    def check(self, m: Match) -> str | None:
        inner = self._inner(m)
        if isinstance(inner, str):
            return inner
        _claim(m, inner)
        return None

    def rewrite(self, m: Match, b: Builder) -> Value:
        inner = self._inner(m)
        assert not isinstance(inner, str)
        inputs = [w for v, n in zip(m.root.inputs, inner) for w in (n.inputs if n is not None else [v])]
        return b.op("Concat", inputs, dict(m.root.attrs))


@dataclass
class _Run:
    """Consecutive Concat inputs that together are ``piece`` (None: one input that is no piece)."""

    values: list[Value]
    piece: Piece | None


class ConcatSlices(Rule):
    name = "concat-slices"
    pattern = any_inputs("Concat")

    def _runs(self, m: Match) -> list[_Run] | str:
        axis = _axis(m.root, _rank(m.root.output))
        if axis is None:
            return "the Concat axis is negative and the rank unknown"
        runs: list[_Run] = []
        reasons: list[str] = []
        for v in m.root.inputs:
            assert v is not None
            piece = piece_of(v)
            if isinstance(piece, str) or piece.axis != axis:
                reasons.append(piece if isinstance(piece, str) else f"a piece along axis {piece.axis}, not {axis}")
                runs.append(_Run([v], None))
                continue
            last = runs[-1].piece if runs else None
            if last is not None and last.source is piece.source and last.stop == piece.start:
                runs[-1].piece = Piece(piece.source, axis, last.start, piece.stop)
                runs[-1].values.append(v)
            else:
                runs.append(_Run([v], piece))
        if all(len(r.values) == 1 for r in runs):
            if len(runs) - len(reasons) < 2 and reasons:
                return reasons[0]
            return "no two adjacent inputs are contiguous pieces of one tensor"
        whole = runs[0].piece
        if len(runs) == 1 and whole is not None and (whole.start, whole.stop) == (0, _static_dim(whole.source, axis)) \
                and _crosses_interface(m.root.output, whole.source):
            return INTERFACE_REASON
        return runs

    def check(self, m: Match) -> str | None:
        runs = self._runs(m)
        if isinstance(runs, str):
            return runs
        _claim(m, [v.producer for r in runs if len(r.values) > 1 for v in r.values])
        return None

    def rewrite(self, m: Match, b: Builder) -> Value:
        runs = self._runs(m)
        assert not isinstance(runs, str)
        inputs = [r.values[0] if len(r.values) == 1 or r.piece is None else
                  _slice(b, r.piece.source, r.piece.axis, r.piece.start, r.piece.stop) for r in runs]
        return inputs[0] if len(inputs) == 1 else b.op("Concat", inputs, dict(m.root.attrs))


# -- Split and Slice of a Concat ------------------------------------------------------------


def _seams(concat: Node, axis: int) -> list[int] | str:
    """Offsets where the Concat's inputs start along ``axis``, then its total length."""
    offsets = [0]
    for v in concat.inputs:
        n = None if v is None else _static_dim(v, axis)
        if n is None:
            return "a Concat input's length along the axis is not static"
        offsets.append(offsets[-1] + n)
    return offsets


class SplitConcat(Rule):
    name = "split-concat"
    pattern = op("Split", any_inputs("Concat", "concat", shared=True), optional())

    def _groups(self, m: Match) -> list[list[Value]] | str:
        """Per Split output, the Concat inputs it equals the concatenation of."""
        concat: Node = m["concat"]
        rank = _rank(concat.output)
        axis = _axis(m.root, rank)
        if axis is None or axis != _axis(concat, rank):
            return "the Split and the Concat are along different axes"
        seams = _seams(concat, axis)
        if isinstance(seams, str):
            return seams
        groups: list[list[Value]] = []
        start = 0
        for out in m.root.outputs:
            n = None if out is None else _static_dim(out, axis)
            if n is None:
                return "a Split output's length along the axis is not static"
            if n == 0:
                return "a Split output is empty"
            if start not in seams or start + n not in seams:
                return f"the Split cuts at {start + n if start in seams else start}, inside a Concat input"
            groups.append([v for v, at in zip(concat.inputs, seams) if start <= at < start + n])  # type: ignore[misc]
            start += n
        return groups

    def check(self, m: Match) -> str | None:
        groups = self._groups(m)
        if isinstance(groups, str):
            return groups
        for out, group in zip(m.root.outputs, groups):
            if len(group) == 1 and _crosses_interface(out, group[0]):
                return INTERFACE_REASON
        return None

    def rewrite(self, m: Match, b: Builder) -> list[Value | None]:
        groups = self._groups(m)
        assert not isinstance(groups, str)
        attrs = dict(m["concat"].attrs)
        return [None if out is None else group[0] if len(group) == 1 else b.op("Concat", group, attrs)
                for out, group in zip(m.root.outputs, groups)]


class SliceOfConcat(Rule):
    name = "slice-of-concat"
    pattern = op("Slice", any_inputs("Concat", "concat", shared=True), var(), var(), optional(), optional())

    def _target(self, m: Match) -> tuple[Value, int, int, int] | str:
        """(input, axis, start, stop) of the one Concat input the Slice stays inside."""
        concat: Node = m["concat"]
        piece = _slice_piece(m.root)
        if isinstance(piece, str):
            return piece
        if piece.axis != _axis(concat, _rank(concat.output)):
            return "the Slice cuts another axis than the Concat's"
        seams = _seams(concat, piece.axis)
        if isinstance(seams, str):
            return seams
        if piece.start == piece.stop:
            return "the Slice is empty"
        for v, lo, hi in zip(concat.inputs, seams, seams[1:]):
            if lo <= piece.start and piece.stop <= hi:
                assert v is not None
                return v, piece.axis, piece.start - lo, piece.stop - lo
        return "the Slice spans more than one Concat input"

    def check(self, m: Match) -> str | None:
        target = self._target(m)
        if isinstance(target, str):
            return target
        v, axis, start, stop = target
        if (start, stop) == (0, _static_dim(v, axis)) and _crosses_interface(m.root.output, v):
            return INTERFACE_REASON
        return None

    def rewrite(self, m: Match, b: Builder) -> Value:
        target = self._target(m)
        assert not isinstance(target, str)
        return _slice(b, *target)


class SliceWholeAxes(Rule):
    name = "slice-whole-axes"
    pattern = op("Slice", var("x"), var(), var(), optional(), optional())

    def _kept(self, m: Match) -> dict[int, tuple[int, int, int]] | str:
        x: Value = m["x"]
        params = slice_params(m.root, _rank(x))
        if isinstance(params, str):
            return params
        kept = {axis: p for axis, p in params.items() if not _takes_whole(x, axis, *p)}
        if len(kept) == len(params):
            return "no axis is taken whole"
        return kept if kept else "the Slice takes everything (eliminate-noops removes it)"

    def check(self, m: Match) -> str | None:
        kept = self._kept(m)
        return kept if isinstance(kept, str) else None

    def rewrite(self, m: Match, b: Builder) -> Value:
        kept = self._kept(m)
        assert not isinstance(kept, str)
        columns = list(zip(*((s, e, axis, p) for axis, (s, e, p) in kept.items()), strict=True))
        if all(p == 1 for p in columns[3]):
            columns.pop()
        return b.op("Slice", [m["x"], *(b.const(np.array(c, np.int64)) for c in columns)])


RULES = RuleSet([ConcatConcat(), ConcatSlices(), SplitConcat(), SliceOfConcat(), SliceWholeAxes()])


@register_pass
class FuseSlices(RulePass):
    name = "fuse-slices"
    level = 2
    stage = "optimize"
    doc = "merge Split/Slice/Concat chains: nested Concats, Concats of adjacent slices, Splits of Concats …"
    rules = RULES
