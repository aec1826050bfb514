"""The IR's text form: printer, parser and structural equality."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable

import ml_dtypes
import numpy as np
import pytest

from graphopt.errors import ParseError
from graphopt.ir import (
    ArrayTensor,
    Attr,
    AttrKind,
    DType,
    Graph,
    OptionalType,
    Provenance,
    SequenceType,
    Tensor,
    TensorType,
    Value,
    graph_difference,
    graphs_equal,
    parse,
    print_graph,
)
from graphopt.ir.printer import ElidedTensor

F32 = DType.FLOAT
I64 = DType.INT64


def _tensors(graph: Graph) -> dict[str, Tensor]:
    """Every constant tensor in ``graph`` (inputs, constants, tensor attributes, subgraphs) by content hash."""
    found: dict[str, Tensor] = {}
    for v in [*graph.inputs, *graph.constants]:
        if v.const is not None:
            found[v.const.content_hash] = v.const
    for node in graph:
        for a in node.attrs.values():
            if a.kind == AttrKind.TENSOR:
                found[a.value.content_hash] = a.value
            elif a.kind == AttrKind.TENSORS:
                found.update((t.content_hash, t) for t in a.value)
        for sub in node.subgraphs():
            found.update(_tensors(sub))
    return found


def roundtrip(graph: Graph, max_const_elements: int = 16, verbose: bool = False) -> Graph:
    """print -> parse -> print is identical and the parsed graph is structurally equal.

    Verbose comments (node names, provenance) are skipped by the parser, so only the rest must come back.
    """
    text = print_graph(graph, max_const_elements=max_const_elements, verbose=verbose)
    parsed = parse(text, constants=_tensors(graph))
    assert print_graph(parsed, max_const_elements=max_const_elements) == \
        print_graph(graph, max_const_elements=max_const_elements)
    assert graph_difference(graph, parsed) is None
    assert graph_difference(parsed, graph) is None
    return parsed


def _value(dtype: DType = F32, shape: tuple | None = ("N", 4), name: str | None = None) -> Value:
    return Value(TensorType(dtype, shape), name)


def _data(v: Value) -> np.ndarray:
    data = v.numpy()
    assert data is not None, f"{v} is not a constant"
    return data


def _hash(v: Value) -> str:
    assert v.const is not None
    return v.const.content_hash


def _present(v: Value | None) -> Value:
    assert v is not None
    return v


def _typed(node_output: Value | None, dtype: DType = F32, shape: tuple | None = ("N", 4)) -> Value:
    node_output = _present(node_output)
    node_output.type = TensorType(dtype, shape)
    return node_output


# -- graphs to round-trip ---------------------------------------------------------------------------------------

def conv_net() -> Graph:
    g = Graph(name="main")
    x = _value(F32, ("N", 3, 8, 8), "x")
    bias = Value(TensorType(F32, (4,)), "bias")
    g.inputs += [x, bias]
    g.input_defaults[bias] = ArrayTensor(np.array([0, 0.5, 1, -2], np.float32))
    w = g.add_constant(np.linspace(-1, 1, 108, dtype=np.float32).reshape(4, 3, 3, 3), "w")
    conv = g.add("Conv", [x, w, bias], {"pads": [1, 1, 1, 1], "strides": [1, 1], "group": 1})
    _typed(conv.output, F32, ("N", 4, 8, 8)).name = "y"
    relu = g.add("LeakyRelu", [conv.output], {"alpha": 0.2})
    k = g.add_constant(np.array([2], np.int64), "k")
    top = g.add("TopK", [relu.output, k], {"axis": -1}, num_outputs=2)
    _typed(top.outputs[0], F32, ("N", 4, 8, 2))
    _typed(top.outputs[1], I64, ("N", 4, 8, 2))
    sizes = g.add_constant(np.array([1, 3, 16, 16], np.int64), "sizes")
    resize = g.add("Resize", [x, None, None, sizes], {"mode": "linear"})
    g.outputs = [_present(top.outputs[0]), _present(top.outputs[1]), resize.output]
    g.set_output(2, resize.output, "resized")
    return g


def omitted_values() -> Graph:
    g = Graph(name="rnn")
    x = _value(F32, (5, "N", 3), "x")
    g.inputs.append(x)
    w = g.add_constant(np.ones((1, 32, 3), np.float32), "W")
    r = g.add_constant(np.ones((1, 32, 8), np.float32), "R")
    h = _value(F32, (1, "N", 8))
    g.add("LSTM", [x, w, r, None, None, None], {"hidden_size": 8}, outputs=[None, h, None])
    clip = g.add("Clip", [h, None, g.add_constant(np.array(6, np.float32))])
    g.outputs = [clip.output]
    return g


def domains_and_names() -> Graph:
    g = Graph(name="torch-jit export")
    a = _value(F32, ("batch size", "N+1", "3"), "input:0")
    b = _value(F32, None, 'weird "name"')
    c = _value(F32, (None, 2), "ends:")
    g.inputs += [a, b, c]
    n1 = g.add("FusedConv", [a, b], {"activation": "Relu"}, domain="graphopt", name="fused",
               provenance=Provenance("fuse-conv-relu", ("conv1", "relu1")))
    n1.output.name = "0"  # a real numeric name: numbering must skip it
    n2 = g.add("Attention", [n1.output, c], {"num_heads": 2}, domain="com.microsoft")
    n3 = g.add("Relu", [n2.output], domain="ai.onnx")
    n3.output.name = "input:0"  # duplicate name: gets a number
    n4 = g.add("Sink", [n3.output], domain="custom.ops", num_outputs=0)
    assert n4.outputs == ()
    g.add("return", [n3.output], num_outputs=0, provenance=Provenance("multi\nline"))  # ops named like keywords
    g.add("const", [n3.output], domain="custom.ops")
    g.outputs = [n3.output, n1.output]
    return g


def control_flow() -> Graph:
    g = Graph(name="main")
    cond = _value(DType.BOOL, (), "cond")
    x = _value(F32, ("N",), "x")
    g.inputs += [cond, x]
    w = g.add_constant(np.array([1.0, 2.0], np.float32), "w")

    then_b = Graph(name="then_b")
    neg = then_b.add("Neg", [x])
    then_b.outputs = [_typed(neg.output, F32, ("N",))]
    else_b = Graph(name="else_b")
    c = else_b.add_constant(np.array(3.0, np.float32), "three")
    mul = else_b.add("Mul", [x, c])
    else_b.outputs = [_typed(mul.output, F32, ("N",))]
    branch = g.add("If", [cond], {"then_branch": then_b, "else_branch": else_b})
    _typed(branch.output, F32, ("N",))

    body = Graph(name="body")
    i, keep, acc = _value(I64, (), "i"), _value(DType.BOOL, (), "keep"), _value(F32, (2,), "acc")
    body.inputs += [i, keep, acc]
    inner = Graph(name="inner")
    inner_add = inner.add("Add", [acc, w])  # two scopes out
    inner.outputs = [inner_add.output]
    nested = body.add("If", [keep], {"then_branch": inner, "else_branch": inner.copy()})
    body.outputs = [keep, nested.output]
    trip = g.add_constant(np.array(3, np.int64), "trip")
    loop = g.add("Loop", [trip, None, w], {"body": body})
    g.outputs = [branch.output, loop.output]
    return g


def every_attribute_kind() -> Graph:
    g = Graph(name="attrs")
    x = _value(F32, ("N",), "x")
    g.inputs.append(x)
    sub = Graph(name="sub")
    sub.outputs = [x]
    attrs = {
        "i": Attr(AttrKind.INT, -3), "f": Attr(AttrKind.FLOAT, 1.0), "tiny": Attr.make(1e-5),
        "big": Attr.make(3.4028234663852886e38), "nan": Attr.make(float("nan")), "inf": Attr.make(float("-inf")),
        "negzero": Attr.make(-0.0), "s": Attr.make('quote " backslash \\ newline \n ünï'), "ints": Attr.make([1, -2]),
        "floats": Attr.make([0.5, float("inf")]), "strings": Attr.make(["a", ""]),
        "empty_ints": Attr(AttrKind.INTS, ()), "empty_floats": Attr(AttrKind.FLOATS, ()),
        "empty_strings": Attr(AttrKind.STRINGS, ()), "empty_tensors": Attr(AttrKind.TENSORS, ()),
        "empty_graphs": Attr(AttrKind.GRAPHS, ()),
        "t": Attr.make(ArrayTensor(np.array([1.5, 2.5], np.float32))),
        "big_t": Attr.make(ArrayTensor(np.zeros((5, 5), np.int32))),
        "ts": Attr.make([ArrayTensor(np.array(True)), ArrayTensor(np.array(["x"], object), DType.STRING)]),
        "g": Attr.make(sub), "gs": Attr.make([sub.copy(), sub.copy()]),
        "tp": Attr(AttrKind.TYPE_PROTO, SequenceType(OptionalType(TensorType(I64, ("N", None))))),
        "tp_unknown": Attr(AttrKind.TYPE_PROTO, TensorType(DType.UNDEFINED, None)),
        "needs quotes": Attr.make(1),
    }
    custom = g.add("Everything", [x], attrs, domain="custom.ops")
    # Kinds that disagree with the schema must survive too: an INT where LeakyRelu says FLOAT.
    odd = g.add("LeakyRelu", [custom.output], {"alpha": Attr(AttrKind.INT, 1)})
    empty = g.add("Transpose", [odd.output], {"perm": Attr(AttrKind.INTS, ())})
    g.outputs = [empty.output]
    return g


def unknown_types() -> Graph:
    g = Graph(name="types")
    a, b, c = Value(None, "a"), _value(DType.UNDEFINED, None, "b"), Value(SequenceType(TensorType(F32, None)), "c")
    g.inputs += [a, b, c]
    n = g.add("SequenceAt", [c, g.add_constant(np.array(0, np.int64))])
    g.outputs = [n.output, a, b]
    return g


def empty_graph() -> Graph:
    return Graph(name="")


GRAPHS: list[Callable[[], Graph]] = [conv_net, omitted_values, domains_and_names, control_flow,
                                     every_attribute_kind, unknown_types, empty_graph]


@pytest.mark.parametrize("make", GRAPHS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("options", [{}, {"verbose": True}, {"max_const_elements": 0}, {"max_const_elements": 1000}],
                         ids=["default", "verbose", "elide-all", "elide-none"])
def test_roundtrip(make: Callable[[], Graph], options: dict) -> None:
    g = make()
    roundtrip(g, **options)
    assert print_graph(g, **options) == print_graph(g.copy(), **options)  # deterministic, identity-free


def test_roundtrip_of_every_onnx_backend_node_model() -> None:
    """Every model of ONNX's node test suite (all dtypes, subgraphs, sequences …) survives print -> parse."""
    from graphopt.frontends.onnx import from_onnx
    from tests.backend_cases import node_cases

    failures = []
    for case in node_cases():
        g = from_onnx(case.model)
        for limit in (0, 1 << 30):  # every constant elided, then every constant printed in full
            try:
                roundtrip(g, max_const_elements=limit)
            except (AssertionError, ParseError) as e:
                failures.append(f"{case.name} (max_const_elements={limit}): {e}")
    assert not failures, "\n".join(failures[:10])


