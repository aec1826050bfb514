"""ONNX Runtime's NCHWc ops (domain ``com.microsoft.nchwc``): schemas, shape inference and reference kernels.

An NCHWc tensor holds NCHW data with the channels split into blocks of ``B`` (the block size of ONNX Runtime's
MLAS on the CPU it runs on, 8 or 16): its memory is ``[N, C/B, H, W, B]`` with the channels zero-padded up to a
multiple of ``B``, and its declared shape is ``[N, Cp, H, W]`` (``Cp`` = channels rounded up to ``B``). The
reference kernels keep exactly that memory order in an array of the declared shape, so the standard kernels of
element-wise ops and of a channel Concat give what ONNX Runtime's do on the same buffers.

- ``ReorderInput`` (NCHW, or NHWC with ``channels_last=1``, to NCHWc) and ``ReorderOutput`` (back, to
  ``channels`` channels);
- ``Conv``: ``X, W, B?, Sum?`` with the attributes of Conv plus ``activation``/``activation_params``; the
  output is ``activation(conv(X, W) + B + Sum)``. ``W`` is pre-blocked: OIHWBo (:func:`filter_oihwbo`) when
  ``X`` is plain NCHW with fewer than ``B`` channels or the conv is depthwise, else OIHWBiBo
  (:func:`filter_oihwbibo`);
- ``MaxPool``, ``AveragePool``, ``GlobalMaxPool``, ``GlobalAveragePool``, ``Upsample`` (integer ``scales``).

The block size is not an attribute of these ops: kernels and shape inference read it from the model metadata
entry :data:`BLOCK_SIZE_KEY`, which the pass that creates them records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from graphopt.ir.attributes import AttrKind
from graphopt.ir.core import Graph, Node, Value
from graphopt.ir.inference import InferContext
from graphopt.ir.interpreter import run_node
from graphopt.ir.ops.conv import infer_conv
from graphopt.ir.ops.fused import expand_activation
from graphopt.ir.ops.pool import infer_global_pool, infer_pool
from graphopt.ir.registry import AttrSpec, ParamSpec, define, kernel, lookup, shape_inference
from graphopt.ir.types import TensorType, Type

NCHWC_DOMAIN = "com.microsoft.nchwc"
BLOCK_SIZE_KEY = "graphopt.nchwc.block_size"
"""Model metadata: the NCHWc block size the model's nchwc ops and pre-blocked filters were made for."""

NCHWC_ACTIVATIONS = frozenset({"Relu", "Tanh", "Sigmoid", "LeakyRelu", "Clip", "HardSigmoid", "HardSwish"})
"""Activations (graphopt's names, :data:`~graphopt.ir.ops.fused.ACTIVATIONS`) an NCHWc Conv applies itself
(HardSwish checked against onnxruntime 1.31's NCHWc Conv)."""


