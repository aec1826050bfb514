"""What several subcommands share: loading with shape overrides, targets and output formats, ONNX Runtime
runs on random inputs, output comparison and plain-text tables."""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import graphopt
from graphopt.errors import GraphoptError
from graphopt.ir import memory
from graphopt.ir.core import Graph
from graphopt.ir.inference import infer_shapes
from graphopt.ir.types import Dim, TensorType

logger = logging.getLogger(__name__)

TARGETS = ("onnx", "onnxruntime", "openvino", "tensorrt")
FORMATS = {".onnx": "onnx", ".xml": "openvino", ".engine": "tensorrt", ".plan": "tensorrt"}
"""Output suffix → the format written (and the default target)."""
COMPATIBLE = {"onnx": {"onnx", "onnxruntime", "openvino", "tensorrt"}, "openvino": {"openvino"},
              "tensorrt": {"tensorrt"}}
"""Format → the targets whose optimized graph it can hold (ONNX can carry any target's standard ops)."""


class UsageError(GraphoptError):
    """A command line that cannot work as written (exit code 2)."""


def existing_file(text: str) -> Path:
    """argparse type: a path that must name an existing file (a usage error otherwise)."""
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: no such file" if not path.exists() else f"{text}: not a file")
    return path


# -- input shapes -------------------------------------------------------------------------------


def parse_input_shape(text: str) -> tuple[str, tuple[Dim, ...]]:
    """``name:1x3x224x224`` → (name, dims); a dim may be a symbol (``N``) or ``?`` for unknown; commas separate
    dims when a symbol holds an x (``ids:batch,max_len``); ``name:`` with nothing after the colon is a scalar."""
    name, sep, dims = text.rpartition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: write an input shape as NAME:1x3x224x224")
    parsed: list[Dim] = []
    for d in filter(None, dims.split("," if "," in dims else "x")):
        if d.isdigit():
            parsed.append(int(d))
        elif d == "?":
            parsed.append(None)
        elif d.isidentifier():
            parsed.append(d)
        else:
            raise argparse.ArgumentTypeError(f"{text!r}: dim {d!r} is neither a number, a symbol nor '?'")
    return name, tuple(parsed)


def apply_input_shapes(graph: Graph, shapes: Sequence[tuple[str, tuple[Dim, ...]]]) -> None:
    """Give the named inputs the given shapes and re-infer every type downstream."""
    if not shapes:
        return
    by_name = {v.name: v for v in graph.inputs}
    restated = False
    for name, dims in shapes:
        v = by_name.get(name)
        if v is None:
            raise UsageError(f"--input-shape {name}: the model has no input {name!r} "
                             f"(its inputs: {', '.join(str(n) for n in by_name)})")
        if not isinstance(v.type, TensorType):
            raise UsageError(f"--input-shape {name}: input {name!r} is {v.type}, not a tensor")
        old = v.type.shape
        if old is not None and len(old) != len(dims):
            raise UsageError(f"--input-shape {name}: the model declares rank {len(old)} ({v.type}), "
                             f"the shape given has rank {len(dims)}")
        changed = old is not None and any(isinstance(o, int) and o != d for o, d in zip(old, dims))
        if changed:
            logger.warning("--input-shape %s: overriding the model's static shape %s; a model traced at that "
                           "shape may not compute at another", name, v.type)
        restated |= old is None or changed
        v.type = TensorType(v.type.dtype, dims)
    if restated:  # a static dim changed: inference keeps known dims, so forget the downstream shapes first
        for node in graph.walk():
            for out in node.outputs:
                if out is not None and isinstance(out.type, TensorType):
                    out.type = TensorType(out.type.dtype, None)
    infer_shapes(graph)


def load(path: Path, shapes: Sequence[tuple[str, tuple[Dim, ...]]] = ()) -> Graph:
    graph = graphopt.load(path)
    apply_input_shapes(graph, shapes)
    return graph


def parse_dims(text: str | None) -> dict[str, int]:
    """``--dims N=8,S=128`` → upper bounds for symbolic dims."""
    if not text:
        return {}
    try:
        return memory.parse_dims(text.replace("=", ":"))
    except ValueError as e:
        raise UsageError(f"--dims {text}: {e}; write it as N=8,S=128") from None


# -- targets and formats ------------------------------------------------------------------------


@dataclass(frozen=True)
class Output:
    path: Path
    format: str
    target: str


