"""Constant tensor data: in-memory numpy arrays or lazily memory-mapped external files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from graphopt.ir.dtypes import DType


class Tensor:
    """Constant data with a dtype and a static shape.

    The array is produced on demand by :meth:`numpy`; subclasses decide where
    the bytes live. ``content_hash`` identifies equal constants (CSE, text form).
    """

    __slots__ = ("_hash", "dtype", "shape")

    def __init__(self, dtype: DType, shape: tuple[int, ...]) -> None:
        self.dtype = dtype
        self.shape = tuple(int(d) for d in shape)
        self._hash: str | None = None

    def numpy(self) -> np.ndarray:
        raise NotImplementedError

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        """Bytes as stored by ONNX (sub-byte types are packed)."""
        if self.dtype == DType.STRING:
            return sum(len(s) for s in self.numpy().flat)
        return (self.size * self.dtype.bits + 7) // 8

    @property
    def content_hash(self) -> str:
        if self._hash is None:
            h = hashlib.blake2b(digest_size=8)
            h.update(f"{self.dtype.name}{self.shape}".encode())
            array = self.numpy()
            if self.dtype == DType.STRING:
                for s in array.flat:
                    h.update(s if isinstance(s, bytes) else str(s).encode("utf-8", "surrogateescape"))
                    h.update(b"\0")
            else:
                h.update(np.ascontiguousarray(array).view(np.uint8).data)
            self._hash = h.hexdigest()
        return self._hash


class ArrayTensor(Tensor):
    """A constant held in memory as a numpy array (kept read-only: constants are shared)."""

    __slots__ = ("_array",)

    def __init__(self, array: np.ndarray, dtype: DType | None = None) -> None:
        array = np.asarray(array)
        super().__init__(dtype if dtype is not None else DType.from_numpy(array.dtype), array.shape)
        if array.flags.writeable and array.base is None:
            array.flags.writeable = False
        self._array = array

    def numpy(self) -> np.ndarray:
        return self._array


class ExternalTensor(Tensor):
    """A constant whose bytes stay in a file until used, then are memory-mapped, never copied."""

    __slots__ = ("_array", "length", "offset", "path")

    def __init__(self, path: Path, offset: int, length: int | None, dtype: DType, shape: tuple[int, ...]) -> None:
        super().__init__(dtype, shape)
        self.path = Path(path)
        self.offset = offset
        self.length = length if length is not None else (self.size * dtype.bits + 7) // 8
        self._array: np.ndarray | None = None

    def numpy(self) -> np.ndarray:
        if self._array is None:
            self._array = _read_external(self.path, self.offset, self.length, self.dtype, self.shape)
        return self._array


def _read_external(path: Path, offset: int, length: int, dtype: DType, shape: tuple[int, ...]) -> np.ndarray:
    if dtype.bits < 8:
        packed = np.fromfile(path, dtype=np.uint8, count=length, offset=offset)
        return unpack_subbyte(packed, dtype, shape)
    if length == 0:
        return np.zeros(shape, dtype.numpy)
    mm = np.memmap(path, dtype=dtype.numpy, mode="r", offset=offset, shape=tuple(shape))
    return mm


def unpack_subbyte(packed: np.ndarray, dtype: DType, shape: tuple[int, ...]) -> np.ndarray:
    """Unpack ONNX's little-end-first packing of 2- and 4-bit elements into one byte each."""
    per_byte = 8 // dtype.bits
    mask = (1 << dtype.bits) - 1
    parts = [(packed >> (dtype.bits * i)) & mask for i in range(per_byte)]
    raw = np.stack(parts, axis=-1).reshape(-1)[: int(np.prod(shape, dtype=np.int64))]
    return raw.astype(np.uint8).view(dtype.numpy).reshape(shape)


def pack_subbyte(array: np.ndarray, dtype: DType) -> bytes:
    """Inverse of :func:`unpack_subbyte`."""
    per_byte = 8 // dtype.bits
    raw = np.ascontiguousarray(array).view(np.uint8).reshape(-1) & ((1 << dtype.bits) - 1)
    pad = (-raw.size) % per_byte
    raw = np.concatenate([raw, np.zeros(pad, np.uint8)]).reshape(-1, per_byte)
    out = np.zeros(raw.shape[0], np.uint8)
    for i in range(per_byte):
        out |= raw[:, i] << (dtype.bits * i)
    return out.tobytes()
