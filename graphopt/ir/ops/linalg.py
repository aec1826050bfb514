"""Matrix ops (MatMul, Gemm, Einsum, MatMulInteger, Det) and attention (Attention, RotaryEmbedding)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphopt.ir.dtypes import DType
from graphopt.ir.inference import InferContext, InferenceError, broadcast_shapes
from graphopt.ir.ops.reduce import same_as_input, softmax, widen
from graphopt.ir.registry import kernel, shape_inference
from graphopt.ir.types import Dim, Shape, TensorType, Type

# -- MatMul, MatMulInteger, Gemm, Det --------------------------------------------------


@kernel("MatMul")
def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.matmul(widen(a), widen(b)).astype(a.dtype, copy=False)


@kernel("MatMulInteger")
def matmul_integer(a: np.ndarray, b: np.ndarray, a_zero_point: np.ndarray | None = None,
                   b_zero_point: np.ndarray | None = None) -> np.ndarray:
    a32, b32 = a.astype(np.int32), b.astype(np.int32)
    if a_zero_point is not None:
        # a per-row zero point (one per row of A) must broadcast along A's last axis
        zp = a_zero_point.astype(np.int32)
        a32 = a32 - (zp.reshape(-1, 1) if zp.ndim == 1 and zp.size > 1 else zp)
    if b_zero_point is not None:
        b32 = b32 - b_zero_point.astype(np.int32)
    return np.matmul(a32, b32)


def matmul_shape(a: Shape, b: Shape, where: str) -> Shape:
    """The shape of ``a @ b`` with numpy's rules for 1-D operands and batch broadcasting."""
    if a is None or b is None:
        return None
    if not a or not b:
        raise InferenceError(f"{where}: MatMul operands must have rank >= 1, got {a} and {b}")
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    k_a, k_b = a2[-1], b2[-2]
    if isinstance(k_a, int) and isinstance(k_b, int) and k_a != k_b:
        raise InferenceError(f"{where}: contracted dims differ ({a} @ {b})")
    batch = broadcast_shapes([a2[:-2], b2[:-2]], where)
    if batch is None:
        return None
    return batch + a2[-2:-1] * (len(a) > 1) + b2[-1:] * (len(b) > 1)


@shape_inference("MatMul", "MatMulInteger")
def infer_matmul(ctx: InferContext) -> list[Type]:
    dtype = DType.INT32 if ctx.node.op == "MatMulInteger" else ctx.dtype(0)
    if dtype is None:
        return [None]
    return [TensorType(dtype, matmul_shape(ctx.shape(0), ctx.shape(1), ctx.node.label))]


@kernel("Gemm")
def gemm(a: np.ndarray, b: np.ndarray, c: np.ndarray | None = None, *, alpha: float, beta: float, transA: int,
         transB: int) -> np.ndarray:
    a_, b_ = widen(a), widen(b)
    y = (a_.T if transA else a_) @ (b_.T if transB else b_)
    if alpha != 1.0:
        y = y * alpha
    if c is not None and beta != 0.0:
        y = y + (widen(c) if beta == 1.0 else widen(c) * beta)
    return y.astype(a.dtype, copy=False)


@shape_inference("Gemm")
def infer_gemm(ctx: InferContext) -> list[Type]:
    dtype, a, b = ctx.dtype(0), ctx.shape(0), ctx.shape(1)
    if dtype is None:
        return [None]
    if a is None or b is None:
        return [TensorType(dtype, (None, None))]
    if len(a) != 2 or len(b) != 2:
        raise ctx.fail(f"Gemm needs 2-D operands, got {a} and {b}")
    m = a[1] if ctx.attr("transA") else a[0]
    n = b[0] if ctx.attr("transB") else b[1]
    return [TensorType(dtype, (m, n))]


@kernel("Det")
def det(x: np.ndarray) -> np.ndarray:
    return np.linalg.det(widen(x)).astype(x.dtype)


@shape_inference("Det")
def infer_det(ctx: InferContext) -> list[Type]:
    t = ctx.tensor_type(0)
    if t is None or t.shape is None:
        return [t]
    return [TensorType(t.dtype, t.shape[:-2])]


# -- Einsum ----------------------------------------------------------------------------


