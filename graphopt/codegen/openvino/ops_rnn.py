"""Converters of ONNX's LSTM, GRU and RNN as OpenVINO's *Sequence ops.

OpenVINO's sequences are batch-major (``X [batch, seq, input]``, states ``[batch, dirs, hidden]``,
``Y [batch, dirs, seq, hidden]``); ONNX's default layout is time-major. LSTM gates are ordered
``i, o, f, c`` in ONNX and ``f, i, c, o`` in OpenVINO; GRU's ``z, r, h`` agree. ONNX keeps input and
recurrence biases apart, OpenVINO sums them (GRU with ``linear_before_reset`` keeps the ``h`` pair).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import openvino.opset16 as ov_ops

from graphopt.codegen.openvino.emitter import Lowering
from graphopt.codegen.openvino.table import converter
from graphopt.ir.core import Node

_ACTIVATIONS = {"Sigmoid": "sigmoid", "Tanh": "tanh", "Relu": "relu"}
_DEFAULTS = {"LSTM": ("Sigmoid", "Tanh", "Tanh"), "GRU": ("Sigmoid", "Tanh"), "RNN": ("Tanh",)}
_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
_LSTM_ORDER = (2, 0, 3, 1)  # OpenVINO's f, i, c, o taken from ONNX's i, o, f, c


def _activations(node: Node) -> list[str] | None:
    """OpenVINO's activation names (one set, shared by both directions), ``None`` if it cannot take them."""
    names = list(node.attr("activations", None) or ())
    per_direction = len(_DEFAULTS[node.op])
    if not names:
        names = list(_DEFAULTS[node.op])
    halves = [names[i:i + per_direction] for i in range(0, len(names), per_direction)]
    if any(h != halves[0] for h in halves) or any(n not in _ACTIVATIONS for n in halves[0]):
        return None
    return [_ACTIVATIONS[n] for n in halves[0]]


def _rnn_check(node: Node) -> str | None:
    if _activations(node) is None:
        return f"activations {node.attr('activations', None)} are not supported (Sigmoid, Tanh and Relu are, " \
               "the same in both directions)"
    if node.op == "LSTM" and (node.attr("input_forget") or (len(node.inputs) > 7 and node.inputs[7] is not None)):
        return "peepholes and input_forget are not supported"
    if node.attr("hidden_size", None) is None:
        return "hidden_size attribute is missing"
    return None


def _reorder(b: Lowering, t: Any, gates: int, order: tuple[int, ...]) -> Any:
    parts = ov_ops.split(t, b.i64(1), gates)
    return ov_ops.concat([parts.output(i) for i in order], 1)


def _bias(b: Lowering, node: Node, bias: Any, dirs: int, hidden: int, dtype: Any) -> Any:
    gates = _GATES[node.op]
    if bias is None:
        width = 4 * hidden if node.op == "GRU" and node.attr("linear_before_reset") else gates * hidden
        return b.const(np.zeros((dirs, width)), dtype)
    halves = ov_ops.split(bias, b.i64(1), 2)
    w_bias, r_bias = halves.output(0), halves.output(1)
    if node.op == "GRU" and node.attr("linear_before_reset"):
        wz, wh = ov_ops.variadic_split(w_bias, b.i64(1), b.i64([2 * hidden, hidden])).outputs()
        rz, rh = ov_ops.variadic_split(r_bias, b.i64(1), b.i64([2 * hidden, hidden])).outputs()
        return ov_ops.concat([ov_ops.add(wz, rz), wh, rh], 1)
    total = ov_ops.add(w_bias, r_bias)
    return _reorder(b, total, 4, _LSTM_ORDER) if node.op == "LSTM" else total


def _state(b: Lowering, state: Any, batch_major: bool, batch: Any, dirs: int, hidden: int, like: Any) -> Any:
    if state is None:
        shape = ov_ops.concat([batch, b.i64([dirs, hidden])], 0)
        return ov_ops.broadcast(b.const(0, like), shape)
    return state if batch_major else ov_ops.transpose(state, b.i64([1, 0, 2]))


@converter("LSTM", "GRU", "RNN", check=_rnn_check)
def recurrent(b: Lowering, node: Node, x: list[Any]) -> Any:
    x = x + [None] * (8 - len(x))
    data, w, r, bias, seq_lens, h0 = x[:6]
    hidden, direction = node.attr("hidden_size"), node.attr("direction")
    dirs = 2 if direction == "bidirectional" else 1
    batch_major = node.attr("layout") == 1
    if not batch_major:
        data = ov_ops.transpose(data, b.i64([1, 0, 2]))
    dims = ov_ops.shape_of(data, "i64")
    batch = ov_ops.gather(dims, b.i64([0]), b.i64(0))
    if seq_lens is None:
        seq_lens = ov_ops.broadcast(ov_ops.gather(dims, b.i64(1), b.i64(0)), batch)
    if node.op == "LSTM":
        w, r = (_reorder(b, t, 4, _LSTM_ORDER) for t in (w, r))
    args: dict[str, Any] = dict(hidden_size=hidden, direction=direction, activations=_activations(node),
                                clip=float(node.attr("clip", None) or 0.0))
    bias = _bias(b, node, bias, dirs, hidden, data)
    initial_h = _state(b, h0, batch_major, batch, dirs, hidden, data)
    if node.op == "LSTM":
        initial_c = _state(b, x[6], batch_major, batch, dirs, hidden, data)
        seq = ov_ops.lstm_sequence(data, initial_h, initial_c, seq_lens, w, r, bias, **args)
    elif node.op == "GRU":
        seq = ov_ops.gru_sequence(data, initial_h, seq_lens, w, r, bias,
                                  linear_before_reset=bool(node.attr("linear_before_reset")), **args)
    else:
        seq = ov_ops.rnn_sequence(data, initial_h, seq_lens, w, r, bias, **args)
    y = ov_ops.transpose(seq.output(0), b.i64([0, 2, 1, 3] if batch_major else [2, 1, 0, 3]))
    states = [s if batch_major else ov_ops.transpose(s, b.i64([1, 0, 2])) for s in list(seq.outputs())[1:]]
    return [y, *states][: len(node.outputs)]
