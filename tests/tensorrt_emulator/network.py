"""The network-definition API's value types: ``Dims``, ``Permutation``, ``Weights`` and ``ITensor``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from tests.tensorrt_emulator.enums import NUMPY, DataType, from_numpy


class TensorRTError(RuntimeError):
    """What TensorRT reports (an API usage error or a failed build), naming the layer and the rule."""


class Dims:
    """A shape: up to 8 dims, ``-1`` for one known only at run time."""

    MAX_DIMS = 8

    def __init__(self, shape: Iterable[int] = ()) -> None:
        dims = [int(d) for d in shape]
        if len(dims) > self.MAX_DIMS:
            raise TensorRTError(f"Dims holds at most {self.MAX_DIMS} dims, got {len(dims)}")
        self._dims = dims

    def __len__(self) -> int:
        return len(self._dims)

    def __getitem__(self, i: int) -> int:
        return self._dims[i]

    def __iter__(self) -> Any:
        return iter(self._dims)

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, (Dims, list, tuple)) else NotImplemented

    def __repr__(self) -> str:
        return f"Dims({self._dims})"

    __hash__ = None  # type: ignore[assignment]


class Permutation:
    def __init__(self, order: Sequence[int] = ()) -> None:
        self.order = [int(p) for p in order]

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, i: int) -> int:
        return self.order[i]


class Weights:
    """Weights over a numpy array (TensorRT keeps a pointer; so does this: the array must outlive the build)."""

    def __init__(self, a: Any = None) -> None:
        if isinstance(a, DataType):
            self.array = np.zeros(0, NUMPY[a])
        elif a is None:
            self.array = np.zeros(0, np.float32)
        else:
            if not isinstance(a, np.ndarray):
                raise TypeError(f"Weights take a numpy array or a DataType, not {type(a).__name__}")
            if not a.flags.c_contiguous:
                raise TensorRTError("Weights need a C-contiguous array")
            self.array = a
        self.dtype = from_numpy(self.array.dtype)

    @property
    def size(self) -> int:
        return int(self.array.size)

    def __len__(self) -> int:
        return self.size

    def numpy(self) -> np.ndarray:
        return self.array


class ITensor:
    def __init__(self, network: Any, producer: Any, index: int, name: str) -> None:
        self._network = network
        self._producer = producer
        self._index = index
        self.name = name
        self._input_spec: tuple[DataType, Dims] | None = None

    @property
    def is_network_input(self) -> bool:
        return self._input_spec is not None

    @property
    def is_network_output(self) -> bool:
        return self in self._network._outputs

    @property
    def dtype(self) -> DataType:
        if self._input_spec is not None:
            return self._input_spec[0]
        return self._producer.output_dtype(self._index)

    @property
    def shape(self) -> Dims:
        if self._input_spec is not None:
            return self._input_spec[1]
        raise TensorRTError("the emulator infers layer output shapes only when the network runs")

    def __repr__(self) -> str:
        return f"ITensor({self.name!r})"
