"""DumpIR: a numbered text dump and a diff for every pass that changed the graph, plus an index page."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from graphopt.ir.core import Graph, Node, Value
from graphopt.passes.base import Pass, PassResult
from graphopt.passes.dump_html import MAX_REGION_NODES, PassRun, Picture, Region, RegionNode, render_index
from graphopt.passes.instruments import Instrument

MAX_READERS = 4
"""Readers drawn per value of a changed node: a hub value read by hundreds of nodes would swamp the picture."""

Signature = tuple[str, tuple[Value | None, ...], tuple[Value | None, ...], tuple[Any, ...]]


class DumpIR(Instrument):
    """Writes ``000_input.txt``, then ``NNN_<pass>.txt`` and ``.diff`` (and ``.onnx`` with ``onnx=True``)
    for each pass that changed the graph, and ``index.html`` summarizing every pass run with a plot and a
    before/after picture of what each changed pass touched."""

    def __init__(self, directory: str | Path, *, onnx: bool = False) -> None:
        self.dir = Path(directory)
        self.onnx = onnx
        self.entries: list[PassRun] = []
        self.regions: dict[str, Region] = {}
        self._previous = ""
        self._counter = 0
        self._snapshot: dict[Node, Signature] = {}
        self._constants = 0

    def enter_pipeline(self, graph: Graph) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("[0-9][0-9][0-9]_*"):
            old.unlink()
        self._previous = self._write("000_input", graph)
        self._snapshot, self._constants = _snapshot(graph), len(graph.constants)

    def after_pass(self, pass_: Pass, graph: Graph, result: PassResult, seconds: float) -> None:
        stem = None
        nodes_before = len(self._snapshot)
        if result.modified:
            self._counter += 1
            stem = f"{self._counter:03d}_{_slug(pass_.name)}"
            text = self._write(stem, graph)
            diff = difflib.unified_diff(self._previous.splitlines(keepends=True), text.splitlines(keepends=True),
                                        fromfile="before", tofile=f"after {pass_.name}")
            (self.dir / f"{stem}.diff").write_text("".join(diff))
            self._previous = text
            after = _snapshot(graph)
            self.regions[stem] = _region(self._snapshot, after, self._constants, len(graph.constants))
            self._snapshot, self._constants = after, len(graph.constants)
        self.entries.append(PassRun(len(self.entries) + 1, pass_.name, seconds, nodes_before, len(self._snapshot),
                                    result.modified, stem))

    def exit_pipeline(self, graph: Graph) -> None:
        (self.dir / "index.html").write_text(render_index(self.entries, self.regions, self.onnx))

    def _write(self, stem: str, graph: Graph) -> str:
        text = str(graph)
        (self.dir / f"{stem}.txt").write_text(text)
        if self.onnx:
            from graphopt.codegen.onnx import save_onnx

            save_onnx(graph, self.dir / f"{stem}.onnx")
        return text


def _snapshot(graph: Graph) -> dict[Node, Signature]:
    """Every node (at any depth, in order) with what a rewrite can change about it. Holding the values keeps
    them alive, so identity comparisons stay meaningful after the pass drops them."""
    return {n: (n.qualified_op, n.inputs, n.outputs, tuple(n.attrs.items())) for n in graph.walk()}


def _same(a: Signature, b: Signature) -> bool:
    return a[0] == b[0] and _identical(a[1], b[1]) and _identical(a[2], b[2]) and len(a[3]) == len(b[3]) \
        and all(ka == kb and va is vb for (ka, va), (kb, vb) in zip(a[3], b[3]))


def _identical(xs: tuple[Any, ...], ys: tuple[Any, ...]) -> bool:
    return len(xs) == len(ys) and all(x is y for x, y in zip(xs, ys))


def _region(before: dict[Node, Signature], after: dict[Node, Signature], constants_before: int,
            constants_after: int) -> Region:
    """The nodes a pass removed or rewrote (before) and added or rewrote (after), each with its neighbours;
    a node that kept its op, attributes and outputs but reads other values is marked rewired."""
    removed = [n for n, sig in before.items() if n not in after or not _same(sig, after[n])]
    added = [n for n, sig in after.items() if n not in before or not _same(sig, before[n])]
    rewired = {n for n in removed if n in after and _rewired(before[n], after[n])}
    region = Region(_picture(before, removed, "removed", rewired), _picture(after, added, "added", rewired))
    if constants_before != constants_after:
        region.after.note = f"constants {constants_before} → {constants_after}"
    return region


def _rewired(a: Signature, b: Signature) -> bool:
    return a[0] == b[0] and _identical(a[2], b[2]) and _same((a[0], (), (), a[3]), (b[0], (), (), b[3]))


def _picture(nodes: dict[Node, Signature], changed: list[Node], status: str, rewired: set[Node]) -> Picture:
    producer: dict[Value, Node] = {}
    readers: dict[Value, list[Node]] = {}
    for n, (_, ins, outs, _) in nodes.items():
        producer.update((o, n) for o in outs if o is not None)
        for v in ins:
            if v is not None:
                readers.setdefault(v, []).append(n)
    shown = changed[:MAX_REGION_NODES]
    keep = set(shown)
    for n in shown:
        _, ins, outs, _ = nodes[n]
        keep.update(producer[v] for v in ins if v is not None and v in producer)
        keep.update(r for v in _present(outs) for r in readers.get(v, ())[:MAX_READERS])
    order = [n for n in nodes if n in keep]
    index = {n: i for i, n in enumerate(order)}
    marked = set(shown)
    picture = Picture([RegionNode(nodes[n][0], _name(nodes[n][2]),
                                  "context" if n not in marked else "rewired" if n in rewired else status)
                       for n in order], omitted=len(changed) - len(shown))
    for n in order:
        for v in _present(nodes[n][1]):
            p = producer.get(v)
            if p in index and (p in marked or n in marked):
                picture.edges.append((index[p], index[n]))
    return picture


def _present(values: Iterable[Value | None]) -> Iterable[Value]:
    return (v for v in values if v is not None)


def _name(outputs: tuple[Value | None, ...]) -> str:
    names = [v.name for v in outputs if v is not None and v.name]
    text = ", ".join(names)
    return text if len(text) <= 24 else "…" + text[-23:]  # the tail of a long scoped name says the most


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
