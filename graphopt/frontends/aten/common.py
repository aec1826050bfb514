"""Helpers the ATen converters share: dtypes, torch's type promotion, int lists that may hold symbols.

Nothing here imports torch: dtypes arrive either as ``torch.dtype`` objects (torch.export) or as
ScalarType codes (TorchScript), and both are read by name or number.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from graphopt.errors import UnsupportedOpError
from graphopt.frontends.aten.registry import Lowering
from graphopt.ir.core import Value
from graphopt.ir.dtypes import DType

Scalar = bool | int | float
IntLike = int | Value
"""An int known now, or a 0-d / 1-element int64 ``Value`` holding a symbolic size."""

_BY_NAME = {
    "torch.float32": DType.FLOAT, "torch.float64": DType.DOUBLE, "torch.float16": DType.FLOAT16,
    "torch.bfloat16": DType.BFLOAT16, "torch.int64": DType.INT64, "torch.int32": DType.INT32,
    "torch.int16": DType.INT16, "torch.int8": DType.INT8, "torch.uint8": DType.UINT8,
    "torch.bool": DType.BOOL, "torch.complex64": DType.COMPLEX64, "torch.complex128": DType.COMPLEX128,
    "torch.uint16": DType.UINT16, "torch.uint32": DType.UINT32, "torch.uint64": DType.UINT64,
    "torch.float8_e4m3fn": DType.FLOAT8E4M3FN, "torch.float8_e5m2": DType.FLOAT8E5M2,
}
_BY_CODE = {  # c10::ScalarType numbering, as TorchScript passes dtypes
    0: DType.UINT8, 1: DType.INT8, 2: DType.INT16, 3: DType.INT32, 4: DType.INT64, 5: DType.FLOAT16,
    6: DType.FLOAT, 7: DType.DOUBLE, 9: DType.COMPLEX64, 10: DType.COMPLEX128, 11: DType.BOOL,
    15: DType.BFLOAT16,
}
DEFAULT_FLOAT = DType.FLOAT
"""torch's default dtype: what a float Python scalar becomes next to integer tensors."""


def to_dtype(dtype: Any) -> DType:
    """A ``torch.dtype`` or a ScalarType code as graphopt's :class:`DType`."""
    if isinstance(dtype, DType):
        return dtype
    found = _BY_CODE.get(dtype) if isinstance(dtype, int) else _BY_NAME.get(str(dtype))
    if found is None:
        raise UnsupportedOpError(f"torch dtype {dtype} has no graphopt equivalent")
    return found


def dtype_of(v: Value) -> DType:
    if v.dtype is None:
        raise UnsupportedOpError(f"the dtype of {v.name or 'an input'} is unknown")
    return v.dtype


def rank_of(v: Value) -> int:
    shape = v.shape
    if shape is None:
        raise UnsupportedOpError(f"the rank of {v.name or 'an input'} is unknown")
    return len(shape)


def axis(dim: int, rank: int) -> int:
    """``dim`` made non-negative (torch allows dim 0 / -1 on 0-d tensors)."""
    return dim + max(rank, 1) if dim < 0 else dim


def cast(cx: Lowering, v: Value, dtype: DType) -> Value:
    return v if v.dtype == dtype else cx.op("Cast", [v], {"to": int(dtype)})


def scalar(cx: Lowering, value: Scalar, dtype: DType) -> Value:
    """A 0-d constant of ``dtype``."""
    return cx.const(np.array(value, dtype=dtype.numpy))


def _category(dtype: DType) -> int:
    """bool < integer < floating < complex."""
    if dtype == DType.BOOL:
        return 0
    if dtype.is_integer:
        return 1
    if dtype in (DType.COMPLEX64, DType.COMPLEX128):
        return 3
    return 2


def _join(a: DType | None, b: DType) -> DType:
    """torch.promote_types: the higher category wins outright; within one, the wider type."""
    if a is None or a == b:
        return b
    ca, cb = _category(a), _category(b)
    if ca != cb:
        return a if ca > cb else b
    if {a, b} == {DType.FLOAT16, DType.BFLOAT16}:
        return DType.FLOAT
    return DType.from_numpy(np.promote_types(a.numpy, b.numpy))


