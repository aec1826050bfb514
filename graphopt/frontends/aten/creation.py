"""Tensor creation: arange, full / zeros / ones / empty (and their ``_like`` and ``new_`` forms), scalar_tensor."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphopt.frontends.aten.common import (
    DEFAULT_FLOAT,
    IntLike,
    Scalar,
    as_0d,
    cast,
    dtype_of,
    ints,
    scalar,
    to_dtype,
)
from graphopt.frontends.aten.registry import Converter, Lowering, converter
from graphopt.ir.core import Value
from graphopt.ir.dtypes import DType

MAX_FOLDED_ELEMENTS = 1024
"""A filled tensor with a static shape up to this size is a constant; larger ones are an Expand."""


def _scalar_dtype(value: Scalar | Value) -> DType:
    if isinstance(value, Value):
        return dtype_of(value)
    return DType.BOOL if isinstance(value, bool) else DType.INT64 if isinstance(value, int) else DEFAULT_FLOAT


def _fill_value(cx: Lowering, value: Scalar | Value, dtype: DType) -> Value:
    return as_0d(cx, cast(cx, value, dtype)) if isinstance(value, Value) else scalar(cx, value, dtype)


def _filled(cx: Lowering, size: Sequence[IntLike] | Value, value: Scalar | Value, dtype: DType) -> Value:
    if not isinstance(size, Value) and all(isinstance(s, int) for s in size) and not isinstance(value, Value):
        count = int(np.prod(size)) if size else 1  # type: ignore[arg-type]
        if count <= MAX_FOLDED_ELEMENTS:
            return cx.const(np.full(tuple(size), value, dtype=dtype.numpy))  # type: ignore[arg-type]
    shape = size if isinstance(size, Value) else ints(cx, size)
    return cx.op("Expand", [_fill_value(cx, value, dtype), shape])


def _dtype(dtype: object, fallback: DType) -> DType:
    return fallback if dtype is None else to_dtype(dtype)


@converter("aten::full")
def full(cx: Lowering, size: Sequence[IntLike], fill_value: Scalar | Value, dtype: object = None,
         **_: object) -> Value:
    return _filled(cx, size, fill_value, _dtype(dtype, _scalar_dtype(fill_value)))


def _constant_fill(value: int) -> Converter:
    def convert(cx: Lowering, size: Sequence[IntLike], *stride: object, dtype: object = None, **_: object) -> Value:
        return _filled(cx, size, value, _dtype(dtype, DEFAULT_FLOAT))

    return convert


converter("aten::zeros", "aten::empty", "aten::empty_strided")(_constant_fill(0))
converter("aten::ones")(_constant_fill(1))


def _like(value: Scalar | None) -> Converter:
    def convert(cx: Lowering, x: Value, *args: Scalar | Value, dtype: object = None, **_: object) -> Value:
        fill = value if value is not None else args[0]
        dt = _dtype(dtype, dtype_of(x))
        shape = x.shape
        if shape is not None and all(isinstance(d, int) for d in shape):
            return _filled(cx, list(shape), fill, dt)  # type: ignore[arg-type]
        return _filled(cx, cx.op("Shape", [x]), fill, dt)  # type: ignore[arg-type]

    return convert


converter("aten::full_like")(_like(None))
converter("aten::zeros_like", "aten::empty_like")(_like(0))
converter("aten::ones_like")(_like(1))


@converter("aten::fill")
def fill(cx: Lowering, x: Value, value: Scalar | Value) -> Value:
    return _like(None)(cx, x, value)  # type: ignore[operator]


def _new(value: Scalar | None) -> Converter:
    def convert(cx: Lowering, x: Value, size: Sequence[IntLike], *args: Scalar | Value, dtype: object = None,
                **_: object) -> Value:
        fill = value if value is not None else args[0]
        return _filled(cx, size, fill, _dtype(dtype, dtype_of(x)))

    return convert


converter("aten::new_full")(_new(None))
converter("aten::new_zeros", "aten::new_empty", "aten::new_empty_strided")(_new(0))
converter("aten::new_ones")(_new(1))


@converter("aten::scalar_tensor")
def scalar_tensor(cx: Lowering, s: Scalar | Value, dtype: object = None, **_: object) -> Value:
    return _fill_value(cx, s, _dtype(dtype, DEFAULT_FLOAT))


@converter("aten::arange")
def arange(cx: Lowering, *numbers: Scalar | Value, dtype: object = None, **_: object) -> Value:
    start, end, step = (0, numbers[0], 1) if len(numbers) == 1 else (*numbers[:2], 1) if len(numbers) == 2 else numbers
    is_float = any(isinstance(v, float) or (isinstance(v, Value) and dtype_of(v).is_float) for v in (start, end, step))
    dt = _dtype(dtype, DEFAULT_FLOAT if is_float else DType.INT64)
    if all(isinstance(v, (int, float)) for v in (start, end, step)):
        return cx.const(np.arange(start, end, step, dtype=dt.numpy))  # type: ignore[arg-type, misc]
    return cx.op("Range", [_fill_value(cx, v, dt) for v in (start, end, step)])


@converter("aten::linspace")
def linspace(cx: Lowering, start: Scalar, end: Scalar, steps: int, dtype: object = None, **_: object) -> Value:
    dt = _dtype(dtype, DEFAULT_FLOAT)
    return cx.const(np.linspace(start, end, steps).astype(dt.numpy))
