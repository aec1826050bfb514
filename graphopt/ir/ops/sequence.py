"""Sequences (Python lists of arrays at run time) and optionals (``None`` when empty)."""

from __future__ import annotations

from functools import reduce
from typing import Any

import numpy as np

from graphopt.ir.core import Graph
from graphopt.ir.dtypes import DType
from graphopt.ir.inference import InferContext
from graphopt.ir.interpreter import EvalContext
from graphopt.ir.ops.control_flow import bind_subgraph_inputs, join_types
from graphopt.ir.registry import kernel, shape_inference
from graphopt.ir.types import Dim, OptionalType, SequenceType, TensorType, Type


def _position(seq: list[Any], position: np.ndarray | None, default: int, insert: bool = False) -> int:
    """A validated non-negative index into ``seq`` (an insert may also point one past the end)."""
    n = len(seq)
    pos = default if position is None else int(np.asarray(position).reshape(-1)[0])
    upper = n if insert else n - 1
    if not -n <= pos <= upper:
        raise IndexError(f"position {pos} is out of range for a sequence of length {n}")
    return pos + n if pos < 0 else pos


def _elem_type(t: Type) -> Type:
    return t.elem if isinstance(t, SequenceType) else None


# -- construction and access ---------------------------------------------------------------


@kernel("SequenceEmpty")
def sequence_empty() -> list[Any]:
    return []


@shape_inference("SequenceEmpty")
def infer_sequence_empty(ctx: InferContext) -> list[Type]:
    return [SequenceType(TensorType(DType(ctx.attr("dtype", int(DType.FLOAT))), None))]


@kernel("SequenceConstruct")
def sequence_construct(*tensors: np.ndarray) -> list[np.ndarray]:
    return list(tensors)


@shape_inference("SequenceConstruct")
def infer_sequence_construct(ctx: InferContext) -> list[Type]:
    return [SequenceType(reduce(join_types, [ctx.type(i) for i in range(ctx.num_inputs)]))]


@kernel("SequenceAt")
def sequence_at(seq: list[np.ndarray], position: np.ndarray) -> np.ndarray:
    return seq[_position(seq, position, 0)]


@shape_inference("SequenceAt")
def infer_sequence_at(ctx: InferContext) -> list[Type]:
    return [_elem_type(ctx.type(0))]


@kernel("SequenceErase")
def sequence_erase(seq: list[np.ndarray], position: np.ndarray | None = None) -> list[np.ndarray]:
    i = _position(seq, position, -1)
    return seq[:i] + seq[i + 1:]


@kernel("SequenceInsert")
def sequence_insert(seq: list[np.ndarray], tensor: np.ndarray, position: np.ndarray | None = None
                    ) -> list[np.ndarray]:
    i = _position(seq, position, len(seq), insert=True)
    return [*seq[:i], tensor, *seq[i:]]


@shape_inference("SequenceErase")
def infer_same_sequence(ctx: InferContext) -> list[Type]:
    return [ctx.type(0)]


@shape_inference("SequenceInsert")
def infer_sequence_insert(ctx: InferContext) -> list[Type]:
    return [SequenceType(join_types(_elem_type(ctx.type(0)), ctx.type(1)))]


@kernel("SequenceLength")
def sequence_length(seq: list[np.ndarray]) -> np.ndarray:
    return np.array(len(seq), np.int64)


@shape_inference("SequenceLength")
def infer_sequence_length(ctx: InferContext) -> list[Type]:
    return [TensorType(DType.INT64, ())]


# -- SequenceMap -----------------------------------------------------------------------------


@kernel("SequenceMap")
def sequence_map(ctx: EvalContext, seq: list[np.ndarray], *extra: Any, body: Graph) -> tuple[list[Any], ...]:
    outs: list[list[Any]] = [[] for _ in body.outputs]
    for i in range(len(seq)):
        args = [seq[i], *(x[i] if isinstance(x, list) else x for x in extra)]
        for acc, value in zip(outs, ctx.run(body, args), strict=True):
            acc.append(value)
    return tuple(outs)


