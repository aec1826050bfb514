"""The dump directory's index.html, rendered in a real headless browser (Debian's chromium).

The page is loaded the way a user opens it (file://, and over HTTP for a probe page that measures the
rendered SVGs from the same origin); assertions run on the DOM after the page's script ran.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

import graphopt
from graphopt.passes.dump import DumpIR

EXAMPLE = Path(__file__).parents[1] / "examples" / "tiny_cnn.onnx"
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
needs_browser = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; "
                                                            ".ci/run installs it)")


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DumpIR]:
    directory = tmp_path_factory.mktemp("dump")
    instrument = DumpIR(directory)
    graphopt.optimize(graphopt.load(EXAMPLE), "O2", instruments=[instrument])
    return directory, instrument


def browser(url: str, profile: Path, *extra: str) -> str:
    assert CHROMIUM is not None
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={profile}", "--virtual-time-budget=5000", *extra, url],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


class _Elements(HTMLParser):
    """Every start tag with its attributes, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def elements(dom: str, tag: str, cls: str | None = None) -> list[dict[str, str]]:
    parser = _Elements()
    parser.feed(dom)
    return [a for t, a in parser.tags if t == tag and (cls is None or cls in a.get("class", "").split())]


def test_index_records_every_run_and_the_changed_regions(dump):
    directory, instrument = dump
    html = (directory / "index.html").read_text()
    changed = [e for e in instrument.entries if e.modified]
    assert [e.stem for e in changed] == ["001_fuse-batchnorm", "002_dce", "003_fuse-activation"]
    assert len(elements(html, "rect", "bar")) == len(instrument.entries)
    assert len(elements(html, "rect", "changed")) == len(changed)
    bn = instrument.regions["001_fuse-batchnorm"]
    assert [n.op for n in bn.before.nodes if n.status == "removed"] == ["Conv", "BatchNormalization"] * 3
    assert [n.op for n in bn.after.nodes if n.status == "added"] == ["Conv"] * 3
    assert {n.op for n in bn.after.nodes if n.status == "rewired"} == {"Relu", "Add"}
    assert bn.after.note == "constants 17 → 23"
    fused = instrument.regions["003_fuse-activation"]
    assert [n.op for n in fused.after.nodes if n.status == "added"] == ["graphopt::FusedConv"] * 2
    assert not instrument.regions["002_dce"].before.nodes  # dce only dropped constants
    assert re.search(r"0x[0-9a-f]{6}", html) is None  # no addresses; and the same run gives the same page:
    again = DumpIR(directory / "again")
    graphopt.optimize(graphopt.load(EXAMPLE), "O2", instruments=[again])
    strip_ms = functools.partial(re.sub, r"\d+\.\d+ ?ms|>\d+\.\d\d<|height=\"[\d.]+\" ?|y=\"[\d.]+\"", "")
    assert strip_ms((directory / "again" / "index.html").read_text()) == strip_ms(html)


@needs_browser
def test_page_renders_in_chromium_with_working_links_and_filter(dump, tmp_path):
    directory, instrument = dump
    url = (directory / "index.html").as_uri()
    dom = browser(url, tmp_path / "profile", "--dump-dom")
    assert len(elements(dom, "svg", "plot")) == 1
    assert len(elements(dom, "svg", "region")) == 2 * 3
    assert len(elements(dom, "g", "node")) > 20
    hrefs = [a["href"] for a in elements(dom, "a")]
    files = [h for h in hrefs if not h.startswith("#")]
    assert {"001_fuse-batchnorm.diff", "003_fuse-activation.txt", "000_input.txt"} <= set(files)
    assert all((directory / h).is_file() for h in files)
    ids = {a["id"] for a in elements(dom, "section")}
    assert {h[1:] for h in hrefs if h.startswith("#")} == ids == {e.stem for e in instrument.entries if e.stem}
    rows = elements(dom, "tr", "same")
    assert rows and not any("hidden" in r["class"] for r in rows)
    dom = browser(url + "#changed", tmp_path / "profile", "--dump-dom")  # the script hides unchanged runs
    rows = elements(dom, "tr", "same")
    assert rows and all("hidden" in r["class"].split() for r in rows)
    assert not any("hidden" in r["class"] for r in elements(dom, "tr", "changed"))


PROBE = """<!doctype html><html><body><iframe id="f" src="index.html" width="1200" height="800"></iframe>
<pre id="out">pending</pre><script>
document.getElementById("f").addEventListener("load", () => {
  const doc = document.getElementById("f").contentDocument;
  const report = {regions: [], plot: null};
  for (const svg of doc.querySelectorAll("svg.region")) {
    const box = svg.getBoundingClientRect();
    const nodes = [...svg.querySelectorAll("g.node rect")].map(r => r.getBoundingClientRect())
      .map(r => [r.left - box.left, r.top - box.top, r.width, r.height]);
    const texts = [...svg.querySelectorAll("g.node text")].map(t => t.getComputedTextLength());
    const edges = [...svg.querySelectorAll(".edge")].map(e => e.getTotalLength());
    report.regions.push({width: box.width, height: box.height, nodes, texts, edges});
  }
  const plot = doc.querySelector("svg.plot").getBoundingClientRect();
  report.plot = [plot.width, plot.height, doc.querySelectorAll("svg.plot rect.bar").length];
  document.getElementById("out").textContent = JSON.stringify(report);
});
</script></body></html>"""


@pytest.fixture
def served(dump) -> Iterator[str]:
    directory, _ = dump
    (directory / "probe.html").write_text(PROBE)
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/probe.html"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@needs_browser
def test_pictures_are_laid_out_without_overlaps(served, dump, tmp_path):
    dom = browser(served, tmp_path / "profile", "--dump-dom")
    match = re.search(r'<pre id="out">(.*?)</pre>', dom, re.S)
    assert match and match.group(1) != "pending", dom[-2000:]
    report = json.loads(match.group(1).replace("&quot;", '"'))
    _, instrument = dump
    assert report["plot"][0] > 500 and report["plot"][1] > 100 and report["plot"][2] == len(instrument.entries)
    drawn = [r for r in report["regions"] if r["nodes"]]
    assert len(drawn) == 4  # before and after of fuse-batchnorm and fuse-activation
    for region in drawn:
        boxes = region["nodes"]
        for x, y, w, h in boxes:  # every box inside its picture
            assert min(x, y) >= 0 and x + w <= region["width"] + 0.5 and y + h <= region["height"] + 0.5
        for i, a in enumerate(boxes):  # no two boxes overlap
            for b in boxes[i + 1:]:
                assert a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0] or a[1] + a[3] <= b[1] or b[1] + b[3] <= a[1]
        widest_label = max(region["texts"])
        assert widest_label < max(w for _, _, w, _ in boxes)  # labels fit their boxes
        assert region["edges"] and all(length > 10 for length in region["edges"])
