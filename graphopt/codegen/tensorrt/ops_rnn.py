"""LSTM, unrolled over a static sequence length (TensorRT 10 has no RNN layer; its ONNX parser uses a loop).

The input projection of every step is one Matrix Multiply; each step then adds the recurrent product and
applies the gates (ONNX order i, o, f, c) with elementwise and activation layers. Sequences longer than
:data:`MAX_STEPS` are refused rather than unrolled into a huge network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from graphopt.codegen.tensorrt.emitter import Dim, Emitter
from graphopt.codegen.tensorrt.ops_linalg import matmul
from graphopt.codegen.tensorrt.ops_tensor import slice_axes
from graphopt.codegen.tensorrt.registry import FLOATS, const_array, const_input, converter
from graphopt.ir.core import Node, Value

if TYPE_CHECKING:
    from tensorrt import ITensor

MAX_STEPS = 256
_DEFAULT_ACTIVATIONS = ("Sigmoid", "Tanh", "Tanh")


def _lstm_check(node: Node) -> str | None:
    x = node.inputs[0]
    if x is None or x.dtype not in FLOATS or x.shape is None:
        return "LSTM input of a non-float type or unknown rank"
    steps, features = x.shape[node.attr("layout")], x.shape[2]
    if not isinstance(steps, int) or not isinstance(features, int):
        return "LSTM over a dynamic sequence length (the unrolled lowering needs it static; the batch may vary)"
    bad = [i for i in (1, 2, 3) if not const_input(node, i)]
    if bad:
        return f"LSTM weights (inputs {bad}) must be constants"
    if len(node.inputs) > 7 and node.inputs[7] is not None:
        return "LSTM with peephole weights"
    lens = node.inputs[4] if len(node.inputs) > 4 else None
    if lens is not None and (lens.const is None or not np.all(lens.numpy() == steps)):
        return "LSTM with per-sequence lengths shorter than the input"
    acts = node.attr("activations", None)
    directions = 2 if node.attr("direction") == "bidirectional" else 1
    if acts is not None and tuple(acts) != _DEFAULT_ACTIVATIONS * directions:
        return f"LSTM activations {list(acts)} (sigmoid/tanh/tanh lower)"
    if node.attr("clip", None) is not None or node.attr("input_forget"):
        return "LSTM with clip or input_forget"
    if steps > MAX_STEPS:
        return f"LSTM over {steps} steps (the unrolled lowering stops at {MAX_STEPS})"
    return None


@converter("LSTM", check=_lstm_check)
def convert_lstm(em: Emitter, node: Node) -> None:
    x_value = node.inputs[0]
    assert x_value is not None and x_value.shape is not None
    layout = node.attr("layout")
    x = em.tensor(x_value)
    if layout:  # [batch, seq, input] → [seq, batch, input]
        x = em.transpose(x, [1, 0, 2])
    steps, batch, _ = em.shape(x)
    hidden = int(node.attr("hidden_size"))
    directions = ["forward", "reverse"] if node.attr("direction") == "bidirectional" else [node.attr("direction")]
    dtype = em.info(x).dtype
    ys, hs, cs = [], [], []
    for d, direction in enumerate(directions):
        h = _initial(em, node, 5, d, hidden)
        c = _initial(em, node, 6, d, hidden)
        projected = _input_projection(em, node, x, d, hidden)
        recurrent = const_array(node, 2)[d].T.astype(dtype.numpy)
        r = em.constant(np.ascontiguousarray(recurrent), dtype, "R")
        outputs: list[ITensor | None] = [None] * steps
        order = range(steps) if direction == "forward" else range(steps - 1, -1, -1)
        for t in order:
            step = em.reshape(slice_axes(em, projected, [0], [t], [1], [1], tag=f"x{t}"), [Dim(1), 4 * hidden])
            gates = em.binary(step, matmul(em, h, r), "SUM", tag=f"gates{t}")
            i, o, f, g = (slice_axes(em, gates, [1], [k * hidden], [hidden], [1], tag="gate") for k in range(4))
            i, o, f = (em.activation(v, "SIGMOID") for v in (i, o, f))
            c = em.binary(em.binary(f, c, "PROD"), em.binary(i, em.activation(g, "TANH"), "PROD"), "SUM", tag="c")
            h = em.binary(o, em.activation(c, "TANH"), "PROD", tag="h")
            outputs[t] = em.reshape(h, [1, 1, Dim(0), hidden], tag="y")
        ys.append(_concat(em, [y for y in outputs if y is not None], 0, (steps, 1, batch, hidden)))
        hs.append(em.reshape(h, [1, Dim(0), hidden], tag="y_h"))
        cs.append(em.reshape(c, [1, Dim(0), hidden], tag="y_c"))
    n = len(directions)
    y = _concat(em, ys, 1, (steps, n, batch, hidden))
    y_h, y_c = _concat(em, hs, 0, (n, batch, hidden)), _concat(em, cs, 0, (n, batch, hidden))
    if layout:  # Y as [batch, seq, dirs, hidden], Y_h and Y_c as [batch, dirs, hidden]
        y, y_h, y_c = em.transpose(y, [2, 0, 1, 3]), em.transpose(y_h, [1, 0, 2]), em.transpose(y_c, [1, 0, 2])
    for index, result in enumerate((y, y_h, y_c)):
        if index < len(node.outputs):
            em.out(node, result, index)


def _input_projection(em: Emitter, node: Node, x: ITensor, d: int, hidden: int) -> ITensor:
    """X·Wᵀ + Wb + Rb for every step at once: [seq, batch, 4·hidden]."""
    dtype = em.info(x).dtype
    weights = const_array(node, 1)[d].T[None].astype(dtype.numpy)
    projected = matmul(em, x, em.constant(np.ascontiguousarray(weights), dtype, "W"))
    bias_value: Value | None = node.inputs[3] if len(node.inputs) > 3 else None
    if bias_value is None:
        return projected
    bias = const_array(node, 3)[d]
    total = (bias[:4 * hidden] + bias[4 * hidden:]).reshape(1, 1, -1).astype(dtype.numpy)
    return em.binary(projected, em.constant(total, dtype, "B"), "SUM", tag="bias")


def _initial(em: Emitter, node: Node, index: int, d: int, hidden: int) -> ITensor:
    """Direction ``d``'s initial state as [batch, hidden], or zeros as [1, hidden] (broadcast by the first step)."""
    v = node.inputs[index] if len(node.inputs) > index else None
    x_value = node.inputs[0]
    assert x_value is not None
    if v is None:
        return em.constant(np.zeros((1, hidden), x_value.dtype.numpy), x_value.dtype, "zeros")
    state = slice_axes(em, em.tensor(v), [0], [d], [1], [1], tag="initial")
    return em.reshape(state, [Dim(1), hidden], tag="initial")


def _concat(em: Emitter, tensors: list[ITensor], axis: int, shape: tuple[int, ...]) -> ITensor:
    if len(tensors) == 1:
        return tensors[0]
    layer = em.network.add_concatenation(tensors)
    layer.axis = axis
    return em.layer_output(layer, shape, em.info(tensors[0]).dtype, "concat")
