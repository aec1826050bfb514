"""simplify: algebraic identities as rewrite rules, each with the reason it refuses a near-miss.

What each rule does to float results (integers are always exact: their arithmetic wraps, which the
merged forms respect):

- bit-exact: ``x*1``, ``x/1``, ``x-(+0)``, ``x+(-0)``, ``(-0)-x → -x``, ``Pow(x, 1)``, ``Pow(x, 2) → x*x``
  (both the correctly rounded square), ``--x``, ``!!x``, ``Relu(Relu(x))``, ``Abs(Abs(x))``, ``x&x``,
  ``x|x``, Transpose/Reshape/Squeeze/Unsqueeze pairs, Slice pairs, a Transpose that only moves dims of
  size 1 (→ Reshape), Cast chains whose middle type holds every value of the source type, and
  ``x/c → x*(1/c)`` when every ``c`` is a power of two (both sides round the same real number once).
- exact except for the sign of zero: ``x+(+0) → x`` and ``(+0)-x → -x`` (``-0+0`` is ``+0``).
- reassociation: ``(x*c1)*c2 → x*(c1*c2)``, ``(x/c1)/c2 → x/(c1*c2)`` and ``(x+c1)+c2 → x+(c1+c2)`` round
  differently. The merged constant is computed in float64 and rounded once, so each side is two roundings
  away from the exact result: products and quotients end at most 2 ulp apart (measured on 4e8 float32
  samples: 65 % identical, 34 % 1 ulp, 0.3 % 2 ulp), sums within about one ulp of the largest of
  ``x+c1``, ``c1+c2`` and the result. A merge is refused when the merged constant would overflow or
  become subnormal (lose precision) where the exact value is a normal number.

``Simplify(exact=True)`` keeps only what is bit-exact, zero signs included. ``x*0`` is never folded for
floats: it is NaN when ``x`` is NaN or ±inf. ``Cast(x, to=dtype of x)`` is left to eliminate-noops.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import ml_dtypes
import numpy as np

from graphopt.ir.core import Graph, Value
from graphopt.ir.dtypes import DType
from graphopt.ir.types import Shape
from graphopt.passes.base import PassResult, register_pass
from graphopt.passes.optimize.slice_math import AMBIGUOUS_REASON, AxisSlice, is_ambiguous, slice_params
from graphopt.passes.rewrite import (
    Builder,
    Match,
    Op,
    Rule,
    RulePass,
    RuleSet,
    Var,
    apply_rules,
    const,
    op,
    optional,
    unused_constants,
    var,
)

logger = logging.getLogger(__name__)

MAX_ZERO_ELEMENTS = 1024
"""``x*0`` on integers becomes a zero constant only up to this many elements."""

_SIGNED = frozenset({DType.INT8, DType.INT16, DType.INT32, DType.INT64})
_IEEE_FLOATS = frozenset({DType.FLOAT16, DType.BFLOAT16, DType.FLOAT, DType.DOUBLE})  # have inf and NaN


# -- small helpers -----------------------------------------------------------------------------------------

def _dtype(v: Value) -> DType | None:
    d = v.dtype
    return None if d is None or d == DType.UNDEFINED else d


def _is_float(v: Value) -> bool:
    d = _dtype(v)
    return d is not None and d.is_float


def _broadcast_refusal(x: Value, c: np.ndarray) -> str | None:
    """Why combining ``x`` with a constant of ``c``'s shape might not keep ``x``'s shape (``None``: it keeps it)."""
    shape = x.shape
    if shape is None:
        return None if c.ndim == 0 else f"x's rank is unknown, so the constant {list(c.shape)} may broadcast it"
    if c.ndim > len(shape):
        return f"the constant {list(c.shape)} has a higher rank than x ({x.type})"
    for d, cd in zip(reversed(shape), reversed(c.shape)):
        if cd != 1 and d != cd:
            return f"the constant {list(c.shape)} may broadcast x ({x.type}) to a larger shape"
    return None


def _axes(a: np.ndarray, rank: int | None) -> frozenset[int] | None:
    """Axes normalized to ``[0, rank)``; ``None`` when a negative axis meets an unknown rank."""
    axes = [int(i) for i in a.reshape(-1)]
    if rank is None:
        return None if any(i < 0 for i in axes) else frozenset(axes)
    return frozenset(i % rank if -rank <= i < rank else i for i in axes)


def _float64(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float64)


def _merge(c1: np.ndarray, c2: np.ndarray, fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """``fn(c1, c2)`` in the constants' dtype; floats are computed in float64 and rounded once."""
    with np.errstate(over="ignore"):
        if DType.from_numpy(c1.dtype).is_float and c1.dtype != np.float64:
            return np.asarray(fn(_float64(c1), _float64(c2))).astype(c1.dtype)
        return np.asarray(fn(c1, c2)).astype(c1.dtype)