def test_str_is_the_text_form() -> None:
    g = conv_net()
    assert str(g) == print_graph(g)


# -- the exact layout ------------------------------------------------------------------------------------------

EXPECTED_CONV_NET = """\
graph main(%x: f32[N,3,8,8], %bias: f32[4] = [0.0, 0.5, 1.0, -2.0]) {
  %w: f32[4,3,3,3] = const <elided HASH>
  %k: i64[1] = const [2]
  %sizes: i64[4] = const [1, 3, 16, 16]
  %y: f32[N,4,8,8] = Conv(%x, %w, %bias) {group=1, pads=[1, 1, 1, 1], strides=[1, 1]}
  %0: ? = LeakyRelu(%y) {alpha=0.2}
  %1: f32[N,4,8,2], %2: i64[N,4,8,2] = TopK(%0, %k) {axis=-1}
  %3: ? = Resize(%x, _, _, %sizes) {mode="linear"}
  return %1, %2, %3 as "resized"
}"""


def test_layout() -> None:
    g = conv_net()
    assert print_graph(g) == EXPECTED_CONV_NET.replace("HASH", _hash(g.constants[0]))


def test_layout_of_names_domains_and_comments() -> None:
    text = print_graph(domains_and_names(), verbose=True)
    assert text.splitlines() == [
        'graph "torch-jit export"(%input:0: f32["batch size","N+1","3"], %"weird \\"name\\"": f32[*], '
        '%"ends:": f32[?,2]) {',
        '  %0: ? = graphopt::FusedConv(%input:0, %"weird \\"name\\"") {activation="Relu"}'
        '  # name=fused from=fuse-conv-relu(conv1, relu1)',
        '  %1: ? = com.microsoft::Attention(%0, %"ends:") {num_heads=2}',
        "  %2: ? = Relu(%1)",
        "  custom.ops::Sink(%2)",
        '  "return"(%2)  # from="multi\\nline"',
        '  %3: ? = custom.ops::"const"(%2)',
        "  return %2, %0",
        "}",
    ]


