"""Element types: one enum bridging ONNX's TensorProto codes and numpy dtypes."""

from __future__ import annotations

import enum

import ml_dtypes
import numpy as np


class DType(enum.IntEnum):
    """Tensor element types, numbered as ONNX's ``TensorProto.DataType``."""

    UNDEFINED = 0
    FLOAT = 1
    UINT8 = 2
    INT8 = 3
    UINT16 = 4
    INT16 = 5
    INT32 = 6
    INT64 = 7
    STRING = 8
    BOOL = 9
    FLOAT16 = 10
    DOUBLE = 11
    UINT32 = 12
    UINT64 = 13
    COMPLEX64 = 14
    COMPLEX128 = 15
    BFLOAT16 = 16
    FLOAT8E4M3FN = 17
    FLOAT8E4M3FNUZ = 18
    FLOAT8E5M2 = 19
    FLOAT8E5M2FNUZ = 20
    UINT4 = 21
    INT4 = 22
    FLOAT4E2M1 = 23
    FLOAT8E8M0 = 24
    UINT2 = 25
    INT2 = 26

    @property
    def short(self) -> str:
        """The compact name used in the text form, e.g. ``f32``."""
        return _SHORT[self]

    @property
    def numpy(self) -> np.dtype:
        """The numpy dtype that holds one element (sub-byte types use a byte each)."""
        try:
            return _NUMPY[self]
        except KeyError:
            raise TypeError(f"dtype {self.name} has no numpy equivalent") from None

    @property
    def bits(self) -> int:
        """Bits per element as stored in ONNX (4 for int4, 8 for float8 …)."""
        if self in (DType.UINT2, DType.INT2):
            return 2
        if self in (DType.UINT4, DType.INT4, DType.FLOAT4E2M1):
            return 4
        if self == DType.STRING:
            return 0
        return self.numpy.itemsize * 8

    @property
    def is_float(self) -> bool:
        return self in _FLOATS

    @property
    def is_integer(self) -> bool:
        return self in _INTEGERS

    @staticmethod
    def from_numpy(dtype: np.dtype | type) -> DType:
        dt = np.dtype(dtype)
        if dt.kind in "OUS":
            return DType.STRING
        try:
            return _FROM_NUMPY[dt]
        except KeyError:
            raise TypeError(f"numpy dtype {dt} has no graphopt equivalent") from None

    @staticmethod
    def from_short(name: str) -> DType:
        try:
            return _FROM_SHORT[name]
        except KeyError:
            raise ValueError(f"unknown dtype {name!r}") from None


_SHORT = {
    DType.UNDEFINED: "undef", DType.FLOAT: "f32", DType.UINT8: "u8", DType.INT8: "i8",
    DType.UINT16: "u16", DType.INT16: "i16", DType.INT32: "i32", DType.INT64: "i64",
    DType.STRING: "str", DType.BOOL: "bool", DType.FLOAT16: "f16", DType.DOUBLE: "f64",
    DType.UINT32: "u32", DType.UINT64: "u64", DType.COMPLEX64: "c64", DType.COMPLEX128: "c128",
    DType.BFLOAT16: "bf16", DType.FLOAT8E4M3FN: "f8e4m3fn", DType.FLOAT8E4M3FNUZ: "f8e4m3fnuz",
    DType.FLOAT8E5M2: "f8e5m2", DType.FLOAT8E5M2FNUZ: "f8e5m2fnuz", DType.UINT4: "u4",
    DType.INT4: "i4", DType.FLOAT4E2M1: "f4e2m1", DType.FLOAT8E8M0: "f8e8m0",
    DType.UINT2: "u2", DType.INT2: "i2",
}
_FROM_SHORT = {v: k for k, v in _SHORT.items()}

_NUMPY: dict[DType, np.dtype] = {
    DType.FLOAT: np.dtype(np.float32), DType.UINT8: np.dtype(np.uint8),
    DType.INT8: np.dtype(np.int8), DType.UINT16: np.dtype(np.uint16),
    DType.INT16: np.dtype(np.int16), DType.INT32: np.dtype(np.int32),
    DType.INT64: np.dtype(np.int64), DType.STRING: np.dtype(object),
    DType.BOOL: np.dtype(np.bool_), DType.FLOAT16: np.dtype(np.float16),
    DType.DOUBLE: np.dtype(np.float64), DType.UINT32: np.dtype(np.uint32),
    DType.UINT64: np.dtype(np.uint64), DType.COMPLEX64: np.dtype(np.complex64),
    DType.COMPLEX128: np.dtype(np.complex128),
    DType.BFLOAT16: np.dtype(ml_dtypes.bfloat16),
    DType.FLOAT8E4M3FN: np.dtype(ml_dtypes.float8_e4m3fn),
    DType.FLOAT8E4M3FNUZ: np.dtype(ml_dtypes.float8_e4m3fnuz),
    DType.FLOAT8E5M2: np.dtype(ml_dtypes.float8_e5m2),
    DType.FLOAT8E5M2FNUZ: np.dtype(ml_dtypes.float8_e5m2fnuz),
    DType.UINT4: np.dtype(ml_dtypes.uint4), DType.INT4: np.dtype(ml_dtypes.int4),
    DType.FLOAT4E2M1: np.dtype(ml_dtypes.float4_e2m1fn),
    DType.FLOAT8E8M0: np.dtype(ml_dtypes.float8_e8m0fnu),
    DType.UINT2: np.dtype(ml_dtypes.uint2), DType.INT2: np.dtype(ml_dtypes.int2),
}
_FROM_NUMPY = {v: k for k, v in _NUMPY.items() if k != DType.STRING}

_FLOATS = frozenset({
    DType.FLOAT, DType.FLOAT16, DType.DOUBLE, DType.BFLOAT16, DType.FLOAT8E4M3FN,
    DType.FLOAT8E4M3FNUZ, DType.FLOAT8E5M2, DType.FLOAT8E5M2FNUZ, DType.FLOAT4E2M1,
    DType.FLOAT8E8M0,
})
_INTEGERS = frozenset({
    DType.UINT8, DType.INT8, DType.UINT16, DType.INT16, DType.INT32, DType.INT64,
    DType.UINT32, DType.UINT64, DType.UINT4, DType.INT4, DType.UINT2, DType.INT2,
})
