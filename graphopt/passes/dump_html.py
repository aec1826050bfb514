"""The dump directory's ``index.html``: a plot of time and node count per pass run, a table linking each
changed pass's IR and diff, and a before/after picture of the region each changed pass touched.

Everything is drawn here as inline SVG (no graphviz, no network): the page opens from a file:// URL and shows
the same thing in any browser. The output depends only on the pass runs, never on ids or addresses.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

MAX_REGION_NODES = 24
"""Changed nodes drawn per side of a picture; the rest are counted in the caption."""


@dataclass
class PassRun:
    index: int
    pass_name: str
    seconds: float
    nodes_before: int
    nodes_after: int
    modified: bool
    stem: str | None


@dataclass
class RegionNode:
    op: str
    name: str
    status: str  # "removed", "added", "rewired" (same node, other inputs) or "context"


@dataclass
class Picture:
    """One side of a before/after picture: nodes in graph order and edges between them (indices)."""

    nodes: list[RegionNode] = field(default_factory=list)
    edges: list[tuple[int, int]] = field(default_factory=list)
    omitted: int = 0
    note: str = ""


@dataclass
class Region:
    before: Picture
    after: Picture


def render_index(runs: Sequence[PassRun], regions: dict[str, Region], onnx: bool) -> str:
    changed = [r for r in runs if r.modified]
    total = sum(r.seconds for r in runs)
    rows = "\n".join(_row(r, onnx) for r in runs)
    sections = "\n".join(_section(r, regions[r.stem], onnx) for r in changed if r.stem in regions)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>graphopt pass dump</title>
<style>
body{{font-family:sans-serif;margin:1em 2em}} td,th{{padding:2px 10px;text-align:right}} td.name{{text-align:left}}
tr.same{{color:#999}} .hidden{{display:none}} .pictures{{display:flex;flex-wrap:wrap;gap:2em;align-items:flex-start}}
figure{{margin:0;max-width:100%;overflow-x:auto}} figcaption{{font-size:90%;color:#555}}
section{{border-top:1px solid #ddd;margin-top:1em}}
</style>
</head><body>
<svg width="0" height="0" style="position:absolute"><defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4"
markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#666"/></marker></defs></svg>
<h1>graphopt pass dump</h1>
<p id="totals">{len(runs)} pass runs, {len(changed)} changed the graph, {1000 * total:.1f} ms in passes.
<a href="000_input.txt">input IR</a></p>
<h2>Time and node count per pass run</h2>
{plot(runs)}
<h2>Pass runs</h2>
<p><label><input type="checkbox" id="only-changed"> only the passes that changed the graph</label></p>
<table id="runs"><tr><th>#</th><th>pass</th><th>ms</th><th>nodes before</th><th>after</th><th>delta</th><th></th></tr>
{rows}
</table>
<h2>What each changed pass did</h2>
<p>Red: nodes the pass removed or rewrote, green: nodes it added or rewrote, yellow: nodes it only rewired
(same op, other inputs), grey: their neighbours.</p>
{sections}
<script>
const box = document.getElementById("only-changed");
function filterRuns() {{
  for (const row of document.querySelectorAll("#runs tr.same")) row.classList.toggle("hidden", box.checked);
}}
box.addEventListener("change", filterRuns);
if (location.hash === "#changed") box.checked = true;
filterRuns();
</script>
</body></html>
"""


def _links(stem: str, onnx: bool) -> str:
    return (f'<a href="{stem}.txt">IR</a> <a href="{stem}.diff">diff</a>'
            + (f' <a href="{stem}.onnx">onnx</a>' if onnx else ""))


def _row(r: PassRun, onnx: bool) -> str:
    name = html.escape(r.pass_name)
    if r.stem:
        name = f'<a href="#{r.stem}">{name}</a>'
    return (f'<tr class="{"changed" if r.modified else "same"}"><td>{r.index}</td><td class="name">{name}</td>'
            f"<td>{1000 * r.seconds:.2f}</td><td>{r.nodes_before}</td><td>{r.nodes_after}</td>"
            f"<td>{r.nodes_after - r.nodes_before:+d}</td><td>{_links(r.stem, onnx) if r.stem else ''}</td></tr>")


