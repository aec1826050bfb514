"""Converters for ATen ops that only TorchScript graphs contain (torch.export decomposes them away).

Registered only where the shared table has no converter of the same name, so the shared
converters always win and the two frontends never disagree on an op both see.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphopt.errors import UnsupportedOpError
from graphopt.frontends.aten import nn_ops, shape_ops
from graphopt.frontends.aten.common import axis, cast, dim_size, ints, rank_of, to_dtype
from graphopt.frontends.aten.registry import Converter, Lowering, converter, lookup, registered_ops
from graphopt.ir.core import Value


def _fallback(*names: str) -> Callable[[Converter], Converter]:
    """Register ``names`` that the shared table does not already cover."""
    def register(fn: Converter) -> Converter:
        taken = set(registered_ops())
        free = [n for n in names if n not in taken]
        return converter(*free)(fn) if free else fn

    return register


# -- convolution, dropout, operators -----------------------------------------------------------------

@_fallback("aten::conv_transpose1d", "aten::conv_transpose2d", "aten::conv_transpose3d")
def conv_transpose(cx: Lowering, x: Value, weight: Value, bias: Value | None = None, stride: Any = (1,),
                   padding: Any = (0,), output_padding: Any = (0,), groups: int = 1, dilation: Any = (1,)) -> Any:
    return nn_ops.convolution(cx, x, weight, bias, stride, padding, dilation, True, output_padding, groups)


@_fallback("aten::alpha_dropout", "aten::feature_alpha_dropout")
def dropout(cx: Lowering, x: Value, p: float, train: bool) -> Value:
    if train:
        raise UnsupportedOpError("dropout in training mode; lift the model in eval mode")
    return x


def _dunder(name: str) -> Converter:
    def convert(cx: Lowering, x: Any, other: Any) -> Any:
        fn = lookup(f"aten::bitwise_{name}")
        if fn is None:
            raise UnsupportedOpError(f"needs the aten::bitwise_{name} converter")
        return fn(cx, x, other)

    return convert


for _name in ("and", "or", "xor"):
    _fallback(f"aten::__{_name}__")(_dunder(_name))


# -- dtype conversions ----------------------------------------------------------------------------

@_fallback("aten::to.device", "aten::to.prim_Device")
def to_device(cx: Lowering, x: Value, device: Any = None, dtype: Any = None, *_: Any, **__: Any) -> Value:
    """``x.to(device, dtype)``: the overloads whose dtype is not the second argument."""
    return x if dtype is None else cast(cx, x, to_dtype(dtype))


# -- shapes ---------------------------------------------------------------------------------------

@_fallback("aten::unflatten")
def unflatten(cx: Lowering, x: Value, dim: int, sizes: Sequence[Any]) -> Value:
    rank = rank_of(x)
    d = axis(dim, rank)
    shape = [dim_size(cx, x, i) for i in range(d)] + list(sizes) + [dim_size(cx, x, i) for i in range(d + 1, rank)]
    return cx.op("Reshape", [x, ints(cx, shape)])


_PAD_MODES = {"reflect": "reflection_pad", "replicate": "replication_pad"}


@_fallback("aten::pad")
def pad(cx: Lowering, x: Value, padding: Sequence[Any], mode: str = "constant", value: float | None = None) -> Value:
    """``F.pad`` as the core op for its mode."""
    if mode == "constant":
        return shape_ops.constant_pad_nd(cx, x, padding, value or 0)
    name = "aten::_pad_circular" if mode == "circular" else f"aten::{_PAD_MODES.get(mode)}{len(padding) // 2}d"
    fn = lookup(name)
    if fn is None:
        raise UnsupportedOpError(f"padding mode {mode!r} over {len(padding) // 2} dims")
    return fn(cx, x, padding)


@_fallback("aten::einsum")
def einsum(cx: Lowering, equation: str, tensors: Sequence[Value], *, path: Any = None) -> Value:
    return cx.op("Einsum", list(tensors), {"equation": equation.replace(" ", "")})


# -- recurrent ------------------------------------------------------------------------------------

_GATE_ORDER = {"LSTM": (0, 3, 1, 2), "GRU": (1, 0, 2), "RNN": (0,)}
"""Where ONNX's gates sit in torch's packing: LSTM i,f,g,o → i,o,f,c; GRU r,z,n → z,r,h."""


def _gates(op: str, w: Value) -> np.ndarray:
    data = w.numpy()
    if data is None:
        raise UnsupportedOpError(f"{op} weights must be constants (freeze the module)")
    order = _GATE_ORDER[op]
    parts = np.split(data, len(order))
    return np.concatenate([parts[i] for i in order])


def _recurrent(cx: Lowering, op: str, x: Value, states: Sequence[Value], params: Sequence[Value], has_biases: bool,
               num_layers: int, dropout: float, train: bool, bidirectional: bool, batch_first: bool,
               attrs: dict[str, Any]) -> tuple[Value, ...]:
    """One ONNX ``op`` per layer, each reading the previous layer's outputs; returns torch's output and
    the final value of each of ``states`` (h, and c for LSTM) stacked over layers and directions."""
    if train and dropout:
        raise UnsupportedOpError(f"{op} with dropout in training mode; lift the model in eval mode")
    dirs = 2 if bidirectional else 1
    per_dir = 4 if has_biases else 2
    if len(params) != num_layers * dirs * per_dir:
        raise UnsupportedOpError(f"{op} with {len(params)} parameter tensors for {num_layers} layer(s); "
                                 "projections (proj_size > 0) are not supported")
    if batch_first:
        x = cx.op("Transpose", [x], {"perm": [1, 0, 2]})
    finals: list[list[Value]] = [[] for _ in states]
    for layer in range(num_layers):
        weights = params[layer * dirs * per_dir:(layer + 1) * dirs * per_dir]
        w = np.stack([_gates(op, weights[d * per_dir]) for d in range(dirs)])
        r = np.stack([_gates(op, weights[d * per_dir + 1]) for d in range(dirs)])
        if has_biases:
            b = np.stack([np.concatenate([_gates(op, weights[d * per_dir + 2]), _gates(op, weights[d * per_dir + 3])])
                          for d in range(dirs)])
        else:
            b = np.zeros((dirs, 2 * w.shape[1]), w.dtype)
        rows = [ints(cx, [layer * dirs]), ints(cx, [(layer + 1) * dirs]), ints(cx, [0])]
        inits = [cx.op("Slice", [s, *rows]) for s in states]
        y, *ends = cx.op(op, [x, cx.const(w), cx.const(r), cx.const(b), None, *inits],
                         {"hidden_size": int(r.shape[-1]), "direction": "bidirectional" if bidirectional else "forward",
                          **attrs}, num_outputs=1 + len(states))
        # Y is [seq, dirs, batch, hidden]; the next layer and torch want [seq, batch, dirs * hidden]
        x = cx.op("Reshape", [cx.op("Transpose", [y], {"perm": [0, 2, 1, 3]}), ints(cx, [0, 0, -1])])
        for final, end in zip(finals, ends, strict=True):
            final.append(end)
    out = cx.op("Transpose", [x], {"perm": [1, 0, 2]}) if batch_first else x
    return out, *(f[0] if len(f) == 1 else cx.op("Concat", f, {"axis": 0}) for f in finals)


@_fallback("aten::lstm.input")
def lstm(cx: Lowering, x: Value, hx: Sequence[Value], params: Sequence[Value], has_biases: bool,
         num_layers: int, dropout: float, train: bool, bidirectional: bool, batch_first: bool) -> tuple[Value, ...]:
    """hx is [h0, c0]."""
    return _recurrent(cx, "LSTM", x, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first,
                      {})


@_fallback("aten::gru.input")
def gru(cx: Lowering, x: Value, hx: Value, params: Sequence[Value], has_biases: bool,
        num_layers: int, dropout: float, train: bool, bidirectional: bool, batch_first: bool) -> tuple[Value, ...]:
    """torch applies the reset gate after the recurrent matmul: ONNX's ``linear_before_reset=1``."""
    return _recurrent(cx, "GRU", x, [hx], params, has_biases, num_layers, dropout, train, bidirectional, batch_first,
                      {"linear_before_reset": 1})


