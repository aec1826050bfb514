"""ONNX Slice index arithmetic on one axis: what elements a (start, end, step) takes, and back.

A slice of an axis of static length ``dim`` takes ``count`` elements ``first, first + step, …``; this
module turns Slice parameters into that form (with ONNX's rules for negative and out-of-range indices),
composes two slices of the same axis, and writes the result back as Slice parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphopt.ir.core import Node

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class AxisSlice:
    """``count`` elements of an axis, from index ``first`` in steps of ``step`` (never 0)."""

    first: int
    count: int
    step: int

    @staticmethod
    def of(start: int, end: int, step: int, dim: int) -> AxisSlice:
        """The elements ``Slice`` takes from an axis of length ``dim`` (ONNX's clamping rules)."""
        if step == 0:
            raise ValueError("a Slice step of 0 is invalid")
        start, end = start + dim if start < 0 else start, end + dim if end < 0 else end
        if step > 0:
            start, end = min(max(start, 0), dim), min(max(end, 0), dim)
            count = max(0, -(-(end - start) // step))
        else:
            start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
            count = max(0, -(-(start - end) // -step))
        return AxisSlice(start if count else 0, count, step)

    def then(self, inner: AxisSlice) -> AxisSlice:
        """This slice followed by ``inner``, a slice of this one's result."""
        return AxisSlice(self.first + self.step * inner.first, inner.count, self.step * inner.step)

    def is_whole(self, dim: int) -> bool:
        return self.first == 0 and self.count == dim and self.step == 1

    def params(self) -> tuple[int, int, int]:
        """(start, end, step) that take exactly these elements, whatever the axis length."""
        if self.count == 0:
            return 0, 0, 1
        end = self.first + self.step * self.count
        if self.step < 0 and end < 0:
            end = INT64_MIN  # "before index 0"; a plain -1 would mean the last element
        return self.first, end, self.step


AMBIGUOUS_REASON = "a negative step from before the axis or to end INT64_MAX, which runtimes read differently"


def is_ambiguous(start: int, end: int, step: int, dim: int) -> bool:
    """Whether runtimes disagree on this slice. With a negative step, ONNX's text clamps a ``start < -dim``
    to 0 and ONNX Runtime follows it (taking element 0), and ONNX Runtime reads ``end = INT64_MAX`` as "to
    the beginning"; numpy, ONNX's reference evaluator and graphopt's kernel take nothing in the first case
    and clamp the end to the last element in the second. Rules leave such slices as they are."""
    return step < 0 and (start < -dim or end == INT64_MAX)


def slice_params(node: Node, rank: int | None) -> dict[int, tuple[int, int, int]] | str:
    """A Slice node's constant parameters as axis → (start, end, step), axes in ``[0, rank)`` when the rank
    is known; or the reason they cannot be read."""
    starts, ends, axes, steps = (list(node.inputs[1:]) + [None] * 4)[:4]
    if starts is None or ends is None or any(v is not None and v.const is None for v in (starts, ends, axes, steps)):
        return "a slice parameter is not constant"
    s = [int(i) for i in starts.numpy().reshape(-1)]  # type: ignore[union-attr]
    e = [int(i) for i in ends.numpy().reshape(-1)]  # type: ignore[union-attr]
    a = list(range(len(s))) if axes is None else [int(i) for i in axes.numpy().reshape(-1)]  # type: ignore[union-attr]
    p = [1] * len(s) if steps is None else [int(i) for i in steps.numpy().reshape(-1)]  # type: ignore[union-attr]
    if rank is None and any(i < 0 for i in a):
        return "negative axes with the input's rank unknown"
    if 0 in p:
        return "a step is 0"
    a = [i + rank if rank is not None and i < 0 else i for i in a]
    return {axis: (start, end, step) for axis, start, end, step in zip(a, s, e, p, strict=True)}
