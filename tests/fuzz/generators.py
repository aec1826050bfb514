"""Hypothesis strategies for hostile inputs: byte-level mutations of real models, field-level mutations of
their protobufs, and random graphs of random ONNX ops with random (sometimes ill-typed) attributes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from hypothesis import strategies as st
from onnx import TensorProto, helper

from tests.fuzz.seeds import OPSET, seeds

Draw = Callable[[st.SearchStrategy[Any]], Any]
DTYPES = (TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL, TensorProto.FLOAT16, TensorProto.INT32,
          TensorProto.UINT8, TensorProto.DOUBLE, TensorProto.STRING, TensorProto.INT4, TensorProto.BFLOAT16)
ODD_INTS = (0, 1, -1, 2, 3, -2, 7, 2**31 - 1, -(2**31), 2**62, -(2**63))
ODD_FLOATS = (0.0, 1.0, -1.0, 0.5, 1e-30, 1e30, float("inf"), float("-inf"), float("nan"))
STRINGS = (b"", b"constant", b"reflect", b"edge", b"NOTSET", b"SAME_UPPER", b"linear", b"nearest", b"ij,jk->ik",
           b"\xff\xfe", b"../x")


# -- bytes ---------------------------------------------------------------------------------------------

@st.composite
def mutated_bytes(draw: Draw, models: dict[str, bytes] | None = None) -> tuple[str, bytes]:
    """A seed model's bytes (or one of ``models``), truncated, bit-flipped, overwritten or spliced."""
    models = models or seeds()
    name = draw(st.sampled_from(sorted(models)))
    data = bytearray(models[name])
    kind = draw(st.sampled_from(("truncate", "flip", "overwrite", "splice")))
    if kind == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    for _ in range(draw(st.integers(1, 4)) if kind != "truncate" else 0):
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "overwrite":
            data[at] = draw(st.sampled_from((0, 0xFF, 0x7F, 0x80, 0x01)))
        else:
            src = draw(st.integers(0, len(data) - 1))
            data[at:at] = data[src:src + draw(st.integers(1, 64))]
    return f"{name}/{kind}", bytes(data)


# -- protobuf fields -----------------------------------------------------------------------------------

def _all_graphs(g: onnx.GraphProto) -> list[onnx.GraphProto]:
    found = [g]
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                found += _all_graphs(a.g)
    return found


def _value_names(g: onnx.GraphProto) -> list[str]:
    names = [v.name for v in g.input] + [t.name for t in g.initializer]
    return names + [o for n in g.node for o in n.output if o]


@st.composite
def mutated_protos(draw: Draw, models: dict[str, bytes] | None = None) -> tuple[str, onnx.ModelProto]:
    """A seed model (or one of ``models``) with one to three of its fields changed in ways a broken exporter
    or editor produces."""
    models = models or seeds()
    name = draw(st.sampled_from(sorted(models)))
    m = onnx.ModelProto.FromString(models[name])
    kinds = []
    for _ in range(draw(st.integers(1, 3))):
        g = draw(st.sampled_from(_all_graphs(m.graph)))
        kind = draw(st.sampled_from(sorted(_MUTATIONS)))
        if _MUTATIONS[kind](draw, m, g):
            kinds.append(kind)
    return f"{name}/{'+'.join(kinds) or 'none'}", m


def _pick(draw: Draw, items: Any) -> Any:
    items = list(items)
    return draw(st.sampled_from(items)) if items else None


def _rewire(draw: Draw, m: onnx.ModelProto, g: onnx.GraphProto) -> bool:
    """Point a node input at another value (maybe a later one: a cycle, or one from another graph)."""
    node = _pick(draw, [n for n in g.node if n.input])
    if node is None:
        return False
    node.input[draw(st.integers(0, len(node.input) - 1))] = draw(st.sampled_from(
        _value_names(m.graph) + _value_names(g) + ["", "ghost"]))
    return True


def _retype(draw: Draw, m: onnx.ModelProto, g: onnx.GraphProto) -> bool:
    """Change an input's, output's or value_info's element type or shape."""
    infos = list(g.input) + list(g.output) + list(g.value_info)
    vi = _pick(draw, infos)
    if vi is None:
        return False
    t = vi.type.tensor_type
    if draw(st.booleans()):
        t.elem_type = draw(st.sampled_from((*DTYPES, 0, 999)))
    else:
        t.shape.Clear()
        for d in draw(st.lists(st.sampled_from((0, 1, 2, 3, -1, 10**12, "N", None)), max_size=5)):
            dim = t.shape.dim.add()
            if isinstance(d, int):
                dim.dim_value = d
            elif d is not None:
                dim.dim_param = d
    return True