def test_layout_of_subgraphs() -> None:
    text = print_graph(control_flow())
    assert """\
  %0: f32[N] = If(%cond) {else_branch=graph else_b() {
      %three: f32[] = const 3.0
      %1: f32[N] = Mul(%x, %three)
      return %1
    }, then_branch=graph then_b() {
      %2: f32[N] = Neg(%x)
      return %2
    }}
  %3: ? = Loop(%trip, _, %w) {body=graph body(%i: i64[], %keep: bool[], %acc: f32[2]) {
      %4: ? = If(%keep) {else_branch=graph inner() {
          %5: ? = Add(%acc, %w)
          return %5
        }, then_branch=graph inner() {
          %6: ? = Add(%acc, %w)
          return %6
        }}
      return %keep, %4
    }}
""" in text


def test_attribute_literals() -> None:
    text = print_graph(every_attribute_kind())
    custom = text.split("Everything", 1)[1].split("\n  %", 1)[0]
    line = text.splitlines()
    for piece in ["big=3.4028235e+38", "empty_floats=floats []", "empty_graphs=graphs []", "empty_ints=[]",
                  "empty_strings=strings []", "empty_tensors=tensors []", "f=1.0", "i=-3", "inf=-inf", "nan=nan",
                  "negzero=-0.0", 's="quote \\" backslash \\\\ newline \\n ünï"', "t=tensor f32[2] [1.5, 2.5]",
                  "tiny=1e-05", 'ts=[tensor bool[] true, tensor str[1] ["x"]]', '"needs quotes"=1',
                  "tp=type seq<opt<i64[N,?]>>", "tp_unknown=type undef[*]", "big_t=tensor i32[5,5] <elided "]:
        assert piece in custom, piece
    names = [part.split("=")[0] for part in custom.split("{", 1)[1].split(", ") if "=" in part]
    assert [n.strip('"') for n in names] == sorted(n.strip('"') for n in names)
    assert any("LeakyRelu(%0) {alpha=int 1}" in s for s in line)
    assert any("Transpose(%1) {perm=[]}" in s for s in line)  # the schema says INTS: no kind word needed


