"""Instruments: hooks the pass manager calls around every pass (timing, verification, dumps, numerics).

Debugging features live here rather than inside passes, so every pass gets
them for free and none pays for them when they are off.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from graphopt.ir.core import Graph
from graphopt.ir.verifier import verify

if TYPE_CHECKING:
    from graphopt.passes.base import Pass, PassResult


class Instrument:
    """Override any hook; the defaults do nothing."""

    def enter_pipeline(self, graph: Graph) -> None:
        pass

    def before_pass(self, pass_: Pass, graph: Graph) -> None:
        pass

    def after_pass(self, pass_: Pass, graph: Graph, result: PassResult, seconds: float) -> None:
        pass

    def exit_pipeline(self, graph: Graph) -> None:
        pass


class Timing(Instrument):
    """Wall time per pass run; :meth:`report` renders a table, slowest first."""

    def __init__(self) -> None:
        self.records: list[tuple[str, float, bool]] = []
        self._start = 0.0
        self.total = 0.0

    def enter_pipeline(self, graph: Graph) -> None:
        self._start = time.perf_counter()

    def after_pass(self, pass_: Pass, graph: Graph, result: PassResult, seconds: float) -> None:
        self.records.append((pass_.name, seconds, result.modified))

    def exit_pipeline(self, graph: Graph) -> None:
        self.total = time.perf_counter() - self._start

    def per_pass(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for name, seconds, _ in self.records:
            totals[name] = totals.get(name, 0.0) + seconds
        return totals

    def report(self) -> str:
        rows = sorted(self.per_pass().items(), key=lambda kv: -kv[1])
        lines = [f"{'pass':<28} {'ms':>10}"] + [f"{name:<28} {1000 * s:>10.2f}" for name, s in rows]
        lines.append(f"{'total (with instruments)':<28} {1000 * self.total:>10.2f}")
        return "\n".join(lines)


class VerifyEach(Instrument):
    """Run the verifier after every pass that changed the graph; the error names the pass."""

    def enter_pipeline(self, graph: Graph) -> None:
        verify(graph)

    def after_pass(self, pass_: Pass, graph: Graph, result: PassResult, seconds: float) -> None:
        if result.modified:
            from graphopt.errors import VerificationError

            try:
                verify(graph)
            except VerificationError as e:
                raise VerificationError(f"after pass {pass_.name!r}: {e}") from e