def round_up(channels: int, block: int) -> int:
    return -(-channels // block) * block


def to_blocked(x: np.ndarray, block: int) -> np.ndarray:
    """NCHW ``x`` as an NCHWc array: channels zero-padded to ``block``, memory ``[N, C/B, H, W, B]``."""
    n, c, *spatial = x.shape
    cp = round_up(c, block)
    x = np.pad(x, [(0, 0), (0, cp - c)] + [(0, 0)] * len(spatial))
    blocked = np.moveaxis(x.reshape(n, cp // block, block, *spatial), 2, -1)
    return np.ascontiguousarray(blocked).reshape(n, cp, *spatial)


def from_blocked(x: np.ndarray, block: int, channels: int | None = None) -> np.ndarray:
    """The NCHW array an NCHWc array holds (its first ``channels`` channels; all when ``None``)."""
    n, cp, *spatial = x.shape
    plain = np.moveaxis(x.reshape(n, cp // block, *spatial, block), -1, 2).reshape(n, cp, *spatial)
    return np.ascontiguousarray(plain[:, :channels])


def filter_oihwbibo(w: np.ndarray, block: int) -> np.ndarray:
    """OIHW filter to MLAS's OIHWBiBo: per output block and input block, each tap a ``Bi x Bo`` tile.

    Both channel counts are zero-padded to ``block``; the result has shape ``[Op, Ip, KH, KW]``."""
    o, i, kh, kw = w.shape
    op, ip = round_up(o, block), round_up(i, block)
    w = np.pad(w, [(0, op - o), (0, ip - i), (0, 0), (0, 0)])
    tiles = w.reshape(op // block, block, ip // block, block, kh, kw).transpose(0, 2, 4, 5, 3, 1)
    return np.ascontiguousarray(tiles).reshape(op, ip, kh, kw)


def filter_oihwbo(w: np.ndarray, block: int) -> np.ndarray:
    """OIHW filter to MLAS's OIHWBo: per output block, each input channel and tap a row of ``Bo`` outputs.

    The output channels are zero-padded to ``block``; the result has shape ``[Op, I, KH, KW]``."""
    o, i, kh, kw = w.shape
    op = round_up(o, block)
    w = np.pad(w, [(0, op - o), (0, 0), (0, 0), (0, 0)])
    rows = w.reshape(op // block, block, i, kh, kw).transpose(0, 2, 3, 4, 1)
    return np.ascontiguousarray(rows).reshape(op, i, kh, kw)


def _unblock_oihwbibo(w: np.ndarray, block: int) -> np.ndarray:
    op, ip, kh, kw = w.shape
    tiles = w.reshape(op // block, ip // block, kh, kw, block, block).transpose(0, 5, 1, 4, 2, 3)
    return np.ascontiguousarray(tiles).reshape(op, ip, kh, kw)


def _unblock_oihwbo(w: np.ndarray, block: int) -> np.ndarray:
    op, i, kh, kw = w.shape
    rows = w.reshape(op // block, i, kh, kw, block).transpose(0, 4, 1, 2, 3)
    return np.ascontiguousarray(rows).reshape(op, i, kh, kw)


def filter_is_oihwbo(input_channels: int, filter_shape: Sequence[int], group: int, block: int) -> bool:
    """Whether MLAS reads an NCHWc Conv's filter as OIHWBo (plain NCHW input or depthwise) rather than OIHWBiBo."""
    return input_channels < block or (group > 1 and filter_shape[1] == 1)


def block_size_of(graph: Graph | None) -> int:
    """The NCHWc block size recorded in the metadata of ``graph``'s outermost graph."""
    while graph is not None and graph.parent is not None:
        graph = graph.parent.graph
    value = graph.metadata.get(BLOCK_SIZE_KEY) if graph is not None else None
    if value is None:
        raise ValueError(f"{NCHWC_DOMAIN} ops need the model metadata entry {BLOCK_SIZE_KEY!r} (the NCHWc block "
                         "size their filters were blocked for); optimize with target='onnxruntime' to create them")
    return int(value)


# -- schemas ---------------------------------------------------------------------------------------------------

_X, _Y = ParamSpec("X"), ParamSpec("Y")
_WINDOW = [AttrSpec("auto_pad", AttrKind.STRING, default="NOTSET"), AttrSpec("kernel_shape", AttrKind.INTS),
           AttrSpec("dilations", AttrKind.INTS), AttrSpec("strides", AttrKind.INTS), AttrSpec("pads", AttrKind.INTS)]


def _define_all() -> None:
    doc = "ONNX Runtime's NCHWc op (see graphopt.ir.ops.nchwc)."
    define(NCHWC_DOMAIN, "ReorderInput", [_X], [_Y], [AttrSpec("channels_last", AttrKind.INT, default=0)], doc)
    define(NCHWC_DOMAIN, "ReorderOutput", [_X], [_Y], [AttrSpec("channels", AttrKind.INT, required=True),
                                                       AttrSpec("channels_last", AttrKind.INT, default=0)], doc)
    define(NCHWC_DOMAIN, "Conv",
           [_X, ParamSpec("W"), ParamSpec("B", optional=True), ParamSpec("Sum", optional=True)], [_Y],
           [*_WINDOW, AttrSpec("group", AttrKind.INT, default=1), AttrSpec("activation", AttrKind.STRING),
            AttrSpec("activation_params", AttrKind.FLOATS)], doc)
    pool = [*_WINDOW, AttrSpec("ceil_mode", AttrKind.INT, default=0)]
    define(NCHWC_DOMAIN, "MaxPool", [_X], [_Y], [*pool, AttrSpec("storage_order", AttrKind.INT, default=0)], doc)
    define(NCHWC_DOMAIN, "AveragePool", [_X], [_Y],
           [*pool, AttrSpec("count_include_pad", AttrKind.INT, default=0)], doc)
    for name in ("GlobalMaxPool", "GlobalAveragePool"):
        define(NCHWC_DOMAIN, name, [_X], [_Y], [], doc)
    define(NCHWC_DOMAIN, "Upsample", [_X], [_Y],
           [AttrSpec("scales", AttrKind.INTS), AttrSpec("mode", AttrKind.STRING, default="nearest"),
            AttrSpec("coordinate_transformation_mode", AttrKind.STRING, default="asymmetric")], doc)


_define_all()


# -- shape inference -------------------------------------------------------------------------------------------

@shape_inference("ReorderInput", domain=NCHWC_DOMAIN)
def infer_reorder_input(ctx: InferContext) -> list[Type]:
    shape, dtype = ctx.shape(0), ctx.dtype(0)
    if shape is None or dtype is None:
        return [None if dtype is None else TensorType(dtype, None)]
    n, c, spatial = (shape[0], shape[-1], shape[1:-1]) if ctx.attr("channels_last") else (shape[0], shape[1],
                                                                                           shape[2:])
    cp = round_up(c, block_size_of(ctx.node.graph)) if isinstance(c, int) else None
    return [TensorType(dtype, (n, cp, *spatial))]


@shape_inference("ReorderOutput", domain=NCHWC_DOMAIN)
def infer_reorder_output(ctx: InferContext) -> list[Type]:
    shape, dtype, channels = ctx.shape(0), ctx.dtype(0), ctx.attr("channels")
    if shape is None or dtype is None:
        return [None if dtype is None else TensorType(dtype, None)]
    if ctx.attr("channels_last"):
        return [TensorType(dtype, (shape[0], *shape[2:], channels))]
    return [TensorType(dtype, (shape[0], channels, *shape[2:]))]


@shape_inference("Upsample", domain=NCHWC_DOMAIN)
def infer_upsample(ctx: InferContext) -> list[Type]:
    shape, dtype, scales = ctx.shape(0), ctx.dtype(0), ctx.attr("scales")
    if shape is None or dtype is None:
        return [None if dtype is None else TensorType(dtype, None)]
    return [TensorType(dtype, tuple(d * s if isinstance(d, int) else None if s != 1 else d
                                    for d, s in zip(shape, scales)))]


shape_inference("Conv", domain=NCHWC_DOMAIN)(infer_conv)
shape_inference("MaxPool", "AveragePool", domain=NCHWC_DOMAIN)(infer_pool)
shape_inference("GlobalMaxPool", "GlobalAveragePool", domain=NCHWC_DOMAIN)(infer_global_pool)


# -- reference kernels -----------------------------------------------------------------------------------------

def _standard(op: str, inputs: list[Any], attrs: dict[str, Any]) -> Any:
    """One standard op on arrays, with its registered kernel."""
    node = Node(op, [None if a is None else Value() for a in inputs], attrs)
    return run_node(node, inputs)[0]


def _given(attrs: dict[str, Any], op: str) -> dict[str, Any]:
    """The attributes that the standard ``op`` also has, without unset ones."""
    schema = lookup("", op)
    assert schema is not None
    return {k: v for k, v in attrs.items() if k in schema.attrs and v is not None}


@kernel("ReorderInput", domain=NCHWC_DOMAIN)
def reorder_input(ctx: Any, x: np.ndarray, *, channels_last: int = 0) -> np.ndarray:
    if channels_last:
        x = np.moveaxis(x, -1, 1)
    return to_blocked(x, block_size_of(ctx.node.graph))


@kernel("ReorderOutput", domain=NCHWC_DOMAIN)
def reorder_output(ctx: Any, x: np.ndarray, *, channels: int, channels_last: int = 0) -> np.ndarray:
    y = from_blocked(x, block_size_of(ctx.node.graph), channels)
    return np.ascontiguousarray(np.moveaxis(y, 1, -1)) if channels_last else y


@kernel("Conv", domain=NCHWC_DOMAIN)
def nchwc_conv(ctx: Any, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, s: np.ndarray | None = None,
               **attrs: Any) -> np.ndarray:
    block = block_size_of(ctx.node.graph)
    group = attrs.get("group") or 1
    if filter_is_oihwbo(x.shape[1], w.shape, group, block):
        w = _unblock_oihwbo(w, block)
    else:
        w = _unblock_oihwbibo(w, block)
    plain = x if x.shape[1] < block else from_blocked(x, block)
    y = to_blocked(_standard("Conv", [plain, w, b], _given(attrs, "Conv")), block)
    if s is not None:
        y = y + s
    activation = attrs.get("activation")
    if activation is None:
        return y
    return expand_activation(activation, tuple(attrs.get("activation_params") or ()), y, _standard,
                             lambda v: np.asarray(v, dtype=y.dtype))


@kernel("MaxPool", "AveragePool", "GlobalMaxPool", "GlobalAveragePool", "Upsample", domain=NCHWC_DOMAIN)
def nchwc_pool(ctx: Any, x: np.ndarray, **attrs: Any) -> np.ndarray:
    block = block_size_of(ctx.node.graph)
    op = ctx.node.op
    plain = from_blocked(x, block)
    if op == "Upsample":
        linear = attrs.get("mode") == "linear"
        y = _standard("Resize", [plain, None, np.asarray(attrs["scales"], np.float32)], {
            "mode": attrs.get("mode") or "nearest", "nearest_mode": "floor",
            "coordinate_transformation_mode": attrs.get("coordinate_transformation_mode") if linear else
            "asymmetric"})
    else:
        y = _standard(op, [plain], _given(attrs, op))
    return to_blocked(y, block)
