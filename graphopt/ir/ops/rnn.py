"""Recurrent layers: LSTM, GRU and RNN with every direction, activation, layout and sequence-length option."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from graphopt.ir.inference import InferContext
from graphopt.ir.registry import kernel, shape_inference
from graphopt.ir.types import Dim, TensorType, Type

Array = np.ndarray
Activation = Callable[[Array], Array]
State = tuple[Array, ...]
Step = Callable[[Array, State], State]

# name -> (function of (x, alpha, beta), default alpha, default beta); None: takes no such parameter
_ACTIVATIONS: dict[str, tuple[Callable[[Array, float, float], Array], float | None, float | None]] = {
    "relu": (lambda x, a, b: np.maximum(x, 0), None, None),
    "tanh": (lambda x, a, b: np.tanh(x), None, None),
    "sigmoid": (lambda x, a, b: 1 / (1 + np.exp(-x)), None, None),
    "affine": (lambda x, a, b: a * x + b, 1.0, 0.0),
    "leakyrelu": (lambda x, a, b: np.where(x >= 0, x, a * x), 0.01, None),
    "thresholdedrelu": (lambda x, a, b: np.where(x > a, x, 0), 1.0, None),
    "scaledtanh": (lambda x, a, b: a * np.tanh(b * x), 1.0, 1.0),
    "hardsigmoid": (lambda x, a, b: np.clip(a * x + b, 0, 1), 0.2, 0.5),
    "elu": (lambda x, a, b: np.where(x >= 0, x, a * np.expm1(np.minimum(x, 0))), 1.0, None),
    "softsign": (lambda x, a, b: x / (1 + np.abs(x)), None, None),
    "softplus": (lambda x, a, b: np.logaddexp(x, 0), None, None),
}

_DEFAULT_ACTIVATIONS = {"LSTM": ("Sigmoid", "Tanh", "Tanh"), "GRU": ("Sigmoid", "Tanh"), "RNN": ("Tanh",)}


def _activations(names: Sequence[str], alphas: Sequence[float] | None, betas: Sequence[float] | None,
                 dtype: np.dtype) -> list[Activation]:
    """Activation functions for ``names``; alpha/beta values are consumed in order by those that take them."""
    alpha_it: Iterator[float] = iter(alphas or ())
    beta_it: Iterator[float] = iter(betas or ())
    funcs: list[Activation] = []
    for name in names:
        try:
            fn, alpha, beta = _ACTIVATIONS[name.lower()]
        except KeyError:
            raise ValueError(f"unknown activation {name!r}") from None
        a = dtype.type(next(alpha_it, alpha)) if alpha is not None else 0
        b = dtype.type(next(beta_it, beta)) if beta is not None else 0
        funcs.append(_bind(fn, a, b))
    return funcs


def _bind(fn: Callable[[Array, float, float], Array], alpha: float, beta: float) -> Activation:
    return lambda x: fn(x, alpha, beta)


def _clipper(clip: float | None) -> Activation:
    if clip is None:
        return lambda x: x
    return lambda x: np.clip(x, -clip, clip)


def _scan(xw: Array, state: State, lens: Array | None, step: Step, reverse: bool) -> tuple[Array, State]:
    """Run ``step`` over time (axis 0 of ``xw``), holding the state and zeroing outputs past each sequence's end."""
    ys = np.zeros((xw.shape[0], *state[0].shape), state[0].dtype)
    for t in (reversed(range(xw.shape[0])) if reverse else range(xw.shape[0])):
        new = step(xw[t], state)
        if lens is None:
            state = new
            ys[t] = new[0]
        else:
            live = (t < lens)[:, None]
            state = tuple(np.where(live, n, s) for n, s in zip(new, state, strict=True))
            ys[t] = np.where(live, new[0], 0)
    if lens is not None:  # as ONNX Runtime: an empty sequence ends in zero states, not the initial ones
        state = tuple(np.where((lens > 0)[:, None], s, 0) for s in state)
    return ys, state


def _lstm_step(r: Array, rb: Array, p: Array | None, acts: list[Activation], clip: Activation,
               input_forget: bool) -> Step:
    f, g, h = acts
    p_i, p_o, p_f = (None, None, None) if p is None else np.split(p, 3)

    def step(xw_t: Array, state: State) -> State:
        h_prev, c_prev = state
        i_, o_, f_, c_ = np.split(xw_t + h_prev @ r.T + rb, 4, axis=-1)
        i_gate = f(clip(i_ if p_i is None else i_ + p_i * c_prev))
        f_gate = 1 - i_gate if input_forget else f(clip(f_ if p_f is None else f_ + p_f * c_prev))
        c_new = f_gate * c_prev + i_gate * g(clip(c_))
        o_gate = f(clip(o_ if p_o is None else o_ + p_o * c_new))
        return o_gate * h(c_new), c_new

    return step


