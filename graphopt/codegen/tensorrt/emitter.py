"""Populating an ``INetworkDefinition`` from the IR, and the helpers every converter shares.

The ``tensorrt`` module is a handle held by :class:`Emitter` (``self.trt``), so the same code drives the real
library or a stand-in with the same names. The emitter tracks each TensorRT tensor's element type and shape
itself (``-1`` for a dim known only at run time): converters need ranks to follow TensorRT's rules, such as
both elementwise inputs having the same rank.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from graphopt.codegen.names import NamePool
from graphopt.codegen.tensorrt.registry import TRT_DTYPES, converter_of
from graphopt.errors import ExportError
from graphopt.ir.core import Graph, Node, Value
from graphopt.ir.dtypes import DType

if TYPE_CHECKING:
    from tensorrt import ILayer, INetworkDefinition, ITensor

PRECISIONS = {"fp32": DType.FLOAT, "fp16": DType.FLOAT16, "bf16": DType.BFLOAT16}
"""Precision name → the element type float32 tensors are computed in."""


@dataclass(frozen=True)
class Dim:
    """A reshape entry that copies dimension ``axis`` of the input (known statically or not)."""

    axis: int


ReshapeSpec = Sequence["int | Dim"]


@dataclass
class _Info:
    tensor: ITensor  # kept so the id() key stays unique while the emitter lives
    shape: tuple[int, ...]
    dtype: DType


class Emitter:
    """Lowers one graph into ``network``; converters call back into the helpers below."""

    def __init__(self, graph: Graph, network: INetworkDefinition, trt: Any, precision: str = "fp32") -> None:
        if precision not in PRECISIONS:
            raise ExportError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
        self.graph = graph
        self.network = network
        self.trt = trt
        self.compute = PRECISIONS[precision]
        self.tensors: dict[Value, ITensor] = {}
        self.node: Node | None = None
        self._info: dict[int, _Info] = {}
        self._shapes: dict[int, ITensor] = {}
        self._layer_count = 0
        self._weights: list[np.ndarray] = []
        self._io_names = {v.name for v in graph.inputs} | set(output_names(graph))

    # -- the whole graph ---------------------------------------------------------------------------
    def populate(self) -> None:
        for v in self.graph.inputs:
            self._add_input(v)
        self.emit_nodes(self.graph)
        for v, name in zip(self.graph.outputs, output_names(self.graph)):
            self._mark_output(v, name)

    def emit_nodes(self, graph: Graph) -> None:
        """Convert ``graph``'s nodes in order (a subgraph's too, with its outer values already mapped)."""
        outer = self.node
        for node in graph:
            self.node = node
            converter_of(node).convert(self, node)  # type: ignore[union-attr]  # check() vouched for it
        self.node = outer

    def _add_input(self, v: Value) -> None:
        if v.name is None or v.shape is None or v.dtype not in TRT_DTYPES:
            raise ExportError(f"graph {self.graph.name!r}: input {v.name!r} of type {v.type} has no TensorRT form "
                              f"(it needs a name, a known rank and one of {', '.join(d.name for d in TRT_DTYPES)})")
        shape = tuple(d if isinstance(d, int) else -1 for d in v.shape)
        t = self.network.add_input(v.name, self.dtype(v.dtype), self.trt.Dims(list(shape)))
        self.track(t, shape, v.dtype)
        if v.dtype != self.cdtype(v.dtype):
            t = self.cast(t, self.cdtype(v.dtype), tag=f"input_{v.name}")
        self.tensors[v] = t

    def _mark_output(self, v: Value, name: str) -> None:
        t = self.tensor(v)
        if self.info(t).dtype != v.dtype:
            t = self.cast(t, v.dtype, tag=f"output_{name}")
        if t.is_network_input or t.is_network_output:
            t = self.layer_output(self.network.add_identity(t), self.shape(t), v.dtype, tag=f"output_{name}")
        t.name = name
        self.network.mark_output(t)

    # -- tensors and what the emitter knows about them ---------------------------------------------
    def track(self, t: ITensor, shape: Sequence[int], dtype: DType) -> ITensor:
        self._info[id(t)] = _Info(t, tuple(shape), dtype)
        return t

    def info(self, t: ITensor) -> _Info:
        return self._info[id(t)]

    def shape(self, t: ITensor) -> tuple[int, ...]:
        return self._info[id(t)].shape

    def rank(self, t: ITensor) -> int:
        return len(self._info[id(t)].shape)

    def tensor(self, v: Value) -> ITensor:
        """The TensorRT tensor holding ``v`` (a constant becomes a Constant layer on first use)."""
        t = self.tensors.get(v)
        if t is None:
            array = v.numpy()
            if array is None:
                raise ExportError(f"value {v.name!r} read by {self._where()} has no TensorRT tensor yet")
            t = self.tensors[v] = self.constant(array, v.dtype, tag=f"const_{v.name or ''}")
        return t

    def operand(self, v: Value, rank: int) -> ITensor:
        """``v`` at ``rank`` (leading 1s added): constants are reshaped in numpy, tensors by a Shuffle."""
        array = v.numpy()
        if array is not None and v not in self.tensors and array.ndim < rank:
            return self.constant(array.reshape((1,) * (rank - array.ndim) + array.shape), v.dtype)
        return self.to_rank(self.tensor(v), rank)

    def bind(self, v: Value | None, t: ITensor) -> None:
        """Record ``t`` as the tensor of IR value ``v`` (a node output)."""
        if v is None:
            return
        self.tensors[v] = t
        if v.name and not t.is_network_input:  # I/O names stay unique: they name the engine's bindings
            t.name = v.name if v.name not in self._io_names else f"{v.name}__value"

    # -- element types -----------------------------------------------------------------------------
    def cdtype(self, dtype: DType) -> DType:
        """The element type a tensor of IR type ``dtype`` is computed in at this precision."""
        return self.compute if dtype == DType.FLOAT else dtype

    def dtype(self, dtype: DType) -> Any:
        return getattr(self.trt.DataType, TRT_DTYPES[dtype])

    # -- layers ------------------------------------------------------------------------------------
    def name(self, layer: ILayer, tag: str = "") -> None:
        """Name ``layer`` after the node being converted and its provenance (``name/tag [made by]``)."""
        self._layer_count += 1
        node = self.node
        base = (node.name or node.op) if node is not None else "graphopt"
        label = f"{base}/{tag}" if tag else base
        if node is not None and node.provenance is not None:
            label += f" [{node.provenance}]"
            layer.metadata = str(node.provenance)
        layer.name = f"{label} #{self._layer_count}"

    def layer_output(self, layer: ILayer, shape: Sequence[int], dtype: DType, tag: str = "",
                     index: int = 0) -> ITensor:
        """Name ``layer`` and return its output ``index``, tracked with ``shape`` and ``dtype``."""
        if index == 0:
            self.name(layer, tag)
        return self.track(layer.get_output(index), shape, dtype)

    def result(self, node: Node, layer: ILayer, index: int = 0, tag: str = "") -> ITensor:
        """Output ``index`` of ``layer`` as the node's output ``index`` (its IR shape, computed dtype)."""
        v = node.outputs[index]
        assert v is not None
        t = self.layer_output(layer, ir_shape(v), self.cdtype(v.dtype), tag, index)
        self.bind(v, t)
        return t

    def out(self, node: Node, t: ITensor, index: int = 0) -> None:
        """``t`` (already tracked) is the node's output ``index``."""
        self.bind(node.outputs[index], t)

    def constant(self, array: np.ndarray, dtype: DType | None = None, tag: str = "const") -> ITensor:
        """A Constant layer holding ``array`` (float32 data is stored in the computed float type). numpy has no
        bfloat16 TensorRT's Weights accept, so bfloat16 constants are float32 weights and a Cast."""
        dtype = self.cdtype(dtype if dtype is not None else DType.from_numpy(array.dtype))
        stored = DType.FLOAT if dtype == DType.BFLOAT16 else dtype
        data = self.keep(np.asarray(array).astype(stored.numpy))
        layer = self.network.add_constant(self.trt.Dims(list(data.shape)), self.trt.Weights(data))
        return self.cast(self.layer_output(layer, data.shape, stored, tag), dtype)

    def keep(self, array: np.ndarray) -> np.ndarray:
        """``array`` made contiguous and held until the engine is built (TensorRT reads weights then)."""
        data = np.asarray(array, order="C")
        self._weights.append(data)
        return data

    def scalar(self, value: float, dtype: DType, rank: int) -> ITensor:
        """A constant of ``rank`` ones holding ``value``, in ``dtype``'s computed type."""
        return self.constant(np.full((1,) * rank, value, dtype.numpy), dtype, tag="scalar")

    def cast(self, t: ITensor, dtype: DType, tag: str = "cast") -> ITensor:
        if self.info(t).dtype == dtype:
            return t
        return self.layer_output(self.network.add_cast(t, self.dtype(dtype)), self.shape(t), dtype, tag)

    def identity(self, node: Node) -> None:
        """The node's output is its input (no layer)."""
        assert node.inputs[0] is not None
        self.out(node, self.tensor(node.inputs[0]))

    # -- shapes ------------------------------------------------------------------------------------
    def shape_tensor(self, t: ITensor) -> ITensor:
        """``t``'s run-time shape as a 1-D INT64 tensor (one Shape layer per tensor)."""
        found = self._shapes.get(id(t))
        if found is None:
            found = self._shapes[id(t)] = self.layer_output(self.network.add_shape(t), (self.rank(t),),
                                                            DType.INT64, "shape")
        return found

    def dims_tensor(self, t: ITensor, spec: ReshapeSpec) -> ITensor:
        """A 1-D INT64 tensor of ``spec``: ints as given, :class:`Dim` entries read from ``t``'s shape."""
        parts = []
        for entry in spec:
            if isinstance(entry, Dim):
                index = self.constant(np.array([entry.axis], np.int64), tag="axis")
                gathered = self.network.add_gather(self.shape_tensor(t), index, 0)
                parts.append(self.layer_output(gathered, (1,), DType.INT64, "dim"))
            else:
                parts.append(self.constant(np.array([entry], np.int64), tag="dim"))
        if len(parts) == 1:
            return parts[0]
        return self.layer_output(self.network.add_concatenation(parts), (len(parts),), DType.INT64, "dims")

    def reshape(self, t: ITensor, spec: ReshapeSpec, tag: str = "reshape") -> ITensor:
        """A Shuffle reshaping ``t`` to ``spec``, with a run-time shape input only where a copied dim is
        dynamic and changes position (TensorRT's 0 placeholder copies the dim at the same index)."""
        in_shape = self.shape(t)
        static = [in_shape[e.axis] if isinstance(e, Dim) else e for e in spec]
        copies = [isinstance(e, Dim) and in_shape[e.axis] == -1 for e in spec]
        if all(e.axis == i for i, e in enumerate(spec) if isinstance(e, Dim) and in_shape[e.axis] == -1):
            layer = self.network.add_shuffle(t)
            layer.reshape_dims = self.trt.Dims([0 if c else s for c, s in zip(copies, static)])
            layer.zero_is_placeholder = any(copies)  # else a 0 is a real (empty) dim
        else:
            dims = self.dims_tensor(t, spec)
            layer = self.network.add_shuffle(t)
            layer.set_input(1, dims)
            layer.zero_is_placeholder = False
        out_shape = tuple(-1 if isinstance(e, Dim) and in_shape[e.axis] == -1 else s for e, s in zip(spec, static))
        return self.layer_output(layer, _infer_minus_one(out_shape, in_shape, spec), self.info(t).dtype, tag)

    def to_rank(self, t: ITensor, rank: int) -> ITensor:
        """``t`` with leading size-1 dims added up to ``rank`` (TensorRT broadcasts only equal ranks)."""
        have = self.rank(t)
        if have >= rank:
            return t
        return self.reshape(t, [1] * (rank - have) + [Dim(i) for i in range(have)], tag="to_rank")

    def transpose(self, t: ITensor, perm: Sequence[int], tag: str = "transpose") -> ITensor:
        layer = self.network.add_shuffle(t)
        layer.first_transpose = self.trt.Permutation(list(perm))
        shape = self.shape(t)
        return self.layer_output(layer, [shape[p] for p in perm], self.info(t).dtype, tag)

    # -- elementwise -------------------------------------------------------------------------------
    def binary(self, a: ITensor, b: ITensor, op: str, tag: str = "") -> ITensor:
        """``ElementWiseOperation.<op>`` after bringing both inputs to one rank."""
        rank = max(self.rank(a), self.rank(b))
        a, b = self.to_rank(a, rank), self.to_rank(b, rank)
        layer = self.network.add_elementwise(a, b, getattr(self.trt.ElementWiseOperation, op))
        bool_out = op in ("EQUAL", "GREATER", "LESS", "AND", "OR", "XOR")
        dtype = DType.BOOL if bool_out else self.info(a).dtype
        return self.layer_output(layer, broadcast(self.shape(a), self.shape(b)), dtype, tag or op.lower())

    def unary(self, t: ITensor, op: str, tag: str = "") -> ITensor:
        layer = self.network.add_unary(t, getattr(self.trt.UnaryOperation, op))
        dtype = DType.BOOL if op in ("ISNAN", "ISINF") else self.info(t).dtype
        return self.layer_output(layer, self.shape(t), dtype, tag or op.lower())

    def activation(self, t: ITensor, kind: str, alpha: float | None = None, beta: float | None = None,
                   tag: str = "") -> ITensor:
        layer = self.network.add_activation(t, getattr(self.trt.ActivationType, kind))
        if alpha is not None:
            layer.alpha = alpha
        if beta is not None:
            layer.beta = beta
        return self.layer_output(layer, self.shape(t), self.info(t).dtype, tag or kind.lower())

    def _where(self) -> str:
        return f"node {self.node.label}" if self.node is not None else "the graph's outputs"