# -- constants of every dtype ----------------------------------------------------------------------------------

def _sample(dtype: DType) -> np.ndarray:
    if dtype == DType.BOOL:
        return np.array([True, False, True, True])
    if dtype == DType.STRING:
        # the IR holds str; bytes that are not UTF-8 arrive as surrogate escapes
        return np.array(["", 'a"b\\', "üñí", "line\nbreak", b"\xff\xfe".decode("utf-8", "surrogateescape")],
                        dtype=object)
    if dtype in (DType.COMPLEX64, DType.COMPLEX128):
        return np.array([1 + 2j, -0.5 - np.inf * 1j, complex(np.nan, 0), 0.1], dtype=dtype.numpy)
    if dtype.is_float:
        values = np.array([0.0, -0.0, 1.5, -2.25, 0.1, 1e-7, 3e5, np.inf, -np.inf, np.nan, 65504.0, 1 / 3])
        with np.errstate(over="ignore"):
            return values.astype(dtype.numpy)
    info = ml_dtypes.iinfo(dtype.numpy)
    return np.array([int(info.min), int(info.max), 0, 1, int(info.max) // 3], dtype=dtype.numpy)


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype == object:
        return a.tolist() == b.tolist()
    if a.dtype.kind == "c":
        return _same_array(a.real, b.real) and _same_array(a.imag, b.imag)
    wa, wb = a.astype(np.float64), b.astype(np.float64)
    return bool(np.array_equal(wa, wb, equal_nan=True) and np.array_equal(np.signbit(wa), np.signbit(wb)))


@pytest.mark.parametrize("dtype", [d for d in DType if d != DType.UNDEFINED], ids=lambda d: d.short)
def test_constants_of_every_dtype(dtype: DType) -> None:
    array = _sample(dtype)
    g = Graph()
    g.outputs = [g.add_constant(ArrayTensor(array, dtype), "c"),
                 g.add_constant(ArrayTensor(array[:4].reshape(2, 2), dtype), "m"),
                 g.add_constant(ArrayTensor(array[:1].reshape(()), dtype), "s"),
                 g.add_constant(ArrayTensor(array[:0].reshape(2, 0), dtype), "e")]
    parsed = roundtrip(g)
    for before, after in zip(g.constants, parsed.constants, strict=True):
        assert _same_array(_data(before), _data(after)), (before.name, _data(after))


def test_special_values_print_readably() -> None:
    g = Graph()
    g.outputs = [g.add_constant(np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45], np.float32), "f"),
                 g.add_constant(np.array([[True], [False]]), "b"),
                 g.add_constant(np.array(["ok"], dtype=object), "s"),
                 g.add_constant(np.array([2**64 - 1], np.uint64), "u"),
                 g.add_constant(np.array([0.1], ml_dtypes.bfloat16), "bf")]
    lines = print_graph(g).splitlines()
    assert lines[1:6] == ["  %f: f32[5] = const [nan, inf, -inf, -0.0, 1e-45]",
                          "  %b: bool[2,1] = const [[true], [false]]",
                          '  %s: str[1] = const ["ok"]',
                          "  %u: u64[1] = const [18446744073709551615]",
                          "  %bf: bf16[1] = const [0.1]"]


# -- hand-written text -----------------------------------------------------------------------------------------

