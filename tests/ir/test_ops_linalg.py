"""Matrix ops and attention: backend cases, onnxruntime, shape inference."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from graphopt.ir import DType, TensorType, evaluate
from graphopt.ir.inference import InferenceError
from tests.ir.op_check import check_backend_case, compare_with_ort, one_node_graph, single_node_cases

RNG = np.random.default_rng(0)

OPS = ("MatMul", "Gemm", "Einsum", "MatMulInteger", "Det", "Attention", "RotaryEmbedding")


@pytest.mark.parametrize("case", single_node_cases(*OPS))
def test_backend_case(case: Any) -> None:
    # bfloat16 expectations were computed in bfloat16 arithmetic; graphopt accumulates in float32,
    # so results differ by an ulp of bfloat16 (~0.4%)
    tol = {"rtol": 1e-2, "atol": 1e-2} if "bf16" in case.name else {}
    check_backend_case(case, **tol)


def _randn(shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


def _tol(dtype: type) -> dict[str, float]:
    return {"rtol": 5e-3, "atol": 5e-3} if dtype is np.float16 else {"rtol": 1e-5, "atol": 1e-5}


MATMUL_SHAPES = [
    ((3, 4), (4, 5)), ((4,), (4, 5)), ((2, 3, 4), (4,)), ((4,), (4,)), ((2, 1, 3, 4), (5, 4, 6)),
    ((1, 3, 4), (2, 4, 5)), ((4,), (2, 4, 3)),
]


@pytest.mark.parametrize(("a", "b"), MATMUL_SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32])
def test_matmul_matches_ort(a: tuple[int, ...], b: tuple[int, ...], dtype: type) -> None:
    if dtype is np.int32:
        x, y = RNG.integers(-5, 5, a).astype(dtype), RNG.integers(-5, 5, b).astype(dtype)
    else:
        x, y = _randn(a, dtype), _randn(b, dtype)
    compare_with_ort("MatMul", [x, y], **_tol(dtype))


@pytest.mark.parametrize(("a", "b", "expected"), [
    (("N", "S", 8), (8, 16), ("N", "S", 16)),
    ((8,), ("N", 8, 4), ("N", 4)),
    (("B", 1, 3, 8), (5, 8, "K"), ("B", 5, 3, "K")),
    (("N", 8), (8,), ("N",)),
])
def test_matmul_keeps_symbolic_dims(a: tuple[Any, ...], b: tuple[Any, ...], expected: tuple[Any, ...]) -> None:
    x = np.zeros([d if isinstance(d, int) else 2 for d in a], np.float32)
    y = np.zeros([d if isinstance(d, int) else 2 for d in b], np.float32)
    g = one_node_graph("MatMul", [x, y], {}, shapes={0: a, 1: b})
    assert g.outputs[0].type == TensorType(DType.FLOAT, expected)


def test_matmul_rejects_mismatched_contraction() -> None:
    with pytest.raises(InferenceError, match="contracted"):
        one_node_graph("MatMul", [np.zeros((2, 3), np.float32), np.zeros((4, 5), np.float32)], {})


@pytest.mark.parametrize("bias_shape", [None, (1,), (5,), (3, 1), (3, 5)])
@pytest.mark.parametrize(("trans_a", "trans_b"), [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_gemm_matches_ort(bias_shape: tuple[int, ...] | None, trans_a: int, trans_b: int) -> None:
    a = _randn((4, 3) if trans_a else (3, 4))
    b = _randn((5, 4) if trans_b else (4, 5))
    c = None if bias_shape is None else _randn(bias_shape)
    compare_with_ort("Gemm", [a, b, c], {"alpha": 0.5, "beta": 2.0, "transA": trans_a, "transB": trans_b})


def test_gemm_keeps_symbolic_dims() -> None:
    g = one_node_graph("Gemm", [np.zeros((2, 3), np.float32), np.zeros((4, 3), np.float32)], {"transB": 1},
                       shapes={0: ("N", 3)})
    assert g.outputs[0].type == TensorType(DType.FLOAT, ("N", 4))


EINSUM_CASES = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
    ("ij->ji", [(3, 4)]),
    ("ii->i", [(3, 3)]),
    ("ij->", [(3, 4)]),
    ("i,i", [(4,), (4,)]),
    ("ij,jk", [(3, 4), (4, 5)]),
    ("ba", [(3, 4)]),
    ("...ii->...i", [(2, 3, 3)]),
    ("bhqd, bhkd -> bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("i,j->ij", [(3,), (4,)]),
    ("b...d,d->b...", [(2, 3, 4, 5), (5,)]),
]


@pytest.mark.parametrize(("equation", "shapes"), EINSUM_CASES)
def test_einsum_matches_ort(equation: str, shapes: list[tuple[int, ...]]) -> None:
    compare_with_ort("Einsum", [_randn(s) for s in shapes], {"equation": equation}, rtol=1e-4, atol=1e-5)


def test_einsum_keeps_symbolic_dims() -> None:
    x, w = np.zeros((2, 3, 4), np.float32), np.zeros((4, 5), np.float32)
    g = one_node_graph("Einsum", [x, w], {"equation": "...ij,jk->...ik"}, shapes={0: ("N", "S", 4)})
    assert g.outputs[0].type == TensorType(DType.FLOAT, ("N", "S", 5))
    g = one_node_graph("Einsum", [x], {"equation": "nsd->dn"}, shapes={0: ("N", "S", 4)})
    assert g.outputs[0].type == TensorType(DType.FLOAT, (4, "N"))


@pytest.mark.parametrize(("a_dtype", "b_dtype"), [(np.uint8, np.uint8), (np.uint8, np.int8), (np.int8, np.int8)])
@pytest.mark.parametrize("zero_points", ["none", "scalar", "per_column"])
def test_matmul_integer_matches_ort(a_dtype: type, b_dtype: type, zero_points: str) -> None:
    def ints(dtype: type, shape: tuple[int, ...]) -> np.ndarray:
        info = np.iinfo(dtype)
        return RNG.integers(info.min, info.max, shape, endpoint=True).astype(dtype)

    a, b = ints(a_dtype, (2, 3, 4)), ints(b_dtype, (4, 5))
    zps: list[np.ndarray | None] = [None, None]
    if zero_points != "none":
        zps = [ints(a_dtype, ()), ints(b_dtype, (5,) if zero_points == "per_column" else ())]
    compare_with_ort("MatMulInteger", [a, b, *zps])


@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (1, 1)])
def test_det_matches_ort(shape: tuple[int, ...]) -> None:
    compare_with_ort("Det", [_randn(shape)], rtol=1e-4, atol=1e-5)


# -- attention ---------------------------------------------------------------------------

def _attention_inputs(three_d: bool, q_heads: int, kv_heads: int, q_len: int = 3, kv_len: int = 5,
                      head: int = 4, v_head: int = 6, past: int = 0,
                      dtype: type = np.float32) -> tuple[list[np.ndarray], dict[str, Any]]:
    if three_d:
        q, k, v = (_randn(s, dtype) for s in [(2, q_len, q_heads * head), (2, kv_len, kv_heads * head),
                                              (2, kv_len, kv_heads * v_head)])
        attrs: dict[str, Any] = {"q_num_heads": q_heads, "kv_num_heads": kv_heads}
    else:
        q, k, v = (_randn(s, dtype) for s in [(2, q_heads, q_len, head), (2, kv_heads, kv_len, head),
                                              (2, kv_heads, kv_len, v_head)])
        attrs = {}
    inputs = [q, k, v]
    if past:
        inputs += [None, _randn((2, kv_heads, past, head), dtype), _randn((2, kv_heads, past, v_head), dtype)]
    return inputs, attrs


ATTENTION_CASES: list[tuple[str, dict[str, Any], dict[str, Any], str | None]] = [
    # id, shape options, attributes, mask kind
    ("mha", {}, {}, None),
    ("gqa_causal", {"q_heads": 4, "kv_heads": 2}, {"is_causal": 1}, None),
    ("scaled_softcap", {}, {"scale": 0.3, "softcap": 2.0}, None),
    ("bool_mask", {}, {}, "bool"),
    ("float_mask_4d", {}, {}, "float4d"),
    ("float_mask_causal", {}, {"is_causal": 1}, "float2d"),
    ("past_causal", {"past": 2}, {"is_causal": 1}, None),
    ("past_bool_mask", {"past": 2, "q_heads": 4, "kv_heads": 2}, {}, "bool"),
    ("qk_raw_softcap", {}, {"softcap": 1.5, "qk_matmul_output_mode": 0}, None),
    ("qk_softcap", {}, {"softcap": 1.5, "qk_matmul_output_mode": 1}, None),
    ("qk_bias", {"past": 1}, {"qk_matmul_output_mode": 2}, "float4d"),
    ("qk_softmax", {}, {"is_causal": 1, "qk_matmul_output_mode": 3}, "bool"),
    ("fp16_causal", {"dtype": np.float16, "q_heads": 4, "kv_heads": 1}, {"is_causal": 1}, None),
]


def _mask(kind: str | None, q_len: int, total: int, dtype: type) -> np.ndarray | None:
    if kind == "bool":
        mask = RNG.random((q_len, total)) > 0.3
        mask[:, 0] = True  # every query sees at least one key
        return mask
    if kind == "float4d":
        return _randn((2, 1, q_len, total), dtype)
    if kind == "float2d":
        return _randn((q_len, total), dtype)
    return None


@pytest.mark.parametrize("three_d", [False, True], ids=["4d", "3d"])
@pytest.mark.parametrize(("case", "shape_opts", "attrs", "mask"), ATTENTION_CASES, ids=[c[0] for c in ATTENTION_CASES])
def test_attention_matches_ort(three_d: bool, case: str, shape_opts: dict[str, Any], attrs: dict[str, Any],
                               mask: str | None) -> None:
    opts = {"q_heads": 2, "kv_heads": 2, **shape_opts}
    dtype = opts.get("dtype", np.float32)
    inputs, head_attrs = _attention_inputs(three_d, **opts)
    padded = inputs + [None] * (6 - len(inputs))
    padded[3] = _mask(mask, 3, 5 + opts.get("past", 0), dtype)
    outputs = 4 if "qk_matmul_output_mode" in attrs or opts.get("past") else 1
    compare_with_ort("Attention", padded, {**attrs, **head_attrs}, num_outputs=outputs, **_tol(dtype))


def test_attention_fully_masked_rows_give_zeros() -> None:
    (q, k, v), _ = _attention_inputs(False, 2, 2)
    mask = np.ones((3, 5), bool)
    mask[1] = False
    g = one_node_graph("Attention", [q, k, v, mask], {"qk_matmul_output_mode": 3}, num_outputs=4)
    y, _, _, probs = evaluate(g, [q, k, v, mask])
    assert not np.isnan(y).any()
    np.testing.assert_array_equal(y[:, :, 1], 0)
    np.testing.assert_array_equal(probs[:, :, 1], 0)
    np.testing.assert_allclose(probs[:, :, [0, 2]].sum(-1), 1, rtol=1e-6)


@pytest.mark.parametrize("mask_dtype", [np.bool_, np.float32])
def test_attention_pads_a_short_mask_with_masked_keys(mask_dtype: type) -> None:
    (q, k, v), _ = _attention_inputs(False, 2, 2)
    mask = _randn((3, 3)).astype(mask_dtype)
    g = one_node_graph("Attention", [q, k, v, mask], {})
    y, = evaluate(g, [q, k, v, mask])
    masked = np.array(False, mask_dtype) if mask_dtype is np.bool_ else -np.inf
    padded = np.concatenate([mask, np.full((3, 2), masked, mask_dtype)], axis=1)
    expected = compare_with_ort("Attention", [q, k, v, padded])
    np.testing.assert_allclose(y, expected[0], rtol=1e-6, atol=1e-6)


def test_attention_keeps_symbolic_dims() -> None:
    (q, k, v, _, pk, pv), attrs = _attention_inputs(True, 4, 2, past=2)
    g = one_node_graph("Attention", [q, k, v, None, pk, pv], attrs, num_outputs=4,
                       shapes={0: ("B", "S", 16), 1: ("B", "T", 8), 2: ("B", "T", 12), 4: ("B", 2, "P", 4),
                               5: ("B", 2, "P", 6)})
    assert [v.type.shape for v in g.outputs] == [
        ("B", "S", 24), ("B", 2, None, 4), ("B", 2, None, 6), ("B", 4, "S", None),
    ]
    (q, k, v), _ = _attention_inputs(False, 4, 2)
    g = one_node_graph("Attention", [q, k, v], {}, num_outputs=4,
                       shapes={0: ("B", 4, "S", 4), 1: ("B", 2, "T", 4), 2: ("B", 2, "T", 6)})
    assert [v.type.shape for v in g.outputs] == [
        ("B", 4, "S", 6), ("B", 2, "T", 4), ("B", 2, "T", 6), ("B", 4, "S", "T"),
    ]


@pytest.mark.parametrize("three_d", [False, True], ids=["4d", "3d"])
@pytest.mark.parametrize("interleaved", [0, 1])
@pytest.mark.parametrize("rotary_dim", [0, 4])
@pytest.mark.parametrize("with_positions", [True, False])
def test_rotary_embedding_matches_ort(three_d: bool, interleaved: int, rotary_dim: int,
                                      with_positions: bool) -> None:
    batch, heads, seq, head = 2, 3, 5, 8
    x = _randn((batch, seq, heads * head) if three_d else (batch, heads, seq, head))
    half = (rotary_dim or head) // 2
    cache_shape = (7, half) if with_positions else (batch, seq, half)
    angles = RNG.uniform(0, 3, cache_shape).astype(np.float32)
    positions = RNG.integers(0, 7, (batch, seq)) if with_positions else None
    attrs: dict[str, Any] = {"interleaved": interleaved, "rotary_embedding_dim": rotary_dim}
    if three_d:
        attrs["num_heads"] = heads
    compare_with_ort("RotaryEmbedding", [x, np.cos(angles), np.sin(angles), positions], attrs)
