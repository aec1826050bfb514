"""A one-line progress bar on stderr, drawn only on a terminal, and the pipeline instrument that drives it.

Written here rather than taken from tqdm: the command needs one bar with a label, a count and a detail,
which is forty lines, and graphopt's base install stays numpy + onnx + onnxruntime.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TextIO

from graphopt.ir.core import Graph
from graphopt.passes.base import Pass, PassResult
from graphopt.passes.instruments import Instrument

WIDTH = 24
INTERVAL = 0.1
"""Seconds between redraws: a fast pipeline runs hundreds of passes a second."""


class Progress:
    """``label [######------] 3/8 detail``, redrawn in place; silent when the stream is not a terminal."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.label, self.total, self.done = label, max(total, 1), 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._drawn = 0.0
        self._width = 0

    def update(self, done: int | None = None, detail: str = "") -> None:
        self.done = self.done + 1 if done is None else done
        now = time.monotonic()
        if not self.enabled or (now - self._drawn < INTERVAL and self.done < self.total):
            return
        self._drawn = now
        filled = min(WIDTH, WIDTH * self.done // self.total)
        line = f"{self.label} [{'#' * filled}{'-' * (WIDTH - filled)}] {self.done}/{self.total} {detail}"
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)

    def close(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
        self._width = 0


class PipelineProgress(Instrument):
    """Moves a :class:`Progress` through a pipeline's pass list; a stage iterating to a fixed point moves the
    bar back to the stage's start and says which round it is in."""

    def __init__(self, stages: Sequence[tuple[str, Sequence[str]]], progress: Progress) -> None:
        self.slots = [(stage, name) for stage, names in stages for name in names]
        self.progress = progress
        self.progress.total = max(len(self.slots), 1)
        self._at = 0
        self._stage = ""
        self._round = 1

    def before_pass(self, pass_: Pass, graph: Graph) -> None:
        at = self._find(pass_.name, self._at)
        if at is None:  # the stage starts another round
            at = self._find(pass_.name, 0)
            self._round += 1
        elif self.slots[at][0] != self._stage:
            self._round = 1
        if at is None:
            return
        self._at, self._stage = at, self.slots[at][0]
        rounds = f", round {self._round}" if self._round > 1 else ""
        self.progress.update(at, f"{self._stage}: {pass_.name}{rounds}")

    def after_pass(self, pass_: Pass, graph: Graph, result: PassResult, seconds: float) -> None:
        self._at += 1

    def exit_pipeline(self, graph: Graph) -> None:
        self.progress.close()

    def _find(self, name: str, start: int) -> int | None:
        return next((i for i in range(start, len(self.slots)) if self.slots[i][1] == name), None)