def _section(r: PassRun, region: Region, onnx: bool) -> str:
    assert r.stem is not None
    return f"""<section id="{r.stem}" class="pass">
<h3>{r.stem[:3]} {html.escape(r.pass_name)} <small>(run #{r.index}: {r.nodes_before} → {r.nodes_after} nodes,
{1000 * r.seconds:.2f} ms) {_links(r.stem, onnx)}</small></h3>
<div class="pictures">
<figure class="before">{draw(region.before)}<figcaption>before{_omitted(region.before)}</figcaption></figure>
<figure class="after">{draw(region.after)}<figcaption>after{_omitted(region.after)}</figcaption></figure>
</div></section>"""


def _omitted(p: Picture) -> str:
    notes = [f"{p.omitted} more changed nodes not drawn"] if p.omitted else []
    return f" ({'; '.join([*notes, p.note] if p.note else notes)})" if notes or p.note else ""


# -- the plot ------------------------------------------------------------------------------------

PLOT_W, PLOT_H, MARGIN = 800, 200, 64


def plot(runs: Sequence[PassRun]) -> str:
    """Bars: ms per pass run (blue when it changed the graph); line: node count after each run."""
    if not runs:
        return '<svg class="plot" width="0" height="0"></svg>'
    n = len(runs)
    step = (PLOT_W - 2 * MARGIN) / n
    top_ms = max(r.seconds for r in runs) * 1000 or 1.0
    counts = [runs[0].nodes_before] + [r.nodes_after for r in runs]
    lo, hi = min(counts), max(counts)
    span = (hi - lo) or 1
    base = PLOT_H - 24

    def x(i: float) -> float:
        return MARGIN + i * step

    def y_nodes(c: int) -> float:
        return base - (c - lo) / span * (base - 16)

    parts = [f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{PLOT_W}" height="{PLOT_H}" '
             f'viewBox="0 0 {PLOT_W} {PLOT_H}" font-size="11" font-family="sans-serif">',
             f'<line x1="{MARGIN}" y1="{base}" x2="{PLOT_W - MARGIN}" y2="{base}" stroke="#888"/>']
    for i, r in enumerate(runs):
        h = max(1.0, (r.seconds * 1000) / top_ms * (base - 16))
        bar = (f'<rect class="bar {"changed" if r.modified else "same"}" x="{x(i) + 0.1 * step:.1f}" '
               f'y="{base - h:.1f}" width="{max(0.8 * step, 1):.1f}" height="{h:.1f}" '
               f'fill="{"#4a7ebb" if r.modified else "#c8c8c8"}"><title>#{r.index} {html.escape(r.pass_name)}: '
               f'{1000 * r.seconds:.2f} ms, {r.nodes_before} → {r.nodes_after} nodes</title></rect>')
        parts.append(f'<a href="#{r.stem}">{bar}</a>' if r.stem else bar)
    points = " ".join(f"{x(i):.1f},{y_nodes(c):.1f}" for i, c in enumerate(counts))
    parts.append(f'<polyline class="nodes" points="{points}" fill="none" stroke="#d2691e" stroke-width="2"/>')
    parts += [f'<text x="{MARGIN - 4}" y="20" text-anchor="end" fill="#4a7ebb">{top_ms:.2f} ms</text>',
              f'<text x="{MARGIN - 4}" y="{base}" text-anchor="end" fill="#4a7ebb">0</text>',
              f'<text x="{PLOT_W - MARGIN + 4}" y="{y_nodes(hi) + 4:.1f}" fill="#d2691e">{hi} nodes</text>',
              f'<text x="{PLOT_W - MARGIN + 4}" y="{y_nodes(lo) + 4:.1f}" fill="#d2691e">{lo}</text>',
              f'<text x="{PLOT_W / 2}" y="{PLOT_H - 6}" text-anchor="middle" fill="#555">pass runs 1–{n} '
              f'(bars: time; line: nodes after each run)</text>', "</svg>"]
    return "\n".join(parts)


# -- before/after pictures --------------------------------------------------------------------------