def output_names(graph: Graph) -> list[str]:
    """The engine's output tensor names: the graph's output names, made unique among all I/O names
    (TensorRT cannot give an input and an output one name) with a ``__k`` suffix."""
    pool = NamePool({v.name for v in graph.inputs if v.name})
    return [pool.claim(name or v.name or f"output_{i}")
            for i, (v, name) in enumerate(zip(graph.outputs, graph.output_names))]


def ir_shape(v: Value) -> tuple[int, ...]:
    assert v.shape is not None
    return tuple(d if isinstance(d, int) else -1 for d in v.shape)


def broadcast(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...]:
    """The elementwise output shape of two equal-rank shapes (``-1`` where unknown)."""
    return tuple(y if x == 1 else x if y == 1 else x if x != -1 else y for x, y in zip(a, b))


def _infer_minus_one(shape: tuple[int, ...], in_shape: tuple[int, ...], spec: ReshapeSpec) -> tuple[int, ...]:
    """Resolve a single ``-1`` entry of a reshape when the input's size is static."""
    if -1 not in in_shape and shape.count(-1) == 1 and not any(isinstance(e, Dim) for e in spec if e == -1):
        known = int(np.prod([d for d in shape if d != -1]))
        total = int(np.prod(in_shape))
        if known:
            return tuple(total // known if d == -1 else d for d in shape)
    return shape