def _einsum_output_term(inputs: Sequence[str]) -> str:
    """Implicit-mode output: the ellipsis (if any) then the labels used exactly once, in alphabetical order."""
    labels = "".join(inputs).replace("...", "")
    single = sorted(ch for ch in set(labels) if labels.count(ch) == 1)
    return ("..." if any("..." in t for t in inputs) else "") + "".join(single)


def _parse_einsum(equation: str) -> tuple[list[str], str]:
    lhs, arrow, rhs = equation.replace(" ", "").partition("->")
    inputs = lhs.split(",")
    return inputs, rhs if arrow else _einsum_output_term(inputs)


@kernel("Einsum")
def einsum(*inputs: np.ndarray, equation: str) -> np.ndarray:
    terms, out = _parse_einsum(equation)
    result = np.einsum(f"{','.join(terms)}->{out}", *(widen(x) for x in inputs))
    return np.asarray(result).astype(inputs[0].dtype, copy=False)


def _prefer(a: Dim, b: Dim) -> Dim:
    """The better-known of two dims that must agree (an int over a symbol over unknown)."""
    if a is None or (isinstance(b, int) and not isinstance(a, int)):
        return b
    return a


def _operand_dims(term: str, shape: tuple[Dim, ...]) -> tuple[list[tuple[str, Dim]], tuple[Dim, ...]] | None:
    """The (label, dim) pairs of one Einsum operand and the dims its ellipsis spans; None on a rank mismatch."""
    before, ellipsis, after = term.partition("...")
    n_ell = len(shape) - len(before) - len(after)
    if n_ell < 0 or (n_ell and not ellipsis):
        return None
    tail = shape[len(shape) - len(after):]
    pairs = list(zip(before, shape[:len(before)], strict=True)) + list(zip(after, tail, strict=True))
    return pairs, shape[len(before):len(before) + n_ell]


@shape_inference("Einsum")
def infer_einsum(ctx: InferContext) -> list[Type]:
    dtype = ctx.dtype(0)
    if dtype is None:
        return [None]
    terms, out = _parse_einsum(ctx.attr("equation"))
    shapes = [ctx.shape(i) for i in range(ctx.num_inputs)]
    if len(terms) != len(shapes):
        raise ctx.fail(f"equation has {len(terms)} operands but the node has {len(shapes)} inputs")
    dims: dict[str, Dim] = {}
    ellipses: list[Shape] = []
    for term, shape in zip(terms, shapes, strict=True):
        if shape is None:
            return [TensorType(dtype)]
        parsed = _operand_dims(term, shape)
        if parsed is None:
            raise ctx.fail(f"operand {term!r} does not match its rank {len(shape)}")
        for label, d in parsed[0]:
            dims[label] = _prefer(dims.get(label), d)
        if "..." in term:
            ellipses.append(parsed[1])
    ell = broadcast_shapes(ellipses, ctx.node.label) or ()
    before, ellipsis, after = out.partition("...")
    result = [dims[ch] for ch in before] + (list(ell) if ellipsis else []) + [dims[ch] for ch in after]
    return [TensorType(dtype, tuple(result))]


# -- RotaryEmbedding -------------------------------------------------------------------


def _to_heads(x: np.ndarray, num_heads: int) -> np.ndarray:
    """(batch, seq, heads * head_size) -> (batch, heads, seq, head_size)."""
    b, s, _ = x.shape
    return x.reshape(b, s, num_heads, -1).transpose(0, 2, 1, 3)


def _from_heads(x: np.ndarray) -> np.ndarray:
    """(batch, heads, seq, head_size) -> (batch, seq, heads * head_size)."""
    b, h, s, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, s, h * d)


