"""Pattern pieces shared by the replace-patterns rule families: near-constants, alternatives, shape checks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphopt.ir.core import Value
from graphopt.ir.dtypes import DType
from graphopt.passes.rewrite import Match, Pattern

RTOL = 1e-6
"""Relative tolerance of constants (widened to the dtype's epsilon for float16)."""

FLOATS = (DType.FLOAT, DType.FLOAT16, DType.DOUBLE)
_NUMERIC_KINDS = "fiu"


def _scalar(v: Value | None) -> np.ndarray | None:
    """The array of ``v`` when it is a one-element numeric constant."""
    if v is None or v.const is None:
        return None
    a = v.numpy()
    return a if a is not None and a.size == 1 and a.dtype.kind in _NUMERIC_KINDS else None


@dataclass(frozen=True)
class Near(Pattern):
    """A one-element constant equal to ``value`` within :data:`RTOL` (exactly, for integers)."""

    value: float
    name: str | None = None

    def match_value(self, v: Value | None, m: Match) -> str | None:
        a = _scalar(v)
        if a is None:
            return f"expected the scalar constant {self.value:.9g}"
        tol = max(RTOL, float(np.finfo(a.dtype).eps)) if a.dtype.kind == "f" else 0.0
        got = float(a.reshape(()))
        if abs(got - self.value) > tol * abs(self.value):
            return f"constant {got:.9g} is not {self.value:.9g}"
        return m.bind(self.name, v)


@dataclass(frozen=True)
class Scalar(Pattern):
    """Any one-element floating-point constant."""

    name: str | None = None

    def match_value(self, v: Value | None, m: Match) -> str | None:
        a = _scalar(v)
        if a is None or a.dtype.kind != "f":
            return f"{self.name or 'operand'} is not a floating-point scalar constant"
        return m.bind(self.name, v)


@dataclass(frozen=True)
class Either(Pattern):
    """The first of ``options`` that matches."""

    options: tuple[Pattern, ...]

    def match_value(self, v: Value | None, m: Match) -> str | None:
        reasons = []
        for p in self.options:
            trial = m.fork()
            reason = p.match_value(v, trial)
            if reason is None:
                m.bindings = trial.bindings
                m.nodes += trial.nodes
                return None
            reasons.append(reason)
        return " / ".join(dict.fromkeys(reasons))


def either(*options: Pattern) -> Either:
    return Either(options)


def scalar_value(m: Match, name: str, default: float) -> float:
    """The value of the scalar constant bound to ``name``, or ``default`` when the option binding it did not match."""
    v = m.get(name)
    return default if v is None else float(v.numpy().reshape(()))


def float_input(x: Value) -> str | None:
    """Refusal reason unless ``x`` is a floating-point tensor of known rank."""
    if x.dtype not in FLOATS:
        return f"dtype {x.dtype} is not a floating-point type"
    if x.shape is None:
        return "rank is unknown"
    return None


def constants_keep_shape(m: Match, x: Value) -> str | None:
    """Refusal reason unless ``x`` is a float tensor of known rank and no matched constant (all one-element
    here) broadcasts it to a higher rank or has another dtype."""
    reason = float_input(x)
    if reason is not None:
        return reason
    for n in m.nodes:
        for c in n.inputs:
            if c is None or c.const is None or n.op in ("Pow", "ReduceMean", "ReduceSum", "ReduceMax"):
                continue
            if c.dtype != x.dtype:
                return f"constant of dtype {c.dtype} next to a {x.dtype} tensor"
            if len(c.const.shape) > len(x.shape):
                return f"a constant of rank {len(c.const.shape)} broadcasts the rank-{len(x.shape)} input"
    return None


def internal(m: Match, *values: Value) -> str | None:
    """Refusal reason unless every use of ``values`` (matched as shared) is inside the match."""
    nodes = set(m.nodes)
    for v in values:
        if v.is_graph_output or any(u.node not in nodes for u in v.uses):
            return f"{v.name or 'an intermediate value'} is also used outside the pattern"
    return None


def trailing_axes(axes: np.ndarray | None, rank: int) -> int | None:
    """``k`` when ``axes`` are exactly the last ``k`` axes of a rank-``rank`` tensor, else None."""
    if axes is None or axes.ndim != 1 or axes.size == 0:
        return None
    norm = sorted({int(a) % rank for a in axes.tolist() if -rank <= int(a) < rank})
    k = len(norm)
    return k if len(axes) == k and norm == list(range(rank - k, rank)) else None
