"""If, Loop, Scan, sequences and optionals: backend cases, onnxruntime on subgraph models, shape inference."""

from __future__ import annotations

import glob
import os
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper
from onnx.helper import (
    make_graph,
    make_model,
    make_node,
    make_opsetid,
    make_tensor,
    make_tensor_sequence_value_info,
    make_tensor_value_info,
    make_value_info,
)

from graphopt.frontends.onnx import from_onnx
from graphopt.ir import DType, Graph, OptionalType, SequenceType, TensorType, Value, evaluate, infer_shapes
from graphopt.ir.types import Type
from tests.backend_cases import node_cases, outputs_match, run_ort
from tests.ir.op_check import assert_close

OPS = {
    "If", "Loop", "Scan", "SequenceAt", "SequenceConstruct", "SequenceEmpty", "SequenceErase", "SequenceInsert",
    "SequenceLength", "SequenceMap", "SplitToSequence", "ConcatFromSequence", "Optional", "OptionalGetElement",
    "OptionalHasElement",
}
F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
RNG = np.random.default_rng(0)


# -- backend cases ---------------------------------------------------------------------------


def _ops(graph: onnx.GraphProto) -> set[str]:
    found = set()
    for n in graph.node:
        found.add(n.op_type)
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                found |= _ops(a.g)
    return found


def _load_pb(path: str, type_proto: onnx.TypeProto) -> Any:
    with open(path, "rb") as f:
        data = f.read()
    which = type_proto.WhichOneof("value")
    proto = {"sequence_type": onnx.SequenceProto, "optional_type": onnx.OptionalProto}.get(which, onnx.TensorProto)()
    proto.ParseFromString(data)
    if which == "sequence_type":
        return numpy_helper.to_list(proto)
    return numpy_helper.to_optional(proto) if which == "optional_type" else numpy_helper.to_array(proto)


def _simple_case(model_dir: str) -> tuple[onnx.ModelProto, list[tuple[list[Any], list[Any]]]]:
    """A model of the 'simple' backend kind with its data sets (the node kind keeps them in memory)."""
    model = onnx.load(os.path.join(model_dir, "model.onnx"))
    inits = {i.name for i in model.graph.initializer}
    ins = [i for i in model.graph.input if i.name not in inits]
    sets = []
    for d in sorted(glob.glob(os.path.join(model_dir, "test_data_set_*"))):
        sets.append(([_load_pb(os.path.join(d, f"input_{i}.pb"), v.type) for i, v in enumerate(ins)],
                     [_load_pb(os.path.join(d, f"output_{i}.pb"), v.type) for i, v in enumerate(model.graph.output)]))
    return model, sets


def _cases() -> list[Any]:
    from onnx.backend.test.loader import load_model_tests

    found = [(c.name, lambda c=c: (c.model, c.data_sets), c.rtol, c.atol)
             for c in node_cases() if _ops(c.model.graph) & OPS]
    found += [(c.name, lambda c=c: _simple_case(c.model_dir), c.rtol, c.atol)
              for c in load_model_tests(kind="simple") if c.name.startswith("test_sequence_model")]
    return [pytest.param(*f[1:], id=f[0]) for f in found]


@pytest.mark.parametrize(("load", "rtol", "atol"), _cases())
def test_backend_case(load: Any, rtol: float, atol: float) -> None:
    model, data_sets = load()
    graph = from_onnx(model)
    infer_shapes(graph, strict=True)
    names = [v.name for v in graph.inputs if v not in graph.input_defaults]
    for inputs, expected in data_sets:
        actual = evaluate(graph, dict(zip(names, inputs, strict=True)))
        _assert_same(actual, expected, rtol, atol)
        for value, out in zip(actual, graph.outputs, strict=True):
            _assert_fits(out.type, value)


def _assert_fits(t: Type, value: Any) -> None:
    """``value`` is one of the values type ``t`` describes."""
    if isinstance(t, OptionalType):
        if value is not None:
            _assert_fits(t.elem, value)
    elif isinstance(t, SequenceType):
        assert isinstance(value, list), f"{t} but got {type(value).__name__}"
        for item in value:
            _assert_fits(t.elem, item)
    else:
        assert isinstance(t, TensorType) and t.dtype == DType.from_numpy(value.dtype), f"{t} but got {value.dtype}"
        assert _fits(t, value), f"{t} but got shape {value.shape}"


