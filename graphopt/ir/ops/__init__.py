"""Kernels and shape inference for the canonical ops, one module per op family."""
from graphopt.ir.ops import indexing, tensor  # noqa: F401
from graphopt.ir.ops import conv, pool, resize  # noqa: F401
from graphopt.ir.ops import control_flow, detection, misc, rnn, sequence  # noqa: F401
from graphopt.ir.ops import linalg, normalization, reduce  # noqa: F401
from graphopt.ir.ops import elementwise, quantize  # noqa: F401
