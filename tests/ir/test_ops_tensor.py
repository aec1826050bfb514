"""Tensor-manipulation and indexing ops: kernels against ONNX's backend cases and ONNX Runtime; symbolic inference."""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np
import onnx
import onnx.helper as oh
import onnxruntime as ort
import pytest

from graphopt.frontends.onnx import from_onnx
from graphopt.ir import DType, Graph, TensorType, Value, evaluate, infer_node, infer_shapes
from graphopt.ir.inference import InferenceError
from graphopt.ir.ops.tensor import reshape_dims

OPS = frozenset({
    "Reshape", "Transpose", "Concat", "Split", "Slice", "Gather", "GatherElements", "GatherND", "ScatterElements",
    "ScatterND", "TensorScatter", "Expand", "Squeeze", "Unsqueeze", "Flatten", "Shape", "Size", "Tile", "Pad", "Range",
    "ConstantOfShape", "OneHot", "NonZero", "Compress", "DepthToSpace", "SpaceToDepth", "Trilu", "EyeLike", "Unique",
    "ReverseSequence", "TopK", "CumSum", "CumProd", "CenterCropPad", "Col2Im",
})
DATA_DEPENDENT = frozenset({"NonZero", "Compress", "Unique"})
"""Ops whose output length depends on input values, so inference cannot know it."""

I64_MAX = np.iinfo(np.int64).max


# -- ONNX backend node cases ----------------------------------------------------------------------

@functools.cache
def backend_cases() -> dict[str, Any]:
    """The backend node cases made only of this family's ops."""
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = load_model_tests(kind="node")
    return {c.name: c for c in cases if {n.op_type for n in c.model.graph.node} <= OPS}