@shape_inference("SequenceMap")
def infer_sequence_map(ctx: InferContext) -> list[Type]:
    body: Graph = ctx.attr("body")
    ins = [ctx.type(i) for i in range(ctx.num_inputs)]
    bind_subgraph_inputs(body, [t.elem if isinstance(t, SequenceType) else t for t in ins])
    return [SequenceType(v.type) for v in body.outputs]


# -- splitting and concatenating -------------------------------------------------------------


@kernel("SplitToSequence")
def split_to_sequence(x: np.ndarray, split: np.ndarray | None = None, *, axis: int, keepdims: int
                      ) -> list[np.ndarray]:
    axis %= x.ndim
    if split is None:
        parts = np.split(x, x.shape[axis], axis=axis)
        return parts if keepdims else [np.squeeze(p, axis) for p in parts]
    sizes = np.asarray(split, np.int64)
    if sizes.ndim == 0:
        bounds = list(range(int(sizes), x.shape[axis], int(sizes)))
    else:
        if sizes.sum() != x.shape[axis]:
            raise ValueError(f"split sizes {sizes.tolist()} do not add up to dim {x.shape[axis]} of axis {axis}")
        bounds = np.cumsum(sizes)[:-1].tolist()
    return np.split(x, bounds, axis=axis)


@shape_inference("SplitToSequence")
def infer_split_to_sequence(ctx: InferContext) -> list[Type]:
    t = ctx.tensor_type(0)
    if t is None:
        return [SequenceType(None)]
    if t.shape is None:
        return [SequenceType(TensorType(t.dtype, None))]
    shape = list(t.shape)
    axis = ctx.attr("axis") % len(shape)
    if not ctx.has_input(1):
        if ctx.attr("keepdims"):
            shape[axis] = 1
        else:
            del shape[axis]
    else:
        shape[axis] = _chunk_dim(ctx.const(1), shape[axis])
    return [SequenceType(TensorType(t.dtype, tuple(shape)))]


def _chunk_dim(split: np.ndarray | None, dim: Dim) -> Dim:
    """The size every chunk has along the split axis, when they all have the same one."""
    if split is None:
        return None
    sizes = set(np.asarray(split).reshape(-1).tolist())
    if split.ndim == 0 and isinstance(dim, int) and dim % int(split) != 0:
        return None
    return int(sizes.pop()) if len(sizes) == 1 else None


@kernel("ConcatFromSequence")
def concat_from_sequence(seq: list[np.ndarray], *, axis: int, new_axis: int) -> np.ndarray:
    if new_axis:
        return np.stack(seq, axis=axis)
    return np.concatenate(seq, axis=axis)


@shape_inference("ConcatFromSequence")
def infer_concat_from_sequence(ctx: InferContext) -> list[Type]:
    elem = _elem_type(ctx.type(0))
    if not isinstance(elem, TensorType):
        return [None]
    if elem.shape is None:
        return [TensorType(elem.dtype, None)]
    shape = list(elem.shape)
    new_axis = bool(ctx.attr("new_axis"))
    axis = ctx.attr("axis") % (len(shape) + new_axis)
    if new_axis:
        shape.insert(axis, None)
    else:
        shape[axis] = None
    return [TensorType(elem.dtype, tuple(shape))]


# -- optionals -------------------------------------------------------------------------------


@kernel("Optional")
def optional(value: Any = None) -> Any:
    return value


@shape_inference("Optional")
def infer_optional(ctx: InferContext) -> list[Type]:
    return [OptionalType(ctx.type(0) if ctx.has_input(0) else ctx.attr("type", None))]


@kernel("OptionalGetElement")
def optional_get_element(value: Any = None) -> Any:
    if value is None:
        raise ValueError("the optional is empty")
    return value


@shape_inference("OptionalGetElement")
def infer_optional_get_element(ctx: InferContext) -> list[Type]:
    t = ctx.type(0)
    return [t.elem if isinstance(t, OptionalType) else t]


@kernel("OptionalHasElement")
def optional_has_element(value: Any = None) -> np.ndarray:
    return np.array(value is not None)


@shape_inference("OptionalHasElement")
def infer_optional_has_element(ctx: InferContext) -> list[Type]:
    return [TensorType(DType.BOOL, ())]
