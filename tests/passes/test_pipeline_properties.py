"""Property: O1 and O2 never change what a graph computes.

Hypothesis builds random small graphs (elementwise ops, constants such as 0 and 1 that invite
simplification, data-movement pairs, casts, no-ops and shape arithmetic through Shape/Gather/Concat,
with a static or symbolic batch dim), optimizes them, and checks that the result verifies and that ONNX
Runtime gives the same outputs for the optimized and the original graph on random inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphopt
from graphopt.ir import DType, Graph, TensorType, Value, infer_node
from graphopt.ir.types import Dim, types_compatible
from graphopt.passes.numerics import random_inputs
from tests.backend_cases import outputs_match, run_ort

F32 = DType.FLOAT
CONSTANTS = (0.0, 1.0, 0.0, 1.0, 2.0, 0.5, -1.0, 3.0, -0.75)  # 0 and 1 twice: they invite rewrites
UNARY = ("Relu", "Neg", "Abs", "Sigmoid", "Tanh", "Identity", "Dropout")
BINARY = ("Add", "Sub", "Mul", "Max", "Min")


class RandomGraph:
    """Grows a graph step by step from hypothesis draws; every value in the pool is a typed f32 tensor."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any], batch: Dim) -> None:
        self.draw = draw
        self.graph = Graph()
        self.pool: list[Value] = []
        self.sym: dict[Value, Any] = {}  # symbolic values of shape tensors, shared across inference calls
        shapes = [(batch, 3, 4), (batch, 1, 4), (3, 4), (4,), (batch, 4), (1, 3, 1)]
        for i in range(draw(st.integers(1, 3))):
            x = Value(TensorType(F32, draw(st.sampled_from(shapes))), f"x{i}")
            self.graph.inputs.append(x)
            self.pool.append(x)

    # -- plumbing --------------------------------------------------------------------------------
    def pick(self, ok: Callable[[Value], bool] = lambda v: True) -> Value | None:
        candidates = [v for v in self.pool if ok(v)]
        return self.draw(st.sampled_from(candidates)) if candidates else None

    def add(self, op: str, inputs: Sequence[Value | None], attrs: dict[str, Any] | None = None) -> Value:
        node = self.graph.add(op, inputs, attrs)
        (node.output.type,) = infer_node(node, self.sym)[:1]
        assert isinstance(node.output.type, TensorType) and node.output.shape is not None, node
        return node.output

    def const(self, array: Any, dtype: Any = np.float32) -> Value:
        return self.graph.add_constant(np.asarray(array, dtype))

    def scalar_or_row(self, x: Value, value: float) -> Value:
        """A constant of ``value`` shaped to broadcast against ``x`` without enlarging it."""
        shape = x.shape
        options: list[tuple[int, ...]] = [(), (1,)]
        if shape and isinstance(shape[-1], int):
            options.append((shape[-1],))
        if shape:
            options.append((1,) * len(shape))
        return self.const(np.full(self.draw(st.sampled_from(options)), value))

    # -- steps -----------------------------------------------------------------------------------
    def step(self) -> None:
        x = self.pick()
        assert x is not None
        kind = self.draw(st.sampled_from([
            self.unary, self.binary, self.with_constant, self.constant_chain, self.pair, self.transpose,
            self.reshape, self.shape_math_reshape, self.unsqueeze_squeeze, self.concat, self.slice, self.cast_pair,
            self.folded_constant,
        ]))
        out = kind(x)
        if out is not None:
            self.pool.append(out)

    def unary(self, x: Value) -> Value:
        return self.add(self.draw(st.sampled_from(UNARY)), [x])

    def binary(self, x: Value) -> Value | None:
        y = self.pick(lambda v: _broadcastable(x.shape, v.shape))
        return None if y is None else self.add(self.draw(st.sampled_from(BINARY)), [x, y])

    def with_constant(self, x: Value) -> Value:
        op = self.draw(st.sampled_from(("Add", "Sub", "Mul", "Div", "Pow")))
        if op == "Pow":
            return self.add(op, [x, self.const(self.draw(st.sampled_from((1.0, 2.0))))])
        value = self.draw(st.sampled_from([c for c in CONSTANTS if op != "Div" or c != 0]))
        c = self.scalar_or_row(x, value)
        left = op in ("Add", "Sub", "Mul") and self.draw(st.booleans())
        return self.add(op, [c, x] if left else [x, c])

    def constant_chain(self, x: Value) -> Value:
        op = self.draw(st.sampled_from(("Add", "Mul", "Div")))
        for _ in range(2):
            value = self.draw(st.sampled_from([c for c in CONSTANTS if c != 0] if op == "Div" else CONSTANTS))
            x = self.add(op, [x, self.scalar_or_row(x, value)])
        return x

    def pair(self, x: Value) -> Value:
        op = self.draw(st.sampled_from(("Neg", "Relu", "Abs")))
        return self.add(op, [self.add(op, [x])])

    def transpose(self, x: Value) -> Value:
        rank = len(x.shape)
        for _ in range(self.draw(st.integers(1, 2))):
            x = self.add("Transpose", [x], {"perm": self.draw(st.permutations(range(rank)))})
        return x

    def reshape(self, x: Value) -> Value | None:
        """Flatten the trailing dims (``[0, -1]``, copying dim 0) or everything (``[-1]``), maybe twice."""
        if len(x.shape) < 2:
            return None
        for _ in range(self.draw(st.integers(1, 2))):
            target = self.draw(st.sampled_from(([0, -1], [-1], [-1, 1])))
            x = self.add("Reshape", [x, self.const(target, np.int64)])
        return x

    def shape_math_reshape(self, x: Value) -> Value | None:
        """``Reshape(x, Concat(Gather(Shape(x), [0]), [-1]))`` or the same through ``Slice``."""
        if len(x.shape) < 2:
            return None
        shape = self.add("Shape", [x])
        if self.draw(st.booleans()):
            first = self.add("Gather", [shape, self.const([0], np.int64)], {"axis": 0})
        else:
            first = self.add("Slice", [shape, self.const([0], np.int64), self.const([1], np.int64)])
        target = self.add("Concat", [first, self.const([-1], np.int64)], {"axis": 0})
        return self.add("Reshape", [x, target])

    def unsqueeze_squeeze(self, x: Value) -> Value:
        """Unsqueeze, Squeeze of a size-1 dim, or both in either order (on the same axis or not)."""
        if self.draw(st.booleans()):
            x = self.add("Unsqueeze", [x, self.const([self.draw(st.integers(-len(x.shape) - 1, len(x.shape)))],
                                                     np.int64)])
        ones = [i for i, d in enumerate(x.shape) if d == 1]
        if not ones:
            return x
        axes = self.const([self.draw(st.sampled_from(ones))], np.int64)
        x = self.add("Squeeze", [x, axes])
        if self.draw(st.booleans()):
            again = axes if self.draw(st.booleans()) else self.const([self.draw(st.integers(0, len(x.shape)))],
                                                                       np.int64)
            x = self.add("Unsqueeze", [x, again])
        return x

    def concat(self, x: Value) -> Value:
        axis = self.draw(st.integers(0, len(x.shape) - 1))
        y = self.pick(lambda v: v.shape is not None and len(v.shape) == len(x.shape) and
                      all(_same_dim(a, b) for i, (a, b) in enumerate(zip(v.shape, x.shape)) if i != axis))
        return self.add("Concat", [x, y if y is not None else x], {"axis": axis})

    def slice(self, x: Value) -> Value | None:
        """One or two constant slices of static axes (two slices prefer different axes)."""
        cut: list[int] = []
        for _ in range(self.draw(st.integers(1, 2))):
            axes = [i for i, d in enumerate(x.shape) if isinstance(d, int) and d >= 2]
            axes = [i for i in axes if i not in cut] or axes
            if not axes:
                return None
            axis = self.draw(st.sampled_from(axes))
            start = self.draw(st.integers(0, 1))
            step = self.draw(st.sampled_from((1, 2)))
            cut.append(axis)
            x = self.add("Slice", [x, *(self.const([v], np.int64) for v in (start, x.shape[axis], axis, step))])
        return x

    def cast_pair(self, x: Value) -> Value:
        middle = self.draw(st.sampled_from((DType.DOUBLE, DType.FLOAT16)))
        return self.add("Cast", [self.add("Cast", [x], {"to": int(middle)})], {"to": int(F32)})

    def folded_constant(self, x: Value) -> Value:
        """``x * (c1 + c2)``: the constant subexpression folds."""
        c1, c2 = (self.scalar_or_row(x, self.draw(st.sampled_from(CONSTANTS))) for _ in range(2))
        return self.add("Mul", [x, self.add(self.draw(st.sampled_from(("Add", "Mul", "Sub"))), [c1, c2])])

    def finish(self) -> Graph:
        outs = [self.pool[-1]]
        extra = self.pick(lambda v: v.producer is not None and v is not outs[0])
        if extra is not None and self.draw(st.booleans()):
            outs.append(extra)
        if self.draw(st.booleans()):
            outs.append(self.add("Shape", [outs[0]]))
        self.graph.outputs = outs
        for i, v in enumerate(outs):
            self.graph.set_output(i, v, f"out{i}")
        return self.graph