def _gru_step(r: Array, rb: Array, acts: list[Activation], clip: Activation, linear_before_reset: bool) -> Step:
    f, g = acts
    r_z, r_r, r_h = np.split(r, 3)
    rb_z, rb_r, rb_h = np.split(rb, 3)

    def step(xw_t: Array, state: State) -> State:
        (h_prev,) = state
        x_z, x_r, x_h = np.split(xw_t, 3, axis=-1)
        z = f(clip(x_z + h_prev @ r_z.T + rb_z))
        reset = f(clip(x_r + h_prev @ r_r.T + rb_r))
        if linear_before_reset:
            cand = g(clip(x_h + reset * (h_prev @ r_h.T + rb_h)))
        else:
            cand = g(clip(x_h + (reset * h_prev) @ r_h.T + rb_h))
        return ((1 - z) * cand + z * h_prev,)

    return step


def _rnn_step(r: Array, rb: Array, acts: list[Activation], clip: Activation) -> Step:
    (f,) = acts

    def step(xw_t: Array, state: State) -> State:
        return (f(clip(xw_t + state[0] @ r.T + rb)),)

    return step


def _recurrent(op: str, x: Array, w: Array, r: Array, b: Array | None, lens: Array | None,
               initial: list[Array | None], p: Array | None, attrs: dict[str, Any]) -> tuple[Array, ...]:
    """Shared driver: returns Y and the final states (Y_h, and Y_c for LSTM) in the node's layout."""
    out_dtype = x.dtype
    dtype = np.dtype(np.float64) if x.dtype == np.float64 else np.dtype(np.float32)
    layout = attrs["layout"]
    if layout:
        x = x.swapaxes(0, 1)
        initial = [None if s is None else s.swapaxes(0, 1) for s in initial]
    x, w, r = x.astype(dtype), w.astype(dtype), r.astype(dtype)
    dirs, gh, hidden = r.shape
    batch = x.shape[1]
    names = attrs.get("activations") or _DEFAULT_ACTIVATIONS[op] * dirs
    acts = _activations(names, attrs.get("activation_alpha"), attrs.get("activation_beta"), dtype)
    per_dir = len(_DEFAULT_ACTIVATIONS[op])
    clip = _clipper(attrs.get("clip"))
    b = np.zeros((dirs, 2 * gh), dtype) if b is None else b.astype(dtype)
    lens = None if lens is None else lens.astype(np.int64)
    reverse = {"forward": [False], "reverse": [True], "bidirectional": [False, True]}[attrs["direction"]]
    ys, finals = [], []
    for d in range(dirs):
        state = tuple(np.zeros((batch, hidden), dtype) if s is None else s[d].astype(dtype) for s in initial)
        a = acts[d * per_dir:(d + 1) * per_dir]
        rb = b[d, gh:]
        if op == "LSTM":
            step = _lstm_step(r[d], rb, None if p is None else p[d].astype(dtype), a, clip, attrs["input_forget"])
        elif op == "GRU":
            step = _gru_step(r[d], rb, a, clip, attrs["linear_before_reset"])
        else:
            step = _rnn_step(r[d], rb, a, clip)
        y, state = _scan(x @ w[d].T + b[d, :gh], state, lens, step, reverse[d])
        ys.append(y)
        finals.append(state)
    y_all = np.stack(ys, axis=1).astype(out_dtype)
    states = [np.stack([s[k] for s in finals]).astype(out_dtype) for k in range(len(initial))]
    if layout:
        return y_all.transpose(2, 0, 1, 3), *(s.swapaxes(0, 1) for s in states)
    return y_all, *states


@kernel("LSTM")
def lstm(x: Array, w: Array, r: Array, b: Array | None = None, sequence_lens: Array | None = None,
         initial_h: Array | None = None, initial_c: Array | None = None, p: Array | None = None,
         **attrs: Any) -> tuple[Array, ...]:
    return _recurrent("LSTM", x, w, r, b, sequence_lens, [initial_h, initial_c], p, attrs)


@kernel("GRU")
def gru(x: Array, w: Array, r: Array, b: Array | None = None, sequence_lens: Array | None = None,
        initial_h: Array | None = None, **attrs: Any) -> tuple[Array, ...]:
    return _recurrent("GRU", x, w, r, b, sequence_lens, [initial_h], None, attrs)


@kernel("RNN")
def rnn(x: Array, w: Array, r: Array, b: Array | None = None, sequence_lens: Array | None = None,
        initial_h: Array | None = None, **attrs: Any) -> tuple[Array, ...]:
    return _recurrent("RNN", x, w, r, b, sequence_lens, [initial_h], None, attrs)


@shape_inference("LSTM", "GRU", "RNN")
def infer_recurrent(ctx: InferContext) -> list[Type]:
    dtype = ctx.dtype(0)
    if dtype is None:
        return []
    x = ctx.shape(0)
    seq, batch = (None, None) if x is None or len(x) != 3 else (x[1], x[0]) if ctx.attr("layout") else (x[0], x[1])
    dirs = 2 if ctx.attr("direction") == "bidirectional" else 1
    hidden: Dim = ctx.attr("hidden_size")
    if hidden is None:
        r = ctx.shape(2)
        hidden = r[2] if r is not None and len(r) == 3 else None
    y: tuple[Dim, ...] = (batch, seq, dirs, hidden) if ctx.attr("layout") else (seq, dirs, batch, hidden)
    state: tuple[Dim, ...] = (batch, dirs, hidden) if ctx.attr("layout") else (dirs, batch, hidden)
    n_states = 2 if ctx.node.op == "LSTM" else 1
    return [TensorType(dtype, y), *[TensorType(dtype, state)] * n_states]