def _combine(higher: DType | None, lower: DType | None) -> DType | None:
    """A lower-priority group only matters when it is of a higher category."""
    if higher is None:
        return lower
    if lower is None or _category(higher) >= _category(lower):
        return higher
    return _join(higher, lower)


def result_dtype(*operands: Value | Scalar | None) -> DType:
    """torch's type promotion: tensors with dims outrank 0-d tensors, which outrank Python scalars,
    unless a lower-priority operand is of a higher category (an int tensor times 0.5 is float)."""
    dims: DType | None = None
    zero_d: DType | None = None
    wrapped: DType | None = None
    for x in operands:
        if x is None:
            continue
        if isinstance(x, Value):
            if rank_of(x) > 0:
                dims = _join(dims, dtype_of(x))
            else:
                zero_d = _join(zero_d, dtype_of(x))
        else:
            wrapped = _join(wrapped, DType.BOOL if isinstance(x, bool) else
                            DType.INT64 if isinstance(x, int) else DEFAULT_FLOAT)
    result = _combine(dims, _combine(zero_d, wrapped))
    if result is None:
        raise UnsupportedOpError("no operand has a dtype")
    return result


def promote(cx: Lowering, *operands: Value | Scalar, dtype: DType | None = None) -> list[Value]:
    """Operands as Values of one dtype (torch's promotion unless ``dtype`` is given)."""
    target = dtype or result_dtype(*operands)
    return [cast(cx, x, target) if isinstance(x, Value) else scalar(cx, x, target) for x in operands]


def ints(cx: Lowering, items: Sequence[IntLike] | Value) -> Value:
    """A 1-D int64 Value from ints and symbolic sizes (a constant when all are known)."""
    if isinstance(items, Value):
        return cast(cx, items, DType.INT64)
    if all(isinstance(i, int) for i in items):
        return cx.const(np.array(list(items), dtype=np.int64).reshape(-1))
    parts: list[Value] = []
    pending: list[int] = []
    for item in items:
        if isinstance(item, Value):
            if pending:
                parts.append(cx.const(np.array(pending, dtype=np.int64)))
                pending = []
            parts.append(as_1d(cx, cast(cx, item, DType.INT64)))
        else:
            pending.append(int(item))
    if pending:
        parts.append(cx.const(np.array(pending, dtype=np.int64)))
    return parts[0] if len(parts) == 1 else cx.op("Concat", parts, {"axis": 0})


def as_1d(cx: Lowering, v: Value) -> Value:
    """A 0-d value as a 1-element vector (a 1-D one unchanged)."""
    if v.shape is not None and len(v.shape) == 1:
        return v
    return cx.op("Reshape", [v, cx.const(np.array([1], dtype=np.int64))])


def as_0d(cx: Lowering, v: Value) -> Value:
    if v.shape == ():
        return v
    return cx.op("Reshape", [v, cx.const(np.array([], dtype=np.int64))])


def dim_size(cx: Lowering, x: Value, dim: int) -> IntLike:
    """Size of ``x`` along ``dim``: an int when static, else a 0-d int64 Value."""
    shape = x.shape
    if shape is not None and isinstance(shape[dim], int):
        return int(shape[dim])  # type: ignore[arg-type]
    rank = rank_of(x)
    if rank == 0:
        return 1
    return cx.op("Gather", [cx.op("Shape", [x]), cx.const(np.array(axis(dim, rank), np.int64))], {"axis": 0})


def static_dims(x: Value, what: str) -> tuple[int, ...]:
    shape = x.shape
    if shape is None or not all(isinstance(d, int) for d in shape):
        raise UnsupportedOpError(f"{what} needs a static shape, got {x.type}")
    return tuple(int(d) for d in shape)  # type: ignore[arg-type]


def pair(v: Any, n: int = 2) -> list[int]:
    """An int or a shorter list (torch broadcasts ``[k]`` to every spatial dim) as ``n`` ints."""
    if isinstance(v, int):
        return [v] * n
    v = list(v)
    return v * n if len(v) == 1 else v