def resolve_output(path: Path, target: str | None) -> Output:
    """The format ``path``'s suffix asks for, and the target (given, or implied by the format)."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"-o {path}: cannot tell the output format from {path.suffix or 'no suffix'!r}; "
                         f"use {', '.join(FORMATS)}")
    target = target or fmt
    if target not in COMPATIBLE[fmt]:
        raise UsageError(f"-o {path}: a {path.suffix} file cannot hold a graph optimized for --target {target} "
                         f"(write {', '.join(s for s, f in FORMATS.items() if target in COMPATIBLE[f])} instead)")
    return Output(path, fmt, target)


def pass_target(target: str) -> str | None:
    """The target name passes and the ONNX emitter see: plain ``onnx`` means portable (no target)."""
    return None if target == "onnx" else target


# -- running models ----------------------------------------------------------------------------


def random_feeds(graph: Graph, seed: int) -> dict[str, np.ndarray]:
    """Fixed-seed inputs for every graph input (symbolic dims at 1; see --input-shape to choose them)."""
    from graphopt.passes.numerics import random_inputs

    for v in graph.inputs:
        if not isinstance(v.type, TensorType) or v.type.shape is None:
            raise GraphoptError(f"input {v.name!r} has no known shape, so no test inputs can be made for it; "
                                f"give it one with --input-shape {v.name}:1x3x224x224 (its real dims)")
    return random_inputs(graph, seed=seed, symbolic_dim=1)


def ort_session(model: Any, threads: int = 0) -> Any:
    """An ONNX Runtime CPU session for a path, serialized bytes or ``ModelProto``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4  # failures come back as exceptions, reported once by the command
    options.intra_op_num_threads = threads
    source = model.SerializeToString() if hasattr(model, "SerializeToString") else str(model)
    try:
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT raises its own exception types for models it refuses
        raise GraphoptError(f"ONNX Runtime cannot load {_describe(model)}: {_first_line(e)}") from e


def ort_run(session: Any, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    try:
        return list(session.run(None, dict(feeds)))
    except Exception as e:
        raise GraphoptError(f"ONNX Runtime failed to run the model: {_first_line(e)}") from e


def openvino_runner(model: Any, threads: int = 0) -> Callable[[Mapping[str, np.ndarray]], list[np.ndarray]]:
    """Compile a model (a path OpenVINO reads, or an ``ov.Model``) for the CPU; returns a function running it."""
    try:
        import openvino as ov
    except ImportError as e:
        raise GraphoptError('OpenVINO is not installed (pip install "graphopt[openvino]")') from e
    config = {"INFERENCE_NUM_THREADS": threads} if threads > 0 else {}
    try:
        compiled = ov.Core().compile_model(str(model) if isinstance(model, Path) else model, "CPU", config)
    except Exception as e:  # OpenVINO raises RuntimeError for models it refuses
        raise GraphoptError(f"OpenVINO cannot compile {_describe(model)}: {_first_line(e)}") from e
    request = compiled.create_infer_request()

    def run(feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        try:
            result = request.infer(dict(feeds))
        except Exception as e:
            raise GraphoptError(f"OpenVINO failed to run {_describe(model)}: {_first_line(e)}") from e
        return [np.asarray(result[o]) for o in compiled.outputs]

    return run


def _describe(model: Any) -> str:
    return str(model) if isinstance(model, (str, Path)) else "the emitted model"


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


@dataclass(frozen=True)
class Mismatch:
    output: str
    max_abs: float
    max_rel: float
    ok: bool
    note: str = ""


def compare(names: Sequence[str], got: Sequence[np.ndarray], want: Sequence[np.ndarray], rtol: float,
            atol: float) -> list[Mismatch]:
    """Per output: worst absolute and relative error, and whether all elements are within tolerance."""
    rows = []
    for name, g, w in zip(names, got, want):
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape:
            rows.append(Mismatch(name, float("inf"), float("inf"), False, f"shape {g.shape} vs {w.shape}"))
            continue
        if w.dtype.kind not in "fc":
            bad = int(np.count_nonzero(g != w))
            rows.append(Mismatch(name, float(bad), float(bad), bad == 0, f"{bad} elements differ" if bad else ""))
            continue
        g64, w64 = g.astype(np.float64), w.astype(np.float64)
        err = np.abs(g64 - w64)
        err[np.isnan(g64) & np.isnan(w64)] = 0.0
        err[np.isnan(err)] = np.inf
        rel = err / np.maximum(np.abs(w64), np.finfo(np.float32).tiny)
        ok = bool(np.all(err <= atol + rtol * np.abs(w64)))
        rows.append(Mismatch(name, float(err.max(initial=0.0)), float(rel.max(initial=0.0)), ok))
    if len(got) != len(want):
        rows.append(Mismatch("(count)", float("inf"), float("inf"), False, f"{len(got)} outputs vs {len(want)}"))
    return rows


# -- tables --------------------------------------------------------------------------------------


_NUMERIC = re.compile(r"[-+]?(\d|inf|nan|n/a)")


def table(header: Sequence[str], rows: Sequence[Sequence[object]], title: str = "") -> str:
    """A plain-text table; columns of numbers are right-aligned, others left-aligned."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    right = [i > 0 and all(_NUMERIC.match(r[i]) for r in cells[1:]) for i in range(len(header))]

    def line(r: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if right[i] else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()

    out = [title] if title else []
    out += [line(cells[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]]
    return "\n".join(out)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def human_ms(seconds: float) -> str:
    return f"{1000 * seconds:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"