HAND_WRITTEN = """
# comments and blank lines are fine
graph main(%x: f32[N, 3], %scale: f32[] = 2.0,) {
  %w = const [[1.0, 2.0, 3.0]]          # f32[1,3], from the literal
  %shape = const [1, -1]                # i64[2]
  %flag = const true
  %y = Mul(%x, %w)
  %z: f32[N,3] = LeakyRelu(%y) {alpha=1}  # FLOAT attribute written as an int
  %p = MaxPool(%z) {kernel_shape=[2, 2], pads=[],}
  %v, %i = TopK(%z, %shape) {axis=-1}
  %r = If(%flag) {
    then_branch=graph a() { return %v },
    else_branch=graph b() { %n = Neg(%x)
                            return %n }
  }
  return %r, %i, %p as "pooled"
}
"""


def test_hand_written_text() -> None:
    g = parse(HAND_WRITTEN)
    x, scale = g.inputs
    assert (x.name, x.type) == ("x", TensorType(F32, ("N", 3)))
    assert g.input_defaults[scale].numpy() == np.float32(2.0) and scale.type == TensorType(F32, ())
    w, shape, flag = g.constants
    assert w.type == TensorType(F32, (1, 3)) and _data(w).dtype == np.float32
    assert shape.type == TensorType(I64, (2,)) and _data(shape).tolist() == [1, -1]
    assert flag.type == TensorType(DType.BOOL, ()) and bool(_data(flag))
    mul, leaky, pool, topk, branch = g.nodes
    assert mul.inputs == (x, w) and mul.output.type is None
    assert leaky.attrs["alpha"] == Attr(AttrKind.FLOAT, 1.0)
    assert pool.attrs["pads"] == Attr(AttrKind.INTS, ()) and pool.attrs["kernel_shape"].value == (2, 2)
    assert [_present(o).name for o in topk.outputs] == ["v", "i"]
    then_b = branch.attrs["then_branch"].value
    assert then_b.outputs == [topk.outputs[0]] and then_b.parent is branch
    assert g.outputs == [branch.output, topk.outputs[1], pool.output]
    assert g.output_names == ["r", "i", "pooled"]

    built = Graph()
    bx, bs = _value(F32, ("N", 3)), Value(TensorType(F32, ()))
    built.inputs += [bx, bs]
    built.input_defaults[bs] = ArrayTensor(np.array(2.0, np.float32))
    bw = built.add_constant(np.array([[1.0, 2.0, 3.0]], np.float32))
    bshape = built.add_constant(np.array([1, -1], np.int64))
    bflag = built.add_constant(np.array(True))
    y = built.add("Mul", [bx, bw]).output
    z = _typed(built.add("LeakyRelu", [y], {"alpha": 1.0}).output, F32, ("N", 3))
    p = built.add("MaxPool", [z], {"kernel_shape": [2, 2], "pads": []}).output
    v, i = map(_present, built.add("TopK", [z, bshape], {"axis": -1}, num_outputs=2).outputs)
    a = Graph(name="a")
    a.outputs = [v]
    b = Graph(name="b")
    b.outputs = [b.add("Neg", [bx]).output]
    r = built.add("If", [bflag], {"then_branch": a, "else_branch": b}).output
    built.outputs = [r, i, p]
    assert graph_difference(g, built) is None


@pytest.mark.parametrize(("op", "literal", "expected"), [
    ("MaxPool", "pads=[]", Attr(AttrKind.INTS, ())),
    ("LeakyRelu", "alpha=1", Attr(AttrKind.FLOAT, 1.0)),
    ("LeakyRelu", "alpha=-inf", Attr(AttrKind.FLOAT, float("-inf"))),
    ("Resize", "coordinate_transformation_mode=\"half_pixel\"", Attr(AttrKind.STRING, "half_pixel")),
    ("Custom", "x=[]", Attr(AttrKind.INTS, ())),
    ("Custom", "x=1", Attr(AttrKind.INT, 1)),
    ("Custom", "x=1.0", Attr(AttrKind.FLOAT, 1.0)),
    ("Custom", "x=[1, 2.5]", Attr(AttrKind.FLOATS, (1.0, 2.5))),
    ("Custom", "x=[9007199254740993]", Attr(AttrKind.INTS, (9007199254740993,))),
    ("Custom", "x=floats []", Attr(AttrKind.FLOATS, ())),
    ("Custom", "x=float 2", Attr(AttrKind.FLOAT, 2.0)),
    ("Custom", 'x=["a"]', Attr(AttrKind.STRINGS, ("a",))),
    ("Custom", "x=type f32[N]", Attr(AttrKind.TYPE_PROTO, TensorType(F32, ("N",)))),
    ("Optional", "type=seq<f32[N]>", Attr(AttrKind.TYPE_PROTO, SequenceType(TensorType(F32, ("N",))))),
])
def test_attribute_kinds_come_from_the_schema_or_the_literal(op: str, literal: str, expected: Attr) -> None:
    domain = "my.ops::" if op == "Custom" else ""
    g = parse(f"graph g(%x: f32[4]) {{ %y = {domain}{op}(%x) {{{literal}}}\n return %y }}")
    name = literal.split("=")[0]
    assert g.nodes[0].attrs[name] == expected