def _assert_same(actual: list[Any], expected: list[Any], rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Values match (tensors, sequences, optionals) and every tensor has the expected dtype."""
    assert outputs_match(actual, expected, rtol, atol), f"got {actual}, expected {expected}"
    for a, e in zip(actual, expected, strict=True):
        if isinstance(e, list):
            _assert_same(a, e, rtol, atol)
        elif e is not None:
            assert np.asarray(a).dtype == np.asarray(e).dtype, f"dtype {np.asarray(a).dtype}, expected {e.dtype}"


# -- onnxruntime on hand-built subgraph models -----------------------------------------------


def _tensor(name: str, elem: int = F, shape: list[Any] | None = None) -> onnx.ValueInfoProto:
    return make_tensor_value_info(name, elem, shape)


def _model(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto], outputs: list[str],
           initializers: list[onnx.TensorProto] = ()) -> onnx.ModelProto:  # type: ignore[assignment]
    graph = make_graph(nodes, "g", inputs, [make_value_info(o, onnx.TypeProto()) for o in outputs],
                       initializer=list(initializers))
    return make_model(graph, ir_version=10, opset_imports=[make_opsetid("", 25)])


def _check_ort(model: onnx.ModelProto, feeds: dict[str, Any]) -> tuple[Graph, list[Any]]:
    """graphopt agrees with onnxruntime on ``model``; returns the typed graph and graphopt's outputs."""
    graph = from_onnx(model)
    infer_shapes(graph, strict=True)
    ours = evaluate(graph, feeds)
    _assert_same(ours, run_ort(model, [feeds[i.name] for i in model.graph.input]))
    return graph, ours


def _scalar(name: str, value: Any, elem: int) -> onnx.NodeProto:
    return make_node("Constant", [], [name], value=make_tensor(name, elem, [], [value]))


@pytest.mark.parametrize("cond", [True, False])
def test_if_reads_outer_values_and_picks_a_branch(cond: bool) -> None:
    then = make_graph([make_node("Add", ["x", "y"], ["t"])], "then", [], [_tensor("t")])
    other = make_graph([make_node("Mul", ["x", "x"], ["e"]), make_node("SequenceConstruct", ["e", "y"], ["s"]),
                        make_node("ConcatFromSequence", ["s"], ["c"], axis=0)], "else", [], [_tensor("c")])
    model = _model([make_node("If", ["cond"], ["out"], then_branch=then, else_branch=other)],
                   [_tensor("cond", B, []), _tensor("x", F, [2, 3]), _tensor("y", F, [2, 3])], ["out"])
    x, y = RNG.standard_normal((2, 3)).astype(np.float32), RNG.standard_normal((2, 3)).astype(np.float32)
    graph, (out,) = _check_ort(model, {"cond": np.array(cond), "x": x, "y": y})
    assert graph.outputs[0].type == TensorType(DType.FLOAT, (None, 3))  # (2, 3) joined with (4, 3)


def _loop_body(exit_at: int | None) -> onnx.GraphProto:
    """Carries a running sum and a sequence; scans i * scale (outer value); stops once i == exit_at."""
    nodes = [
        make_node("Cast", ["i"], ["fi"], to=F),
        make_node("Mul", ["fi", "scale"], ["step"]),
        make_node("Add", ["acc_in", "step"], ["acc_out"]),
        make_node("SequenceInsert", ["seq_in", "acc_out"], ["seq_out"]),
        make_node("Identity", ["step"], ["scanned"]),
    ]
    if exit_at is None:
        nodes.append(make_node("Identity", ["cond_in"], ["cond_out"]))
    else:
        nodes += [_scalar("stop", exit_at, I64), make_node("Equal", ["i", "stop"], ["done"]),
                  make_node("Not", ["done"], ["cond_out"])]
    return make_graph(nodes, "body",
                      [_tensor("i", I64, []), _tensor("cond_in", B, []), _tensor("acc_in", F, [2]),
                       make_tensor_sequence_value_info("seq_in", F, [2])],
                      [_tensor("cond_out", B, []), _tensor("acc_out", F, [2]),
                       make_tensor_sequence_value_info("seq_out", F, None), _tensor("scanned", F, [2])])


@pytest.mark.parametrize(("trip", "cond", "exit_at"), [
    (5, True, None), (5, True, 2), (0, True, None), (4, None, 1), (None, True, 3), (3, False, None),
])
def test_loop_matches_ort(trip: int | None, cond: bool | None, exit_at: int | None) -> None:
    inputs = [_tensor("acc", F, [2]), _tensor("scale", F, [2])]
    names = ["", "", "acc", "seq"]
    feeds: dict[str, Any] = {"acc": np.array([1, 2], np.float32), "scale": np.array([0.5, -1], np.float32)}
    if trip is not None:
        inputs.append(_tensor("trip", I64, []))
        names[0], feeds["trip"] = "trip", np.array(trip, np.int64)
    if cond is not None:
        inputs.append(_tensor("cond", B, []))
        names[1], feeds["cond"] = "cond", np.array(cond)
    nodes = [make_node("SequenceEmpty", [], ["seq"], dtype=F),
             make_node("Loop", names, ["acc_final", "seq_final", "scans"], body=_loop_body(exit_at)),
             make_node("SequenceLength", ["seq_final"], ["count"])]
    graph, _ = _check_ort(_model(nodes, inputs, ["acc_final", "seq_final", "scans", "count"]), feeds)
    assert graph.outputs[0].type == TensorType(DType.FLOAT, (2,))
    assert graph.outputs[1].type == SequenceType(TensorType(DType.FLOAT, None))  # joined with the empty start


def test_loop_scan_outputs_get_the_trip_count_when_it_is_constant() -> None:
    for exit_at, dim in ((None, 6), (2, None)):
        body = _loop_body(exit_at)
        nodes = [_scalar("trip", 6, I64), _scalar("cond", True, B), make_node("SequenceEmpty", [], ["seq"], dtype=F),
                 make_node("Loop", ["trip", "cond", "acc", "seq"], ["a", "s", "scans"], body=body)]
        graph = from_onnx(_model(nodes, [_tensor("acc", F, [2]), _tensor("scale", F, [2])], ["a", "s", "scans"]))
        infer_shapes(graph, strict=True)
        assert graph.outputs[2].type == TensorType(DType.FLOAT, (dim, 2))


def test_scan_matches_ort_with_axes_and_directions() -> None:
    body = make_graph(
        [make_node("Add", ["s1", "a"], ["s1_out"]), make_node("Mul", ["s2", "b"], ["s2_out"]),
         make_node("Sub", ["s1_out", "b"], ["y1"]), make_node("Identity", ["s2_out"], ["y2"])],
        "body", [_tensor("s1", F, [3]), _tensor("s2", F, [3]), _tensor("a", F, [3]), _tensor("b", F, [3])],
        [_tensor("s1_out", F, [3]), _tensor("s2_out", F, [3]), _tensor("y1", F, [3]), _tensor("y2", F, [3])])
    scan = make_node("Scan", ["i1", "i2", "x1", "x2"], ["f1", "f2", "o1", "o2"], body=body, num_scan_inputs=2,
                     scan_input_axes=[0, 1], scan_input_directions=[0, 1],
                     scan_output_axes=[0, -1], scan_output_directions=[1, 0])
    model = _model([scan], [_tensor("i1", F, [3]), _tensor("i2", F, [3]), _tensor("x1", F, ["T", 3]),
                            _tensor("x2", F, [3, "T"])], ["f1", "f2", "o1", "o2"])
    feeds = {"i1": np.zeros(3, np.float32), "i2": np.ones(3, np.float32),
             "x1": RNG.standard_normal((4, 3)).astype(np.float32), "x2": RNG.standard_normal((3, 4)).astype(np.float32)}
    graph, _ = _check_ort(model, feeds)
    assert [v.type.shape for v in graph.outputs] == [(3,), (3,), ("T", 3), (3, "T")]


@pytest.mark.parametrize(("split", "attrs"), [
    (None, {"axis": 1}), (None, {"axis": -1, "keepdims": 0}), (np.array(2, np.int64), {"axis": 1}),
    (np.array([1, 3, 1], np.int64), {"axis": 1}), (np.array([2, 1], np.int64), {"axis": 0}),
])
def test_sequence_ops_match_ort(split: np.ndarray | None, attrs: dict[str, int]) -> None:
    inits = [] if split is None else [numpy_helper.from_array(split, "split")]
    nodes = [
        make_node("SplitToSequence", ["x"] + ([] if split is None else ["split"]), ["parts"], **attrs),
        make_node("SequenceInsert", ["parts", "x"], ["with_x"]),
        make_node("SequenceErase", ["with_x", "pos"], ["erased"]),
        make_node("SequenceAt", ["erased", "pos"], ["at"]),
        make_node("SequenceLength", ["erased"], ["n"]),
        make_node("SequenceConstruct", ["at", "at"], ["pair"]),
        make_node("ConcatFromSequence", ["pair"], ["stacked"], axis=-1, new_axis=1),
    ]
    model = _model(nodes, [_tensor("x", F, [3, 5]), _tensor("pos", I64, [])], ["erased", "n", "stacked"], inits)
    feeds = {"x": RNG.standard_normal((3, 5)).astype(np.float32), "pos": np.array(-2, np.int64)}
    graph, (erased, _, _) = _check_ort(model, feeds)
    assert graph.outputs[1].type == TensorType(DType.INT64, ())
    _assert_fits(graph.outputs[0].type, erased)


def _fits(t: Type, value: np.ndarray) -> bool:
    assert isinstance(t, TensorType)
    if t.shape is None:
        return True
    return len(t.shape) == value.ndim and all(not isinstance(d, int) or d == n
                                              for d, n in zip(t.shape, value.shape, strict=True))


def test_sequence_map_with_extra_inputs_matches_ort() -> None:
    body = make_graph([make_node("Add", ["a", "b"], ["sum"]), make_node("Shape", ["a"], ["shape"])], "body",
                      [_tensor("a", F, None), _tensor("b", F, None)], [_tensor("sum"), _tensor("shape", I64)])
    nodes = [make_node("SplitToSequence", ["x"], ["seq"], axis=0),
             make_node("SequenceMap", ["seq", "bias"], ["sums", "shapes"], body=body)]
    model = _model(nodes, [_tensor("x", F, [4, 3]), _tensor("bias", F, [3])], ["sums", "shapes"])
    feeds = {"x": RNG.standard_normal((4, 3)).astype(np.float32), "bias": np.arange(3, dtype=np.float32)}
    graph, _ = _check_ort(model, feeds)
    assert graph.outputs[0].type == SequenceType(TensorType(DType.FLOAT, (1, 3)))


@pytest.mark.parametrize("present", [True, False])
def test_optionals_match_ort(present: bool) -> None:
    opt_type = onnx.helper.make_tensor_type_proto(F, [2])
    then = make_graph([make_node("Optional", ["x"], ["full"])], "then", [],
                      [make_value_info("full", onnx.helper.make_optional_type_proto(opt_type))])
    other = make_graph([make_node("Optional", [], ["empty"], type=opt_type)], "else", [],
                       [make_value_info("empty", onnx.helper.make_optional_type_proto(opt_type))])
    nodes = [make_node("If", ["cond"], ["opt"], then_branch=then, else_branch=other),
             make_node("OptionalHasElement", ["opt"], ["has"])]
    model = _model(nodes, [_tensor("cond", B, []), _tensor("x", F, [2])], ["has"])
    graph, (has,) = _check_ort(model, {"cond": np.array(present), "x": np.ones(2, np.float32)})
    assert bool(has) is present
    assert graph.nodes[0].outputs[0].type == OptionalType(TensorType(DType.FLOAT, (2,)))


def test_empty_optional_passes_through_a_loop_as_state() -> None:
    """An empty optional as the last loop-carried value must not be mistaken for an omitted input."""
    g, body = Graph(), Graph(name="body")
    i, c, state = (Value(TensorType(DType.INT64, ())), Value(TensorType(DType.BOOL, ())), Value())
    body.inputs = [i, c, state]
    body.outputs = [c, state]
    opt = g.add("Optional", [], {"type": TensorType(DType.FLOAT, (2,))})
    trip = g.add_constant(np.array(3, np.int64))
    loop = g.add("Loop", [trip, None, opt.output], {"body": body})
    has = g.add("OptionalHasElement", [loop.output])
    g.outputs = [has.output]
    infer_shapes(g, strict=True)
    assert loop.output.type == OptionalType(TensorType(DType.FLOAT, (2,)))
    assert evaluate(g, {}) == [np.array(False)]


def test_subgraph_inputs_without_types_get_them_from_the_node() -> None:
    g, body = Graph(), Graph(name="body")
    x = Value(TensorType(DType.FLOAT, ("N", 4)), "x")
    g.inputs = [x]
    s, a = Value(None, "s"), Value(None, "a")
    body.inputs = [s, a]
    add = body.add("Add", [s, a])
    body.outputs = [add.output, add.output]
    init = g.add("ReduceSum", [x, g.add_constant(np.array([0], np.int64))], {"keepdims": 0})
    scan = g.add("Scan", [init.output, x], {"body": body, "num_scan_inputs": 1}, num_outputs=2)
    g.outputs = list(scan.outputs)  # type: ignore[arg-type]
    infer_shapes(g, strict=True)
    assert a.type == TensorType(DType.FLOAT, (4,))
    assert [v.type for v in scan.outputs] == [TensorType(DType.FLOAT, (4,)), TensorType(DType.FLOAT, ("N", 4))]
    data = RNG.standard_normal((3, 4)).astype(np.float32)
    final, running = evaluate(g, [data])
    assert_close(running, np.cumsum(data, 0) + data.sum(0), 1e-5, 1e-5)
    assert_close(final, running[-1], 1e-6, 1e-6)


def test_if_with_a_constant_condition_takes_its_branch_type() -> None:
    g, then, other = Graph(), Graph(name="then"), Graph(name="else")
    x = Value(TensorType(DType.FLOAT, ("N", 3)), "x")
    g.inputs = [x]
    then.outputs = [x]
    other.outputs = [other.add("Concat", [x, x], {"axis": 0}).output]
    for cond, shape in ((True, ("N", 3)), (False, (None, 3))):
        node = g.add("If", [g.add_constant(np.array(cond))], {"then_branch": then, "else_branch": other})
        infer_shapes(g, strict=True)
        assert node.output.type == TensorType(DType.FLOAT, shape)
