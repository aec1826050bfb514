"""fold-constants: evaluate nodes whose inputs are all constants, and shape queries on static shapes.

A node is folded when every value it reads (its inputs and what its subgraphs read from outside) is a
constant, it is deterministic, its work is bounded by its data (so no ``Loop``: a trip count may be 1e12),
and its op has a reference kernel: the interpreter runs it and constants named like its outputs replace
them. ``Shape`` and ``Size`` fold whenever the dims they report are static, and ``Gather``/``Slice`` on a
``Shape`` fold when the dims they select are static even if others are symbolic. Inputs with
``input_defaults`` are not constants (they can be overridden) and never fold.

``max_bytes`` bounds how much one fold may grow the model: a node's outputs are materialized only if
they take at most ``max_bytes``, or no more than the constants that die with the node (so transposing a
weight only that node reads still folds, while an ``Expand``/``Tile``/``ConstantOfShape`` making a big
tensor from small inputs does not). Kernel failures are not errors: the node stays, is counted in
``counts["failed"]`` and logged at debug level.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

import numpy as np

from graphopt.ir.core import Graph, Node, Value, free_values
from graphopt.ir.dtypes import DType
from graphopt.ir.inference import infer_node
from graphopt.ir.interpreter import run_node
from graphopt.ir.registry import ONNX_DOMAINS
from graphopt.ir.types import TensorType, Type
from graphopt.passes.base import Pass, PassResult, register_pass

logger = logging.getLogger(__name__)

RANDOM_OPS = frozenset({
    "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Bernoulli", "Multinomial",
})


@register_pass
class FoldConstants(Pass):
    """Replaces computations on constants (and queries of static shapes) by their results."""

    name = "fold-constants"
    level = 1
    stage = "pre"
    doc = ("evaluate nodes whose inputs are all constants, and Shape/Size (and Gather/Slice of Shape) "
           "on static dims; max_bytes bounds how much one fold may grow the model")
    max_bytes: int = 1 << 20

    def run(self, graph: Graph) -> PassResult:
        folder = _Folder(self.max_bytes)
        folder.fold_graph(graph, [graph])
        return PassResult(folder.counts["folded"] > 0, dict(folder.counts))


class _Folder:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.counts: Counter[str] = Counter(folded=0, failed=0, too_large=0, constants_removed=0)

    def fold_graph(self, graph: Graph, scopes: list[Graph]) -> None:
        """Fold in node order, so a chain of constant computations folds in one walk."""
        for node in graph:
            for sub in node.subgraphs():
                self.fold_graph(sub, [*scopes, sub])
            if not any(o is not None and o.has_uses for o in node.outputs):
                continue  # dead: dce's business
            arrays = _static_shape_query(node)
            if arrays is None and _is_evaluable(node, scopes):
                arrays = self.evaluate(node)
            if arrays is not None:
                self.replace(node, arrays, scopes)

    def evaluate(self, node: Node) -> list[np.ndarray | None] | None:
        """Run ``node``'s kernel on its constant inputs, within the size budget; ``None`` when it does not fold."""
        limit = max(self.max_bytes, _freed_bytes(node))
        predicted = _predicted_bytes(node)
        if predicted is not None and predicted > limit:
            self.counts["too_large"] += 1
            return None
        try:
            results = run_node(node, [None if v is None else v.numpy() for v in node.inputs])
            arrays = [None if o is None else _checked(r, o) for o, r in zip(node.outputs, results)]
        except Exception as e:  # a kernel that cannot run here just leaves the node alone
            self.counts["failed"] += 1
            logger.debug("fold-constants: %s not folded: %s", node.label, e)
            return None
        if sum(a.nbytes for a in arrays if a is not None) > limit:
            self.counts["too_large"] += 1
            return None
        return arrays

    def replace(self, node: Node, arrays: Sequence[np.ndarray | None], scopes: list[Graph]) -> None:
        graph = node.graph
        assert graph is not None
        read = list(dict.fromkeys(free_values(node)))
        for out, array in zip(node.outputs, arrays):
            if out is not None and array is not None:
                graph.replace_all_uses(out, graph.add_constant(array, out.name))
        graph.remove(node)
        self.counts["folded"] += 1
        for v in read:
            owner = next((s for s in scopes if s.is_constant(v)), None)
            if owner is not None and not v.has_uses:
                owner.remove_constant(v)
                self.counts["constants_removed"] += 1


def _is_evaluable(node: Node, scopes: list[Graph]) -> bool:
    """Deterministic, bounded, has a kernel, yields only tensors, and reads nothing but constants of ``scopes``."""
    schema = node.schema
    if schema is None or schema.kernel is None or _is_random(node) or not node.outputs or _is_unbounded(node):
        return False
    if not all(o is None or isinstance(o.type, TensorType) or o.type is None for o in node.outputs):
        return False
    return all(any(s.is_constant(v) for s in scopes) for v in free_values(node))


