"""The converter table: one function per ATen op (by schema name), lowering it into canonical IR.

A converter receives a :class:`Lowering` and the op's arguments in schema order, already bound
(defaults filled in): tensors are IR :class:`Value` s, scalars and lists are Python objects (a
symbolic int may be a 0-d int64 ``Value``); keyword-only schema arguments come as keywords. It returns
a ``Value`` or a tuple of them (``None`` for an output it does not compute)::

    @converter("aten::relu")
    def relu(cx, x):
        return cx.op("Relu", [x])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphopt.ir.core import Graph, Provenance, Value
from graphopt.ir.inference import SymValue, infer_node
from graphopt.ir.types import merge_types

Converter = Callable[..., Any]
_CONVERTERS: dict[str, Converter] = {}


def converter(*names: str) -> Callable[[Converter], Converter]:
    """Register a converter for ``aten::name`` or ``aten::name.overload`` schema names."""

    def register(fn: Converter) -> Converter:
        for name in names:
            if name in _CONVERTERS:
                raise ValueError(f"two converters for {name}")
            _CONVERTERS[name] = fn
        return fn

    return register


def lookup(name: str, overload: str = "") -> Converter | None:
    """The converter for ``name.overload``, falling back to one registered for every overload."""
    if overload and overload != "default":
        fn = _CONVERTERS.get(f"{name}.{overload}")
        if fn is not None:
            return fn
    return _CONVERTERS.get(name)


def registered_ops() -> list[str]:
    return sorted(_CONVERTERS)


class Lowering:
    """Where converters put nodes: appends to ``graph``, infers types, tags provenance."""

    def __init__(self, graph: Graph, frontend: str) -> None:
        self.graph = graph
        self.frontend = frontend
        self.source: tuple[str, ...] = ()  # the torch node being lowered (name, then location)
        self.sym: dict[Value, SymValue] = {}  # known elements of shape tensors, so Reshape keeps symbolic dims

    def op(self, op_type: str, inputs: Sequence[Value | None], attrs: dict[str, Any] | None = None, *,
           domain: str = "", num_outputs: int = 1) -> Any:
        """Add a node; returns its output (or the tuple of outputs when ``num_outputs > 1``)."""
        node = self.graph.add(op_type, inputs, attrs, domain=domain, num_outputs=num_outputs,
                              provenance=Provenance(self.frontend, self.source))
        for out, t in zip(node.outputs, infer_node(node, self.sym)):
            if out is not None:
                out.type = merge_types(out.type, t)
        return node.outputs if num_outputs > 1 else node.output

    def const(self, array: Any, dtype: Any = None) -> Value:
        """A new graph constant."""
        return self.graph.add_constant(np.asarray(array, dtype=dtype))