def _rnn(activation: str) -> Converter:
    """nn.RNN with ``nonlinearity=activation``."""
    def convert(cx: Lowering, x: Value, hx: Value, params: Sequence[Value], has_biases: bool, num_layers: int,
                dropout: float, train: bool, bidirectional: bool, batch_first: bool) -> tuple[Value, ...]:
        return _recurrent(cx, "RNN", x, [hx], params, has_biases, num_layers, dropout, train, bidirectional,
                          batch_first, {"activations": [activation] * (2 if bidirectional else 1)})

    return convert


_fallback("aten::rnn_tanh.input")(_rnn("Tanh"))
_fallback("aten::rnn_relu.input")(_rnn("Relu"))


# -- fused transformer kernels (nn.TransformerEncoderLayer's inference fast path, which scripting keeps) --

def _attention(cx: Lowering, q: Value, k: Value, v: Value, embed_dim: int, heads: int, qkv_weight: Value,
               qkv_bias: Value, proj_weight: Value, proj_bias: Value, mask: Value | None) -> Value:
    """nn.MultiheadAttention on batch-first inputs: packed in-projection, per-head attention, out-projection."""
    if mask is not None:
        raise UnsupportedOpError("the fused attention kernel with a mask; script the model with "
                                 "torch.backends.mha.set_fastpath_enabled(False) or trace it instead")
    head_dim = embed_dim // heads
    w = np.split(_constant(qkv_weight, "in-projection weight"), 3)
    b = np.split(_constant(qkv_bias, "in-projection bias"), 3)
    per_head = [cx.op("Transpose", [cx.op("Reshape", [nn_ops.linear(cx, t, cx.const(wi), cx.const(bi)),
                                                       ints(cx, [0, 0, heads, head_dim])])], {"perm": [0, 2, 1, 3]})
                for t, wi, bi in zip((q, k, v), w, b, strict=True)]
    out = nn_ops.scaled_dot_product_attention(cx, *per_head)
    out = cx.op("Reshape", [cx.op("Transpose", [out], {"perm": [0, 2, 1, 3]}), ints(cx, [0, 0, embed_dim])])
    return nn_ops.linear(cx, out, proj_weight, proj_bias)


