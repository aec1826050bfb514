"""Named pipelines and :func:`optimize`, the entry point that runs them on a copy of the graph."""

from __future__ import annotations

from graphopt.errors import GraphoptError
from graphopt.ir.core import Graph
from graphopt.ir.verifier import verify

PIPELINES: dict[str, list[str]] = {
    "O0": [],  # verify only
}


def optimize(graph: Graph, pipeline: str = "O0") -> Graph:
    """Return an optimized copy of ``graph``; the input is never modified."""
    if pipeline not in PIPELINES:
        raise GraphoptError(f"unknown pipeline {pipeline!r}; available: {', '.join(PIPELINES)}")
    result = graph.copy()
    verify(result)
    return result
