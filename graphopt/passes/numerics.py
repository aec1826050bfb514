"""CheckNumerics: run the graph after every pass and name the first pass whose outputs diverge."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from graphopt.errors import GraphoptError
from graphopt.ir.core import Graph
from graphopt.ir.interpreter import evaluate
from graphopt.ir.types import TensorType
from graphopt.passes.base import Pass, PassResult
from graphopt.passes.instruments import Instrument


class NumericsError(GraphoptError):
    """A pass changed the graph's results beyond the tolerance."""


class CheckNumerics(Instrument):
    """Evaluates the graph on fixed inputs (given, or fixed-seed random) before the pipeline and after
    each pass that changed it; raises :class:`NumericsError` naming the first diverging pass and output."""

    def __init__(self, inputs: Mapping[str, np.ndarray] | None = None, rtol: float = 1e-4, atol: float = 1e-5,
                 seed: int = 0, symbolic_dim: int = 2) -> None:
        self.inputs = dict(inputs) if inputs is not None else None
        self.rtol, self.atol = rtol, atol
        self.seed, self.symbolic_dim = seed, symbolic_dim
        self.reference: list[Any] = []
        self.checked: list[str] = []

    def enter_pipeline(self, graph: Graph) -> None:
        if self.inputs is None:
            self.inputs = random_inputs(graph, self.seed, self.symbolic_dim)
        self.reference = evaluate(graph, self.inputs)

    def after_pass(self, pass_: Pass, graph: Graph, result: PassResult, seconds: float) -> None:
        if not result.modified:
            return
        self.checked.append(pass_.name)
        assert self.inputs is not None
        outputs = evaluate(graph, self.inputs)
        for name, got, want in zip(graph.output_names, outputs, self.reference):
            worst = _worst_error(got, want, self.rtol, self.atol)
            if worst is not None:
                raise NumericsError(f"pass {pass_.name!r} changed output {name!r}: {worst} "
                                    f"(rtol={self.rtol}, atol={self.atol}; passes checked before it: "
                                    f"{', '.join(self.checked[:-1]) or 'none'})")


def random_inputs(graph: Graph, seed: int = 0, symbolic_dim: int = 2) -> dict[str, np.ndarray]:
    """Fixed-seed inputs for every graph input: normal floats, small non-negative ints, random bools."""
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    for v in graph.inputs:
        assert v.name is not None, "graph inputs are named"
        if not isinstance(v.type, TensorType) or v.type.shape is None:
            raise GraphoptError(f"input {v.name!r} has no known tensor shape; pass inputs= explicitly")
        shape = tuple(d if isinstance(d, int) else symbolic_dim for d in v.type.shape)
        dtype = v.type.dtype.numpy
        if dtype.kind == "f":
            feeds[v.name] = np.asarray(rng.standard_normal(shape), dtype=dtype)
        elif dtype.kind == "b":
            feeds[v.name] = np.asarray(rng.random(shape) < 0.5)
        elif dtype.kind in "iu":
            feeds[v.name] = np.asarray(rng.integers(0, 4, shape), dtype=dtype)
        else:
            raise GraphoptError(f"input {v.name!r} of type {v.type}: no random data for it; pass inputs=")
    return feeds


def _worst_error(got: Any, want: Any, rtol: float, atol: float) -> str | None:
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return f"shape {list(got.shape)} instead of {list(want.shape)}"
    if got.dtype != want.dtype:
        return f"dtype {got.dtype} instead of {want.dtype}"
    if want.dtype.kind not in "fc":
        bad = int(np.count_nonzero(got != want))
        return f"{bad} of {want.size} elements differ" if bad else None
    g64, w64 = got.astype(np.float64), want.astype(np.float64)
    close = np.isclose(g64, w64, rtol=rtol, atol=atol, equal_nan=True)
    if close.all():
        return None
    err = np.abs(g64 - w64)
    err[np.isnan(err)] = np.inf
    idx = np.unravel_index(int(np.argmax(err)), err.shape)
    return (f"{int((~close).sum())} of {want.size} elements off, worst at {list(map(int, idx))}: "
            f"{g64[idx]:.6g} instead of {w64[idx]:.6g} (abs error {err[idx]:.3g})")