def _add_value_info(draw: Draw, m: onnx.ModelProto, g: onnx.GraphProto) -> bool:
    """Declare a wrong type for an intermediate value (stale value_info)."""
    outs = [o for n in g.node for o in n.output if o]
    if not outs:
        return False
    dims = draw(st.lists(st.sampled_from((1, 2, 3, 10**6, "N")), max_size=4))
    g.value_info.append(helper.make_tensor_value_info(draw(st.sampled_from(outs)), draw(st.sampled_from(DTYPES)),
                                                      dims))
    return True


def _reshape_initializer(draw: Draw, m: onnx.ModelProto, g: onnx.GraphProto) -> bool:
    """Change an initializer's dims (its data stays) or its data type."""
    t = _pick(draw, g.initializer)
    if t is None:
        return False
    if draw(st.booleans()):
        del t.dims[:]
        t.dims.extend(draw(st.lists(st.sampled_from((0, 1, 2, 4, 16, 10**12, -1)), max_size=4)))
    else:
        t.data_type = draw(st.sampled_from((*DTYPES, 0, 999)))
    return True


def _change_op(draw: Draw, m: onnx.ModelProto, g: onnx.GraphProto) -> bool:
    """Give a node another op type (its inputs and attributes stay)."""
    node = _pick(draw, g.node)
    if node is None:
        return False
    node.op_type = draw(st.sampled_from(_OP_NAMES))
    return True


def _change_attribute(draw: Draw, m: onnx.ModelProto, g: onnx.GraphProto) -> bool:
    """Set an existing or new attribute of a node to an odd value (of the right type or not)."""
    node = _pick(draw, g.node)
    if node is None:
        return False
    existing = [a.name for a in node.attribute if a.type != onnx.AttributeProto.GRAPH]
    name = draw(st.sampled_from([*existing, "axis", "perm", "pads", "to", "kernel_shape", "keepdims"]))
    keep = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend(keep)
    node.attribute.append(helper.make_attribute(name, draw(_attribute_values())))
    return True


def _drop_node(draw: Draw, m: onnx.ModelProto, g: onnx.GraphProto) -> bool:
    if not g.node:
        return False
    del g.node[draw(st.integers(0, len(g.node) - 1))]
    return True


def _duplicate_node(draw: Draw, m: onnx.ModelProto, g: onnx.GraphProto) -> bool:
    node = _pick(draw, g.node)
    if node is None:
        return False
    g.node.append(node)
    return True


def _shuffle_nodes(draw: Draw, m: onnx.ModelProto, g: onnx.GraphProto) -> bool:
    nodes = list(g.node)
    order = draw(st.permutations(range(len(nodes))))
    del g.node[:]
    g.node.extend(nodes[i] for i in order)
    return True


def _change_opset(draw: Draw, m: onnx.ModelProto, g: onnx.GraphProto) -> bool:
    m.opset_import[0].version = draw(st.sampled_from((1, 6, 7, 9, 11, 13, 18, 21, 25, 10**6)))
    return True


def _swap_outputs(draw: Draw, m: onnx.ModelProto, g: onnx.GraphProto) -> bool:
    """Make a graph output name an input, an initializer or a duplicate."""
    if not g.output:
        return False
    g.output[draw(st.integers(0, len(g.output) - 1))].name = draw(st.sampled_from([*_value_names(g), "ghost"]))
    return True


_MUTATIONS: dict[str, Callable[[Draw, onnx.ModelProto, onnx.GraphProto], bool]] = {
    "rewire": _rewire, "retype": _retype, "value-info": _add_value_info, "initializer": _reshape_initializer,
    "op": _change_op, "attribute": _change_attribute, "drop": _drop_node, "duplicate": _duplicate_node,
    "shuffle": _shuffle_nodes, "opset": _change_opset, "outputs": _swap_outputs,
}


def _attribute_values() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(ODD_INTS), st.sampled_from(ODD_FLOATS), st.sampled_from(STRINGS),
        st.lists(st.sampled_from(ODD_INTS[:7]), min_size=1, max_size=6),
        st.lists(st.sampled_from(ODD_FLOATS[:5]), min_size=1, max_size=4),
    )


# -- random graphs of random ops -----------------------------------------------------------------------