def _broadcastable(a: Any, b: Any) -> bool:
    """Broadcast-compatible whatever the symbolic and unknown dims are: per aligned dim equal and known, or one is 1."""
    return all(_same_dim(p, q) or p == 1 or q == 1 for p, q in zip(reversed(a), reversed(b)))


def _same_dim(p: Dim, q: Dim) -> bool:
    return p is not None and p == q


@st.composite
def random_graphs(draw: Callable[[st.SearchStrategy[Any]], Any]) -> Graph:
    builder = RandomGraph(draw, draw(st.sampled_from(("N", 2))))
    for _ in range(draw(st.integers(1, 12))):
        builder.step()
    return builder.finish()


def _run(graph: Graph, feeds: dict[str, np.ndarray]) -> list[Any]:
    return run_ort(graphopt.to_onnx(graph), [feeds[v.name] for v in graph.inputs])  # type: ignore[index]


@settings(max_examples=500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs())
def test_optimize_keeps_results(graph: Graph) -> None:
    graphopt.verify(graph)
    feeds = {k: np.asarray(v) for k, v in random_inputs(graph, seed=1, symbolic_dim=3).items()}
    want = _run(graph, feeds)
    for level in ("O1", "O2"):
        optimized = graphopt.optimize(graph, level)
        graphopt.verify(optimized)
        assert optimized.output_names == graph.output_names
        assert all(types_compatible(a.type, b.type) for a, b in zip(optimized.outputs, graph.outputs, strict=True))
        got = _run(optimized, feeds)
        assert [np.asarray(a).dtype for a in got] == [np.asarray(a).dtype for a in want]
        assert outputs_match(got, want, rtol=1e-5, atol=1e-6), f"{level} changed the results of\n{graph}\n" \
            f"into\n{optimized}\ngot {got}\nwant {want}"
