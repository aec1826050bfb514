"""The reference interpreter: runs any graph with the registry's numpy kernels.

Tensors are numpy arrays, sequences are Python lists, an empty optional is
``None``. Intermediate arrays are dropped after their last use.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

import numpy as np

from graphopt.errors import EvaluationError
from graphopt.ir.core import Graph, Node, Value, free_values


class EvalContext:
    """Handed to kernels that declare a ``ctx`` parameter (control flow, multi-output ops)."""

    def __init__(self, node: Node, env: _Env) -> None:
        self.node = node
        self._env = env

    @property
    def num_outputs(self) -> int:
        return len(self.node.outputs)

    def output_present(self, i: int) -> bool:
        outs = self.node.outputs
        return i < len(outs) and outs[i] is not None

    def run(self, graph: Graph, inputs: Sequence[Any]) -> list[Any]:
        """Evaluate a subgraph of this node; outer-scope values resolve from the caller."""
        return _run(graph, list(inputs), _Env(self._env))


class _Env:
    __slots__ = ("parent", "values")

    def __init__(self, parent: _Env | None = None, values: MutableMapping[Value, Any] | None = None) -> None:
        self.values: MutableMapping[Value, Any] = {} if values is None else values
        self.parent = parent

    def get(self, v: Value) -> Any:
        env: _Env | None = self
        while env is not None:
            if v in env.values:
                return env.values[v]
            env = env.parent
        if v.const is not None:
            return v.const.numpy()
        raise KeyError(v)


def evaluate(graph: Graph, inputs: Mapping[str, Any] | Sequence[Any], *,
             values: MutableMapping[Value, Any] | None = None) -> list[Any]:
    """Run ``graph`` on ``inputs`` (by input name, or positionally) and return its outputs in order.

    ``values`` is the table that holds the top-level graph's tensors while it runs (the memory
    planner passes one that stores them in its arena)."""
    if isinstance(inputs, Mapping):
        defaults = graph.input_defaults
        missing = [v.name for v in graph.inputs if v.name not in inputs and v not in defaults]
        if missing:
            raise EvaluationError(f"graph {graph.name!r}: no value given for inputs {missing}")
        args = [inputs[v.name] if v.name in inputs else defaults[v].numpy() for v in graph.inputs]  # type: ignore[index]
    else:
        args = list(inputs)
    return _run(graph, args, _Env(values=values))


def _run(graph: Graph, args: list[Any], env: _Env) -> list[Any]:
    if len(args) != len(graph.inputs):
        raise EvaluationError(f"graph {graph.name!r} takes {len(graph.inputs)} inputs, got {len(args)}")
    for v, a in zip(graph.inputs, args):
        env.values[v] = a
    last_use = _last_uses(graph)
    for step, node in enumerate(graph):
        ins = [None if v is None else env.get(v) for v in node.inputs]
        results = _run_node(node, ins, env)
        for out, r in zip(node.outputs, results):
            if out is not None:
                env.values[out] = r
        for v in last_use.get(step, ()):
            env.values.pop(v, None)
    return [env.get(v) for v in graph.outputs]


def _last_uses(graph: Graph) -> dict[int, list[Value]]:
    """Step after which each local value is dead (graph outputs never die)."""
    last: dict[Value, int] = {}
    for step, node in enumerate(graph):
        for v in free_values(node):
            last[v] = step
        for out in node.outputs:
            if out is not None and out not in last:
                last[out] = step
    for v in graph.outputs:
        last.pop(v, None)
    by_step: dict[int, list[Value]] = {}
    for v, step in last.items():
        by_step.setdefault(step, []).append(v)
    return by_step


def run_node(node: Node, inputs: list[Any]) -> list[Any]:
    """Run one node on input arrays (``None`` for omitted inputs); its subgraphs may read only constants."""
    return _run_node(node, list(inputs), _Env())


def _run_node(node: Node, ins: list[Any], env: _Env) -> list[Any]:
    schema = node.schema
    if schema is None or schema.kernel is None:
        raise EvaluationError(f"{node.label}: op {node.qualified_op} has no reference kernel, so graphopt "
                              "cannot evaluate it (it can still be optimized and exported)")
    while ins and node.inputs[len(ins) - 1] is None:  # omitted inputs; an empty optional value stays
        ins.pop()
    attrs = schema.attr_values({k: a.value for k, a in node.attrs.items()})
    try:
        result = schema.kernel(EvalContext(node, env), ins, attrs)
    except EvaluationError:
        raise
    except Exception as e:
        shapes = ", ".join(_describe(a) for a in ins)
        raise EvaluationError(f"{node.label} failed on inputs ({shapes}): {type(e).__name__}: {e}") from e
    results = list(result) if isinstance(result, (tuple, list)) and _is_multi(node) else [result]
    n_out = len(node.outputs)
    if len(results) < n_out and any(o is not None for o in node.outputs[len(results):]):
        raise EvaluationError(f"{node.label}: kernel returned {len(results)} outputs, node has {n_out}")
    return [np.asarray(r) if isinstance(r, np.generic) else r for r in results[:n_out]]


def _is_multi(node: Node) -> bool:
    """Whether a kernel result is a tuple of outputs rather than one sequence value."""
    schema = node.schema
    return schema is not None and (schema.max_outputs > 1 or len(node.outputs) > 1)


def _describe(a: Any) -> str:
    if a is None:
        return "-"
    if isinstance(a, np.ndarray):
        return f"{a.dtype}{list(a.shape)}"
    if isinstance(a, list):
        return f"seq[{len(a)}]"
    return type(a).__name__
