"""``graphopt optimize``: load, optimize for a target, emit, check against the original, summarize."""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import graphopt
from graphopt.cli import common
from graphopt.cli.common import human_bytes, human_ms, table
from graphopt.cli.pipeline_args import add_pipeline_arguments, pipeline_of, run_pipeline
from graphopt.errors import GraphoptError
from graphopt.ir.core import Graph
from graphopt.ir.memory import plan_memory

EXAMPLES = """\
examples:
  graphopt optimize model.onnx -o model.opt.onnx                 O2, portable ONNX, checked in ONNX Runtime
  graphopt optimize model.onnx -o model.ort.onnx --target onnxruntime -O3
  graphopt optimize model.onnx -o model.xml                      OpenVINO IR (target implied by .xml)
  graphopt optimize model.onnx -o model.engine --input-shape x:1x3x224x224     TensorRT engine
  graphopt optimize model.onnx -o out.onnx --pipeline "O1,fuse-activation" --disable cse --dump-dir dump/
"""


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("optimize", parents=parents, help="optimize a model and write the result",
                            description="Load a model, optimize it for a target, write it, and check that the "
                                        "written model gives the original's answers.",
                            epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=common.existing_file, help="input model (.onnx, .pt TorchScript, .pt2 export)")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="output file: .onnx, .xml (OpenVINO IR) or .engine/.plan (TensorRT)")
    add_pipeline_arguments(p)
    p.add_argument("--opset", type=int, help="ONNX opset to emit (default: the newest ONNX Runtime loads)")
    p.add_argument("--dims", metavar="N=8,S=128",
                   help="upper bounds for symbolic dims, so the memory plan covers tensors sized by them")
    p.add_argument("--dump-dir", type=Path, default=os.environ.get("GRAPHOPT_DUMP_DIR") or None,
                   help="write a per-pass IR dump with diffs and an index.html here (default: $GRAPHOPT_DUMP_DIR)")
    p.add_argument("--print-ir", action="store_true", help="print the optimized IR as text")
    p.add_argument("--no-check", action="store_true",
                   help="skip running the written model against the original")
    p.add_argument("--rtol", type=float, default=1e-3, help="relative tolerance of the check (default 1e-3)")
    p.add_argument("--atol", type=float, default=1e-4, help="absolute tolerance of the check (default 1e-4)")
    p.add_argument("--seed", type=int, default=0, help="seed of the check's random inputs")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    out = common.resolve_output(args.output, args.target)
    dims = common.parse_dims(args.dims)
    times: dict[str, float] = {}
    start = time.perf_counter()
    graph = common.load(args.model, args.input_shape)
    times["load"] = time.perf_counter() - start
    feeds = None if args.no_check or out.format == "tensorrt" else common.random_feeds(graph, args.seed)
    result, stage_times = run_pipeline(graph, args, common.pass_target(out.target), quiet=args.quiet)
    times.update(stage_times)
    if dims:
        result.memory_plan = plan_memory(result, dims=dims)
    if args.print_ir:
        print(result)
        print()
    start = time.perf_counter()
    written = _write(result, out, args.opset)
    times["emit + write"] = time.perf_counter() - start
    check = None
    if feeds is not None:
        start = time.perf_counter()
        check = _check(args, graph, out, feeds)
        times["check"] = time.perf_counter() - start
    print(summary(graph, result, times, pipeline_of(args), out))
    print()
    if check is None:
        print("check: skipped " + ("(--no-check)" if args.no_check else
                                   "(no TensorRT runtime here; `graphopt check` runs the model in ONNX Runtime)"))
    else:
        print(check[1])
        if not check[0]:
            for path in written:
                path.unlink(missing_ok=True)
            print(f"\ngraphopt: outputs differ beyond rtol={args.rtol}, atol={args.atol}; {out.path} not written "
                  f"(rerun with --check-numerics to name the pass, or --no-check to write it anyway)")
            return 3
    print(f"\nwrote {', '.join(str(p) for p in written)}")
    return 0