def _layout(n: int, edges: Sequence[tuple[int, int]], widths: Sequence[float]) -> dict[int, tuple[float, float]]:
    """Top-left corner of each box: a node one row below its lowest producer; rows ordered by the mean
    position of each node's producers (sources by their readers') to cut crossings; a node sits under its
    producers when there is room."""
    preds: dict[int, list[int]] = {i: [] for i in range(n)}
    succs: dict[int, list[int]] = {i: [] for i in range(n)}
    for a, b in edges:
        preds[b].append(a)
        succs[a].append(b)
    layer: dict[int, int] = {}
    for i in range(n):  # nodes come in graph (topological) order
        layer[i] = 1 + max((layer[a] for a in preds[i] if a in layer), default=-1)
    rows: dict[int, list[int]] = {}
    for i in range(n):
        rows.setdefault(layer[i], []).append(i)
    rank = {i: float(k) for row in rows.values() for k, i in enumerate(row)}

    def reorder(row: list[int], by: dict[int, list[int]]) -> None:
        row.sort(key=lambda i: sum(rank[j] for j in by[i]) / len(by[i]) if by[i] else rank[i])
        rank.update((i, float(k)) for k, i in enumerate(row))

    for depth in sorted(rows)[1:]:
        reorder(rows[depth], preds)
    reorder(rows[0], succs)
    pos: dict[int, tuple[float, float]] = {}
    for depth in sorted(rows):
        free = 8.0
        for i in rows[depth]:
            under = [pos[j][0] + widths[j] / 2 for j in preds[i] if j in pos]
            x = max(free, sum(under) / len(under) - widths[i] / 2) if under else free
            pos[i] = (x, 8 + depth * (BOX_H + ROW_GAP))
            free = x + widths[i] + COL_GAP
    return pos


BOX_H, ROW_GAP, COL_GAP, CHAR_W = 34, 26, 14, 6.6
FILL = {"removed": ("#f9d6d5", "#c0392b"), "added": ("#d5f5d5", "#27ae60"), "rewired": ("#fdf0cf", "#d68910"),
        "context": ("#f0f0f0", "#999")}


def draw(p: Picture) -> str:
    """The nodes in layers (a node one row below its lowest drawn producer), edges as arrows."""
    if not p.nodes:
        return '<svg class="region" xmlns="http://www.w3.org/2000/svg" width="120" height="30">' \
               '<text x="4" y="20" font-size="12" fill="#999">(nothing)</text></svg>'
    widths = [max(80.0, CHAR_W * max(len(nd.op), len(nd.name)) + 16) for nd in p.nodes]
    pos = _layout(len(p.nodes), p.edges, widths)
    width = max(x + w for (x, _), w in zip(pos.values(), widths)) + 8
    height = max(y for _, y in pos.values()) + BOX_H + 8
    parts = [f'<svg class="region" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
             f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif">']
    for a, b in p.edges:
        (xa, ya), (xb, yb) = pos[a], pos[b]
        x1, y1, x2, y2 = xa + widths[a] / 2, ya + BOX_H, xb + widths[b] / 2, yb
        bend = 0.0 if yb - ya <= BOX_H + ROW_GAP else -min(60.0, 12.0 * (yb - ya) / (BOX_H + ROW_GAP))
        parts.append(f'<path class="edge" d="M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1 + 30:.1f} '
                     f'{x2 + bend:.1f},{y2 - 30:.1f} {x2:.1f},{y2:.1f}" fill="none" stroke="#666" '
                     f'marker-end="url(#arrow)"/>')
    for i, nd in enumerate(p.nodes):
        x, y = pos[i]
        fill, stroke = FILL[nd.status]
        parts.append(f'<g class="node {nd.status}"><title>{html.escape(nd.op)} → {html.escape(nd.name)}</title>'
                     f'<rect x="{x:.1f}" y="{y:.1f}" width="{widths[i]:.1f}" height="{BOX_H}" rx="5" '
                     f'fill="{fill}" stroke="{stroke}"/>'
                     f'<text x="{x + widths[i] / 2:.1f}" y="{y + 14:.1f}" text-anchor="middle" font-size="12">'
                     f'{html.escape(nd.op)}</text>'
                     f'<text x="{x + widths[i] / 2:.1f}" y="{y + 28:.1f}" text-anchor="middle" font-size="10" '
                     f'fill="#555">{html.escape(nd.name)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)
