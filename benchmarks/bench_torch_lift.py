"""Time to lift each torch zoo model into a graph: graphopt's torch frontends against torch.onnx.export.

Writes ``benchmarks/out/torch_lift.md`` and ``.json``. Each model runs in its own subprocess; there every
tool lifts the model once untimed (imports, caches), then ``--runs`` rounds time each tool in turn, so a
busy machine slows them alike. Reported: median (min–max) wall time per tool, and ratios of medians.

| tool | what is timed |
|---|---|
| graphopt.from_torch | ``torch.export.export`` + ``run_decompositions()`` + lowering to graphopt's IR |
| graphopt.from_torchscript | ``torch.jit.trace(check_trace=False)`` + ``graphopt.from_torchscript`` |
| torch.onnx dynamo | ``torch.onnx.export(..., dynamo=True)`` with its defaults, returning the in-memory ONNXProgram |
| torch.onnx legacy | ``torch.onnx.export(..., dynamo=False, opset_version=18)`` into a BytesIO |

Both graphopt paths are also split into their steps (export, decompose, lower; trace, lower), measured in
the same rounds. Tracing skips ``check_trace``, which runs the model again to compare (the legacy exporter's
own trace does not check either).
Before timing, each graphopt graph is emitted to ONNX and run in ONNX Runtime against torch eager
(rtol 1e-4, atol 1e-5); a mismatch is marked in the report.

    .venv/bin/python benchmarks/bench_torch_lift.py [--runs 3] [--models resnet,gpt2]   # ~6 min
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import machine, run_worker, summary, write_json, write_text

TOOLS = ("graphopt.from_torch", "graphopt.from_torchscript", "torch.onnx dynamo", "torch.onnx legacy")
STEPS = ("torch.export", "run_decompositions", "lowering (export)", "torch.jit.trace", "lowering (script)")
RATIOS = (("graphopt.from_torch", "torch.onnx dynamo"), ("graphopt.from_torch", "torch.onnx legacy"),
          ("graphopt.from_torchscript", "torch.onnx legacy"), ("graphopt.from_torchscript", "torch.onnx dynamo"))


def worker(name: str, runs: int) -> dict[str, Any]:
    import torch

    import graphopt
    from graphopt.frontends.torch_export import _decompositions, _Lifter
    from tests import torch_zoo, zoo

    model = torch_zoo.build(name)
    module, example = model.module, model.example

    def from_torch() -> Any:
        return graphopt.from_torch(module, example)

    def from_torchscript() -> Any:
        return graphopt.from_torchscript(torch.jit.trace(module, example, check_trace=False), example)

    def dynamo() -> Any:
        return torch.onnx.export(module, example, dynamo=True, verbose=False)

    def legacy() -> Any:
        buffer = io.BytesIO()
        torch.onnx.export(module, example, buffer, dynamo=False, opset_version=18)  # type: ignore[arg-type]
        return buffer

    def export_steps() -> dict[str, float]:
        t0 = time.perf_counter()
        program = torch.export.export(module, example)
        t1 = time.perf_counter()
        program = program.run_decompositions(_decompositions(torch))
        t2 = time.perf_counter()
        _Lifter(torch, program, {}, name).run()
        return dict(zip(STEPS[:3], (t1 - t0, t2 - t1, time.perf_counter() - t2)))

    def script_steps() -> dict[str, float]:
        t0 = time.perf_counter()
        traced = torch.jit.trace(module, example, check_trace=False)
        t1 = time.perf_counter()
        graphopt.from_torchscript(traced, example)
        return dict(zip(STEPS[3:], (t1 - t0, time.perf_counter() - t1)))

    tools: dict[str, Callable[[], Any]] = dict(zip(TOOLS, (from_torch, from_torchscript, dynamo, legacy)))
    steps = {"graphopt.from_torch": export_steps, "graphopt.from_torchscript": script_steps}
    times: dict[str, list[float]] = {}
    correct: dict[str, bool] = {}
    failed: dict[str, str] = {}
    with quiet(), torch.no_grad(), zoo.no_mha_fastpath():
        expected = module(*example)
        expected = expected if isinstance(expected, tuple) else (expected,)
        for tool, fn in list(tools.items()):  # first (untimed) run: warm-up, and the graphs' check
            try:
                result = fn()
            except Exception as e:
                failed[tool] = f"{type(e).__name__}: " + " ".join(str(e).split())[:300]
                del tools[tool]
                steps.pop(tool, None)
                continue
            if tool in steps:
                correct[tool] = _matches(graphopt.to_onnx(result), example, expected)
                steps[tool]()
        for _ in range(runs):
            for tool, fn in tools.items():
                start = time.perf_counter()
                fn()
                times.setdefault(tool, []).append(time.perf_counter() - start)
            for path in steps.values():
                for step, seconds in path().items():
                    times.setdefault(step, []).append(seconds)
    return {"model": name, "times": {t: summary(v) for t, v in times.items()}, "correct": correct,
            "failed": failed}


def _matches(model: Any, inputs: tuple[Any, ...], expected: tuple[Any, ...]) -> bool:
    """ONNX Runtime's outputs of ``model`` against torch's, rtol 1e-4, atol 1e-5."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {i.name: x.numpy() for i, x in zip(session.get_inputs(), inputs)})
    return len(got) == len(expected) and all(
        np.allclose(a, e.numpy(), rtol=1e-4, atol=1e-5) for a, e in zip(got, expected))