def _constant(v: Value, what: str) -> np.ndarray:
    data = v.numpy()
    if data is None:
        raise UnsupportedOpError(f"the {what} must be a constant (freeze the module)")
    return data


@_fallback("aten::_transformer_encoder_layer_fwd")
def transformer_encoder_layer(cx: Lowering, src: Value, embed_dim: int, heads: int, qkv_weight: Value,
                              qkv_bias: Value, proj_weight: Value, proj_bias: Value, use_gelu: bool,
                              norm_first: bool, eps: float, norm_weight_1: Value, norm_bias_1: Value,
                              norm_weight_2: Value, norm_bias_2: Value, ffn_weight_1: Value, ffn_bias_1: Value,
                              ffn_weight_2: Value, ffn_bias_2: Value, mask: Value | None = None,
                              mask_type: int | None = None) -> Value:
    def norm(x: Value, weight: Value, bias: Value) -> Value:
        return nn_ops.layer_norm(cx, x, [embed_dim], weight, bias, eps)

    def attend(x: Value) -> Value:
        return _attention(cx, x, x, x, embed_dim, heads, qkv_weight, qkv_bias, proj_weight, proj_bias, mask)

    def feed_forward(x: Value) -> Value:
        hidden = nn_ops.linear(cx, x, ffn_weight_1, ffn_bias_1)
        hidden = cx.op("Gelu", [hidden]) if use_gelu else cx.op("Relu", [hidden])
        return nn_ops.linear(cx, hidden, ffn_weight_2, ffn_bias_2)

    if norm_first:
        x = cx.op("Add", [src, attend(norm(src, norm_weight_1, norm_bias_1))])
        return cx.op("Add", [x, feed_forward(norm(x, norm_weight_2, norm_bias_2))])
    x = norm(cx.op("Add", [src, attend(src)]), norm_weight_1, norm_bias_1)
    return norm(cx.op("Add", [x, feed_forward(x)]), norm_weight_2, norm_bias_2)


@_fallback("aten::_native_multi_head_attention")
def native_multi_head_attention(cx: Lowering, q: Value, k: Value, v: Value, embed_dim: int, heads: int,
                                qkv_weight: Value, qkv_bias: Value, proj_weight: Value, proj_bias: Value,
                                mask: Value | None = None, need_weights: bool = True,
                                average_attn_weights: bool = True, mask_type: int | None = None) -> tuple[Any, ...]:
    if need_weights:
        raise UnsupportedOpError("the fused attention kernel returning attention weights; call the attention "
                                 "module with need_weights=False")
    return _attention(cx, q, k, v, embed_dim, heads, qkv_weight, qkv_bias, proj_weight, proj_bias, mask), None


# -- creation -------------------------------------------------------------------------------------

@_fallback("aten::tensor")
def tensor(cx: Lowering, data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Value:
    """``torch.tensor(data)`` in scripted code: a constant, or a vector built from run-time scalars."""
    if isinstance(data, Value):
        return data if dtype is None else cast(cx, data, to_dtype(dtype))
    items = list(data) if isinstance(data, (list, tuple)) else [data]
    if any(isinstance(i, Value) for i in items):
        if not isinstance(data, (list, tuple)) or any(isinstance(i, (list, tuple)) for i in items):
            raise UnsupportedOpError("torch.tensor of nested run-time values")
        parts = [cx.op("Reshape", [i if isinstance(i, Value) else cx.const(np.array(i)), ints(cx, [1])])
                 for i in items]
        target = to_dtype(dtype) if dtype is not None else parts[0].dtype
        return cx.op("Concat", [cast(cx, p, target) for p in parts], {"axis": 0})
    array = np.array(data)
    if dtype is not None:
        return cx.const(array.astype(to_dtype(dtype).numpy))
    if array.dtype == np.float64:  # Python floats become torch's default dtype
        array = array.astype(np.float32)
    return cx.const(array)