@kernel("RotaryEmbedding")
def rotary_embedding(x: np.ndarray, cos_cache: np.ndarray, sin_cache: np.ndarray,
                     position_ids: np.ndarray | None = None, *, interleaved: int, rotary_embedding_dim: int,
                     num_heads: int = 0) -> np.ndarray:
    xh = widen(x) if x.ndim == 4 else _to_heads(widen(x), num_heads)
    cos, sin = widen(cos_cache), widen(sin_cache)
    if position_ids is not None:
        cos, sin = cos[position_ids], sin[position_ids]
    cos, sin = cos[:, None], sin[:, None]  # (batch, 1, seq, rotary_dim / 2) against (batch, heads, seq, .)
    dim = rotary_embedding_dim or xh.shape[-1]
    rotated, kept = xh[..., :dim], xh[..., dim:]
    if interleaved:
        x1, x2 = rotated[..., 0::2], rotated[..., 1::2]
    else:
        x1, x2 = rotated[..., : dim // 2], rotated[..., dim // 2:]
    real, imag = cos * x1 - sin * x2, sin * x1 + cos * x2
    if interleaved:
        rotated = np.stack([real, imag], axis=-1).reshape(rotated.shape)
    else:
        rotated = np.concatenate([real, imag], axis=-1)
    y = np.concatenate([rotated, kept], axis=-1)
    return (y if x.ndim == 4 else _from_heads(y)).astype(x.dtype)


shape_inference("RotaryEmbedding")(same_as_input)


# -- Attention -------------------------------------------------------------------------


def _allowed_keys(q_len: int, kv_len: int, offset: int | np.ndarray, is_causal: int, left_window: int,
                  right_window: int) -> np.ndarray | None:
    """Which keys each query may see by position: (q, kv), or (batch, 1, q, kv) for per-batch offsets.

    Query ``i`` sits at absolute position ``i + offset`` among the keys; ``None`` when all keys are allowed.
    """
    if not is_causal and left_window < 0 and right_window < 0:
        return None
    pos = np.arange(q_len)[:, None] + np.reshape(offset, (-1, 1, 1, 1) if np.ndim(offset) else ())
    distance = pos - np.arange(kv_len)  # how far each key lies behind the query
    allowed = np.ones(distance.shape, bool)
    if is_causal:
        allowed &= distance >= 0
    if left_window >= 0:
        allowed &= distance <= left_window
    if right_window >= 0:
        allowed &= -distance <= right_window
    return allowed


def _attention_bias(mask: np.ndarray | None, q_len: int, kv_len: int, past_len: int,
                    nonpad_kv_seqlen: np.ndarray | None, dtype: np.dtype, is_causal: int, left_window: int,
                    right_window: int) -> np.ndarray:
    """The additive bias on the attention scores (0 where attended, -inf where masked), broadcastable to them."""
    bias = np.zeros((q_len, kv_len), dtype)
    if mask is not None:
        if mask.shape[-1] < kv_len:  # a short mask is padded with "masked"
            pad = [(0, 0)] * (mask.ndim - 1) + [(0, kv_len - mask.shape[-1])]
            mask = np.pad(mask, pad, constant_values=False if mask.dtype == np.bool_ else -np.inf)
        bias = bias + (np.where(mask, 0, -np.inf).astype(dtype) if mask.dtype == np.bool_ else mask.astype(dtype))
    offset = past_len if nonpad_kv_seqlen is None else nonpad_kv_seqlen.astype(np.int64) - q_len
    allowed = _allowed_keys(q_len, kv_len, offset, is_causal, left_window, right_window)
    if nonpad_kv_seqlen is not None:
        valid = np.arange(kv_len) < nonpad_kv_seqlen.reshape(-1, 1, 1, 1)
        allowed = valid if allowed is None else allowed & valid
    if allowed is not None:
        bias = bias + np.where(allowed, 0, -np.inf).astype(dtype)
    return bias


@kernel("Attention")
def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, attn_mask: np.ndarray | None = None,
              past_key: np.ndarray | None = None, past_value: np.ndarray | None = None,
              nonpad_kv_seqlen: np.ndarray | None = None, *, is_causal: int, qk_matmul_output_mode: int,
              softcap: float, left_window_size: int, right_window_size: int, scale: float | None = None,
              q_num_heads: int | None = None, kv_num_heads: int | None = None,
              softmax_precision: int | None = None) -> tuple[np.ndarray, ...]:
    three_d = q.ndim == 3
    if three_d:
        q, k, v = _to_heads(q, q_num_heads), _to_heads(k, kv_num_heads), _to_heads(v, kv_num_heads)  # type: ignore[arg-type]
    past_len = 0
    if past_key is not None and past_value is not None:
        past_len = past_key.shape[2]
        k, v = np.concatenate([past_key, k], axis=2), np.concatenate([past_value, v], axis=2)
    present_key, present_value = k, v
    qc, kc, vc = widen(q), widen(k), widen(v)
    group = qc.shape[1] // kc.shape[1]  # grouped-query attention: each kv head serves `group` query heads
    kc, vc = np.repeat(kc, group, axis=1), np.repeat(vc, group, axis=1)
    root_scale = qc.dtype.type(np.sqrt(1 / np.sqrt(qc.shape[-1]) if scale is None else scale))
    raw = (qc * root_scale) @ np.swapaxes(kc * root_scale, -1, -2)
    capped = softcap * np.tanh(raw / softcap) if softcap > 0 else raw
    bias = _attention_bias(attn_mask, q.shape[2], k.shape[2], past_len, nonpad_kv_seqlen, qc.dtype, is_causal,
                           left_window_size, right_window_size)
    biased = capped + bias
    logits = biased if softmax_precision is None else widen(biased.astype(DType(softmax_precision).numpy))
    with np.errstate(invalid="ignore", divide="ignore"):
        probs = softmax(logits, axis=-1)
    # a query row with no attendable key gives zeros, not NaN
    probs = np.where(np.isneginf(np.max(bias, axis=-1, keepdims=True)), 0, probs).astype(qc.dtype)
    y = (probs @ vc).astype(q.dtype)
    qk = (raw, capped, biased, probs)[qk_matmul_output_mode].astype(q.dtype)
    return (_from_heads(y) if three_d else y), present_key, present_value, qk


