"""Value types: tensors with static, symbolic or unknown dims, and ONNX's sequence/optional wrappers."""

from __future__ import annotations

import math
from dataclasses import dataclass

from graphopt.ir.dtypes import DType

Dim = int | str | None
"""A dimension: an ``int`` (static), a ``str`` (symbolic, e.g. ``"N"``) or ``None`` (unknown)."""

Shape = tuple[Dim, ...] | None
"""A shape; ``None`` means the rank itself is unknown."""


@dataclass(frozen=True, slots=True)
class TensorType:
    dtype: DType
    shape: Shape = None

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def is_static(self) -> bool:
        return self.shape is not None and all(isinstance(d, int) for d in self.shape)

    def numel(self) -> int | None:
        """Element count when every dim is static, else ``None``."""
        if self.shape is None or not all(isinstance(d, int) for d in self.shape):
            return None
        return math.prod(d for d in self.shape if isinstance(d, int))

    def with_shape(self, shape: Shape) -> TensorType:
        return TensorType(self.dtype, shape)

    def __str__(self) -> str:
        if self.shape is None:
            return f"{self.dtype.short}[*]"
        return f"{self.dtype.short}[{','.join(format_dim(d) for d in self.shape)}]"


@dataclass(frozen=True, slots=True)
class SequenceType:
    elem: Type

    def __str__(self) -> str:
        return f"seq<{self.elem}>"


@dataclass(frozen=True, slots=True)
class OptionalType:
    elem: Type

    def __str__(self) -> str:
        return f"opt<{self.elem}>"


Type = TensorType | SequenceType | OptionalType | None
"""A value's type; ``None`` when nothing is known yet."""


def format_dim(d: Dim) -> str:
    return "?" if d is None else str(d)


def dims_compatible(a: Dim, b: Dim) -> bool:
    """True unless ``a`` and ``b`` are provably different."""
    if a is None or b is None:
        return True
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return True  # two symbols may still be bound to the same size
    return True


def types_compatible(a: Type, b: Type) -> bool:
    """True unless ``a`` and ``b`` provably describe different values."""
    if a is None or b is None:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, TensorType):
        assert isinstance(b, TensorType)
        if a.dtype != b.dtype and DType.UNDEFINED not in (a.dtype, b.dtype):
            return False
        if a.shape is None or b.shape is None:
            return True
        return len(a.shape) == len(b.shape) and all(map(dims_compatible, a.shape, b.shape))
    return types_compatible(a.elem, b.elem)  # type: ignore[union-attr]


def merge_types(known: Type, inferred: Type) -> Type:
    """Combine a recorded type with an inferred one, keeping the more precise dim of each pair."""
    if known is None:
        return inferred
    if inferred is None or not isinstance(known, TensorType) or not isinstance(inferred, TensorType):
        return known
    dtype = known.dtype if known.dtype != DType.UNDEFINED else inferred.dtype
    if known.shape is None or inferred.shape is None or len(known.shape) != len(inferred.shape):
        return TensorType(dtype, known.shape if known.shape is not None else inferred.shape)
    dims = tuple(_more_precise(k, i) for k, i in zip(known.shape, inferred.shape))
    return TensorType(dtype, dims)


def _more_precise(known: Dim, inferred: Dim) -> Dim:
    if isinstance(known, int):
        return known
    if isinstance(inferred, int):
        return inferred
    return known if known is not None else inferred
