"""Typed node attributes: each value carries its ONNX attribute kind."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphopt.ir.tensor import Tensor


class AttrKind(enum.IntEnum):
    """Attribute kinds, numbered as ONNX's ``AttributeProto.AttributeType``."""

    FLOAT = 1
    INT = 2
    STRING = 3
    TENSOR = 4
    GRAPH = 5
    FLOATS = 6
    INTS = 7
    STRINGS = 8
    TENSORS = 9
    GRAPHS = 10
    SPARSE_TENSOR = 11
    SPARSE_TENSORS = 12
    TYPE_PROTO = 13

    @property
    def is_list(self) -> bool:
        return self in (AttrKind.FLOATS, AttrKind.INTS, AttrKind.STRINGS, AttrKind.TENSORS, AttrKind.GRAPHS)


@dataclass(frozen=True, slots=True)
class Attr:
    """One attribute value. Lists are stored as tuples so attributes stay immutable."""

    kind: AttrKind
    value: Any

    @staticmethod
    def make(value: Any, kind: AttrKind | None = None) -> Attr:
        """Build an attribute, checking ``value`` against ``kind`` (inferred when not given)."""
        kind = kind if kind is not None else infer_kind(value)
        return Attr(kind, _coerce(value, kind))


def infer_kind(value: Any) -> AttrKind:
    from graphopt.ir.core import Graph

    if isinstance(value, (bool, int, np.integer)):
        return AttrKind.INT
    if isinstance(value, (float, np.floating)):
        return AttrKind.FLOAT
    if isinstance(value, (str, bytes)):
        return AttrKind.STRING
    if isinstance(value, Tensor):
        return AttrKind.TENSOR
    if isinstance(value, Graph):
        return AttrKind.GRAPH
    if isinstance(value, (list, tuple, np.ndarray)):
        items = list(value)
        if items and all(isinstance(v, (str, bytes)) for v in items):
            return AttrKind.STRINGS
        if items and all(isinstance(v, Tensor) for v in items):
            return AttrKind.TENSORS
        if items and all(isinstance(v, Graph) for v in items):
            return AttrKind.GRAPHS
        if any(isinstance(v, (float, np.floating)) for v in items):
            return AttrKind.FLOATS
        return AttrKind.INTS
    raise TypeError(f"cannot use {type(value).__name__} as an attribute value")


def _coerce(value: Any, kind: AttrKind) -> Any:
    try:
        if kind == AttrKind.INT:
            return int(value)
        if kind == AttrKind.FLOAT:
            return float(np.float32(value))
        if kind == AttrKind.STRING:
            return value.decode() if isinstance(value, bytes) else str(value)
        if kind == AttrKind.INTS:
            return tuple(int(v) for v in value)
        if kind == AttrKind.FLOATS:
            return tuple(float(np.float32(v)) for v in value)
        if kind == AttrKind.STRINGS:
            return tuple(v.decode() if isinstance(v, bytes) else str(v) for v in value)
        if kind in (AttrKind.TENSORS, AttrKind.GRAPHS):
            return tuple(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f"attribute value {value!r} is not of kind {kind.name}") from e
    return value
