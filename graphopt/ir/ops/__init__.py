"""Kernels and shape inference for the canonical ops, one module per op family."""
from graphopt.ir.ops import (  # noqa: F401  # noqa: F401  # noqa: F401  # noqa: F401  # noqa: F401
    control_flow,
    conv,
    detection,
    elementwise,
    fused,
    indexing,
    linalg,
    misc,
    normalization,
    pool,
    quantize,
    reduce,
    resize,
    rnn,
    sequence,
    tensor,
)
