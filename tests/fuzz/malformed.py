"""Hand-built hostile models, by category: each is something a real file in a deployment pipeline could be.

``CASES`` maps ``category/name`` to a function building ``(model, external files beside it)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper

from tests.fuzz.seeds import const, f32, i64, mlp, model

Built = tuple[onnx.ModelProto | bytes, dict[str, bytes]]
Maker = Callable[[], onnx.ModelProto | bytes | Built]
CASES: dict[str, Callable[[], Built]] = {}
BIG = 10**12  # elements: far beyond memory, so materializing it fails loudly


def case(name: str) -> Callable[[Maker], Maker]:
    def register(fn: Maker) -> Maker:
        def build() -> Built:
            made = fn()
            return made if isinstance(made, tuple) else (made, {})

        CASES[name] = build
        return fn
    return register


def one(op: str, inputs: list[str], inits: list[onnx.TensorProto], out_type: onnx.ValueInfoProto | None = None,
        graph_inputs: list[onnx.ValueInfoProto] = (), **attrs: object) -> onnx.ModelProto:  # type: ignore[assignment]
    """A model of one ``op`` node writing ``y``; every input is an initializer unless listed in ``graph_inputs``."""
    node = helper.make_node(op, inputs, ["y"], **attrs)  # type: ignore[arg-type]
    return model([node], list(graph_inputs), [out_type or helper.make_tensor_value_info("y", 0, None)], inits)


def ints(name: str, values: list[int]) -> onnx.TensorProto:
    return const(name, values, np.int64)


# -- graph structure -----------------------------------------------------------------------------------

@case("structure/empty-graph")
def _() -> onnx.ModelProto:
    return model([], [], [])


@case("structure/output-is-input")
def _() -> onnx.ModelProto:
    return model([], [f32("x", [2])], [f32("x", [2])])


@case("structure/output-is-initializer")
def _() -> onnx.ModelProto:
    return model([], [], [f32("c", [2])], [const("c", [1.0, 2.0])])


@case("structure/same-value-two-outputs")
def _() -> onnx.ModelProto:
    return model([helper.make_node("Identity", ["x"], ["y"]), helper.make_node("Identity", ["x"], ["z"])],
                 [f32("x", [2])], [f32("y", [2]), f32("z", [2]), f32("x", [2])])


@case("structure/duplicate-outputs")
def _() -> onnx.ModelProto:
    return model([helper.make_node("Relu", ["x"], ["y"])], [f32("x", [2])], [f32("y", [2]), f32("y", [2])])


@case("structure/cycle")
def _() -> onnx.ModelProto:
    nodes = [helper.make_node("Add", ["x", "b"], ["a"]), helper.make_node("Relu", ["a"], ["b"])]
    return model(nodes, [f32("x", [2])], [f32("b", [2])])


@case("structure/self-loop")
def _() -> onnx.ModelProto:
    return model([helper.make_node("Add", ["x", "y"], ["y"])], [f32("x", [2])], [f32("y", [2])])


@case("structure/cycle-in-subgraph")
def _() -> onnx.ModelProto:
    branch = helper.make_graph([helper.make_node("Neg", ["b"], ["a"]), helper.make_node("Neg", ["a"], ["b"])],
                               "cyclic", [], [f32("b", [2])])
    return model([helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch)],
                 [helper.make_tensor_value_info("c", TensorProto.BOOL, [])], [f32("y", [2])])


@case("structure/undefined-input")
def _() -> onnx.ModelProto:
    return model([helper.make_node("Add", ["x", "ghost"], ["y"])], [f32("x", [2])], [f32("y", [2])])


@case("structure/undefined-output")
def _() -> onnx.ModelProto:
    return model([], [f32("x", [2])], [f32("nowhere", [2])])


@case("structure/nodes-out-of-order")
def _() -> onnx.ModelProto:
    return model([helper.make_node("Neg", ["a"], ["y"]), helper.make_node("Relu", ["x"], ["a"])],
                 [f32("x", [2])], [f32("y", [2])])


@case("structure/dead-nodes-only")
def _() -> onnx.ModelProto:
    return model([helper.make_node("Relu", ["x"], ["dead"])], [f32("x", [2])], [f32("x", [2])])


@case("structure/node-without-outputs")
def _() -> onnx.ModelProto:
    return model([helper.make_node("Relu", ["x"], [])], [f32("x", [2])], [f32("x", [2])])


@case("structure/empty-names")
def _() -> onnx.ModelProto:
    return model([helper.make_node("Relu", ["", ""], ["y"])], [f32("", [2])], [f32("y", [2])])


@case("structure/long-chain")
def _() -> onnx.ModelProto:
    n = 5000  # deep enough to break any recursive walk over producers
    nodes = [helper.make_node("Relu", [f"v{i}"], [f"v{i + 1}"]) for i in range(n)]
    return model(nodes, [f32("v0", [2])], [f32(f"v{n}", [2])])


@case("structure/input-and-initializer-disagree")
def _() -> onnx.ModelProto:
    return model([helper.make_node("Relu", ["x"], ["y"])], [f32("x", [3, 3])], [f32("y", [3, 3])],
                 [const("x", [1.0, 2.0])])


# -- names ---------------------------------------------------------------------------------------------

@case("names/path-separators")
def _() -> onnx.ModelProto:
    nodes = [helper.make_node("MatMul", ["../../x", "/etc/w"], ["..\\h"], name="../../../evil"),
             helper.make_node("Relu", ["..\\h"], ["../out/../../y"], name="/abs/node")]
    m = model(nodes, [f32("../../x", [2, 4])], [f32("../out/../../y", [2, 8])], [const("/etc/w", np.ones((4, 8)))])
    m.graph.name = "../graph"
    return m


@case("names/control-characters")
def _() -> onnx.ModelProto:
    nodes = [helper.make_node("Relu", ["x\0"], ["y\n\t"], name="\x00\x01")]
    return model(nodes, [f32("x\0", [2])], [f32("y\n\t", [2])])


@case("names/not-utf8")
def _() -> bytes:
    good = model([helper.make_node("Relu", ["xx"], ["yy"], name="nn")], [f32("xx", [2])], [f32("yy", [2])])
    return good.SerializeToString().replace(b"Relu", b"R\xfflu").replace(b"nn", b"\xc3(")


@case("names/value-not-utf8")
def _() -> bytes:
    good = model([helper.make_node("Relu", ["xx"], ["yy"])], [f32("xx", [2])], [f32("yy", [2])])
    return good.SerializeToString().replace(b"yy", b"\xff\xfe")


@case("names/huge")
def _() -> onnx.ModelProto:
    big = "n" * 1_000_000
    return model([helper.make_node("Relu", ["x"], [big], name=big)], [f32("x", [2])], [f32(big, [2])])


# -- tensors and declared sizes -----------------------------------------------------------------------

def _tensor(name: str, dtype: int, dims: list[int], raw: bytes | None = None, **fields: object) -> onnx.TensorProto:
    t = TensorProto(name=name, data_type=dtype, dims=dims)
    if raw is not None:
        t.raw_data = raw
    for key, value in fields.items():
        getattr(t, key).extend(value)  # type: ignore[arg-type]
    return t


def _with_initializer(t: onnx.TensorProto) -> onnx.ModelProto:
    return model([helper.make_node("Identity", [t.name], ["y"])], [], [f32("y", None)], [t])


@case("tensors/huge-dims-no-data")
def _() -> onnx.ModelProto:
    return _with_initializer(_tensor("w", TensorProto.FLOAT, [BIG]))


@case("tensors/huge-dims-little-data")
def _() -> onnx.ModelProto:
    return _with_initializer(_tensor("w", TensorProto.FLOAT, [10**6, 10**6], raw=b"\0" * 16))


@case("tensors/huge-dims-float-data")
def _() -> onnx.ModelProto:
    return _with_initializer(_tensor("w", TensorProto.FLOAT, [10**6, 10**6], float_data=[1.0, 2.0]))


@case("tensors/overflowing-dims")
def _() -> onnx.ModelProto:
    return _with_initializer(_tensor("w", TensorProto.FLOAT, [2**62, 2**62, 16], raw=b""))


@case("tensors/negative-dims")
def _() -> onnx.ModelProto:
    return _with_initializer(_tensor("w", TensorProto.FLOAT, [-4], raw=b"\0" * 16))


@case("tensors/minus-one-dim-with-data")
def _() -> onnx.ModelProto:
    return _with_initializer(_tensor("w", TensorProto.FLOAT, [-1, 2], raw=b"\0" * 16))


@case("tensors/two-minus-one-dims")
def _() -> onnx.ModelProto:
    return _with_initializer(_tensor("w", TensorProto.FLOAT, [-1, -1], raw=b"\0" * 4))


@case("tensors/zero-dims-with-data")
def _() -> onnx.ModelProto:
    return _with_initializer(_tensor("w", TensorProto.FLOAT, [0, 3], raw=b"\0" * 16))


@case("tensors/unknown-dtype")
def _() -> onnx.ModelProto:
    return _with_initializer(_tensor("w", 999, [2], raw=b"\0" * 8))


@case("tensors/undefined-dtype")
def _() -> onnx.ModelProto:
    return _with_initializer(_tensor("w", TensorProto.UNDEFINED, [2], raw=b"\0" * 8))


@case("tensors/string-as-raw-data")
def _() -> onnx.ModelProto:
    return _with_initializer(_tensor("w", TensorProto.STRING, [2], raw=b"\0" * 8))


@case("tensors/int4-odd-length")
def _() -> onnx.ModelProto:
    return _with_initializer(_tensor("w", TensorProto.INT4, [7], raw=b"\x12"))


@case("tensors/int32-data-for-float16")
def _() -> onnx.ModelProto:
    return _with_initializer(_tensor("w", TensorProto.FLOAT16, [3], int32_data=[70000, -5, 2**31 - 1]))


@case("tensors/sparse-index-out-of-range")
def _() -> onnx.ModelProto:
    sparse = helper.make_sparse_tensor(const("w", [1.0, 2.0]), ints("w_idx", [0, 99]), [4])
    return model([helper.make_node("Identity", ["w"], ["y"])], [], [f32("y", [4])], sparse_initializer=[sparse])


@case("tensors/sparse-negative-index")
def _() -> onnx.ModelProto:
    sparse = helper.make_sparse_tensor(const("w", [1.0]), ints("w_idx", [-3]), [4])
    return model([helper.make_node("Identity", ["w"], ["y"])], [], [f32("y", [4])], sparse_initializer=[sparse])


@case("tensors/sparse-huge-dense-shape")
def _() -> onnx.ModelProto:
    sparse = helper.make_sparse_tensor(const("w", [1.0]), ints("w_idx", [5]), [BIG])
    return model([helper.make_node("Identity", ["w"], ["y"])], [], [f32("y", None)], sparse_initializer=[sparse])


@case("tensors/sparse-2d-indices-mismatch")
def _() -> onnx.ModelProto:
    idx = const("w_idx", [[0, 1, 2], [1, 1, 1]], np.int64)
    sparse = helper.make_sparse_tensor(const("w", [1.0, 2.0]), idx, [4, 4])
    return model([helper.make_node("Identity", ["w"], ["y"])], [], [f32("y", [4, 4])], sparse_initializer=[sparse])


@case("tensors/constant-node-huge-dims")
def _() -> onnx.ModelProto:
    t = _tensor("", TensorProto.FLOAT, [BIG])
    return model([helper.make_node("Constant", [], ["y"], value=t)], [], [f32("y", None)])


@case("tensors/constant-no-value")
def _() -> onnx.ModelProto:
    return model([helper.make_node("Constant", [], ["y"])], [], [f32("y", None)])


@case("tensors/value-info-contradicts-initializer")
def _() -> onnx.ModelProto:
    m = model([helper.make_node("Add", ["w", "x"], ["y"])], [f32("x", [2])], [f32("y", [7, 7])],
              [const("w", [1.0, 2.0])])
    m.graph.value_info.extend([f32("w", [5, 5, 5]), helper.make_tensor_value_info("x", TensorProto.INT8, [9])])
    return m


@case("tensors/value-info-contradicts-op")
def _() -> onnx.ModelProto:
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])]
    m = model(nodes, [f32("x", [2, 3])], [f32("y", [2, 4])], [const("w", np.ones((3, 4)))])
    m.graph.value_info.append(helper.make_tensor_value_info("h", TensorProto.INT64, [1, 2, 3, 4, 5]))
    return m


@case("tensors/wrong-input-dtype")
def _() -> onnx.ModelProto:
    return model([helper.make_node("Conv", ["x", "w"], ["y"])],
                 [helper.make_tensor_value_info("x", TensorProto.STRING, [1, 1, 3, 3])], [f32("y", None)],
                 [const("w", np.ones((1, 1, 1, 1)))])


@case("tensors/mixed-dtypes-folding")
def _() -> onnx.ModelProto:
    return one("Add", ["a", "b"], [const("a", [1.0]), ints("b", [2])])


@case("tensors/cast-to-invalid-dtype")
def _() -> onnx.ModelProto:
    return one("Cast", ["a"], [const("a", [1.0])], to=12345)


@case("tensors/value-info-unknown-dtype")
def _() -> onnx.ModelProto:
    return model([helper.make_node("Relu", ["x"], ["y"])], [helper.make_tensor_value_info("x", 77, [2])],
                 [helper.make_tensor_value_info("y", 77, [2])])


@case("tensors/value-info-huge-dims")
def _() -> onnx.ModelProto:
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("ConstantOfShape", ["s"], ["y"])]
    return model(nodes, [f32("x", [BIG, BIG])], [f32("y", None)])


# -- folding must not materialize huge constants -------------------------------------------------------

@case("folding/constant-of-shape")
def _() -> onnx.ModelProto:
    return one("ConstantOfShape", ["s"], [ints("s", [10**6, 10**6])])


@case("folding/constant-of-shape-lying-value-info")
def _() -> onnx.ModelProto:
    return one("ConstantOfShape", ["s"], [ints("s", [10**6, 10**6])], f32("y", [1]))


@case("folding/constant-of-shape-negative")
def _() -> onnx.ModelProto:
    return one("ConstantOfShape", ["s"], [ints("s", [-1, 10])])


@case("folding/expand")
def _() -> onnx.ModelProto:
    return one("Expand", ["a", "s"], [const("a", [1.0]), ints("s", [10**6, 10**6])])


@case("folding/expand-lying-value-info")
def _() -> onnx.ModelProto:
    return one("Expand", ["a", "s"], [const("a", [1.0]), ints("s", [10**6, 10**6])], f32("y", [1, 1]))


@case("folding/tile")
def _() -> onnx.ModelProto:
    return one("Tile", ["a", "r"], [const("a", [[1.0]]), ints("r", [10**6, 10**6])])


@case("folding/range")
def _() -> onnx.ModelProto:
    return one("Range", ["a", "b", "d"], [ints("a", 0), ints("b", BIG), ints("d", 1)])  # type: ignore[arg-type]


@case("folding/range-zero-delta")
def _() -> onnx.ModelProto:
    return one("Range", ["a", "b", "d"], [ints("a", 0), ints("b", 10), ints("d", 0)])  # type: ignore[arg-type]


@case("folding/range-lying-value-info")
def _() -> onnx.ModelProto:
    return one("Range", ["a", "b", "d"], [const("a", 0.0), const("b", 1e12), const("d", 1.0)], f32("y", [3]))


@case("folding/broadcast-add")
def _() -> onnx.ModelProto:
    return one("Add", ["a", "b"], [const("a", np.ones((20000, 1))), const("b", np.ones((1, 20000)))])


@case("folding/pad")
def _() -> onnx.ModelProto:
    return one("Pad", ["a", "p"], [const("a", [1.0]), ints("p", [10**11, 10**11])])


@case("folding/resize")
def _() -> onnx.ModelProto:
    return one("Resize", ["a", "", "s"], [const("a", np.ones((1, 1, 2, 2))), const("s", [1.0, 1.0, 1e6, 1e6])])


@case("folding/one-hot")
def _() -> onnx.ModelProto:
    return one("OneHot", ["i", "d", "v"], [ints("i", [0, 1]), ints("d", [BIG]), const("v", [0.0, 1.0])])


@case("folding/concat-from-sequence")
def _() -> onnx.ModelProto:
    nodes = [helper.make_node("SequenceConstruct", ["a"] * 64, ["s"]),
             helper.make_node("ConcatFromSequence", ["s"], ["y"], axis=0, new_axis=1)]
    return model(nodes, [], [f32("y", None)], [const("a", np.ones((128, 128)))])


@case("folding/loop-huge-trip-count")
def _() -> onnx.ModelProto:
    body = helper.make_graph(
        [helper.make_node("Identity", ["c"], ["c_out"]), helper.make_node("Add", ["acc", "one"], ["acc_out"])],
        "body", [i64("i", []), helper.make_tensor_value_info("c", TensorProto.BOOL, []), f32("acc", [])],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []), f32("acc_out", [])])
    return model([helper.make_node("Loop", ["n", "", "zero"], ["y"], body=body)], [], [f32("y", [])],
                 [ints("n", BIG), const("zero", 0.0), const("one", 1.0)])  # type: ignore[arg-type]


@case("folding/loop-growing-scan-output")
def _() -> onnx.ModelProto:
    body = helper.make_graph(
        [helper.make_node("Identity", ["c"], ["c_out"]), helper.make_node("Identity", ["row"], ["scan"])],
        "body", [i64("i", []), helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []), f32("scan", [4096])])
    return model([helper.make_node("Loop", ["n", ""], ["y"], body=body)], [], [f32("y", None)],
                 [ints("n", 10**6), const("row", np.ones(4096))])  # type: ignore[arg-type]


@case("folding/matmul-broadcast")
def _() -> onnx.ModelProto:
    return one("MatMul", ["a", "b"], [const("a", np.ones((4000, 1, 64, 1))), const("b", np.ones((4000, 1, 64)))])


@case("folding/einsum-outer")
def _() -> onnx.ModelProto:
    return one("Einsum", ["a", "b"], [const("a", np.ones(30000)), const("b", np.ones(30000))], equation="i,j->ij")


@case("folding/eye-like")
def _() -> onnx.ModelProto:
    nodes = [helper.make_node("ConstantOfShape", ["s"], ["z"]), helper.make_node("EyeLike", ["z"], ["y"])]
    return model(nodes, [], [f32("y", None)], [ints("s", [10**5, 10**5])])


@case("folding/upsample-old-opset")
def _() -> onnx.ModelProto:
    m = one("Upsample", ["a", "s"], [const("a", np.ones((1, 1, 2, 2))), const("s", [1.0, 1.0, 1e6, 1e6])])
    m.opset_import[0].version = 9
    return m


@case("folding/reshape-inconsistent")
def _() -> onnx.ModelProto:
    return one("Reshape", ["a", "s"], [const("a", np.ones(6)), ints("s", [10**6, 10**6])])


@case("folding/compress-tile-chain")
def _() -> onnx.ModelProto:
    nodes = [helper.make_node("Tile", ["a", "r"], ["t"]), helper.make_node("Tile", ["t", "r"], ["t2"]),
             helper.make_node("Tile", ["t2", "r"], ["y"])]
    return model(nodes, [], [f32("y", None)], [const("a", np.ones(64)), ints("r", [1024])])


@case("folding/mul-by-zero-huge-input")
def _() -> onnx.ModelProto:
    return model([helper.make_node("Mul", ["x", "zero"], ["y"])], [i64("x", [10**6, 10**6])], [i64("y", None)],
                 [ints("zero", [0])])


@case("folding/rms-norm-huge-normalized-dims")
def _() -> onnx.ModelProto:
    """A written-out RMSNorm over a 1e12-element last axis: the rewrite to the op must not build its scale."""
    nodes = [helper.make_node("Mul", ["x", "x"], ["sq"]), helper.make_node("ReduceMean", ["sq", "axes"], ["ms"]),
             helper.make_node("Add", ["ms", "eps"], ["mse"]), helper.make_node("Sqrt", ["mse"], ["rms"]),
             helper.make_node("Div", ["x", "rms"], ["y"])]
    return model(nodes, [f32("x", [1, BIG])], [f32("y", [1, BIG])], [ints("axes", [-1]), const("eps", 1e-6)],
                 opset=18)


# -- attributes ---------------------------------------------------------------------------------------

@case("attributes/huge-int-list")
def _() -> onnx.ModelProto:
    return model([helper.make_node("Transpose", ["x"], ["y"], perm=list(range(200_000)))],
                 [f32("x", [2, 3])], [f32("y", None)])


@case("attributes/huge-pads")
def _() -> onnx.ModelProto:
    return model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[2**62] * 4)],
                 [f32("x", [1, 1, 3, 3])], [f32("y", None)], [const("w", np.ones((1, 1, 1, 1)))])


@case("attributes/many-attributes")
def _() -> onnx.ModelProto:
    node = helper.make_node("Relu", ["x"], ["y"])
    node.attribute.extend(helper.make_attribute(f"a{i}", i) for i in range(50_000))
    return model([node], [f32("x", [2])], [f32("y", [2])])


@case("attributes/wrong-type")
def _() -> onnx.ModelProto:
    node = helper.make_node("Softmax", ["x"], ["y"])
    node.attribute.append(helper.make_attribute("axis", "minus one"))
    return model([node], [f32("x", [2])], [f32("y", [2])])


@case("attributes/undefined-type")
def _() -> onnx.ModelProto:
    node = helper.make_node("Gemm", ["x", "x"], ["y"])
    node.attribute.append(onnx.AttributeProto(name="alpha", type=onnx.AttributeProto.UNDEFINED))
    return model([node], [f32("x", [2, 2])], [f32("y", [2, 2])])


@case("attributes/out-of-range-axis")
def _() -> onnx.ModelProto:
    return model([helper.make_node("Concat", ["x", "x"], ["y"], axis=2**40)], [f32("x", [2])], [f32("y", None)])


@case("attributes/transpose-bad-perm")
def _() -> onnx.ModelProto:
    return one("Transpose", ["a"], [const("a", np.ones((2, 3)))], perm=[0, 0])


@case("attributes/conv-zero-stride")
def _() -> onnx.ModelProto:
    return model([helper.make_node("Conv", ["x", "w"], ["y"], strides=[0, 0])],
                 [f32("x", [1, 1, 3, 3])], [f32("y", None)], [const("w", np.ones((1, 1, 1, 1)))])


# -- subgraphs ----------------------------------------------------------------------------------------

def _nested_ifs(depth: int) -> onnx.ModelProto:
    """``depth`` Ifs, each in the then-branch of the one before (built in place: helper would copy each level)."""
    m = model([], [helper.make_tensor_value_info("c", TensorProto.BOOL, []), f32("x", [2])], [f32("o0", [2])])
    g = m.graph
    for level in range(depth):
        node = g.node.add(op_type="If", input=["c"], output=[f"o{level}"])
        other = node.attribute.add(name="else_branch", type=onnx.AttributeProto.GRAPH)
        other.g.name = f"else{level}"
        other.g.output.append(f32("x", [2]))
        then = node.attribute.add(name="then_branch", type=onnx.AttributeProto.GRAPH)
        g = then.g
        g.name = f"then{level}"
        g.output.append(f32(f"o{level + 1}", [2]))
    g.node.append(helper.make_node("Neg", ["x"], [f"o{depth}"]))
    return m


@case("subgraphs/if-nested-500")
def _() -> onnx.ModelProto:
    return _nested_ifs(500)


@case("subgraphs/if-nested-30")
def _() -> onnx.ModelProto:
    return _nested_ifs(30)  # about as deep as protobuf parses from a file (its limit is 100 message levels)


@case("subgraphs/if-constant-condition")
def _() -> onnx.ModelProto:
    then_g = helper.make_graph([helper.make_node("Neg", ["x"], ["t"])], "then", [], [f32("t", [2])])
    else_g = helper.make_graph([], "else", [], [f32("x", [2])])
    return model([helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
                 [f32("x", [2])], [f32("y", [2])], [const("c", True, np.bool_)])


@case("subgraphs/if-branches-disagree")
def _() -> onnx.ModelProto:
    then_g = helper.make_graph([helper.make_node("Neg", ["x"], ["t"])], "then", [], [f32("t", [2])])
    else_g = helper.make_graph([helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Neg", ["x"], ["u"])],
                               "else", [], [i64("s", [1]), f32("u", [2])])
    return model([helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
                 [f32("x", [2])], [f32("y", None)], [const("c", False, np.bool_)])


@case("subgraphs/loop-body-wrong-arity")
def _() -> onnx.ModelProto:
    body = helper.make_graph([helper.make_node("Neg", ["x"], ["z"])], "body", [], [f32("z", [2])])
    return model([helper.make_node("Loop", ["n", "", "x"], ["y"], body=body)], [f32("x", [2])], [f32("y", [2])],
                 [ints("n", 3)])  # type: ignore[arg-type]


@case("subgraphs/subgraph-shadows-outer-name")
def _() -> onnx.ModelProto:
    branch = helper.make_graph([helper.make_node("Neg", ["x"], ["x"])], "shadow", [], [f32("x", [2])])
    return model([helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch)],
                 [f32("x", [2]), helper.make_tensor_value_info("c", TensorProto.BOOL, [])], [f32("y", [2])])


@case("subgraphs/graph-attribute-on-plain-op")
def _() -> onnx.ModelProto:
    node = helper.make_node("Relu", ["x"], ["y"])
    node.attribute.append(helper.make_attribute("body", helper.make_graph([], "b", [], [])))
    return model([node], [f32("x", [2])], [f32("y", [2])])


@case("subgraphs/custom-op-with-subgraph")
def _() -> onnx.ModelProto:
    body = helper.make_graph([helper.make_node("Neg", ["x"], ["z"])], "body", [], [f32("z", [2])])
    m = model([helper.make_node("Mystery", ["x"], ["y"], domain="com.example", body=body)],
              [f32("x", [2])], [f32("y", [2])])
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    return m


@case("subgraphs/recursive-local-function")
def _() -> onnx.ModelProto:
    fn = helper.make_function("local", "F", ["a"], ["b"], [helper.make_node("F", ["a"], ["b"], domain="local")],
                              [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)])
    m = model([helper.make_node("F", ["x"], ["y"], domain="local")], [f32("x", [2])], [f32("y", [2])])
    m.opset_import.append(helper.make_opsetid("local", 1))
    m.functions.append(fn)
    return m


@case("subgraphs/mutually-recursive-functions")
def _() -> onnx.ModelProto:
    ids = [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]
    f = helper.make_function("local", "F", ["a"], ["b"], [helper.make_node("G", ["a"], ["b"], domain="local")], ids)
    g = helper.make_function("local", "G", ["a"], ["b"], [helper.make_node("F", ["a"], ["b"], domain="local")], ids)
    m = model([helper.make_node("F", ["x"], ["y"], domain="local")], [f32("x", [2])], [f32("y", [2])])
    m.opset_import.append(helper.make_opsetid("local", 1))
    m.functions.extend([f, g])
    return m


# -- opsets and versions ------------------------------------------------------------------------------

@case("opsets/future-opset")
def _() -> onnx.ModelProto:
    m = mlp()
    m.opset_import[0].version = 10**6
    return m


@case("opsets/no-opset-import")
def _() -> onnx.ModelProto:
    m = mlp()
    del m.opset_import[:]
    return m


@case("opsets/duplicate-opset-import")
def _() -> onnx.ModelProto:
    m = mlp()
    m.opset_import.append(helper.make_opsetid("", 9))
    return m


@case("opsets/ir-version-zero")
def _() -> onnx.ModelProto:
    m = mlp()
    m.ir_version = 0
    return m


@case("opsets/unknown-op")
def _() -> onnx.ModelProto:
    return model([helper.make_node("NoSuchOp", ["x"], ["y"])], [f32("x", [2])], [f32("y", [2])])


@case("opsets/unknown-domain")
def _() -> onnx.ModelProto:
    return model([helper.make_node("Relu", ["x"], ["y"], domain="com.nowhere")], [f32("x", [2])], [f32("y", [2])])


@case("opsets/ml-domain")
def _() -> onnx.ModelProto:
    m = model([helper.make_node("Normalizer", ["x"], ["y"], domain="ai.onnx.ml", norm="L2")],
              [f32("x", [2, 3])], [f32("y", [2, 3])])
    m.opset_import.append(helper.make_opsetid("ai.onnx.ml", 3))
    return m


# -- external data -----------------------------------------------------------------------------------

def _external(location: str, offset: int | str = 0, length: int | str | None = 16, dims: list[int] = (4,),  # type: ignore[assignment]
              files: dict[str, bytes] | None = None) -> Built:
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=dims, data_location=TensorProto.EXTERNAL)
    t.external_data.add(key="location", value=location)
    t.external_data.add(key="offset", value=str(offset))
    if length is not None:
        t.external_data.add(key="length", value=str(length))
    m = model([helper.make_node("Add", ["x", "w"], ["y"])], [f32("x", list(dims))], [f32("y", list(dims))], [t])
    return m, files if files is not None else {"weights.bin": np.arange(4, dtype=np.float32).tobytes()}


@case("external/valid")
def _() -> Built:
    return _external("weights.bin")


@case("external/parent-directory")
def _() -> Built:
    return _external("../out/O0.onnx")


@case("external/absolute-path")
def _() -> Built:
    return _external("/etc/passwd")


@case("external/missing-file")
def _() -> Built:
    return _external("nowhere.bin")


@case("external/directory")
def _() -> Built:
    return _external("sub", files={"sub/inner.bin": b"\0" * 16})


@case("external/offset-past-end")
def _() -> Built:
    return _external("weights.bin", offset=10**9)


@case("external/short-file")
def _() -> Built:
    return _external("weights.bin", dims=[1000])


@case("external/negative-offset")
def _() -> Built:
    return _external("weights.bin", offset=-8)


@case("external/non-numeric-offset")
def _() -> Built:
    return _external("weights.bin", offset="sixteen", length="lots")


@case("external/length-disagrees")
def _() -> Built:
    return _external("weights.bin", length=4)


@case("external/huge-dims")
def _() -> Built:
    return _external("weights.bin", dims=[BIG], length=None)


@case("external/nul-in-location")
def _() -> Built:
    return _external("weights.bin\0../../etc/passwd")


@case("external/empty-location")
def _() -> Built:
    return _external("")
