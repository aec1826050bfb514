"""Passes: the contract, pipelines, the rewrite engine, instruments, and the passes (by stage)."""

from graphopt.passes import library  # noqa: F401  (registers the built-in passes)
from graphopt.passes.base import Pass, PassError, PassResult, get_pass, graph_pass, register_pass, registered_passes
from graphopt.passes.dump import DumpIR
from graphopt.passes.instruments import Instrument, Timing, VerifyEach
from graphopt.passes.manager import PassManager, Stage
from graphopt.passes.numerics import CheckNumerics, NumericsError
from graphopt.passes.pipeline import build_stages, optimize
from graphopt.passes.rewrite import (
    Builder,
    Match,
    Rule,
    RulePass,
    RuleSet,
    apply_rules,
    const,
    op,
    optional,
    var,
)

__all__ = [
    "Builder", "CheckNumerics", "DumpIR", "Instrument", "Match", "NumericsError", "Pass", "PassError", "PassManager",
    "PassResult", "Rule", "RulePass", "RuleSet", "Stage", "Timing", "VerifyEach", "apply_rules", "build_stages",
    "const", "get_pass", "graph_pass", "op", "optimize", "optional", "register_pass", "registered_passes", "var",
]