def test_outer_scope_and_shadowing() -> None:
    g = parse("""graph g(%x: f32[2], %c: bool[]) {
      %y = If(%c) {then_branch=graph t() { %x = Neg(%x)
                                           return %x },
                    else_branch=graph e() { return %x }}
      return %y
    }""")
    x = g.inputs[0]
    then_b = g.nodes[0].attrs["then_branch"].value
    neg = then_b.nodes[0]
    assert neg.inputs == (x,) and then_b.outputs == [neg.output]
    assert g.nodes[0].attrs["else_branch"].value.outputs == [x]


# -- elided constants ------------------------------------------------------------------------------------------

def test_elided_constants_become_placeholders() -> None:
    g = conv_net()
    text = print_graph(g)
    parsed = parse(text)
    w = parsed.constants[0]
    assert isinstance(w.const, ElidedTensor)
    assert (w.const.dtype, w.const.shape, w.const.content_hash) == (F32, (4, 3, 3, 3), _hash(g.constants[0]))
    assert graphs_equal(g, parsed)  # compared by hash
    assert print_graph(parsed) == text
    with pytest.raises(ParseError, match="elided"):
        w.numpy()


def test_elided_data_is_supplied_by_name_or_hash() -> None:
    g = conv_net()
    data = _data(g.constants[0])
    text = print_graph(g)
    for key in ("w", _hash(g.constants[0])):
        parsed = parse(text, constants={key: data})
        assert np.array_equal(_data(parsed.constants[0]), data)
    with pytest.raises(ParseError, match="line 2, column 28: the data supplied for %w has hash"):
        parse(text, constants={"w": data + 1})
    with pytest.raises(ParseError, match=r"has shape \[4, 27\], the text says \[4, 3, 3, 3\]"):
        parse(text, constants={"w": data.reshape(4, 27)})
    anything = parse("graph g() {\n %w: f32[2,2] = const <elided>\n return %w }", constants={"w": np.eye(2)})
    assert _data(anything.constants[0]).dtype == np.float32  # converted to the declared dtype
    placeholder = parse("graph g() {\n %w: f32[2,2] = const <elided>\n return %w }")
    assert print_graph(placeholder).splitlines()[1] == "  %w: f32[2,2] = const <elided>"


def test_graph_difference_of_unknown_data() -> None:
    a = parse("graph g() {\n %w: f32[2] = const <elided>\n return %w }")
    b = parse("graph g() {\n %v: f32[2] = const <elided>\n return %v }")
    c = parse("graph g() {\n %v: f32[2] = const [1.0, 2.0]\n return %v }")
    assert graphs_equal(a, b)
    assert "data differs (hash unknown vs" in (graph_difference(a, c) or "")