def fold_params(g: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Turn small integer (and scalar) graph inputs into constants; returns the inputs still fed."""
    kept = []
    for v, a in zip(list(g.inputs), inputs, strict=True):
        a = np.asarray(a)
        if a.ndim == 0 or (a.dtype.kind in "iu" and a.ndim == 1 and a.size <= 64):
            g.replace_all_uses(v, g.add_constant(a))
            g.inputs.remove(v)
        else:
            kept.append(a)
    return kept


def assert_same(got: Any, want: Any, rtol: float, atol: float) -> None:
    want = np.asarray(want)
    assert isinstance(got, np.ndarray)
    assert got.dtype == want.dtype and got.shape == want.shape, f"{got.dtype}{got.shape} != {want.dtype}{want.shape}"
    if want.dtype.kind in "fc" and want.dtype.itemsize >= 4:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    elif want.dtype.kind == "O":
        assert got.tolist() == want.tolist()
    else:
        np.testing.assert_array_equal(got.astype(np.float64), want.astype(np.float64))


def assert_type_fits(t: Any, a: np.ndarray, exact: bool) -> None:
    """The inferred type agrees with the array; with ``exact`` every dim must be known."""
    assert isinstance(t, TensorType), t
    assert t.dtype.numpy == a.dtype, f"inferred {t} for {a.dtype}{a.shape}"
    assert t.shape is not None and len(t.shape) == a.ndim, f"inferred {t} for {a.dtype}{a.shape}"
    for d, n in zip(t.shape, a.shape, strict=True):
        assert d == n if exact else d in (n, None), f"inferred {t} for {a.dtype}{a.shape}"


@pytest.mark.parametrize("folded", [False, True], ids=["inputs", "consts"])
@pytest.mark.parametrize("name", sorted(backend_cases()))
def test_backend_case(name: str, folded: bool) -> None:
    """Every case passes through the interpreter; with parameters folded to constants, inference is exact."""
    case = backend_cases()[name]
    g = from_onnx(case.model)
    for node in g:
        for out in node.outputs:
            out.type = None  # infer from scratch rather than keep the model's declared types
    inputs = fold_params(g, case.data_sets[0][0]) if folded else None
    infer_shapes(g, strict=True)
    for feed, expected in case.data_sets:
        got = evaluate(g, inputs if folded else feed)
        assert len(got) == len(expected)
        for v, a, e in zip(g.outputs, got, expected, strict=True):
            assert_same(a, e, case.rtol, case.atol)
            assert_type_fits(v.type, a, exact=folded and v.producer.op not in DATA_DEPENDENT)
        if folded:
            break


# -- ONNX Runtime on random data ------------------------------------------------------------------

RNG = np.random.default_rng(0)


def rand(*shape: int, dtype: Any = np.float32) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


def ints_(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def run_both(op: str, inputs: dict[str, np.ndarray], attrs: dict[str, Any],
             n_out: int) -> tuple[list[np.ndarray], list[np.ndarray], Graph]:
    """Run one node in ONNX Runtime and in graphopt; inputs named ``c_*`` are constants, the rest are fed."""
    feeds = {k: a for k, a in inputs.items() if not k.startswith("c_")}
    consts = {k: a for k, a in inputs.items() if k.startswith("c_")}
    node = oh.make_node(op, list(inputs), [f"y{i}" for i in range(n_out)], **attrs)
    graph = oh.make_graph(
        [node], "g",
        [oh.make_tensor_value_info(k, oh.np_dtype_to_tensor_dtype(a.dtype), a.shape) for k, a in feeds.items()],
        [onnx.ValueInfoProto(name=f"y{i}") for i in range(n_out)],
        initializer=[onnx.numpy_helper.from_array(a, k) for k, a in consts.items()],
    )
    model = oh.make_model(graph, ir_version=10, opset_imports=[oh.make_opsetid("", 25)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    g = from_onnx(model)
    infer_shapes(g, strict=True)
    return session.run(None, feeds), evaluate(g, feeds), g


def scalar(v: Any, dtype: Any = np.int64) -> np.ndarray:
    return np.array(v, dtype)


ORT_CASES: list[tuple[str, str, dict[str, np.ndarray], dict[str, Any], int]] = [
    # (id, op, inputs in node order — "c_*" ones are constants, "" an omitted input —, attributes, outputs)
    ("reshape_zero_minus_one", "Reshape", {"x": rand(2, 3, 4), "c_s": ints_(0, -1, 2)}, {}, 1),
    ("reshape_allowzero", "Reshape", {"x": rand(0, 3), "c_s": ints_(3, 0)}, {"allowzero": 1}, 1),
    ("transpose_default", "Transpose", {"x": rand(2, 3, 4)}, {}, 1),
    ("transpose_perm", "Transpose", {"x": rand(2, 3, 4, 5)}, {"perm": [2, 0, 3, 1]}, 1),
    ("concat_neg_axis", "Concat", {"a": rand(2, 3), "b": rand(2, 1), "c": rand(2, 4)}, {"axis": -1}, 1),
    ("split_uneven", "Split", {"x": rand(2, 7)}, {"axis": 1, "num_outputs": 3}, 3),
    ("split_sizes", "Split", {"x": rand(6, 2), "c_s": ints_(1, 0, 5)}, {}, 3),
    ("slice_neg_steps", "Slice", {"x": rand(5, 6, 7), "c_s": ints_(-1, 5, 1), "c_e": ints_(-I64_MAX, 0, 100),
                                  "c_a": ints_(0, -2, 2), "c_t": ints_(-2, -1, 3)}, {}, 1),
    ("slice_clamped", "Slice", {"x": rand(4, 5), "c_s": ints_(-10, 2), "c_e": ints_(10, 3)}, {}, 1),
    ("gather_neg_idx", "Gather", {"x": rand(3, 5, 2), "c_i": ints_(-1, 0, 4, -5).reshape(2, 2)}, {"axis": 1}, 1),
    ("gather_scalar_idx", "Gather", {"x": rand(3, 4), "c_i": scalar(-2)}, {"axis": 0}, 1),
    ("gather_elements", "GatherElements", {"x": rand(3, 4), "c_i": ints_(0, -1, 2, 3, 1, 0).reshape(3, 2)},
     {"axis": -1}, 1),
    ("gather_nd_batch", "GatherND", {"x": rand(2, 3, 4, 5), "c_i": ints_(0, 1, 2, -1, 1, 1).reshape(2, 1, 3)},
     {"batch_dims": 1}, 1),
    ("gather_nd_slices", "GatherND", {"x": rand(3, 4, 5), "c_i": ints_(2, 1, 0, 3).reshape(2, 2)}, {}, 1),
    *[(f"scatter_elements_{r}", "ScatterElements",
       {"x": rand(3, 4), "c_i": ints_(0, 0, 2, 1, 1, 3, -1, 0, -1).reshape(3, 3), "u": rand(3, 3)},
       {"axis": 1, "reduction": r}, 1) for r in ("none", "add", "mul", "max", "min")],
    *[(f"scatter_nd_{r}", "ScatterND", {"x": rand(4, 3), "c_i": ints_(1, 3, 1).reshape(3, 1), "u": rand(3, 3)},
       {"reduction": r}, 1) for r in ("add", "mul", "max", "min")],
    ("scatter_nd_elements", "ScatterND", {"x": rand(2, 3), "c_i": ints_(0, 2, 1, -1).reshape(2, 2), "u": rand(2)},
     {}, 1),
    ("tensor_scatter_linear", "TensorScatter", {"p": rand(2, 3, 6, 4), "u": rand(2, 3, 2, 4), "c_w": ints_(1, 4)},
     {}, 1),
    ("tensor_scatter_circular", "TensorScatter", {"p": rand(2, 6, 4), "u": rand(2, 3, 4), "c_w": ints_(5, 2)},
     {"axis": 1, "mode": "circular"}, 1),
    ("tensor_scatter_no_indices", "TensorScatter", {"p": rand(2, 5, 3), "u": rand(2, 2, 3)}, {"axis": 1}, 1),
    ("expand_bidirectional", "Expand", {"x": rand(3, 1), "c_s": ints_(2, 1, 4)}, {}, 1),
    ("squeeze_all", "Squeeze", {"x": rand(1, 3, 1, 2)}, {}, 1),
    ("squeeze_axes", "Squeeze", {"x": rand(1, 3, 1, 2), "c_a": ints_(-2)}, {}, 1),
    ("unsqueeze_neg", "Unsqueeze", {"x": rand(3, 2), "c_a": ints_(-1, 0)}, {}, 1),
    *[(f"flatten_{a}", "Flatten", {"x": rand(2, 3, 4)}, {"axis": a}, 1) for a in (0, 2, 3, -1, -3)],
    ("shape_start_end", "Shape", {"x": rand(2, 3, 4, 5)}, {"start": -3, "end": -1}, 1),
    ("shape_clamped", "Shape", {"x": rand(2, 3)}, {"start": -9, "end": 9}, 1),
    ("size", "Size", {"x": rand(2, 3, 4)}, {}, 1),
    ("tile", "Tile", {"x": rand(2, 3), "c_r": ints_(3, 1)}, {}, 1),
    ("pad_constant_value", "Pad", {"x": rand(2, 3), "c_p": ints_(1, 0, 2, 3), "c_v": scalar(1.5, np.float32)}, {}, 1),
    ("pad_negative", "Pad", {"x": rand(4, 5), "c_p": ints_(-1, 2, 1, -2)}, {}, 1),
    *[(f"pad_{m}_axes", "Pad", {"x": rand(2, 4, 5), "c_p": ints_(2, 1, 3, 2), "c_v": scalar(0, np.float32),
                                "c_a": ints_(-1, 1)}, {"mode": m}, 1) for m in ("constant", "reflect", "edge", "wrap")],
    ("range_int_neg", "Range", {"c_a": scalar(10, np.int32), "c_b": scalar(-3, np.int32),
                                "c_c": scalar(-4, np.int32)}, {}, 1),
    ("range_float", "Range", {"c_a": scalar(0.5, np.float32), "c_b": scalar(3.1, np.float32),
                              "c_c": scalar(0.3, np.float32)}, {}, 1),
    ("constant_of_shape", "ConstantOfShape", {"c_s": ints_(2, 3)},
     {"value": onnx.numpy_helper.from_array(ints_(7))}, 1),
    ("one_hot_axis0", "OneHot", {"c_i": ints_(0, -1, 3, 7, -9), "c_d": scalar(5, np.float32),
                                 "c_v": np.array([-1, 2], np.int32)}, {"axis": 0}, 1),
    ("nonzero", "NonZero", {"x": rand(3, 4, 2) > 0}, {}, 1),
    ("compress_axis", "Compress", {"x": rand(3, 4), "c_c": np.array([True, False, True])}, {"axis": -1}, 1),
    ("compress_flat", "Compress", {"x": rand(2, 3), "c_c": np.array([False, True, True, False, True])}, {}, 1),
    ("depth_to_space_dcr", "DepthToSpace", {"x": rand(2, 8, 2, 3)}, {"blocksize": 2}, 1),
    ("depth_to_space_crd", "DepthToSpace", {"x": rand(2, 8, 2, 3)}, {"blocksize": 2, "mode": "CRD"}, 1),
    ("space_to_depth", "SpaceToDepth", {"x": rand(2, 3, 4, 6)}, {"blocksize": 2}, 1),
    *[(f"trilu_{u}_{k}", "Trilu", {"x": rand(2, 4, 5), "c_k": scalar(k)}, {"upper": u}, 1)
      for u in (0, 1) for k in (-1, 2)],
    ("eye_like", "EyeLike", {"x": rand(3, 5)}, {"k": -1, "dtype": onnx.TensorProto.INT32}, 1),
    *[(f"unique_sorted{s}", "Unique", {"x": ints_(3, 1, 3, 2, 1, 5)}, {"sorted": s}, 4) for s in (0, 1)],
    ("unique_axis", "Unique", {"x": np.array([[1, 0], [2, 1], [1, 0], [0, 3]], np.float32)}, {"axis": 0}, 4),
    ("reverse_sequence_batch0", "ReverseSequence", {"x": rand(3, 4, 2), "c_l": ints_(1, 4, 2)},
     {"batch_axis": 0, "time_axis": 1}, 1),
    ("reverse_sequence_time0", "ReverseSequence", {"x": rand(4, 3), "c_l": ints_(3, 0, 4)}, {}, 1),
    *[(f"top_k_ties_largest{b}", "TopK", {"x": RNG.integers(0, 3, (3, 8)).astype(np.int64), "c_k": ints_(5)},
       {"largest": b}, 2) for b in (0, 1)],
    ("top_k_axis0", "TopK", {"x": rand(6, 3), "c_k": ints_(2)}, {"axis": 0}, 2),
    *[(f"cumsum_ex{e}_rev{r}", "CumSum", {"x": rand(3, 4), "c_a": scalar(-1, np.int32)},
       {"exclusive": e, "reverse": r}, 1) for e in (0, 1) for r in (0, 1)],
    ("center_crop_pad", "CenterCropPad", {"x": rand(5, 4, 3), "c_s": ints_(2, 7)}, {"axes": [0, -2]}, 1),
    ("col2im", "Col2Im", {"x": rand(2, 3 * 4, 18), "c_i": ints_(5, 7), "c_b": ints_(2, 2)},
     {"strides": [2, 1], "dilations": [1, 2], "pads": [1, 0, 0, 1]}, 1),
]


@pytest.mark.parametrize(("op", "inputs", "attrs", "n_out"), [c[1:] for c in ORT_CASES], ids=[c[0] for c in ORT_CASES])
def test_against_onnxruntime(op: str, inputs: dict[str, np.ndarray], attrs: dict[str, Any], n_out: int) -> None:
    want, got, g = run_both(op, inputs, attrs, n_out)
    for v, a, w in zip(g.outputs, got, want, strict=True):
        assert_same(a, w, rtol=1e-6, atol=1e-6)
        assert_type_fits(v.type, a, exact=op not in DATA_DEPENDENT)


def test_top_k_keeps_index_order_among_ties() -> None:
    x = np.array([[2.0, 1.0, 2.0, 3.0, 2.0, 1.0]], np.float32)
    for largest, want in ((1, [3, 0, 2, 4]), (0, [1, 5, 0, 2])):
        g = Graph()
        xv = Value(TensorType(DType.FLOAT, (1, 6)), "x")
        g.inputs.append(xv)
        g.outputs = g.add("TopK", [xv, g.add_constant(ints_(4))], {"largest": largest}, num_outputs=2).outputs
        _, idx = evaluate(g, {"x": x})
        assert idx.tolist() == [want]


# -- symbolic shape inference ---------------------------------------------------------------------

def sym_graph(shape: tuple[Any, ...], dtype: DType = DType.FLOAT) -> tuple[Graph, Value]:
    g = Graph()
    x = Value(TensorType(dtype, shape), "x")
    g.inputs.append(x)
    return g, x


def out_type(g: Graph, v: Value) -> TensorType:
    g.outputs = [v]
    infer_shapes(g, strict=True)
    return v.type  # type: ignore[return-value]


def dim_of(g: Graph, x: Value, i: int, *, vector: bool) -> Value:
    """Gather(Shape(x), i), as a scalar or a 1-element vector."""
    shape = g.add("Shape", [x]).output
    index = g.add_constant(ints_(i) if vector else np.array(i, np.int64))
    return g.add("Gather", [shape, index]).output


@pytest.mark.parametrize("vector", [False, True], ids=["scalar_gather", "vector_gather"])
def test_reshape_from_shape_arithmetic_keeps_symbols(vector: bool) -> None:
    g, x = sym_graph(("N", "seq", 768))
    dims = [dim_of(g, x, i, vector=vector) for i in (0, 1)]
    if not vector:
        axes = g.add_constant(ints_(0))
        dims = [g.add("Unsqueeze", [d, axes]).output for d in dims]
    target = g.add("Concat", [*dims, g.add_constant(ints_(12, 64))], {"axis": 0}).output
    y = g.add("Reshape", [x, target]).output
    assert out_type(g, y) == TensorType(DType.FLOAT, ("N", "seq", 12, 64))
    assert target.type == TensorType(DType.INT64, (4,))


@pytest.mark.parametrize(("source", "target", "want"), [
    (("N", 3, 4), ("N", -1), ("N", 12)),
    (("N", 3, 4), (-1, 12), ("N", 12)),
    (("N", 3, 4), (-1, 4), (None, 4)),
    (("N", 3), (-1,), (None,)),
    (("N", "seq", 4), (0, -1), ("N", None)),
    (("N", "seq", 12, 64), (0, 0, -1), ("N", "seq", 768)),
    (("N", "seq", 768), (-1, "seq", 768), ("N", "seq", 768)),
    (("N", "seq", 768), (0, 0, 12, -1), ("N", "seq", 12, 64)),
    ((2, None, 4), (8, -1), (8, None)),
    ((2, 3, 4), (-1, 0, 2), (4, 3, 2)),
    ((2, 3, 4), (4, None, -1), (4, None, None)),
])
def test_reshape_dims(source: tuple[Any, ...], target: tuple[Any, ...], want: tuple[Any, ...]) -> None:
    assert reshape_dims(source, target, allowzero=False) == want


def test_reshape_allowzero_keeps_zero() -> None:
    assert reshape_dims(("N", 3), (0, -1), allowzero=True) == (0, None)
    assert reshape_dims(("N", 3), (0, 3), allowzero=False) == ("N", 3)


def test_slice_of_shape_feeds_reshape() -> None:
    g, x = sym_graph(("N", "seq", 768))
    shape = g.add("Shape", [x]).output
    tail = g.add("Slice", [shape, g.add_constant(ints_(-2)), g.add_constant(ints_(I64_MAX))]).output
    target = g.add("Concat", [g.add_constant(ints_(-1)), tail], {"axis": 0}).output
    assert out_type(g, g.add("Reshape", [x, target]).output).shape == ("N", "seq", 768)


def test_shape_start_end_and_size_values() -> None:
    g, x = sym_graph(("N", "seq", 3, 4))
    node = g.add("Shape", [x], {"start": 1, "end": -1})
    sym: dict[Value, Any] = {}
    assert infer_node(node, sym) == [TensorType(DType.INT64, (2,))]
    assert sym[node.output] == ("seq", 3)
    size = g.add("Size", [g.add("Slice", [x, *(g.add_constant(ints_(v)) for v in (0, 1, 1))]).output])
    g.outputs = [size.output]
    infer_shapes(g, strict=True)
    assert size.outputs[0].type == TensorType(DType.INT64, ())


@pytest.mark.parametrize("op", ["ConstantOfShape", "Expand"])
def test_shape_value_gives_output_shape(op: str) -> None:
    g, x = sym_graph(("N", "seq", 768))
    shape = g.add("Shape", [x]).output
    if op == "ConstantOfShape":
        y = g.add(op, [shape]).output
    else:
        y = g.add(op, [g.add_constant(np.zeros((1, 1, 768), np.float16)), shape]).output
    t = out_type(g, y)
    assert t.shape == ("N", "seq", 768)
    assert t.dtype == (DType.FLOAT if op == "ConstantOfShape" else DType.FLOAT16)


def test_tile_and_squeeze_with_symbolic_repeats() -> None:
    g, x = sym_graph(("N", 5))
    n = dim_of(g, x, 0, vector=True)
    repeats = g.add("Concat", [n, g.add_constant(ints_(2))], {"axis": 0}).output
    y = g.add("Tile", [g.add_constant(np.ones((1, 4), np.float32)), repeats]).output
    assert out_type(g, y).shape == ("N", 8)
    scalar = g.add("Squeeze", [n, g.add_constant(ints_(0))]).output
    r = g.add("Range", [g.add_constant(np.array(0, np.int64)), scalar, g.add_constant(np.array(1, np.int64))]).output
    assert out_type(g, r) == TensorType(DType.INT64, ("N",))


def test_unknown_shape_value_entries_stay_unknown() -> None:
    g, x = sym_graph(("N", 12))
    y = Value(TensorType(DType.INT64, (1,)), "y")
    g.inputs.append(y)
    target = g.add("Concat", [dim_of(g, x, 0, vector=True), y], {"axis": 0}).output
    assert out_type(g, g.add("Reshape", [x, target]).output).shape == ("N", None)


@pytest.mark.parametrize(("op", "attrs", "consts", "want"), [
    ("Transpose", {"perm": [2, 0, 1]}, [], (4, "N", "seq")),
    ("Flatten", {"axis": 1}, [], ("N", None)),
    ("Flatten", {"axis": 2}, [], (None, 4)),
    ("Unsqueeze", {}, [ints_(-1, 1)], ("N", 1, "seq", 4, 1)),
    ("Squeeze", {}, [ints_(-1)], None),  # a dim of 4 cannot be squeezed
    ("Slice", {}, [ints_(0, 1), ints_(I64_MAX, -1)], ("N", None, 4)),
    ("Slice", {}, [ints_(-1), ints_(-I64_MAX), ints_(0), ints_(-1)], ("N", "seq", 4)),
    ("Slice", {}, [ints_(1), ints_(3), ints_(-1)], ("N", "seq", 2)),
    ("Split", {"axis": 2, "num_outputs": 2}, [], (("N", "seq", 2), ("N", "seq", 2))),
    ("Split", {"axis": 1, "num_outputs": 2}, [], (("N", None, 4), ("N", None, 4))),
    ("Pad", {}, [ints_(0, 0, 1, 0, 0, 2)], ("N", "seq", 7)),
    ("Tile", {}, [ints_(1, 3, 2)], ("N", None, 8)),
    ("Expand", {}, [ints_(2, 1, 1, 1)], (2, "N", "seq", 4)),
    ("TopK", {"axis": 1}, [ints_(3)], (("N", 3, 4), ("N", 3, 4))),
    ("Gather", {"axis": 1}, [np.zeros((2, 5), np.int64)], ("N", 2, 5, 4)),
    ("GatherND", {}, [np.zeros((3, 1), np.int64)], (3, "seq", 4)),
    ("OneHot", {}, [np.array(10, np.int64), np.array([0, 1], np.float32)], ("N", "seq", 4, 10)),
    ("CenterCropPad", {"axes": [-1]}, [ints_(6)], ("N", "seq", 6)),
    ("NonZero", {}, [], (3, None)),
    ("Unique", {"axis": 1}, [], (("N", None, 4), (None,), ("seq",), (None,))),
])
def test_symbolic_dims_survive(op: str, attrs: dict[str, Any], consts: list[np.ndarray], want: Any) -> None:
    """Each op applied to f32[N,seq,4]; ``want`` is the output shape(s), None when inference must fail."""
    g, x = sym_graph(("N", "seq", 4))
    n_out = {"Split": 2, "TopK": 2, "Unique": 4}.get(op, 1)
    node = g.add(op, [x, *(g.add_constant(c) for c in consts)], attrs, num_outputs=n_out)
    if want is None:
        with pytest.raises(InferenceError):
            infer_shapes(g, strict=True)
        return
    g.outputs = list(node.outputs)
    infer_shapes(g, strict=True)
    shapes = tuple(v.type.shape for v in node.outputs)
    assert shapes == (want if n_out > 1 else (want,))


def test_concat_sums_static_dims_and_merges_symbols() -> None:
    g = Graph()
    a = Value(TensorType(DType.FLOAT, ("N", 3)), "a")
    b = Value(TensorType(DType.FLOAT, (None, 5)), "b")
    g.inputs.extend([a, b])
    assert out_type(g, g.add("Concat", [a, b], {"axis": 1}).output).shape == ("N", 8)
    assert out_type(g, g.add("Concat", [a, a], {"axis": 0}).output).shape == (None, 3)
    with pytest.raises(InferenceError):
        out_type(g, g.add("Concat", [a, b], {"axis": 0}).output)


def test_gather_of_embedding_and_depth_to_space() -> None:
    g, ids = sym_graph(("N", "seq"), DType.INT64)
    emb = g.add_constant(np.zeros((100, 16), np.float32))
    assert out_type(g, g.add("Gather", [emb, ids]).output).shape == ("N", "seq", 16)
    h, x = sym_graph(("N", 8, "H", 3))
    assert out_type(h, h.add("DepthToSpace", [x], {"blocksize": 2}).output).shape == ("N", 2, None, 6)


def shape_values(g: Graph) -> dict[Value, Any]:
    """Run inference node by node and return the symbolic values it recorded."""
    sym: dict[Value, Any] = {}
    for node in g:
        for out, t in zip(node.outputs, infer_node(node, sym), strict=True):
            out.type = t
    return sym


def test_shape_values_flow_through_gather_slice_concat_squeeze() -> None:
    g, x = sym_graph(("N", "seq", 12, 64))
    shape = g.add("Shape", [x]).output
    last_two = g.add("Slice", [shape, g.add_constant(ints_(-2)), g.add_constant(ints_(I64_MAX))]).output
    picked = g.add("Gather", [shape, g.add_constant(ints_(1, -4))]).output
    first = g.add("Squeeze", [g.add("Gather", [shape, g.add_constant(ints_(0))]).output]).output
    again = g.add("Unsqueeze", [first, g.add_constant(ints_(0))]).output
    joined = g.add("Concat", [again, picked, last_two], {"axis": 0}).output
    flat = g.add("Reshape", [joined, g.add_constant(ints_(-1))]).output
    sym = shape_values(g)
    assert [sym[v] for v in (shape, last_two, picked, first, again, joined, flat)] == [
        ("N", "seq", 12, 64), (12, 64), ("seq", "N"), ("N",), ("N",), ("N", "seq", "N", 12, 64),
        ("N", "seq", "N", 12, 64)]
    assert first.type == TensorType(DType.INT64, ())
    assert flat.type == TensorType(DType.INT64, (5,))


def test_range_over_a_static_dim_has_a_known_value() -> None:
    g, x = sym_graph(("N", 4))
    limit = g.add("Squeeze", [dim_of(g, x, 1, vector=True), g.add_constant(ints_(0))]).output
    r = g.add("Range", [g.add_constant(scalar(0)), limit, g.add_constant(scalar(2))]).output
    sym = shape_values(g)
    assert r.type == TensorType(DType.INT64, (2,)) and sym[r] == (0, 2)


def test_slice_to_a_symbolic_bound() -> None:
    """x[:, :seq] of a static-length buffer (position ids) takes the symbol."""
    g, ids = sym_graph(("N", "seq"), DType.INT64)
    table = g.add_constant(np.arange(512, dtype=np.int64).reshape(1, 512))
    end = dim_of(g, ids, 1, vector=True)
    y = g.add("Slice", [table, g.add_constant(ints_(0)), end, g.add_constant(ints_(1))]).output
    assert out_type(g, y).shape == (1, "seq")


def test_gather_out_of_range_on_a_shape_value_fails() -> None:
    g, x = sym_graph(("N", 3))
    g.add("Gather", [g.add("Shape", [x]).output, g.add_constant(ints_(2))])
    with pytest.raises(InferenceError, match="out of range"):
        infer_shapes(g, strict=True)