@contextlib.contextmanager
def quiet() -> Any:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def render(results: list[dict[str, Any]], runs: int) -> str:
    def cell(r: dict[str, Any], tool: str) -> str:
        s = r["times"].get(tool)
        return "fails" if s is None else f"{s['median']:.3f} ({s['min']:.3f}–{s['max']:.3f})"

    def ratio(r: dict[str, Any], a: str, b: str) -> str:
        t = r["times"]
        return f"{t[a]['median'] / t[b]['median']:.2f}" if a in t and b in t else "—"

    lines = [
        "# Lifting torch models: graphopt's frontends vs torch.onnx.export",
        "",
        f"Seconds, median (min–max) of {runs} runs per tool after one warm-up, tools alternating within each "
        "run; each model in its own process. Measured on a busy shared 2-core machine: compare within a row.",
        "",
        "| model | " + " | ".join(TOOLS) + " | outputs match torch |",
        "|---|" + "---:|" * len(TOOLS) + "---|",
    ]
    for r in results:
        ok = ", ".join(f"{t.split('.')[-1]}: {'yes' if v else '**NO**'}" for t, v in r["correct"].items())
        lines.append(f"| {r['model']} | " + " | ".join(cell(r, t) for t in TOOLS) + f" | {ok} |")
    lines += ["", "Ratios of medians (below 1: graphopt is faster):", "",
              "| model | " + " | ".join(f"{a.split('.')[-1]} / {b}" for a, b in RATIOS) + " |",
              "|---|" + "---:|" * len(RATIOS)]
    for r in results:
        lines.append(f"| {r['model']} | " + " | ".join(ratio(r, a, b) for a, b in RATIOS) + " |")
    lines += ["", "Where the graphopt paths spend their time (median seconds; share of the path's total):", "",
              "| model | " + " | ".join(STEPS) + " |", "|---|" + "---:|" * len(STEPS)]
    for r in results:
        t = r["times"]
        cells = []
        for path in (STEPS[:3], STEPS[3:]):
            if not all(s in t for s in path):
                cells += ["—"] * len(path)
                continue
            total = sum(t[s]["median"] for s in path)
            cells += [f"{t[s]['median']:.3f} ({100 * t[s]['median'] / total:.0f}%)" for s in path]
        lines.append(f"| {r['model']} | " + " | ".join(cells) + " |")
    failures = [(r["model"], tool, why) for r in results for tool, why in r.get("failed", {}).items()]
    if failures:
        lines += ["", "Failures (not timed):", ""] + [f"- {m}, {tool}: {why}" for m, tool, why in failures]
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2], int(sys.argv[3]))))
        return
    from tests import torch_zoo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models", default=",".join(torch_zoo.NAMES))
    args = parser.parse_args()
    results = []
    for name in args.models.split(","):
        print(f"{name} …", file=sys.stderr, flush=True)
        results.append(run_worker(Path(__file__), name, str(args.runs)))
    write_json("torch_lift.json", {"machine": machine(), "runs": args.runs, "results": results})
    print(write_text("torch_lift.md", render(results, args.runs)))


if __name__ == "__main__":
    main()
