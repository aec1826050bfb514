"""A model whose weights exceed protobuf's 2 GiB limit: loaded lazily and saved without a second copy.

The model (tests/zoo.py: ``large_model``) has three 750 MB float32 weights in a sparse external data
file. graphopt loads it with the weights left on disk, and ``save`` streams them to ``<path>.data``;
a subprocess measures the peak RSS of load → optimize → save, which must stay below the size of any
one weight, let alone all of them. (``getrusage``'s ``ru_maxrss`` would not do: Linux carries it over
from the parent through fork and exec, so the child resets the kernel's peak counter itself.)
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import onnx
import onnx.numpy_helper
import pytest

import graphopt
from graphopt.ir.tensor import ExternalTensor
from tests import zoo

pytestmark = pytest.mark.slow  # writes 2.25 GB

RSS_LIMIT = 512 << 20
"""Below one weight (715 MiB), so materializing any of them fails the test."""

_CHILD = """
import json, sys
from pathlib import Path

def status_bytes(key):
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(key + ":"))
    return int(line.split()[1]) * 1024

Path("/proc/self/clear_refs").write_text("5")  # restart the peak (VmHWM): it survives fork and exec
import graphopt
baseline = status_bytes("VmRSS")
graphopt.save(graphopt.optimize(graphopt.load(sys.argv[1]), pipeline="O0"), sys.argv[2])
print(json.dumps({"baseline": baseline, "peak": status_bytes("VmHWM")}))
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """A directory removed right after the test: pytest would otherwise keep gigabytes for three runs."""
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


def tensor_digest(t: onnx.TensorProto, base_dir: Path) -> str:
    """Hash of a tensor's stored bytes, read in chunks when they are external."""
    h = hashlib.blake2b()
    if t.data_location != onnx.TensorProto.EXTERNAL:
        h.update(onnx.numpy_helper.to_array(t).tobytes())
        return h.hexdigest()
    info = {e.key: e.value for e in t.external_data}
    left = int(info["length"])
    with open(base_dir / info["location"], "rb") as f:
        f.seek(int(info.get("offset", 0)))
        while left:
            piece = f.read(min(64 << 20, left))
            assert piece, f"{t.name}: external data ends early"
            h.update(piece)
            left -= len(piece)
    return h.hexdigest()


def structure(model: onnx.ModelProto) -> list[tuple]:
    return [(n.op_type, list(n.input), list(n.output), [onnx.helper.printable_attribute(a) for a in n.attribute])
            for n in model.graph.node]


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="peak RSS is read from Linux's /proc")
def test_large_model_is_saved_lazily_without_a_second_copy(workdir: Path) -> None:
    source = zoo.large_model(workdir)
    graph = graphopt.load(source)
    weights = {c.name: c.const for c in graph.constants if c.const is not None}
    assert all(isinstance(weights[w], ExternalTensor) for w in ("w1", "w2", "w3"))
    assert sum(t.nbytes for t in weights.values()) > 2**31

    target = workdir / "out" / "large.onnx"
    target.parent.mkdir()
    child = subprocess.run([sys.executable, "-c", _CHILD, str(source), str(target)],
                           capture_output=True, text=True, check=True)
    rss = json.loads(child.stdout)
    assert rss["peak"] < RSS_LIMIT, f"peak RSS {rss['peak'] / 2**20:.0f} MiB (after imports: " \
                                    f"{rss['baseline'] / 2**20:.0f} MiB)"

    data = target.with_name("large.onnx.data")
    assert data.exists(), "save() must switch to external data on its own for a model over 2 GiB"
    assert target.stat().st_size < 1 << 20
    onnx.checker.check_model(str(target), full_check=True)

    original = onnx.load(source, load_external_data=False)
    saved = onnx.load(target, load_external_data=False)
    assert structure(saved) == structure(original)
    assert [i.name for i in saved.graph.input] == ["x"] and [o.name for o in saved.graph.output] == ["y"]
    expected = {t.name: (t.data_type, list(t.dims), tensor_digest(t, workdir)) for t in original.graph.initializer}
    actual = {t.name: (t.data_type, list(t.dims), tensor_digest(t, target.parent)) for t in saved.graph.initializer}
    assert actual == expected
    for w in ("w1", "w2", "w3"):
        t = next(t for t in saved.graph.initializer if t.name == w)
        assert t.data_location == onnx.TensorProto.EXTERNAL
        assert {e.key: e.value for e in t.external_data}["location"] == data.name

    reloaded = graphopt.load(target)
    assert all(isinstance(c.const, ExternalTensor) for c in reloaded.constants if c.name in ("w1", "w2", "w3"))
