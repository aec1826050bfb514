"""ONNX Runtime inference latency: graphopt's output beside the original, ORT's own offline model, onnxsim, onnxslim.

    python benchmarks/bench_latency.py [--rounds 50] [--block 20] [--models resnet,gpt2,...]

Every zoo model (tests/zoo.py, exported at batch 1: the first item of the zoo's fixed inputs) is run on
the CPU execution provider in these forms, each under the ONNX Runtime graph optimization level named:

- original: the exported model, under ORT_DISABLE_ALL and under ORT_ENABLE_ALL (the baseline of the ratios);
- ORT offline: the model ONNX Runtime itself writes through ``SessionOptions.optimized_model_filepath`` at
  ORT_ENABLE_ALL (it may hold CPU-specific nodes such as NCHWc convolutions), loaded back under both levels;
- onnxsim and onnxslim: their output, under ORT_ENABLE_ALL;
- graphopt O2: ``to_onnx(optimize(g, "O2"))`` (portable ONNX), under both levels;
- graphopt O2 ort: ``to_onnx(optimize(g, "O2", target="onnxruntime"), target="onnxruntime")``, under both levels
  (contrib FusedConv/FusedGemm, com.microsoft.MultiHeadAttention, and convs and pools in ONNX Runtime's NCHWc
  layout with filters blocked for this CPU's block size, like ORT offline's model);
- graphopt O2 ort -nchwc -mha: the same without the ``nchwc`` and ``ort-attention`` passes, under both levels;
- graphopt O3: ``to_onnx(optimize(g, "O3"))``, under ORT_ENABLE_ALL.

Each form's outputs must match the original's (original under ORT_DISABLE_ALL, rtol 1e-4, atol 1e-5); a row
that does not is marked and its time does not count. Each model runs in its own subprocess, at
intra_op_num_threads=1 and at ONNX Runtime's default thread count, one thread setting after the other.
Every session first makes 5 warm-up runs; then ``--rounds`` rounds visit every session in turn, the order
shuffled each round so drift in the machine's state hits all forms alike. A visit is one untimed run (it
brings the session's weights back into cache after the others ran) and one timed block of ``--block``
runs; the block's time per run is one sample. Reports give the median sample with min and max, and the
ratio to the original under ORT_ENABLE_ALL. Writes benchmarks/out/latency.md and latency.json.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import logging
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import machine, run_worker, summary, write_json, write_text

RTOL, ATOL = 1e-4, 1e-5
WARMUP = 5
DISABLE, ENABLE = "DISABLE_ALL", "ENABLE_ALL"
THREADS = {"1 thread": 1, "default threads": 0}
BASELINE = ("original", ENABLE)
NO_ORT_LAYOUT = "graphopt O2 ort -nchwc -mha"
"""graphopt O2 ort without its NCHWc layout and MultiHeadAttention passes: what each of them adds."""
ROWS: tuple[tuple[str, str], ...] = (
    ("original", DISABLE), BASELINE, ("ORT offline", DISABLE), ("ORT offline", ENABLE), ("onnxsim", ENABLE),
    ("onnxslim", ENABLE), ("graphopt O2", DISABLE), ("graphopt O2", ENABLE), ("graphopt O2 ort", DISABLE),
    ("graphopt O2 ort", ENABLE), (NO_ORT_LAYOUT, DISABLE), (NO_ORT_LAYOUT, ENABLE), ("graphopt O3", ENABLE))
"""(form, ORT graph optimization level) of every measured session, in report order."""
PEERS = ("ORT offline", "onnxsim", "onnxslim")
GRAPHOPT_DISABLED = ("graphopt O2", "graphopt O2 ort")
"""graphopt forms held to goal 1: under ORT_DISABLE_ALL within 5% of the original under ORT_ENABLE_ALL."""
GRAPHOPT_ENABLED = ("graphopt O2", "graphopt O2 ort", "graphopt O3")
"""graphopt forms held to goal 2: under ORT_ENABLE_ALL faster than every peer row."""
GOAL1_SLACK = 1.05
MIN_EFFECT = 0.03
"""Goal 2: a form is faster (or slower) than a peer only if its median differs by more than this (relative) ..."""
ALPHA = 0.01
"""... and the paired sign test over rounds says so at this level. Sessions differ by themselves: eight sessions
of one model, timed as here, had medians up to 2-4% apart (max/min), steadily across the rounds."""


# -- the forms ---------------------------------------------------------------------------------------------------

def ort_offline(path: Path, out: Path) -> Any:
    """The model ONNX Runtime writes after its ORT_ENABLE_ALL optimizations."""
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(out)
    options.log_severity_level = 3
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return onnx.load(out)


def graphopt_form(level: str, target: str | None, disable: tuple[str, ...] = ()) -> Callable[[Path], Any]:
    def make(path: Path) -> Any:
        import graphopt

        optimized = graphopt.optimize(graphopt.load(path), level, target=target, disable=disable)
        return graphopt.to_onnx(optimized, target=target)

    return make


def onnxsim_form(path: Path) -> Any:
    import onnx
    import onnxsim

    model, ok = onnxsim.simplify(onnx.load(path))
    if not ok:
        raise RuntimeError("onnxsim's own check of its output failed")
    return model


def onnxslim_form(path: Path) -> Any:
    import onnx
    import onnxslim

    return onnxslim.slim(onnx.load(path))


def make_forms(path: Path, tmp: Path) -> tuple[dict[str, bytes], dict[str, str]]:
    """Every form of the model at ``path`` as serialized bytes, and the error of each form that failed."""
    import onnx

    makers: dict[str, Callable[[Path], Any]] = {
        "original": onnx.load,
        "ORT offline": lambda p: ort_offline(p, tmp / "ort_offline.onnx"),
        "onnxsim": onnxsim_form,
        "onnxslim": onnxslim_form,
        "graphopt O2": graphopt_form("O2", None),
        "graphopt O2 ort": graphopt_form("O2", "onnxruntime"),
        NO_ORT_LAYOUT: graphopt_form("O2", "onnxruntime", ("nchwc", "ort-attention")),
        "graphopt O3": graphopt_form("O3", None),
    }
    forms, errors = {}, {}
    for name, make in makers.items():
        try:
            forms[name] = make(path).SerializeToString()
        except Exception as e:  # a tool failing on a model is a result to report, not a reason to stop
            errors[name] = error_text(e)
    return forms, errors


def op_histogram(data: bytes) -> dict[str, int]:
    """Node count per ``domain::op`` (plain op for the default domain), main graph only."""
    import onnx

    model = onnx.load_from_string(data)
    counts = collections.Counter(f"{n.domain}::{n.op_type}" if n.domain else n.op_type for n in model.graph.node)
    return dict(sorted(counts.items()))


# -- sessions and timing -----------------------------------------------------------------------------------------

def session(data: bytes, level: str, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, f"ORT_{level}")
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def compare(outputs: list[Any], reference: list[Any]) -> tuple[bool, float]:
    """Whether ``outputs`` match ``reference`` (rtol/atol above, same shapes), and the largest absolute difference."""
    import numpy as np

    if len(outputs) != len(reference) or any(a.shape != b.shape for a, b in zip(outputs, reference)):
        return False, float("inf")
    diff = max((float(np.max(np.abs(a.astype(np.float64) - b))) if a.size else 0.0
                for a, b in zip(outputs, reference)), default=0.0)
    return all(np.allclose(a, b, rtol=RTOL, atol=ATOL) for a, b in zip(outputs, reference)), diff


def time_rows(runners: dict[tuple[str, str], Callable[[], Any]], rounds: int,
              block: int) -> tuple[dict[tuple[str, str], list[float]], float]:
    """Seconds per run of each runner (one sample per round and runner, in a new random order each round), and
    the cores other processes kept busy meanwhile, on average (0 on a quiet machine).

    A fixed order (even a rotating one) gives each runner the same predecessor almost every round, and the
    predecessor matters: identical models differed by up to 10% in their medians that way.
    """
    for run in runners.values():
        for _ in range(WARMUP):
            run()
    keys = list(runners)
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in keys}
    busy, own, wall = busy_cpu_seconds(), time.process_time(), time.perf_counter()
    order = random.Random(0)
    for _ in range(rounds):
        order.shuffle(keys)
        for key in keys:
            run = runners[key]
            run()
            start = time.perf_counter()
            for _ in range(block):
                run()
            samples[key].append((time.perf_counter() - start) / block)
    others = busy_cpu_seconds() - busy - (time.process_time() - own)
    return samples, max(others, 0.0) / (time.perf_counter() - wall)


def busy_cpu_seconds() -> float:
    """CPU seconds all processes of the machine have spent busy since boot (from /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def error_text(e: Exception) -> str:
    first_line = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {first_line}"[:200]


def open_sessions(forms: dict[str, bytes], feeds: dict[str, Any], reference: list[Any], threads: int,
                  rows: dict[tuple[str, str], dict[str, Any]], threads_name: str) -> dict[tuple, Callable[[], Any]]:
    """A runner per row whose form loads at this thread count; each row gets its output check (or error)."""
    runners = {}
    for (form, level), row in rows.items():
        if "error" in row:
            continue
        try:
            sess = session(forms[form], level, threads)
        except Exception as e:  # e.g. a form this ONNX Runtime cannot load
            row["error"] = error_text(e)
            continue
        feed = {i.name: feeds[i.name] for i in sess.get_inputs()}
        ok, diff = compare(sess.run(None, feed), reference)
        row.setdefault("matches", {})[threads_name] = {"ok": ok, "max_abs_diff": diff}
        runners[form, level] = (lambda s, f: lambda: s.run(None, f))(sess, feed)
    return runners


def worker(path: str, inputs_path: str, rounds: str, block: str) -> None:
    """Make every form of one model, check its outputs and time it at each thread setting; print JSON."""
    import numpy as np

    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        forms, errors = make_forms(Path(path), Path(tmp))
    with np.load(inputs_path) as npz:
        feeds = {name: npz[name] for name in npz.files}
    reference = session(forms["original"], DISABLE, 1).run(None, feeds)
    rows: dict[tuple[str, str], dict[str, Any]] = {
        (form, level): {"form": form, "level": level, **({"error": errors[form]} if form in errors else {})}
        for form, level in ROWS}
    load = {}
    for threads_name, threads in THREADS.items():
        runners = open_sessions(forms, feeds, reference, threads, rows, threads_name)
        samples, load[threads_name] = time_rows(runners, int(rounds), int(block))
        for key, values in samples.items():
            rows[key].setdefault("seconds", {})[threads_name] = summary(values)
            rows[key].setdefault("samples", {})[threads_name] = values
    print(json.dumps({"rows": list(rows.values()), "ops": {form: op_histogram(data) for form, data in forms.items()},
                      "errors": errors, "other_load": load}))


# -- driver, verdicts and report ---------------------------------------------------------------------------------

def export_batch1(name: str, directory: Path) -> Any:
    """Export zoo model ``name`` with batch-1 inputs (the first item of each of the zoo's fixed inputs)."""
    from tests import zoo

    spec = zoo.SPECS[name]
    zoo.SPECS[name] = dataclasses.replace(spec, inputs=lambda rng: [x[:1] for x in spec.inputs(rng)])
    try:
        return zoo.export(name, directory)
    finally:
        zoo.SPECS[name] = spec


def measure(names: list[str], rounds: int, block: int) -> dict[str, dict[str, Any]]:
    import numpy as np
    import onnx

    results = {}
    script = Path(__file__).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            model = export_batch1(name, Path(tmp))
            input_names = [i.name for i in onnx.load(model.path).graph.input]
            inputs_path = Path(tmp) / f"{name}.npz"
            np.savez(inputs_path, **dict(zip(input_names, model.inputs)))
            start = time.perf_counter()
            entry = run_worker(script, str(model.path), str(inputs_path), str(rounds), str(block))
            entry["inputs"] = {n: list(x.shape) for n, x in zip(input_names, model.inputs)}
            entry["goals"] = goals(entry["rows"])
            results[name] = entry
            print(f"{name}: {time.perf_counter() - start:.0f} s; " + "; ".join(
                f"{threads} {goal} {g['verdict']}" for threads, found in entry["goals"].items()
                for goal, g in found.items()), flush=True)
    return results


def median(row: dict[str, Any], threads: str) -> float | None:
    """The row's median seconds at ``threads``, or None if it failed or its outputs do not match."""
    if "error" in row or not row["matches"][threads]["ok"]:
        return None
    return row["seconds"][threads]["median"]


def goals(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per thread setting and goal: ``ratio`` (graphopt's median over the one it is held to) and ``verdict``.

    Goal 1 holds a graphopt form under ORT_DISABLE_ALL to the original under ORT_ENABLE_ALL: met if the
    ratio is at most 1.05. Goal 2 holds it under ORT_ENABLE_ALL to every peer row (ratio: to the fastest):
    met if faster than each, not met if slower than one, else a tie (see :func:`compare`).
    """
    by_key = {(r["form"], r["level"]): r for r in rows}
    peers = [r for (form, _), r in by_key.items() if form in PEERS]
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for threads in THREADS:
        found = {}
        base = median(by_key[BASELINE], threads)
        for form in GRAPHOPT_DISABLED:
            ours = median(by_key[form, DISABLE], threads)
            ratio = ours / base if ours and base else None
            found[f"goal 1: {form}"] = {"ratio": ratio, "verdict": "n/a" if ratio is None else
                                        "met" if ratio <= GOAL1_SLACK else "not met"}
        measured = [r for r in peers if median(r, threads)]
        best = min((median(r, threads) or 0.0 for r in measured), default=None)
        for form in GRAPHOPT_ENABLED:
            row = by_key[form, ENABLE]
            ours = median(row, threads)
            if ours is None or not best:
                found[f"goal 2: {form}"] = {"ratio": None, "verdict": "n/a"}
                continue
            outcomes = {compare_rows(row, peer, threads) for peer in measured}
            word = "not met" if "slower" in outcomes else "met" if outcomes == {"faster"} else "tie"
            found[f"goal 2: {form}"] = {"ratio": ours / best, "verdict": word}
        out[threads] = found
    return out


def compare_rows(ours: dict[str, Any], theirs: dict[str, Any], threads: str) -> str:
    """"faster", "slower" or "same": the medians differ by more than :data:`MIN_EFFECT` and the paired sign
    test over rounds (each round times both rows) rejects "as often faster as slower" at :data:`ALPHA`."""
    a, b = ours["samples"][threads], theirs["samples"][threads]
    ratio = statistics.median(a) / statistics.median(b)
    wins, losses = sum(x < y for x, y in zip(a, b)), sum(x > y for x, y in zip(a, b))
    if abs(ratio - 1) <= MIN_EFFECT or sign_test(wins, losses) >= ALPHA or (ratio < 1) != (wins > losses):
        return "same"
    return "faster" if ratio < 1 else "slower"


def sign_test(wins: int, losses: int) -> float:
    """Two-sided p-value of ``wins`` against ``losses`` if each were equally likely."""
    n, k = wins + losses, min(wins, losses)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0


def report(results: dict[str, dict[str, Any]], rounds: int, block: int) -> str:
    versions = ", ".join(f"{name} {v}" for name, v in tool_versions().items())
    lines = ["# Inference latency in ONNX Runtime: graphopt's output vs the original and its peers' outputs", "",
             f"{versions}; CPU execution provider; zoo models at batch 1. Median of "
             f"{rounds} samples (min–max) in ms per run; a sample is a timed block of {block} runs after one untimed "
             f"run, and every session first made {WARMUP} warm-up runs. Every round visits every session, in a new "
             "random order each round. "
             "'vs base' = median over the original's under ORT_ENABLE_ALL at the same thread count. 'match' = outputs "
             f"equal the original's (under ORT_DISABLE_ALL) within rtol {RTOL}, atol {ATOL}; a row marked "
             "**MISMATCH** does not count.", "",
             "Goal 1: graphopt's output under ORT_DISABLE_ALL within 5% of the original under ORT_ENABLE_ALL. "
             "Goal 2: graphopt's output under ORT_ENABLE_ALL faster than every peer row (ORT offline at either "
             "level, onnxsim, onnxslim).", ""]
    lines += verdict_table(results)
    for threads in THREADS:
        lines += ["", f"## {threads}", "", "| model | form | ORT level | nodes | time (ms) | vs base | match |",
                  "|---|---|---|---:|---:|---:|---|"]
        for model, e in results.items():
            base = median(next(r for r in e["rows"] if (r["form"], r["level"]) == BASELINE), threads)
            for r in e["rows"]:
                lines.append(f"| {model} | {r['form']} | {r['level']} | {sum(e['ops'].get(r['form'], {}).values())} | "
                             + row_cells(r, threads, base) + " |")
    lines += op_differences(results)
    lines += ["", "Inputs: " + "; ".join(f"{m} {e['inputs']}" for m, e in results.items()),
              "", "Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()), ""]
    return "\n".join(lines)


def tool_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("onnxruntime", "onnxsim", "onnxslim")}


def op_differences(results: dict[str, dict[str, Any]]) -> list[str]:
    """Per model, the ops whose counts differ between graphopt O2 ort and the ORT offline model."""
    lines = ["", "## Op histograms: graphopt O2 ort vs ORT offline (ops whose counts differ)", "",
             "| model | op | graphopt O2 ort | ORT offline |", "|---|---|---:|---:|"]
    for model, e in results.items():
        ours, theirs = e["ops"].get("graphopt O2 ort", {}), e["ops"].get("ORT offline", {})
        for op in sorted(set(ours) | set(theirs)):
            if ours.get(op, 0) != theirs.get(op, 0):
                lines.append(f"| {model} | {op} | {ours.get(op, 0)} | {theirs.get(op, 0)} |")
    return lines


def row_cells(r: dict[str, Any], threads: str, base: float | None) -> str:
    if "error" in r:
        return f"failed: {r['error']} | | |"
    s, match = r["seconds"][threads], r["matches"][threads]
    ratio = f"{s['median'] / base:.2f}" if base else ""
    mark = "yes" if match["ok"] else f"**MISMATCH** (max abs diff {match['max_abs_diff']:.2g})"
    return f"{s['median'] * 1e3:.3f} ({s['min'] * 1e3:.3f}–{s['max'] * 1e3:.3f}) | {ratio} | {mark}"


def verdict_table(results: dict[str, dict[str, Any]]) -> list[str]:
    names = [f"goal 1: {f}" for f in GRAPHOPT_DISABLED] + [f"goal 2: {f}" for f in GRAPHOPT_ENABLED]
    lines = ["| model | threads | " + " | ".join(names) + " | other load |", "|---|---|" + "---|" * (len(names) + 1)]
    for model, e in results.items():
        for threads, found in e["goals"].items():
            cells = [cell(found[g]["verdict"], found[g]["ratio"]) for g in names]
            lines.append(f"| {model} | {threads} | " + " | ".join(cells) + f" | {e['other_load'][threads]:.2f} |")
    lines += ["", "Goal 1 is met when graphopt's median over the original's under ORT_ENABLE_ALL (in brackets) is at "
              f"most {GOAL1_SLACK}. Goal 2 compares graphopt's row with each peer row: it is faster (or slower) when "
              f"the medians differ by more than {MIN_EFFECT:.0%} and a paired sign test over the rounds agrees at "
              f"p < {ALPHA}. Met: faster than every peer; not met: slower than one; tie: neither. In brackets: "
              "graphopt's median over the fastest peer's. 'other load': cores that other processes kept busy "
              "during the timing, on average (anything much above 0 makes the figures doubtful)."]
    return lines


def cell(word: str, ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{'**not met**' if word == 'not met' else word} ({ratio:.3f})"


def main() -> None:
    from tests import zoo

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--block", type=int, default=20, help="runs per timed block (one sample)")
    parser.add_argument("--models", default=",".join(zoo.NAMES), help="zoo models, comma-separated")
    args = parser.parse_args()
    results = measure([m for m in args.models.split(",") if m], args.rounds, args.block)
    write_json("latency.json", {"rounds": args.rounds, "block": args.block, "machine": machine(),
                                "tools": tool_versions(), "models": results})
    print(write_text("latency.md", report(results, args.rounds, args.block)).read_text())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(*sys.argv[2:])
    else:
        main()