def _write(graph: Graph, out: common.Output, opset: int | None) -> list[Path]:
    """Write ``graph`` in ``out``'s format; returns the files written."""
    out.path.parent.mkdir(parents=True, exist_ok=True)
    if out.format == "onnx":
        data = out.path.with_name(out.path.name + ".data")
        existed = data.exists()
        graphopt.save(graph, out.path, opset=opset, target=common.pass_target(out.target))
        return [out.path] + ([data] if data.exists() and not existed else [])
    if out.format == "openvino":
        _emitter("openvino", lambda: graphopt.save(graph, out.path))
        return [out.path, out.path.with_suffix(".bin")]
    engine = _emitter("tensorrt", lambda: graphopt.to_tensorrt(graph))
    out.path.write_bytes(engine)
    return [out.path]


def _emitter(extra: str, emit: Any) -> Any:
    try:
        return emit()
    except ImportError as e:
        raise GraphoptError(f"the {extra} emitter could not be loaded ({e}); if {extra} is not installed: "
                            f"pip install \"graphopt[{extra}]\"") from e


def _check(args: argparse.Namespace, original: Graph, out: common.Output,
           feeds: dict[str, Any]) -> tuple[bool, str]:
    """Run the written model and the original on the same inputs: outputs within tolerance?, and a table."""
    want = common.ort_run(common.ort_session(args.model), feeds) if args.model.suffix == ".onnx" \
        else graphopt.evaluate(original, feeds)
    if out.format == "onnx":
        got, runtime = common.ort_run(common.ort_session(out.path), feeds), "ONNX Runtime"
    else:
        got, runtime = common.openvino_runner(out.path)(feeds), "OpenVINO"
    rows = common.compare(original.output_names, got, want, args.rtol, args.atol)  # type: ignore[arg-type]
    ok = all(r.ok for r in rows)
    text = table(["output", "max abs error", "max rel error", "within tolerance"],
                 [[r.output, f"{r.max_abs:.3g}", f"{r.max_rel:.3g}", "yes" if r.ok else f"NO {r.note}".strip()]
                  for r in rows],
                 title=f"check: written model in {runtime} vs the original, inputs seed {args.seed}")
    return ok, text


def summary(before: Graph, after: Graph, times: dict[str, float], pipeline: str, out: common.Output) -> str:
    """Nodes per op before and after, time per stage, weights and the memory plan."""
    ops_before = Counter(n.qualified_op for n in before.walk())
    ops_after = Counter(n.qualified_op for n in after.walk())
    rows = [[op, ops_before[op], ops_after[op], f"{ops_after[op] - ops_before[op]:+d}"]
            for op in sorted(ops_before.keys() | ops_after.keys(), key=lambda o: (-ops_before[o], o))]
    total_b, total_a = sum(ops_before.values()), sum(ops_after.values())
    rows.append(["total", total_b, total_a, f"{total_a - total_b:+d}"])
    parts = [table(["op", "before", "after", "delta"], rows,
                   title=f"{before.name}: {pipeline}, target {out.target}, written as {out.format}")]
    parts.append(table(["stage", "time"], [[k, human_ms(v)] for k, v in times.items()]
                       + [["total", human_ms(sum(times.values()))]]))
    wb, wa = _weight_bytes(before), _weight_bytes(after)
    lines = [f"weights: {human_bytes(wb)} before, {human_bytes(wa)} after"]
    plan = after.memory_plan
    lines.append(f"memory plan: {plan.describe()}" if plan is not None
                 else "memory plan: none (the pipeline has no plan-memory pass; O2 and up plan memory)")
    if plan is not None and plan.unplanned:
        lines.append("  (--dims N=8 bounds symbolic dims for the plan; --input-shape fixes them in the model)")
    parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _weight_bytes(graph: Graph) -> int:
    return sum(c.const.nbytes for c in graph.constants if c.const is not None)