# -- errors ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    ("graph g(%x: f32[2]) {\n  %y = Relu(%z)\n  return %y\n}", "line 2, column 13: %z is not defined here"),
    ("graph g(%x: f32[2]) {\n  %x = Relu(%x)\n  return %x\n}", "line 2, column 3: %x is already defined"),
    ("graph g(%x: f32[2]) {\n  %y = Relu(%x\n  return %y\n}", "line 3, column 3: expected ',' or ')' after an input"),
    ("graph g(%x: f33[2]) {\n  return %x\n}", "line 1, column 13: unknown dtype 'f33'"),
    ("graph g(%x:f32[2]) {\n  return %x\n}", "for a type write '%x: ...' with a space"),
    ("graph g() {\n  %c: f32[2,2] = const [1.0, 2.0, 3.0]\n  return %c\n}", "needs 4 values; the data has 3"),
    ("graph g() {\n  %c: u8[2] = const [1, 256]\n  return %c\n}", "line 2, column 25: 256 is out of range"),
    ("graph g() {\n  %c: i64[1] = const [1.5]\n  return %c\n}", "holds integers, not '1.5'"),
    ("graph g() {\n  %c: bool[1] = const [1]\n  return %c\n}", "holds booleans (true or false)"),
    ("graph g() {\n  %c = const [[1], [2, 3]]\n  return %c\n}", "is ragged; give it a type"),
    ("graph g() {\n  %c = const <elided>\n  return %c\n}", "elided data needs a type"),
    ("graph g() {\n  %c: f32[N] = const [1.0]\n  return %c\n}", "must be a tensor type with static dims"),
    ("graph g(%x: f32[2]) {\n  %a, %b = const [1.0]\n  return %a\n}", "a constant defines exactly one value"),
    ("graph g(%x: f32[8]) {\n  %y = Transpose(%x) {perm=[1.5]}\n  return %y\n}",
     "line 2, column 29: expected an int for attribute 'perm' of Transpose, found '1.5'"),
    ("graph g(%x: f32[8]) {\n  %y = LeakyRelu(%x) {alpha=\"a\"}\n  return %y\n}", "expected a float for attribute"),
    ("graph g(%x: f32[8]) {\n  %y = Relu(%x) {a=1, a=2}\n  return %y\n}", "attribute 'a' is given twice"),
    ("graph g(%x: f32[8]) {\n  %y = Foo(%x) {a=1e39}\n  return %y\n}", "1e39 is out of the float32 range"),
    ("graph g() {\n  %c: f16[2] = const [1.0, 7e4]\n  return %c\n}",
     "line 2, column 28: 70000.0 is out of the f16 range of %c"),
    ("graph g(%x: f32[8]) {\n  %y = Foo(%x) {s=\"\\q\"}\n  return %y\n}", "bad string"),
    ("graph g(%x: f32[8]) {\n  %y = Relu(%x) @\n  return %y\n}", "line 2, column 17: expected a node"),
    ("graph g(%x: f32[8]) {\n  %y = Relu(%x) {s=\"open}\n  return %y\n}", "expected a value for attribute 's'"),
    ("graph g(%x: f32[8]) {\n  %y = Relu(%x)\n}", "line 3, column 1: expected a node, a constant or 'return'"),
    ("graph g(%x: f32[8]) {\n  return %x\n}\nextra", "line 4, column 1: expected the end of the text"),
    ("graph g(%x: f32[8]) {\n  return %x as y\n}", 'expected a quoted output name like "logits"'),
    ("graph g(%x: f32 [8]) {\n  return %x\n}", "write a type without a space before '['"),
    ("graph g(%x: f32[8]) {\n  %y = Foo(%x) {a=ints[1]}\n  return %y\n}", "write a space before '['"),
    ("graph g(%x: f32[8,#]) {\n  return %x\n}", "expected dims (integers, symbols or ?)"),
    ("", "line 1, column 1: expected 'graph NAME(inputs) { ... }', found the end of the text"),
])
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(text)
    assert message in str(info.value)


@pytest.mark.parametrize("make", [control_flow, every_attribute_kind], ids=lambda f: f.__name__)
def test_damaged_text_raises_parse_error_only(make: Callable[[], Graph]) -> None:
    """Every truncation and a sample of one-character edits either parses or raises ParseError."""
    text = print_graph(make(), max_const_elements=4)
    rng = random.Random(0)
    edits = [text[:cut] for cut in range(len(text))]
    for _ in range(300):
        i = rng.randrange(len(text))
        edits += [text[:i] + rng.choice('%_,()[]{}<>=:?*"#\n -.0a1eé\\') + text[i + 1:], text[:i] + text[i + 1:]]
    for damaged in edits:
        with contextlib.suppress(ParseError):
            parse(damaged)


def test_error_shows_the_line_and_a_caret() -> None:
    with pytest.raises(ParseError) as info:
        parse("graph g(%x: f32[2]) {\n  %y = Relu(%q)\n  return %y\n}")
    assert str(info.value).splitlines()[1:] == ["    %y = Relu(%q)", "              ^"]


# -- structural equality ---------------------------------------------------------------------------------------

BASE = """graph g(%x: f32[N,4], %c: bool[]) {
  %w: f32[4] = const [1.0, 2.0, 3.0, 4.0]
  %a: f32[N,4] = Sub(%x, %w)
  %b: f32[N,4] = LeakyRelu(%a) {alpha=0.5}
  %r: f32[N,4] = If(%c) {else_branch=graph e() {
      return %a
    }, then_branch=graph t() {
      %n: f32[N,4] = Neg(%b)
      return %n
    }}
  return %b, %r
}"""


