"""NCHW vs NHWC per target: which layout should the ``layout`` pass pick?

For the zoo CNNs (resnet, mobilenet, unet) it times three ONNX forms of the same model: the NCHW original
(graphopt O2), its NHWC form (``layout{layout=NHWC}``: Transposes around every convolution, pool and
normalization, the ops between them on NHWC data), and that NHWC form after the layout pass's sinking and
cancelling (``layout``, back to NCHW). Runtimes: ONNX Runtime CPU with all graph optimizations at 1 thread
and at its default thread count, ONNX Runtime with graph optimizations off (so the Transposes run as
written), and OpenVINO CPU. Writes benchmarks/out/layout.md and layout.json.

    .venv/bin/python benchmarks/bench_layout.py [--runs 30]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx

import graphopt
from benchmarks.common import machine, summary, write_json, write_text
from graphopt.passes.post.layout import Layout
from tests import zoo

MODELS = ("resnet", "mobilenet", "unet")
Runner = Callable[[onnx.ModelProto, list[np.ndarray]], Callable[[], list[np.ndarray]]]


def ort_runner(threads: int, optimize: bool) -> Runner:
    import onnxruntime as ort

    def make(model: onnx.ModelProto, inputs: list[np.ndarray]) -> Callable[[], list[np.ndarray]]:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 4
        if not optimize:
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        feeds = {i.name: x for i, x in zip(session.get_inputs(), inputs)}
        return lambda: session.run(None, feeds)

    return make


def openvino_runner(model: onnx.ModelProto, inputs: list[np.ndarray]) -> Callable[[], list[np.ndarray]]:
    import openvino as ov

    core = ov.Core()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        onnx.save(model, path)
        compiled = core.compile_model(core.read_model(path), "CPU")
    request = compiled.create_infer_request()

    def run() -> list[np.ndarray]:
        request.infer(inputs)
        return [request.get_output_tensor(i).data.copy() for i in range(len(compiled.outputs))]

    return run


RUNTIMES: dict[str, Runner] = {
    "onnxruntime 1 thread": ort_runner(1, True),
    "onnxruntime default threads": ort_runner(0, True),
    "onnxruntime 1 thread, optimizer off": ort_runner(1, False),
    "openvino CPU": openvino_runner,
}


def forms(path: Path) -> dict[str, graphopt.Graph]:
    nchw = graphopt.optimize(graphopt.load(path), "O2")
    nhwc = nchw.copy()
    Layout(layout="NHWC")(nhwc)
    sunk = nhwc.copy()
    Layout()(sunk)
    return {"NCHW": nchw, "NHWC": nhwc, "NHWC + layout pass": sunk}


def time_ms(run: Callable[[], Any], runs: int) -> dict[str, float]:
    for _ in range(5):
        run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return summary(times)


def transposes(g: graphopt.Graph) -> int:
    return sum(1 for n in g.walk() if n.op == "Transpose")


def measure(runs: int) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            model = zoo.export(name, tmp)
            graphs = forms(model.path)
            protos = {form: graphopt.to_onnx(g) for form, g in graphs.items()}
            for runtime, make in RUNTIMES.items():
                reference = None
                for form, proto in protos.items():
                    run = make(proto, model.inputs)
                    out = run()
                    reference = out if reference is None else reference
                    exact = all(np.array_equal(a, b) for a, b in zip(out, reference))
                    rows.append({"model": name, "runtime": runtime, "form": form, "transposes": transposes(
                        graphs[form]), "exact": exact, **time_ms(run, runs)})
                    print(rows[-1], flush=True)
    return rows


def report(rows: list[dict[str, Any]], runs: int) -> str:
    lines = ["# Layout: NCHW vs NHWC per runtime", "",
             f"Median of {runs} runs (min–max) in ms, after 5 warm-up runs; zoo models at their test input sizes.",
             "NHWC = `layout{layout=NHWC}`: Transposes around every conv/pool/normalization, the ops between on NHWC",
             "data. 'NHWC + layout pass' = that graph after the default `layout` pass. 'same' = outputs bit-identical",
             "to the NCHW form in that runtime. Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()), "",
             "| model | runtime | form | Transposes | time (ms) | vs NCHW | same |",
             "|---|---|---|---:|---:|---:|---|"]
    base = {(r["model"], r["runtime"]): r["median"] for r in rows if r["form"] == "NCHW"}
    for r in rows:
        ratio = r["median"] / base[r["model"], r["runtime"]]
        lines.append(f"| {r['model']} | {r['runtime']} | {r['form']} | {r['transposes']} | {r['median']:.2f} "
                     f"({r['min']:.2f}–{r['max']:.2f}) | {ratio:.2f} | {'yes' if r['exact'] else 'no'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    rows = measure(args.runs)
    write_json("layout.json", rows)
    print(write_text("layout.md", report(rows, args.runs)))


if __name__ == "__main__":
    main()