def _schemas() -> list[onnx.defs.OpSchema]:
    found = []
    for s in onnx.defs.get_all_schemas_with_history():
        if s.domain != "" or s.deprecated or s.since_version > OPSET:
            continue
        latest = onnx.defs.get_schema(s.name, OPSET, "")
        if latest.since_version == s.since_version:
            found.append(s)
    return sorted(found, key=lambda s: s.name)


SCHEMAS = _schemas()
_OP_NAMES = sorted({s.name for s in SCHEMAS})
_ATTR_KIND = onnx.defs.OpSchema.AttrType


def _array(draw: Draw, dtype: int, shape: tuple[int, ...]) -> np.ndarray:
    np_dtype = helper.tensor_dtype_to_np_dtype(dtype)
    values = draw(st.lists(st.sampled_from((0, 1, -1, 2, 3)), min_size=int(np.prod(shape)),
                           max_size=int(np.prod(shape))))
    if dtype == TensorProto.STRING:
        return np.array([str(v) for v in values], dtype=object).reshape(shape)
    return np.array(values).astype(np_dtype).reshape(shape)


@st.composite
def random_op_models(draw: Draw) -> tuple[str, onnx.ModelProto]:
    """One to three nodes of random ONNX ops, inputs from graph inputs, constants or earlier outputs,
    attributes drawn per the schema (mostly the declared type, sometimes not)."""
    pool: list[tuple[str, int]] = []  # (name, elem type) of values nodes may read
    inputs, inits, nodes = [], [], []
    ops = []
    for k in range(draw(st.integers(1, 3))):
        schema = draw(st.sampled_from(SCHEMAS))
        ops.append(schema.name)
        most = max(schema.min_input, min(schema.max_input, schema.min_input + 2, 5))
        n_in = draw(st.integers(schema.min_input, most))
        names = []
        for i in range(n_in):
            source = draw(st.sampled_from(("input", "const", "const", "pool", "omit")))
            if source == "pool" and pool:
                names.append(draw(st.sampled_from(pool))[0])
                continue
            if source == "omit" and i >= schema.min_input:
                names.append("")
                continue
            dtype = draw(st.sampled_from(DTYPES[:7]))
            shape = tuple(draw(st.lists(st.integers(1, 3), max_size=4)))
            name = f"in{k}_{i}"
            if source == "input":
                inputs.append(helper.make_tensor_value_info(name, dtype, list(shape)))
            else:
                inits.append(onnx.numpy_helper.from_array(_array(draw, dtype, shape), name))
            pool.append((name, dtype))
            names.append(name)
        n_out = draw(st.integers(max(schema.min_output, 1), max(min(schema.max_output, 3), 1)))
        outs = [f"out{k}_{j}" for j in range(n_out)]
        attrs = {}
        for attr_name, spec in schema.attributes.items():
            if spec.type == _ATTR_KIND.GRAPH or not (spec.required or draw(st.booleans())):
                continue
            attrs[attr_name] = draw(_typed_attribute(spec.type))
        try:
            nodes.append(helper.make_node(schema.name, names, outs, **attrs))
        except (ValueError, TypeError):
            nodes.append(helper.make_node(schema.name, names, outs))
        pool += [(o, 0) for o in outs]
    outputs = [helper.make_tensor_value_info(name, 0, None) for name in nodes[-1].output]
    graph = helper.make_graph(nodes, "random", inputs, outputs, inits)
    return "+".join(ops), helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", OPSET)])


def _typed_attribute(kind: Any) -> st.SearchStrategy[Any]:
    by_kind = {
        _ATTR_KIND.INT: st.sampled_from(ODD_INTS[:8]),
        _ATTR_KIND.FLOAT: st.sampled_from(ODD_FLOATS),
        _ATTR_KIND.STRING: st.sampled_from(STRINGS),
        _ATTR_KIND.INTS: st.lists(st.sampled_from(ODD_INTS[:7]), max_size=6),
        _ATTR_KIND.FLOATS: st.lists(st.sampled_from(ODD_FLOATS[:5]), max_size=4),
        _ATTR_KIND.STRINGS: st.lists(st.sampled_from(STRINGS[:5]), min_size=1, max_size=3),
        _ATTR_KIND.TENSOR: st.sampled_from([onnx.numpy_helper.from_array(np.array(v)) for v in
                                            (np.float32(1), np.int64(0), np.array([1.5], np.float32))]),
    }
    typed = by_kind.get(kind, _attribute_values())
    return st.one_of(typed, typed, typed, _attribute_values())
