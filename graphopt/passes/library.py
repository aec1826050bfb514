"""Imports every built-in pass so that registering them is one import."""
from graphopt.passes.optimize import (  # noqa: F401
    fuse_activation,
    fuse_batchnorm,
    fuse_conv_bias,
    fuse_matmul_add,
    fuse_pad,
    fuse_slices,
    replace_patterns,
)
from graphopt.passes.post import (  # noqa: F401
    layout,
    nchwc,
    ort_attention,
    plan_memory,
    schedule,
)
from graphopt.passes.pre import (  # noqa: F401
    cse,
    dce,
    fold_constants,
    noops,
    shape_inference,
    simplify,
    sink_reshapes,
)