def _is_unbounded(node: Node) -> bool:
    """A Loop's work is not bounded by its inputs' or outputs' size (a constant trip count of 1e12, or none)."""
    return node.domain in ONNX_DOMAINS and node.op == "Loop"


def _is_random(node: Node) -> bool:
    if node.domain not in ONNX_DOMAINS:
        return False
    if node.op in RANDOM_OPS:
        return True
    if node.op == "Dropout" and len(node.inputs) > 2 and node.inputs[2] is not None:
        mode = node.inputs[2].numpy()
        return mode is None or bool(np.any(mode))
    return False


def _checked(result: object, out: Value) -> np.ndarray:
    """The kernel's result as an array, if it is a tensor that agrees with the output's recorded type."""
    if not isinstance(result, np.ndarray):
        raise TypeError(f"the result is a {type(result).__name__}, not a tensor")
    t = out.type
    if isinstance(t, TensorType):
        dtype = DType.from_numpy(result.dtype)
        if t.dtype not in (DType.UNDEFINED, dtype):
            raise TypeError(f"the kernel returned {dtype.short}, the output is typed {t}")
        if t.shape is not None and (len(t.shape) != result.ndim or
                                    any(isinstance(d, int) and d != n for d, n in zip(t.shape, result.shape))):
            raise TypeError(f"the kernel returned shape {list(result.shape)}, the output is typed {t}")
    return result


def _freed_bytes(node: Node) -> int:
    """Bytes of the constants that only ``node`` reads (they go away with it)."""
    total = 0
    for v in dict.fromkeys(v for v in node.inputs if v is not None and v.const is not None):
        if v.only_read_by(node):
            total += v.const.nbytes  # type: ignore[union-attr]
    return total


def _predicted_bytes(node: Node) -> int | None:
    """The outputs' size from their inferred types (recorded ones where inference says nothing), before
    computing anything. Inference goes first: it reads the constant inputs, a recorded type may be stale."""
    try:
        inferred = infer_node(node)
    except Exception:  # inference trouble only means no prediction
        inferred = [None] * len(node.outputs)
    total = 0
    for out, t in zip(node.outputs, inferred):
        if out is None:
            continue
        n = _bytes(t) if _bytes(t) is not None else _bytes(out.type)
        if n is None:
            return None
        total += n
    return total


def _bytes(t: Type) -> int | None:
    if not isinstance(t, TensorType) or t.dtype in (DType.UNDEFINED, DType.STRING):
        return None
    n = t.numel()
    return None if n is None else (n * t.dtype.bits + 7) // 8


# -- shape queries --------------------------------------------------------------------------------------

def _static_shape_query(node: Node) -> list[np.ndarray | None] | None:
    """``Shape``/``Size`` of a value whose reported dims are static, or ``Gather``/``Slice`` of such a
    ``Shape`` picking only static dims."""
    if node.domain not in ONNX_DOMAINS or not node.inputs or node.inputs[0] is None:
        return None
    data = node.inputs[0]
    if node.op == "Shape":
        dims = _shape_dims(node)
        return None if dims is None or not _all_static(dims) else [np.array(dims, np.int64)]
    if node.op == "Size":
        n = data.type.numel() if isinstance(data.type, TensorType) else None
        return None if n is None else [np.array(n, np.int64)]
    if node.op in ("Gather", "Slice") and data.producer is not None and data.producer.op == "Shape" and \
            data.producer.domain in ONNX_DOMAINS and all(v is None or v.const is not None for v in node.inputs[1:]):
        dims = _shape_dims(data.producer)
        if dims is None:
            return None
        positions = np.arange(len(dims), dtype=np.int64)
        try:
            picked = run_node(node, [positions, *(None if v is None else v.numpy() for v in node.inputs[1:])])[0]
        except Exception as e:
            logger.debug("fold-constants: %s of a shape not folded: %s", node.label, e)
            return None
        selected = [dims[int(i)] for i in np.asarray(picked).reshape(-1)]
        return [np.array(selected, np.int64).reshape(picked.shape)] if _all_static(selected) else None
    return None


def _shape_dims(shape_node: Node) -> list[object] | None:
    """The dims a ``Shape`` node reports (its ``start``/``end`` applied), or ``None`` for an unknown rank."""
    data = shape_node.inputs[0]
    shape = data.shape if data is not None else None
    if shape is None:
        return None
    return list(shape[shape_node.attr("start"):shape_node.attr("end")])


def _all_static(dims: Sequence[object]) -> bool:
    return all(isinstance(d, int) for d in dims)
