"""The pipeline options shared by optimize, check and bench, and running the pipeline they describe."""

from __future__ import annotations

import argparse

import graphopt
from graphopt.cli import common
from graphopt.cli.common import UsageError
from graphopt.cli.progress import PipelineProgress, Progress
from graphopt.ir.core import Graph
from graphopt.passes.base import Pass, PassError, PassResult, get_pass
from graphopt.passes.instruments import Instrument
from graphopt.passes.numerics import CheckNumerics
from graphopt.passes.pipeline import build_stages


def add_pipeline_arguments(p: argparse.ArgumentParser) -> None:
    level = p.add_mutually_exclusive_group()
    level.add_argument("-O", dest="level", choices="0123", default="2",
                       help="optimization level: -O0 verifies only, -O1 simplifies, -O2 also fuses and plans "
                            "memory, -O3 also moves transposes (default -O2)")
    level.add_argument("-p", "--pipeline", metavar="SPEC",
                       help='a pass list instead of a level, e.g. "O1,fuse-activation" or '
                            '"dce,cse,fold-constants{max-bytes=1048576}" (see `graphopt passes`)')
    p.add_argument("--target", choices=common.TARGETS,
                   help="what the result is for; picks target-specific passes (default: from the output suffix, "
                        "else onnx = portable ONNX)")
    p.add_argument("--disable", metavar="PASS", action="append", default=[],
                   help="leave out a pass (repeat, or separate names with commas)")
    p.add_argument("--check-numerics", action="store_true",
                   help="run the reference interpreter after every pass and stop at the first pass that "
                        "changes the outputs")
    p.add_argument("--input-shape", metavar="NAME:1x3x224x224", type=common.parse_input_shape, action="append",
                   default=[], help="fix or override an input's dims before optimizing (repeat per input; "
                                    "a dim may stay symbolic: NAME:Nx3x224x224; or use commas: NAME:batch,max_len)")


def disabled(args: argparse.Namespace) -> list[str]:
    names = [n.strip() for item in args.disable for n in item.split(",") if n.strip()]
    for name in names:
        try:
            get_pass(name)
        except PassError as e:
            raise UsageError(f"--disable {name}: {e}") from None
    return names


def pipeline_of(args: argparse.Namespace) -> str:
    return args.pipeline or f"O{args.level}"


def run_pipeline(graph: Graph, args: argparse.Namespace, target: str | None,
                 quiet: bool = False) -> tuple[Graph, dict[str, float]]:
    """Optimize ``graph`` as the arguments say; returns the result and the seconds spent per stage."""
    pipeline, disable = pipeline_of(args), disabled(args)
    try:
        stages = build_stages(pipeline, target, disable)
    except PassError as e:
        raise UsageError(f"--pipeline {pipeline}: {e}") from None
    timer = StageTimes()
    instruments: list[Instrument] = [timer]
    if not quiet:
        slots = [(s.name, [p.name for p in s.passes]) for s in stages]
        instruments.append(PipelineProgress(slots, Progress("optimizing", 0)))
    if args.check_numerics:
        instruments.append(CheckNumerics(seed=getattr(args, "seed", 0), symbolic_dim=1))
    result = graphopt.optimize(graph, pipeline, target=target, disable=disable, instruments=instruments,
                               dump_dir=getattr(args, "dump_dir", None))
    return result, timer.seconds


class StageTimes(Instrument):
    """Seconds spent in each stage's passes (stage as each pass declares it)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def after_pass(self, pass_: Pass, graph: Graph, result: PassResult, seconds: float) -> None:
        key = f"passes: {pass_.stage}"
        self.seconds[key] = self.seconds.get(key, 0.0) + seconds