def _merged_is_normal(c1: np.ndarray, c2: np.ndarray, fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> bool:
    """Whether ``fn(c1, c2)`` rounded to the constants' dtype is finite and normal (or an exact zero)
    wherever ``c1`` and ``c2`` are finite."""
    wide = np.longdouble  # float64 constants: the exact value may lie beyond float64's range
    a, b = c1.astype(wide), c2.astype(wide)
    exact = fn(a, b)
    rounded = np.abs(_merge(c1, c2, fn).astype(wide))
    ok = np.isfinite(rounded) & ((rounded >= ml_dtypes.finfo(c1.dtype).tiny) | (exact == 0))
    return bool(np.all(ok | ~(np.isfinite(a) & np.isfinite(b))))


def _is_power_of_two(c: np.ndarray) -> bool:
    f = _float64(c)
    if not np.all(np.isfinite(f)) or np.any(f == 0):
        return False
    mantissa, _ = np.frexp(np.abs(f))
    return bool(np.all(mantissa == 0.5))


# -- x op identity → x ---------------------------------------------------------------------------------

class DropIdentity(Rule):
    """``x op c → x`` when every element of ``c`` is the identity of ``op`` and ``x``'s shape is kept.

    ``zero_sign`` (for additive rules in exact mode) demands the signed zero that is exact for floats.
    """

    def __init__(self, name: str, op_type: str, identity: float, *, commutative: bool = False,
                 zero_sign: int | None = None) -> None:
        self.name = name
        self.pattern = op(op_type, var("x"), const("c"), commutative=commutative)
        self.identity = identity
        self.zero_sign = zero_sign

    def check(self, m: Match) -> str | None:
        c = m.const("c")
        d = DType.from_numpy(c.dtype)
        if not (d.is_float or d.is_integer or d == DType.BOOL):
            return f"a constant of dtype {d.short} is not numeric"
        if not np.all(_float64(c) == self.identity):
            return f"the constant is not all {self.identity:g}"
        if self.zero_sign is not None and _is_float(m["x"]) and \
                not np.all(np.signbit(_float64(c)) == (self.zero_sign < 0)):
            return f"only {'-' if self.zero_sign < 0 else '+'}0 keeps the sign of a zero x exactly"
        if m["x"].dtype != m.root.output.dtype and m.root.output.dtype is not None:
            return f"the result's dtype {m.root.output.dtype} differs from x's {m['x'].dtype}"
        return _broadcast_refusal(m["x"], c)

    def rewrite(self, m: Match, b: Builder) -> Value:
        return m["x"]


class MulByZero(Rule):
    """``x*0 → 0`` for integers with a small static result; refused for floats (NaN and inf times 0 are NaN)."""

    name = "mul-by-zero"
    pattern = op("Mul", var("x"), const("c"), commutative=True)

    def check(self, m: Match) -> str | None:
        if not np.all(m.const("c") == 0):
            return "the constant is not all 0"
        if _dtype(m["x"]) is None or _is_float(m["x"]):
            return "x*0 is NaN when x is NaN or ±inf, so it is not folded for floats"
        out = m.root.output
        n = out.type.numel() if out.type is not None else None  # type: ignore[union-attr]
        if n is None:
            return "the result's shape is not static"
        if n > MAX_ZERO_ELEMENTS:
            return f"the result has {n} elements (more than {MAX_ZERO_ELEMENTS})"
        return None

    def rewrite(self, m: Match, b: Builder) -> Value:
        out = m.root.output
        return b.const(np.zeros(out.shape, out.dtype.numpy))


class SubFromZero(Rule):
    """``0 - x → Neg(x)`` for signed types; with ``zero_sign=-1`` only ``-0 - x`` (bit-exact for floats)."""

    name = "sub-from-zero"
    pattern = op("Sub", const("c"), var("x"))

    def __init__(self, zero_sign: int | None = None) -> None:
        self.zero_sign = zero_sign

    def check(self, m: Match) -> str | None:
        c, x = m.const("c"), m["x"]
        d = _dtype(x)
        if d is None or not (d.is_float or d in _SIGNED):
            return f"Neg is not defined for x's dtype ({x.type})"
        if not np.all(_float64(c) == 0):
            return "the constant is not all 0"
        if self.zero_sign is not None and d.is_float and not np.all(np.signbit(_float64(c))):
            return "only -0 - x equals -x for a zero x exactly"
        return _broadcast_refusal(x, c)

    def rewrite(self, m: Match, b: Builder) -> Value:
        return b.op("Neg", [m["x"]])


# -- f(f(x)) → x or f(x) -----------------------------------------------------------------------------

def _involution(op_type: str) -> Rule:
    return Rule.define(f"{op_type.lower()}-{op_type.lower()}", op(op_type, op(op_type, var("x"), shared=True)),
                       lambda m, b: m["x"])


def _idempotent(op_type: str) -> Rule:
    return Rule.define(f"{op_type.lower()}-{op_type.lower()}",
                       op(op_type, op(op_type, var("x"), name="inner", shared=True)),
                       lambda m, b: m.node("inner").output)


def _self_op(op_type: str) -> Rule:
    return Rule.define(f"{op_type.lower()}-self", op(op_type, var("x"), var("x")), lambda m, b: m["x"])


# -- data movement pairs ------------------------------------------------------------------------------

def _full_perm(perm: Iterable[int] | None, rank: int) -> list[int]:
    """A Transpose's perm, the default (reversing) one spelled out."""
    return list(range(rank))[::-1] if perm is None else [int(i) for i in perm]


class TransposeTranspose(Rule):
    """``Transpose(Transpose(x, p1), p2) → Transpose(x, p1∘p2)``, or ``x`` when that is the identity."""

    name = "transpose-transpose"
    pattern = op("Transpose", op("Transpose", var("x"), name="inner", shared=True))

    def _perms(self, m: Match) -> tuple[list[int], list[int]] | None:
        p1, p2 = m.node("inner").attr("perm"), m.root.attr("perm")
        rank = len(p1) if p1 is not None else len(p2) if p2 is not None else \
            None if m["x"].shape is None else len(m["x"].shape)
        if rank is None:
            return None
        perms = _full_perm(p1, rank), _full_perm(p2, rank)
        return perms if all(sorted(p) == list(range(rank)) for p in perms) else None  # else: a malformed model

    def check(self, m: Match) -> str | None:
        return None if self._perms(m) is not None else \
            "a default perm needs x's rank, which is unknown, or the perms are not of one rank"

    def rewrite(self, m: Match, b: Builder) -> Value:
        perms = self._perms(m)
        assert perms is not None
        p1, p2 = perms
        composed = [p1[i] for i in p2]
        if composed == list(range(len(composed))):
            return m["x"]
        return b.op("Transpose", [m["x"]], {"perm": composed})


class TransposeToReshape(Rule):
    """``Transpose`` that only moves dims of size 1 → ``Reshape`` to its result shape: the elements stay in
    the same order, and a Reshape costs no copy in runtimes (what onnxslim does too). A Transpose feeding
    another is left for ``transpose-transpose`` to merge first."""

    name = "transpose-to-reshape"
    pattern = op("Transpose", var("x"))

    def _target(self, m: Match) -> np.ndarray | str:
        shape = m["x"].shape
        if shape is None:
            return "x's rank is unknown"
        perm = _full_perm(m.root.attr("perm"), len(shape))
        if sorted(perm) != list(range(len(shape))):  # a malformed model whose inference was skipped
            return f"the perm {perm} does not fit x's rank {len(shape)}"
        if perm == sorted(perm):
            return "the perm is the identity (eliminate-noops removes it)"
        moved = [i for i in perm if shape[i] != 1]
        if moved != sorted(moved):
            return "it reorders dims that are not statically 1"
        if any(u.node.op == "Transpose" for u in m.root.output.uses):
            return "it feeds a Transpose it may merge with"
        if 0 in shape:
            return "the tensor is empty"
        target = []
        for k, i in enumerate(perm):
            if isinstance(shape[i], int):
                target.append(shape[i])
            else:  # 0 copies the input's dim at the same position; -1 is inferred
                target.append(0 if shape[i] is not None and shape[i] == shape[k] else -1)
        if target.count(-1) > 1:
            return "more than one dim is neither static nor kept in place"
        return np.array(target, np.int64)

    def check(self, m: Match) -> str | None:
        target = self._target(m)
        return target if isinstance(target, str) else None

    def rewrite(self, m: Match, b: Builder) -> Value:
        target = self._target(m)
        assert not isinstance(target, str)
        return b.op("Reshape", [m["x"], b.const(target)])


_VIEW_INPUTS: dict[str, tuple[Var, ...]] = {
    "Reshape": (var("x"), var()), "Squeeze": (var("x"), optional()), "Unsqueeze": (var("x"), var()),
    "Flatten": (var("x"),),
}
"""The ops that only reshape their data input ``x`` (what the other inputs say is in the result's shape)."""


def _view(op_type: str, name: str | None = None, shared: bool = False) -> Op:
    return op(op_type, *_VIEW_INPUTS[op_type], name=name, shared=shared)


class ReshapeReshape(Rule):
    """``Reshape(Reshape(x, s1), s2) → Reshape(x, s2)``, likewise with a Squeeze, Unsqueeze or Flatten
    inside; a 0 in ``s2`` (copy a dim of the intermediate) is replaced by that dim when it is static, else
    the rule refuses."""

    def __init__(self, inner: str = "Reshape") -> None:
        self.name = "reshape-reshape" if inner == "Reshape" else f"reshape-of-{inner.lower()}"
        self.pattern = op("Reshape", _view(inner, "inner", shared=True), var("s2"))

    def _target(self, m: Match) -> np.ndarray | str | None:
        """The shape input for the merged Reshape (``None``: ``s2`` as it is), or a refusal reason."""
        if m.root.attr("allowzero") == 1:
            return None
        s2 = m["s2"].numpy()
        if s2 is None:
            return "the target shape is not constant and may copy (0) a dim of the intermediate shape"
        zeros = np.flatnonzero(s2 == 0)
        if zeros.size == 0:
            return None
        mid: Shape = m.node("inner").output.shape
        dims = [mid[i] if mid is not None and i < len(mid) else None for i in zeros]
        if not all(isinstance(d, int) and d > 0 for d in dims):
            return f"the target shape copies (0) dims {zeros.tolist()} of the intermediate shape, not all static"
        resolved = s2.copy()
        resolved[zeros] = dims
        return resolved

    def check(self, m: Match) -> str | None:
        target = self._target(m)
        return target if isinstance(target, str) else None

    def rewrite(self, m: Match, b: Builder) -> Value:
        target = self._target(m)
        shape = m["s2"] if target is None else b.const(target)
        return b.op("Reshape", [m["x"], shape], dict(m.root.attrs))


class ShapeOpOfReshape(Rule):
    """``Squeeze/Unsqueeze/Flatten(Reshape(x, s))`` (or of a Squeeze, Unsqueeze or Flatten) with a static
    result shape ``t`` → ``Reshape(x, t)``: all of them only move dims around, so one Reshape to the final
    static shape says the same."""

    def __init__(self, op_type: str, inner: str = "Reshape") -> None:
        self.name = f"{op_type.lower()}-of-{inner.lower()}"
        self.pattern = op(op_type, _view(inner), optional("axes"))

    def check(self, m: Match) -> str | None:
        shape = m.root.outputs[0].shape  # type: ignore[union-attr]
        if shape is None or not all(isinstance(d, int) for d in shape):
            return f"the result shape {shape} is not static"
        if 0 in shape:
            return "the result is empty (a 0 in Reshape's shape would copy a dim)"
        return None

    def rewrite(self, m: Match, b: Builder) -> Value:
        shape = m.root.outputs[0].shape  # type: ignore[union-attr]
        return b.op("Reshape", [m["x"], b.const(np.array(shape, np.int64))])


class SqueezeUnsqueeze(Rule):
    """``Squeeze(Unsqueeze(x, a), a) → x``: the squeeze removes exactly the dims the unsqueeze added."""

    name = "squeeze-unsqueeze"
    pattern = op("Squeeze", op("Unsqueeze", var("x"), const("a1"), shared=True), const("a2"))

    def check(self, m: Match) -> str | None:
        x = m["x"]
        added = m.const("a1").size
        rank = None if x.shape is None else len(x.shape) + added
        a1, a2 = _axes(m.const("a1"), rank), _axes(m.const("a2"), rank)
        if a1 is None or a2 is None:
            return "negative axes with x's rank unknown"
        return None if a1 == a2 else f"the axes differ ({sorted(a1)} vs {sorted(a2)})"

    def rewrite(self, m: Match, b: Builder) -> Value:
        return m["x"]


class UnsqueezeSqueeze(Rule):
    """``Unsqueeze(Squeeze(x, a), a) → x`` when x's dims at ``a`` are statically 1."""

    name = "unsqueeze-squeeze"
    pattern = op("Unsqueeze", op("Squeeze", var("x"), const("a1"), shared=True), const("a2"))

    def check(self, m: Match) -> str | None:
        shape = m["x"].shape
        if shape is None:
            return "x's rank is unknown"
        a1, a2 = _axes(m.const("a1"), len(shape)), _axes(m.const("a2"), len(shape))
        assert a1 is not None and a2 is not None
        if a1 != a2:
            return f"the axes differ ({sorted(a1)} vs {sorted(a2)})"
        if not all(0 <= i < len(shape) and shape[i] == 1 for i in a1):
            return f"x's dims at {sorted(a1)} are not all statically 1 ({m['x'].type})"
        return None

    def rewrite(self, m: Match, b: Builder) -> Value:
        return m["x"]


class SliceSlice(Rule):
    """``Slice(Slice(x, ...), ...)`` with constant parameters → one ``Slice``. An axis only one of them cuts
    keeps its parameters (slices of different axes commute); an axis both cut is composed into one
    (start, end, step), which needs that axis's length to be static. Exact either way."""

    name = "slice-slice"
    pattern = op("Slice", op("Slice", var("x"), var(), var(), optional(), optional(), name="inner", shared=True),
                 var(), var(), optional(), optional())

    def _params(self, m: Match) -> list[np.ndarray] | str:
        """The merged (starts, ends, axes, steps), or a refusal reason."""
        shape = m["x"].shape
        rank = None if shape is None else len(shape)
        inner, outer = slice_params(m.node("inner"), rank), slice_params(m.root, rank)
        if isinstance(inner, str) or isinstance(outer, str):
            return inner if isinstance(inner, str) else str(outer)
        merged = dict(inner)
        for axis, params in outer.items():
            if axis not in merged:
                merged[axis] = params
                continue
            dim = shape[axis] if shape is not None and 0 <= axis < len(shape) else None
            if not isinstance(dim, int):
                return f"both slices cut axis {axis}, whose length ({dim}) is not static"
            if is_ambiguous(*merged[axis], dim):
                return AMBIGUOUS_REASON
            first = AxisSlice.of(*merged[axis], dim)
            if is_ambiguous(*params, first.count):
                return AMBIGUOUS_REASON
            merged[axis] = first.then(AxisSlice.of(*params, first.count)).params()
        columns = list(zip(*((start, end, axis, step) for axis, (start, end, step) in merged.items()), strict=True))
        return [np.array(c, np.int64) for c in columns]

    def check(self, m: Match) -> str | None:
        params = self._params(m)
        return params if isinstance(params, str) else None

    def rewrite(self, m: Match, b: Builder) -> Value:
        params = self._params(m)
        assert not isinstance(params, str)
        return b.op("Slice", [m["x"], *(b.const(p) for p in params)])


# -- casts -----------------------------------------------------------------------------------------------

def _int_range(d: DType) -> tuple[int, int]:
    info = ml_dtypes.iinfo(d.numpy)
    return int(info.min), int(info.max)


def holds_exactly(target: DType, source: DType) -> bool:
    """Whether every value of ``source`` converts to ``target`` without change (so a later cast sees the same value)."""
    if target == source or (source == DType.BOOL and (target.is_integer or target in _IEEE_FLOATS)):
        return True
    if source.is_integer and target.is_integer:
        lo, hi = _int_range(source)
        tlo, thi = _int_range(target)
        return tlo <= lo and hi <= thi
    if target not in _IEEE_FLOATS:
        return False
    t = ml_dtypes.finfo(target.numpy)
    if source.is_integer:
        lo, hi = _int_range(source)
        return max(-lo, hi) <= 2 ** (t.nmant + 1)
    if source.is_float:
        s = ml_dtypes.finfo(source.numpy)
        return t.nmant >= s.nmant and t.maxexp >= s.maxexp and t.minexp - t.nmant <= s.minexp - s.nmant
    return False


def _cast_chain_refusal(source: DType | None, middle: DType, target: DType) -> str | None:
    if source is None:
        return "x's dtype is unknown"
    if holds_exactly(middle, source):
        return None
    if source.is_integer and middle.is_integer and target.is_integer and target.bits <= middle.bits:
        return None  # integer casts keep the low bits, and the middle keeps at least the target's
    return f"{middle.short} does not hold every {source.short} value exactly"


class CastCast(Rule):
    """``Cast(Cast(x, t1), t2) → Cast(x, t2)`` (or ``x`` when ``t2`` is x's dtype) when ``t1`` loses nothing."""

    name = "cast-cast"
    pattern = op("Cast", op("Cast", var("x"), name="inner", shared=True))

    def check(self, m: Match) -> str | None:
        return _cast_chain_refusal(_dtype(m["x"]), DType(m.node("inner").attr("to")), DType(m.root.attr("to")))

    def rewrite(self, m: Match, b: Builder) -> Value:
        if m.root.attr("to") == _dtype(m["x"]):
            return m["x"]
        return b.op("Cast", [m["x"]], dict(m.root.attrs))


# -- constant chains ----------------------------------------------------------------------------------

class MergeConstants(Rule):
    """``(x op c1) op c2 → x op merge(c1, c2)``; float chains only with ``reassociate_floats``."""

    def __init__(self, name: str, op_type: str, merge: Callable[[np.ndarray, np.ndarray], np.ndarray], *,
                 commutative: bool, reassociate_floats: bool) -> None:
        self.name = name
        self.op_type = op_type
        inner = op(op_type, var("x"), const("c1"), name="inner", commutative=commutative, shared=True)
        self.pattern = op(op_type, inner, const("c2"), commutative=commutative)
        self.merge = merge
        self.reassociate_floats = reassociate_floats

    def check(self, m: Match) -> str | None:
        c1, c2 = m.const("c1"), m.const("c2")
        if c1.dtype != c2.dtype:
            return f"the constants' dtypes differ ({c1.dtype}, {c2.dtype})"
        if DType.from_numpy(c1.dtype).is_float and not self.reassociate_floats:
            return "reassociating a float chain is not bit-exact (exact mode)"
        if int(np.prod(np.broadcast_shapes(c1.shape, c2.shape))) > c1.size + c2.size:
            return f"merging constants {list(c1.shape)} and {list(c2.shape)} would make a larger one"
        if DType.from_numpy(c1.dtype).is_float and not _merged_is_normal(c1, c2, self.merge):
            return "the merged constant overflows or becomes subnormal"
        return self.extra_check(c1, c2)

    def extra_check(self, c1: np.ndarray, c2: np.ndarray) -> str | None:
        return None

    def rewrite(self, m: Match, b: Builder) -> Value:
        merged = _merge(m.const("c1"), m.const("c2"), self.merge)
        return b.op(self.op_type, [m["x"], b.const(merged)])


class MergeDivisors(MergeConstants):
    """``(x/c1)/c2 → x/(c1*c2)``: for integers only with positive divisors whose product does not overflow
    (then truncating and flooring division both nest)."""

    def __init__(self, reassociate_floats: bool) -> None:
        super().__init__("div-div", "Div", np.multiply, commutative=False, reassociate_floats=reassociate_floats)

    def extra_check(self, c1: np.ndarray, c2: np.ndarray) -> str | None:
        if DType.from_numpy(c1.dtype).is_float:
            return None
        if np.any(c1 <= 0) or np.any(c2 <= 0):
            return "integer divisors are not all positive"
        product = c1.astype(object) * c2.astype(object)
        if np.any(product > _int_range(DType.from_numpy(c1.dtype))[1]):
            return "the merged integer divisor overflows"
        return None


class DivToMul(Rule):
    """``x / c → x * (1/c)`` for floats when every ``c`` is a power of two (exact both ways)."""

    name = "div-to-mul"
    pattern = op("Div", var("x"), const("c"))

    def check(self, m: Match) -> str | None:
        c = m.const("c")
        if not DType.from_numpy(c.dtype).is_float or not _is_float(m["x"]):
            return "not a float division"
        if not _is_power_of_two(c):
            return "the divisor is not all powers of two, so x*(1/c) may round differently"
        inverse = (1 / _float64(c)).astype(c.dtype)
        return None if np.all(_float64(inverse) * _float64(c) == 1) else "1/c is not representable"

    def rewrite(self, m: Match, b: Builder) -> Value:
        c = m.const("c")
        return b.op("Mul", [m["x"], b.const((1 / _float64(c)).astype(c.dtype))])


class PowTwo(Rule):
    """``Pow(x, 2) → x*x`` (measured: ONNX Runtime's Mul is about twice as fast on one CPU thread)."""

    name = "pow-two"
    pattern = op("Pow", var("x"), const("c"))

    def check(self, m: Match) -> str | None:
        c = m.const("c")
        if not _is_float(m["x"]):
            return "x is not a float"
        if not np.all(_float64(c) == 2):
            return "the exponent is not all 2"
        return _broadcast_refusal(m["x"], c)

    def rewrite(self, m: Match, b: Builder) -> Value:
        return b.op("Mul", [m["x"], m["x"]])


# -- the pass -----------------------------------------------------------------------------------------

def simplify_rules(exact: bool = False) -> RuleSet:
    """The rule set; ``exact`` keeps only bit-exact rewrites (signed zeros included)."""
    reassociate = not exact
    return RuleSet([
        DropIdentity("mul-by-one", "Mul", 1, commutative=True),
        DropIdentity("add-zero", "Add", 0, commutative=True, zero_sign=-1 if exact else None),
        DropIdentity("sub-zero", "Sub", 0, zero_sign=+1 if exact else None),
        DropIdentity("div-by-one", "Div", 1),
        DropIdentity("pow-one", "Pow", 1),
        MulByZero(),
        SubFromZero(zero_sign=-1 if exact else None),
        PowTwo(),
        _involution("Neg"),
        _involution("Not"),
        _idempotent("Relu"),
        _idempotent("Abs"),
        _self_op("And"),
        _self_op("Or"),
        TransposeTranspose(),
        TransposeToReshape(),
        ReshapeReshape(),
        *(ShapeOpOfReshape(op_type) for op_type in ("Squeeze", "Unsqueeze", "Flatten")),
        SqueezeUnsqueeze(),
        UnsqueezeSqueeze(),
        *(ReshapeReshape(inner) for inner in ("Squeeze", "Unsqueeze", "Flatten")),
        *(ShapeOpOfReshape(op_type, inner) for op_type in ("Squeeze", "Unsqueeze", "Flatten")
          for inner in ("Squeeze", "Unsqueeze", "Flatten")),
        SliceSlice(),
        CastCast(),
        MergeConstants("mul-mul", "Mul", np.multiply, commutative=True, reassociate_floats=reassociate),
        MergeConstants("add-add", "Add", np.add, commutative=True, reassociate_floats=reassociate),
        MergeDivisors(reassociate),
        DivToMul(),
    ])


RULES = simplify_rules()
EXACT_RULES = simplify_rules(exact=True)


@register_pass
class Simplify(RulePass):
    """Algebraic simplification (see the module docstring for the rules and their exactness)."""

    name = "simplify"
    level = 1
    stage = "pre"
    doc = "algebraic identities: x*1, x+0, --x, Transpose/Reshape/Cast chains, constant chains merged …"
    rules = RULES
    exact: bool = False

    def run(self, graph: Graph) -> PassResult:
        unused = set(unused_constants(graph))
        report = apply_rules(graph, EXACT_RULES if self.exact else self.rules)
        self.last_report = report
        if self.debug:
            logger.info("%s rewrite report:\n%s", self.name, report)
        removed = 0
        for g, c in unused_constants(graph):
            if (g, c) not in unused:  # only what this run left behind; older garbage is dce's
                g.remove_constant(c)
                removed += 1
        return PassResult(report.fired > 0, {"rules_fired": report.fired, "constants_removed": removed})
