"""Kernels and shape inference for the canonical ops, one module per op family."""