def _heads_view(shape: Shape, num_heads: int | None) -> tuple[Dim, ...] | None:
    """(batch, heads, seq, head_size) of a 3-D or 4-D Attention operand."""
    if shape is None or len(shape) not in (3, 4):
        return None
    if len(shape) == 4:
        return shape
    batch, seq, hidden = shape
    head_size = hidden // num_heads if isinstance(hidden, int) and num_heads else None
    return batch, num_heads, seq, head_size


def _known(*dims: Dim) -> Dim:
    """The best-known of dims that must agree: the first int, else the first symbol."""
    return next((d for d in dims if isinstance(d, int)), next((d for d in dims if d is not None), None))


def _add_dims(a: Dim, b: Dim) -> Dim:
    if a == 0 or b == 0:
        return b if a == 0 else a
    return a + b if isinstance(a, int) and isinstance(b, int) else None


@shape_inference("Attention")
def infer_attention(ctx: InferContext) -> list[Type]:
    q_dtype, k_dtype, v_dtype = ctx.dtype(0), ctx.dtype(1), ctx.dtype(2)
    if q_dtype is None:
        return [None] * 4
    q_rank = ctx.rank(0)
    q = _heads_view(ctx.shape(0), ctx.attr("q_num_heads", None))
    k = _heads_view(ctx.shape(1), ctx.attr("kv_num_heads", None))
    v = _heads_view(ctx.shape(2), ctx.attr("kv_num_heads", None))
    if q is None or k is None or v is None:
        return [TensorType(q_dtype), TensorType(k_dtype or q_dtype), TensorType(v_dtype or q_dtype),
                TensorType(q_dtype)]
    batch, kv_len = _known(q[0], k[0], v[0]), _known(k[2], v[2])
    past = ctx.shape(4)
    past_len = 0 if not ctx.has_input(4) else past[2] if past is not None and len(past) == 4 else None
    total = _add_dims(past_len, kv_len)
    heads_q, v_head = q[1], v[3]
    if q_rank == 3:
        hidden = heads_q * v_head if isinstance(heads_q, int) and isinstance(v_head, int) else None
        y: tuple[Dim, ...] = (batch, q[2], hidden)
    else:
        y = (batch, heads_q, q[2], v_head)
    kv_heads = _known(k[1], v[1])
    return [
        TensorType(q_dtype, y),
        TensorType(k_dtype or q_dtype, (batch, kv_heads, total, k[3])),
        TensorType(v_dtype or q_dtype, (batch, kv_heads, total, v_head)),
        TensorType(q_dtype, (batch, heads_q, q[2], total)),
    ]
