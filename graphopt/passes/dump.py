"""DumpIR: a numbered text dump and a diff for every pass that changed the graph, plus an index page."""

from __future__ import annotations

import difflib
import html
import re
from dataclasses import dataclass
from pathlib import Path

from graphopt.ir.core import Graph
from graphopt.passes.base import Pass, PassResult
from graphopt.passes.instruments import Instrument


@dataclass
class _Entry:
    index: int
    pass_name: str
    seconds: float
    nodes_before: int
    nodes_after: int
    modified: bool
    stem: str | None


class DumpIR(Instrument):
    """Writes ``000_input.txt``, then ``NNN_<pass>.txt`` and ``.diff`` (and ``.onnx`` with ``onnx=True``)
    for each pass that changed the graph, and ``index.html`` summarizing every pass run."""

    def __init__(self, directory: str | Path, *, onnx: bool = False) -> None:
        self.dir = Path(directory)
        self.onnx = onnx
        self.entries: list[_Entry] = []
        self._previous = ""
        self._counter = 0
        self._nodes_before = 0

    def enter_pipeline(self, graph: Graph) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("[0-9][0-9][0-9]_*"):
            old.unlink()
        self._previous = self._write("000_input", graph)

    def before_pass(self, pass_: Pass, graph: Graph) -> None:
        self._nodes_before = _count(graph)

    def after_pass(self, pass_: Pass, graph: Graph, result: PassResult, seconds: float) -> None:
        stem = None
        if result.modified:
            self._counter += 1
            stem = f"{self._counter:03d}_{_slug(pass_.name)}"
            text = self._write(stem, graph)
            diff = difflib.unified_diff(self._previous.splitlines(keepends=True), text.splitlines(keepends=True),
                                        fromfile="before", tofile=f"after {pass_.name}")
            (self.dir / f"{stem}.diff").write_text("".join(diff))
            self._previous = text
        self.entries.append(_Entry(len(self.entries) + 1, pass_.name, seconds, self._nodes_before, _count(graph),
                                   result.modified, stem))

    def exit_pipeline(self, graph: Graph) -> None:
        (self.dir / "index.html").write_text(self._index())

    def _write(self, stem: str, graph: Graph) -> str:
        text = str(graph)
        (self.dir / f"{stem}.txt").write_text(text)
        if self.onnx:
            from graphopt.codegen.onnx import save_onnx

            save_onnx(graph, self.dir / f"{stem}.onnx")
        return text

    def _index(self) -> str:
        rows = []
        for e in self.entries:
            links = (f'<a href="{e.stem}.txt">IR</a> <a href="{e.stem}.diff">diff</a>'
                     + (f' <a href="{e.stem}.onnx">onnx</a>' if self.onnx else "")) if e.stem else ""
            delta = e.nodes_after - e.nodes_before
            rows.append(f"<tr class=\"{'changed' if e.modified else 'same'}\"><td>{e.index}</td>"
                        f"<td>{html.escape(e.pass_name)}</td><td>{1000 * e.seconds:.2f}</td>"
                        f"<td>{e.nodes_before}</td><td>{e.nodes_after}</td><td>{delta:+d}</td><td>{links}</td></tr>")
        total = sum(e.seconds for e in self.entries)
        return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>graphopt pass dump</title>
<style>body{{font-family:sans-serif}} td,th{{padding:2px 10px;text-align:right}} tr.same{{color:#999}}</style>
</head><body>
<h1>graphopt pass dump</h1>
<p>{len(self.entries)} pass runs, {sum(e.modified for e in self.entries)} changed the graph,
{1000 * total:.1f} ms in passes. <a href="000_input.txt">input IR</a></p>
<table><tr><th>#</th><th>pass</th><th>ms</th><th>nodes before</th><th>after</th><th>delta</th><th></th></tr>
{chr(10).join(rows)}
</table></body></html>
"""


def _count(graph: Graph) -> int:
    return sum(1 for _ in graph.walk())


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
