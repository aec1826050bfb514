"""ONNX Attention (opset 23/24) for OpenVINO.

Q, K, V in ``[batch, heads, seq, size]`` (3-D inputs are split into heads first), past key/values concatenated
in front, key/value heads repeated for grouped-query attention. The plain cases become OpenVINO's
ScaledDotProductAttention, which its CPU plugin runs as one kernel; the others (softcap, the QK output, a
causal mask combined with an explicit mask or with past keys, per-batch key lengths) are written out:
``softmax(softcap(Q·Kᵀ·scale) + bias)·V``, where the bias holds the mask (padded with masked positions when
shorter than the keys), the causal triangle and sliding window (shifted by the number of past keys, so they
stay visible) and the padding of a static cache, and a fully masked row gives zeros.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import openvino as ov
import openvino.opset16 as ov_ops

from graphopt.codegen.openvino.emitter import Lowering, rank
from graphopt.codegen.openvino.table import converter
from graphopt.ir.core import Node


def _input(node: Node, i: int) -> Any:
    return node.inputs[i] if len(node.inputs) > i else None


def _attention_check(node: Node) -> str | None:
    q, k, mask = node.inputs[0], node.inputs[1], _input(node, 3)
    if q is None or k is None or q.shape is None or k.shape is None:
        return "Q or K has an unknown rank"
    if len(q.shape) == 3 and (node.attr("q_num_heads", None) is None or node.attr("kv_num_heads", None) is None):
        return "3-D Q/K/V need the q_num_heads and kv_num_heads attributes"
    if mask is not None and mask.shape is None:
        return "the mask has an unknown rank"
    heads = (q.shape[1], k.shape[1]) if len(q.shape) == 4 else (node.attr("q_num_heads"), node.attr("kv_num_heads"))
    if not all(isinstance(h, int) for h in heads) or heads[0] % heads[1]:
        return f"query heads {heads[0]} are not a known multiple of key/value heads {heads[1]}"
    return None


def _written_out(node: Node) -> bool:
    """Whether the node needs more than OpenVINO's ScaledDotProductAttention offers."""
    return bool(node.attr("softcap", 0.0) or (len(node.outputs) > 3 and node.outputs[3] is not None)
                or _input(node, 6) is not None or _window(node) != (-1, -1)
                or (node.attr("is_causal") and (_input(node, 3) is not None or _input(node, 4) is not None)))


def _window(node: Node) -> tuple[int, int]:
    """Sliding-window bounds (left, right); -1 leaves a side unbounded."""
    return node.attr("left_window_size", -1), node.attr("right_window_size", -1)


def _padded_mask(b: Lowering, mask: Any, k: Any) -> Any:
    """A mask shorter than the key sequence, padded at the end with masked positions (False or -inf)."""
    have, want = mask.get_partial_shape()[-1], k.get_partial_shape()[2]
    if have.is_static and want.is_static and have.get_length() == want.get_length():
        return mask
    r = rank(mask)
    missing = ov_ops.subtract(ov_ops.gather(ov_ops.shape_of(k, "i64"), b.i64([2]), b.i64(0)),
                              ov_ops.gather(ov_ops.shape_of(mask, "i64"), b.i64([r - 1]), b.i64(0)))
    end = ov_ops.concat([b.i64([0] * (r - 1)), ov_ops.maximum(missing, b.i64([0]))], 0)
    fill = b.const(False, mask) if mask.get_element_type() == ov.Type.boolean else b.const(-np.inf, mask)
    return ov_ops.pad(mask, b.i64([0] * r), end, "constant", fill).output(0)


def _heads_first(b: Lowering, t: Any, heads: int) -> Any:
    """``[batch, seq, heads * size]`` as ``[batch, heads, seq, size]``."""
    split = ov_ops.reshape(t, b.i64([0, 0, heads, -1]), True)
    return ov_ops.transpose(split, b.i64([0, 2, 1, 3])).output(0)


def _repeat_heads(b: Lowering, t: Any, groups: int) -> Any:
    """Grouped-query attention: each key/value head serves ``groups`` consecutive query heads."""
    if groups == 1:
        return t
    shape = ov_ops.shape_of(t, "i64")
    expanded = ov_ops.concat([ov_ops.gather(shape, b.i64([0, 1]), b.i64(0)), b.i64([groups]),
                              ov_ops.gather(shape, b.i64([2, 3]), b.i64(0))], 0)
    repeated = ov_ops.broadcast(ov_ops.unsqueeze(t, b.i64([2])), expanded)
    merged = ov_ops.concat([ov_ops.gather(shape, b.i64([0]), b.i64(0)), b.i64([-1]),
                            ov_ops.gather(shape, b.i64([2, 3]), b.i64(0))], 0)
    return ov_ops.reshape(repeated, merged, False)


