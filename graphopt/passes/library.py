"""Imports every built-in pass so that registering them is one import."""
from graphopt.passes.pre import fold_constants, simplify  # noqa: F401
from graphopt.passes.pre import cse, dce, noops, shape_inference  # noqa: F401