@pytest.mark.parametrize(("old", "new", "difference"), [
    ("%x: f32[N,4]", "%x: f32[N,5]", "input 0: type f32[N,4] vs f32[N,5]"),
    ("[1.0, 2.0, 3.0, 4.0]", "[1.0, 2.0, 3.0, 5.0]", "constant 0: data differs"),
    ("Sub(%x, %w)", "Add(%x, %w)", "node 0 (Sub): op Sub vs Add"),
    ("Sub(%x, %w)", "Sub(%w, %x)", "node 0 (Sub): input 0 reads input 0 vs constant 0"),
    ("{alpha=0.5}", "{alpha=0.25}", "node 1 (LeakyRelu), attribute 'alpha': 0.5 vs 0.25"),
    ("{alpha=0.5}", "", "node 1 (LeakyRelu), attribute 'alpha': 0.5 vs 0.01"),
    ("%b: f32[N,4] = LeakyRelu", "%b: f32[?,4] = LeakyRelu", "node 1 (LeakyRelu): output 0: type f32[N,4] vs f32[?,4]"),
    ("Neg(%b)", "Neg(%a)", "node 2 (If), attribute 'then_branch': node 0 (Neg): input 0 reads output 0 of node 1"),
    ("return %b, %r\n", "return %r, %b\n", "output 0 returns output 0 of node 1 (LeakyRelu) vs output 0 of node 2"),
    ("return %b, %r\n", "return %b\n", "2 outputs vs 1"),
    ("%c: bool[]) {", "%c: bool[], %d: bool[]) {", "2 inputs vs 3"),
    ("  return %b, %r\n", "  %extra = Relu(%b)\n  return %b, %r\n", "3 nodes vs 4"),
])
def test_graph_difference(old: str, new: str, difference: str) -> None:
    assert old in BASE
    a, b = parse(BASE), parse(BASE.replace(old, new))
    assert difference in (graph_difference(a, b) or "")
    assert not graphs_equal(a, b)


def test_names_defaults_and_trailing_omissions_do_not_matter() -> None:
    renamed = (BASE.replace("%a", "%first").replace("%b", "%second").replace("graph t()", "graph other()")
               .replace("{alpha=0.5}", "{alpha=0.5}  # name=n1"))
    assert graphs_equal(parse(BASE), parse(renamed))
    explicit_default = "graph g(%x: f32[2]) {\n %y = LeakyRelu(%x) {alpha=0.01}\n return %y }"
    implicit_default = "graph g(%x: f32[2]) {\n %y = LeakyRelu(%x)\n return %y }"
    assert graphs_equal(parse(explicit_default), parse(implicit_default))
    nan_a = parse("graph g(%x: f32[2]) {\n %y = Foo(%x) {v=nan, z=-0.0}\n return %y }")
    nan_b = parse("graph g(%x: f32[2]) {\n %y = Foo(%x) {v=nan, z=0.0}\n return %y }")
    assert graph_difference(nan_a, nan_a.copy()) is None
    assert "attribute 'z': -0.0 vs 0.0" in (graph_difference(nan_a, nan_b) or "")
    g = Graph()
    x = _value(F32, (2,), "x")
    g.inputs.append(x)
    clip = g.add("Clip", [x, None, None])
    g.outputs = [clip.output]
    trimmed = g.copy()
    trimmed.nodes[0].trim_inputs()
    assert graphs_equal(g, trimmed)


def test_kind_and_value_mismatches_are_named() -> None:
    a = parse("graph g(%x: f32[2]) {\n %y = Foo(%x) {v=[1, 2]}\n return %y }")
    b = parse("graph g(%x: f32[2]) {\n %y = Foo(%x) {v=[1.0, 2.0]}\n return %y }")
    c = parse("graph g(%x: f32[2]) {\n %y = Foo(%x) {w=[1, 2]}\n return %y }")
    assert "attribute 'v': kind INTS vs FLOATS" in (graph_difference(a, b) or "")
    assert "attribute 'v' is set vs absent" in (graph_difference(a, c) or "")


# -- naming ----------------------------------------------------------------------------------------------------

def test_numbering_skips_real_numeric_names_and_duplicates() -> None:
    g = Graph()
    x = _value(F32, (2,), "1")
    g.inputs.append(x)
    a = g.add("Relu", [x]).output              # unnamed -> %0
    b = g.add("Relu", [a]).output
    b.name = "1"                               # duplicate of the input's name -> %2
    c = g.add("Relu", [b]).output              # unnamed -> %3
    g.outputs = [c]
    assert [line.split(" = ")[0].strip() for line in print_graph(g).splitlines()[1:4]] == ["%0: ?", "%2: ?", "%3: ?"]
    roundtrip(g)


# -- performance -----------------------------------------------------------------------------------------------

def test_large_graphs_print_and_parse_in_linear_time() -> None:
    g = Graph()
    cur = _value(F32, ("N", 64), "x")
    g.inputs.append(cur)
    w = g.add_constant(np.ones((64, 64), np.float32), "w")
    for i in range(30_000):
        node = [lambda v: g.add("MatMul", [v, w]), lambda v: g.add("LeakyRelu", [v], {"alpha": 0.1}),
                lambda v: g.add("Transpose", [v], {"perm": [1, 0]})][i % 3](cur)
        cur = _typed(node.output, F32, ("N", 64))
    g.outputs = [cur]
    start = time.perf_counter()
    text = print_graph(g)
    parsed = parse(text, constants={"w": _data(w)})
    equal = graphs_equal(g, parsed)
    elapsed = time.perf_counter() - start
    assert equal and len(parsed) == 30_000
    assert elapsed < 10, f"30k nodes took {elapsed:.1f} s; printing/parsing must stay linear"