@converter("Attention", check=_attention_check)
def attention(b: Lowering, node: Node, x: list[Any]) -> Any:
    x = x + [None] * (7 - len(x))
    q, k, v, mask, past_k, past_v, nonpad = x[:7]
    three_d = rank(q) == 3
    if three_d:
        q = _heads_first(b, q, node.attr("q_num_heads"))
        k, v = (_heads_first(b, t, node.attr("kv_num_heads")) for t in (k, v))
    past = past_k
    if past_k is not None:
        k, v = ov_ops.concat([past_k, k], 2).output(0), ov_ops.concat([past_v, v], 2).output(0)
    present = [k, v]
    if mask is not None:
        mask = _padded_mask(b, mask, k)
    groups = q.get_partial_shape()[1].get_length() // k.get_partial_shape()[1].get_length()
    k, v = _repeat_heads(b, k, groups), _repeat_heads(b, v, groups)
    if _written_out(node):
        y, qk = _written_out_attention(b, node, q, k, v, mask, nonpad, past)
    else:
        y, qk = _sdpa(b, node, q, k, v, mask), None
    if three_d:
        y = ov_ops.reshape(ov_ops.transpose(y, b.i64([0, 2, 1, 3])), b.i64([0, 0, -1]), True)
    return [y, *present, qk][: len(node.outputs)]


def _sdpa(b: Lowering, node: Node, q: Any, k: Any, v: Any, mask: Any | None) -> Any:
    scale = node.attr("scale", None)
    args = [q, k, v]
    if mask is not None or scale is not None:
        args.append(mask if mask is not None else b.const(0, q))  # OpenVINO takes the scale as the fifth input only
    if scale is not None:
        args.append(b.const(scale, q))
    y = ov_ops.scaled_dot_product_attention(*args, causal=bool(node.attr("is_causal")))
    if mask is not None and mask.get_element_type() == ov.Type.boolean:  # a fully masked row gives 0, not NaN
        y = ov_ops.select(ov_ops.reduce_logical_or(mask, b.i64([-1]), True), y, b.const(0, y))
    return y


def _written_out_attention(b: Lowering, node: Node, q: Any, k: Any, v: Any, mask: Any | None, nonpad: Any | None,
                           past: Any | None) -> tuple[Any, Any]:
    """``(y, qk output)`` as ONNX's reference computes them: softcap before the bias; ``qk_matmul_output_mode``
    0 and 1 give the (softcapped) scores, 2 the scores plus bias, 3 the probabilities."""
    scale = node.attr("scale", None)
    if scale is None:
        size = ov_ops.gather(ov_ops.shape_of(q, "i64"), b.i64(3), b.i64(0))
        scale_out = ov_ops.divide(b.const(1, q), ov_ops.sqrt(ov_ops.convert_like(size, q)))
    else:
        scale_out = b.const(scale, q)
    scores = ov_ops.multiply(ov_ops.matmul(q, k, False, True), scale_out)
    softcap = node.attr("softcap", 0.0)
    if softcap:
        cap = b.const(softcap, q)
        scores = ov_ops.multiply(cap, ov_ops.tanh(ov_ops.divide(scores, cap)))
    bias = _bias(b, node, q, k, mask, nonpad, past)
    with_bias = ov_ops.add(scores, bias)
    probs = ov_ops.softmax(with_bias, -1)
    probs = ov_ops.select(ov_ops.is_nan(probs), b.const(0, q), probs)  # a fully masked row attends to nothing
    stages = [scores, scores, with_bias, probs]
    return ov_ops.matmul(probs, v, False, False), stages[node.attr("qk_matmul_output_mode", 0)]


def _bias(b: Lowering, node: Node, q: Any, k: Any, mask: Any | None, nonpad: Any | None, past: Any | None) -> Any:
    """The additive bias on the scores: 0 where a key is visible, -inf where it is masked."""
    minus_inf = b.const(-np.inf, q)
    zero = b.const(0, q)
    bias: Any = zero
    if mask is not None:
        bias = ov_ops.select(mask, zero, minus_inf) if mask.get_element_type() == ov.Type.boolean else mask
    q_len = ov_ops.gather(ov_ops.shape_of(q, "i64"), b.i64(2), b.i64(0))
    kv_len = ov_ops.gather(ov_ops.shape_of(k, "i64"), b.i64(2), b.i64(0))
    keys = ov_ops.range(b.i64(0), kv_len, b.i64(1), "i64")
    lengths = ov_ops.reshape(ov_ops.convert(nonpad, "i64"), b.i64([-1, 1, 1, 1]), False) if nonpad is not None \
        else None
    # query i sits at position i + offset: after the past keys, or the batch item's keys for a static cache
    if past is not None:
        offset: Any = ov_ops.gather(ov_ops.shape_of(past, "i64"), b.i64(2), b.i64(0))
    elif lengths is not None:
        offset = ov_ops.subtract(lengths, q_len)
    else:
        offset = b.i64(0)
    rows = ov_ops.add(ov_ops.unsqueeze(ov_ops.range(b.i64(0), q_len, b.i64(1), "i64"), b.i64([1])), offset)
    distance = ov_ops.subtract(rows, keys)  # position - key index
    hidden = []
    if node.attr("is_causal"):
        hidden.append(ov_ops.less(distance, b.i64(0)))
    left, right = _window(node)
    if left >= 0:
        hidden.append(ov_ops.greater(distance, b.i64(left)))
    if right >= 0:
        hidden.append(ov_ops.greater(ov_ops.negative(distance), b.i64(right)))
    for h in hidden:
        bias = ov_ops.add(bias, ov_ops.select(h, minus_inf, zero))
    if lengths is not None:  # keys at or after a batch item's length are padding
        bias = ov_ops.add(bias, ov_ops.select(ov_ops.greater_equal(keys, lengths), minus_inf, zero))
    return bias
