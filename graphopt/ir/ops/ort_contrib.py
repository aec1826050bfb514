"""ONNX Runtime contrib ops that graphopt's passes create for ``target="onnxruntime"`` (domain ``com.microsoft``).

``MultiHeadAttention``: ``query [B, S, N*H]``, ``key [B, L, N*H]``, ``value [B, L, N*Hv]``, an optional additive
``attention_bias`` of shape ``[B or 1, N or 1, S, L]``, attributes ``num_heads`` and ``scale`` (default
``1/sqrt(H)``); output ``[B, S, N*Hv]``. The heads are split from and merged into the hidden dimension inside the
op, so the Reshape/Transpose pairs around a 4-D attention disappear. Its other inputs (packed bias, key padding
mask, past state) are declared so that models holding them load, but the reference kernel refuses them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphopt.errors import EvaluationError
from graphopt.ir.attributes import AttrKind
from graphopt.ir.inference import InferContext
from graphopt.ir.ops.fused import ORT_DOMAIN
from graphopt.ir.ops.linalg import attention
from graphopt.ir.registry import AttrSpec, ParamSpec, define, kernel, shape_inference
from graphopt.ir.types import TensorType, Type

define(ORT_DOMAIN, "MultiHeadAttention",
       [ParamSpec("query"), ParamSpec("key"), ParamSpec("value"), ParamSpec("bias", optional=True),
        ParamSpec("key_padding_mask", optional=True), ParamSpec("attention_bias", optional=True),
        ParamSpec("past_key", optional=True), ParamSpec("past_value", optional=True)],
       [ParamSpec("output"), ParamSpec("present_key", optional=True), ParamSpec("present_value", optional=True)],
       [AttrSpec("num_heads", AttrKind.INT, required=True), AttrSpec("scale", AttrKind.FLOAT),
        AttrSpec("mask_filter_value", AttrKind.FLOAT), AttrSpec("unidirectional", AttrKind.INT, default=0)],
       doc="ONNX Runtime's multi-head attention over 3-D [batch, seq, hidden] operands (com.microsoft).")


@kernel("MultiHeadAttention", domain=ORT_DOMAIN)
def multi_head_attention(ctx: Any, query: np.ndarray, key: np.ndarray, value: np.ndarray,
                         bias: np.ndarray | None = None, key_padding_mask: np.ndarray | None = None,
                         attention_bias: np.ndarray | None = None, *extra: np.ndarray | None, num_heads: int,
                         scale: float | None = None, unidirectional: int = 0) -> np.ndarray:
    if bias is not None or key_padding_mask is not None or any(e is not None for e in extra) or \
            query.ndim != 3 or key.ndim != 3 or value.ndim != 3:
        raise EvaluationError(f"{ctx.node.label}: the reference kernel runs only 3-D query/key/value with an "
                              "optional attention_bias (no packed bias, key padding mask or past state)")
    return attention(query, key, value, attention_bias, is_causal=unidirectional, qk_matmul_output_mode=0,
                     softcap=0.0, left_window_size=-1, right_window_size=-1, scale=scale, q_num_heads=num_heads,
                     kv_num_heads=num_heads)[0]


@shape_inference("MultiHeadAttention", domain=ORT_DOMAIN)
def infer_multi_head_attention(ctx: InferContext) -> list[Type]:
    dtype, q, v = ctx.dtype(0), ctx.shape(0), ctx.shape(2)
    if dtype is None or q is None or v is None or len(q) != 3 or len(v) != 3:
        return [None if dtype is None else TensorType(dtype, None)]
    return [TensorType(dtype, (q[0], q[1], v[2]))]
