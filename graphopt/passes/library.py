"""Imports every built-in pass so that registering them is one import."""
from graphopt.passes.pre import cse, dce, fold_constants, noops, shape_inference, simplify  # noqa: F401
