"""The pass manager: runs stages of passes (some to a fixed point), calling instruments around each."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from graphopt.errors import GraphoptError
from graphopt.ir.core import Graph
from graphopt.passes.base import Pass, PassError, PassResult
from graphopt.passes.instruments import Instrument

logger = logging.getLogger(__name__)


@dataclass
class Stage:
    """An ordered group of passes; with ``fixed_point`` it repeats until no pass changes the graph."""

    name: str
    passes: list[Pass]
    fixed_point: bool = False
    max_iterations: int = 8


@dataclass
class PassRecord:
    name: str
    modified: bool
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)


class PassManager:
    def __init__(self, stages: Sequence[Stage], instruments: Sequence[Instrument] = ()) -> None:
        self.stages = list(stages)
        self.instruments = list(instruments)
        self.history: list[PassRecord] = []

    def run(self, graph: Graph) -> bool:
        """Run every stage on ``graph`` in place; returns whether anything changed."""
        for ins in self.instruments:
            ins.enter_pipeline(graph)
        changed = False
        for stage in self.stages:
            changed |= self._run_stage(stage, graph)
        for ins in self.instruments:
            ins.exit_pipeline(graph)
        return changed

    def _run_stage(self, stage: Stage, graph: Graph) -> bool:
        changed = False
        rounds = stage.max_iterations if stage.fixed_point else 1
        for _ in range(rounds):
            round_changed = False
            for p in stage.passes:
                round_changed |= self._run_pass(p, graph).modified
            changed |= round_changed
            if not round_changed:
                return changed
        if stage.fixed_point:
            logger.info("stage %s: no fixed point after %d iterations; stopping", stage.name, rounds)
        return changed

    def _run_pass(self, p: Pass, graph: Graph) -> PassResult:
        for ins in self.instruments:
            ins.before_pass(p, graph)
        start = time.perf_counter()
        try:
            result = p(graph)
        except GraphoptError as e:
            raise PassError(f"pass {p.name!r} failed: {e}{self._before()}") from e
        except Exception as e:
            raise PassError(f"pass {p.name!r} crashed with {type(e).__name__}: {e}{self._before()}") from e
        seconds = time.perf_counter() - start
        self.history.append(PassRecord(p.name, result.modified, seconds, dict(result.counts)))
        for ins in self.instruments:
            ins.after_pass(p, graph, result, seconds)
        return result

    def _before(self) -> str:
        ran = list(dict.fromkeys(r.name for r in self.history))
        return f" (passes run before it: {', '.join(ran)})" if ran else " (it was the first pass)"
