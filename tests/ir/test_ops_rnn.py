"""LSTM, GRU and RNN: backend cases, onnxruntime over every option it supports, layout and shape inference."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from graphopt.ir import DType, TensorType, evaluate
from tests.ir.op_check import (
    assert_close,
    check_backend_case,
    compare_with_ort,
    one_node_graph,
    single_node_cases,
)

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
T, BATCH, IN, HIDDEN = 5, 3, 4, 6
RNG = np.random.default_rng(0)


@pytest.mark.parametrize("case", single_node_cases(*GATES))
def test_backend_case(case: Any) -> None:
    check_backend_case(case)


def _inputs(op: str, dirs: int, *, bias: bool = True, lens: bool = False, initial: bool = False,
            peepholes: bool = False, layout: int = 0, dtype: type = np.float32) -> list[np.ndarray | None]:
    """X, W, R, B, sequence_lens, initial_h[, initial_c, P] (``None`` where omitted, trailing ones dropped)."""
    g = GATES[op]

    def rand(*shape: int, scale: float = 0.5) -> np.ndarray:
        return (RNG.standard_normal(shape) * scale).astype(dtype)

    state = (BATCH, dirs, HIDDEN) if layout else (dirs, BATCH, HIDDEN)
    ins = [
        rand(BATCH, T, IN, scale=1) if layout else rand(T, BATCH, IN, scale=1),
        rand(dirs, g * HIDDEN, IN), rand(dirs, g * HIDDEN, HIDDEN),
        rand(dirs, 2 * g * HIDDEN) if bias else None,
        np.array([T, 0, 3], np.int32) if lens else None,
        rand(*state, scale=1) if initial else None,
    ]
    if op == "LSTM":
        ins += [rand(*state, scale=1) if initial else None, rand(dirs, 3 * HIDDEN) if peepholes else None]
    while ins[-1] is None:
        ins.pop()
    return ins


def _outputs(op: str) -> int:
    return 3 if op == "LSTM" else 2


@pytest.mark.parametrize("op", list(GATES))
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize(("bias", "lens", "initial"), [
    (False, False, False), (True, False, True), (True, True, False), (False, True, True),
])
def test_matches_ort(op: str, direction: str, bias: bool, lens: bool, initial: bool) -> None:
    dirs = 2 if direction == "bidirectional" else 1
    ins = _inputs(op, dirs, bias=bias, lens=lens, initial=initial)
    compare_with_ort(op, ins, {"direction": direction, "hidden_size": HIDDEN}, _outputs(op), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("op", "attrs", "peepholes"), [
    ("LSTM", {"clip": 0.4}, False),
    ("LSTM", {}, True),
    ("LSTM", {"input_forget": 1, "direction": "bidirectional"}, True),
    ("LSTM", {"activations": ["HardSigmoid", "LeakyRelu", "Softsign"] * 2, "activation_alpha": [0.3, 0.2, 0.4],
              "activation_beta": [0.4], "direction": "bidirectional"}, False),
    ("GRU", {"clip": 0.4}, False),
    ("GRU", {"linear_before_reset": 1, "direction": "bidirectional"}, False),
    ("GRU", {"activations": ["Affine", "ScaledTanh"], "activation_alpha": [0.3, 0.7],
             "activation_beta": [0.4, 0.9]}, False),
    ("RNN", {"clip": 0.4}, False),
    ("RNN", {"activations": ["Elu"], "activation_alpha": [0.3]}, False),
    ("RNN", {"activations": ["Relu", "ThresholdedRelu"], "activation_alpha": [0.3], "direction": "bidirectional"},
     False),
    ("RNN", {"activations": ["Softplus", "Sigmoid"], "direction": "bidirectional"}, False),
])
def test_options_match_ort(op: str, attrs: dict[str, Any], peepholes: bool) -> None:
    dirs = 2 if attrs.get("direction") == "bidirectional" else 1
    ins = _inputs(op, dirs, lens=True, initial=True, peepholes=peepholes)
    compare_with_ort(op, ins, {"hidden_size": HIDDEN, **attrs}, _outputs(op), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("dtype", "tol"), [(np.float64, 1e-5), (np.float16, 2e-2)])
@pytest.mark.parametrize("op", list(GATES))
def test_other_float_types_agree_with_float32(op: str, dtype: type, tol: float) -> None:
    """onnxruntime has float32 kernels only; other types must keep their dtype and agree with them."""
    ins = _inputs(op, 1, lens=True, initial=True)
    ref = evaluate(one_node_graph(op, ins, {"hidden_size": HIDDEN}, _outputs(op)), ins)
    cast = [a if a.dtype == np.int32 else a.astype(dtype) for a in ins]
    for ours, expected in zip(evaluate(one_node_graph(op, cast, {}, _outputs(op)), cast), ref, strict=True):
        assert ours.dtype == dtype
        assert_close(ours.astype(np.float32), expected, tol, tol)


@pytest.mark.parametrize("op", list(GATES))
def test_batch_first_layout_is_the_transposed_sequence_first_result(op: str) -> None:
    """onnxruntime refuses layout=1, so compare against layout=0 on transposed data."""
    attrs = {"direction": "bidirectional", "hidden_size": HIDDEN}
    ins = _inputs(op, 2, lens=True, initial=True, peepholes=True, layout=1)
    batch_first = evaluate(one_node_graph(op, ins, {**attrs, "layout": 1}, _outputs(op)), ins)
    seq_first_ins = [ins[0].swapaxes(0, 1), *ins[1:5], *(s.swapaxes(0, 1) for s in ins[5:7]), *ins[7:]]
    seq_first = evaluate(one_node_graph(op, seq_first_ins, attrs, _outputs(op)), seq_first_ins)
    assert_close(batch_first[0], seq_first[0].transpose(2, 0, 1, 3), 1e-6, 1e-6, "Y")
    for ours, ref in zip(batch_first[1:], seq_first[1:], strict=True):
        assert_close(ours, ref.swapaxes(0, 1), 1e-6, 1e-6, "final state")


@pytest.mark.parametrize(("layout", "y", "state"), [
    (0, ("T", 2, "N", HIDDEN), (2, "N", HIDDEN)),
    (1, ("N", "T", 2, HIDDEN), ("N", 2, HIDDEN)),
])
@pytest.mark.parametrize("op", list(GATES))
def test_shape_inference_keeps_symbolic_dims(op: str, layout: int, y: tuple[Any, ...], state: tuple[Any, ...]) -> None:
    ins = _inputs(op, 2, layout=layout)
    x_shape = ("N", "T", IN) if layout else ("T", "N", IN)
    g = one_node_graph(op, ins, {"direction": "bidirectional", "layout": layout}, _outputs(op), shapes={0: x_shape})
    assert [v.type for v in g.outputs] == [TensorType(DType.FLOAT, y)] + [TensorType(DType.FLOAT, state)] * (
        _outputs(op) - 1)
