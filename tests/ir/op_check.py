"""Helpers for op-family tests: single-node backend cases and one-node comparisons against onnxruntime."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
import onnx.helper
import pytest

from graphopt.frontends.onnx import from_onnx
from graphopt.ir import DType, Graph, TensorType, Value, evaluate, infer_shapes
from graphopt.ir.types import Shape
from tests.backend_cases import as_numpy, node_cases, outputs_match, run_ort


def single_node_cases(*ops: str) -> list[Any]:
    """pytest params of the backend cases that are a single node of one of ``ops``."""
    return [
        pytest.param(c, id=c.name) for c in node_cases()
        if len(c.model.graph.node) == 1 and c.model.graph.node[0].op_type in ops
    ]


def assert_close(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float, what: str = "") -> None:
    """Same dtype, shape and values (NaN where expected; narrow floats compared as float64)."""
    expected = np.asarray(expected)
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype}, expected {expected.dtype}"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    wide = (lambda a: a.astype(np.float64)) if DType.from_numpy(actual.dtype).is_float else np.asarray
    np.testing.assert_allclose(wide(actual), wide(expected), rtol=rtol, atol=atol, err_msg=what)


def assert_type_matches(t: Any, actual: np.ndarray, what: str = "") -> None:
    """The inferred type agrees with a computed array: same dtype, rank, and every static dim."""
    assert isinstance(t, TensorType) and t.shape is not None, f"{what}: nothing inferred ({t})"
    assert t.dtype == DType.from_numpy(actual.dtype), f"{what}: inferred {t}, got {actual.dtype}"
    assert len(t.shape) == actual.ndim, f"{what}: inferred {t}, got shape {actual.shape}"
    for d, n in zip(t.shape, actual.shape, strict=True):
        assert not isinstance(d, int) or d == n, f"{what}: inferred {t}, got shape {actual.shape}"


def check_backend_case(case: Any, rtol: float | None = None, atol: float | None = None) -> None:
    """Import, type and run one backend case with graphopt; compare with its expected outputs."""
    graph = from_onnx(case.model)
    infer_shapes(graph, strict=True)
    for inputs, expected in case.data_sets:
        results = evaluate(graph, as_numpy(inputs))
        assert len(results) == len(expected)
        for i, (r, e, v) in enumerate(zip(results, as_numpy(expected), graph.outputs, strict=True)):
            if isinstance(e, list):
                assert outputs_match(r, e, case.rtol if rtol is None else rtol, case.atol if atol is None else atol)
                continue
            assert_close(r, e, case.rtol if rtol is None else rtol, case.atol if atol is None else atol, f"output {i}")
            assert_type_matches(v.type, r, f"output {i}")


def one_node_model(op: str, inputs: Sequence[np.ndarray | None], attrs: dict[str, Any],
                   num_outputs: int = 1) -> onnx.ModelProto:
    """An opset-25 model of one ``op`` node (``None`` inputs are omitted optional inputs)."""
    names = [f"x{i}" if a is not None else "" for i, a in enumerate(inputs)]
    while names and not names[-1]:
        names.pop()
    outs = [f"y{i}" for i in range(num_outputs)]
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node(op, names, outs, **attrs)], "g",
        [onnx.helper.make_tensor_value_info(n, onnx.helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
         for n, a in zip(names, inputs) if a is not None],
        [onnx.helper.make_value_info(o, onnx.TypeProto()) for o in outs],
    )
    return onnx.helper.make_model(graph, ir_version=10, opset_imports=[onnx.helper.make_opsetid("", 25)])


def one_node_graph(op: str, inputs: Sequence[np.ndarray | None], attrs: dict[str, Any], num_outputs: int = 1,
                   shapes: dict[int, Shape] | None = None, const: Sequence[int] = ()) -> Graph:
    """A graph of one ``op`` node; input ``i`` gets shape ``shapes[i]`` if given, and is a constant if in ``const``."""
    g = Graph()
    values: list[Value | None] = []
    for i, a in enumerate(inputs):
        if a is None:
            values.append(None)
        elif i in const:
            values.append(g.add_constant(a, f"c{i}"))
        else:
            shape = (shapes or {}).get(i, a.shape)
            values.append(Value(TensorType(DType.from_numpy(a.dtype), shape), f"x{i}"))
            g.inputs.append(values[-1])  # type: ignore[arg-type]
    node = g.add(op, values, attrs, num_outputs=num_outputs)
    g.outputs = list(node.outputs)  # type: ignore[arg-type]
    infer_shapes(g, strict=True)
    return g


def compare_with_ort(op: str, inputs: Sequence[np.ndarray | None], attrs: dict[str, Any] | None = None,
                     num_outputs: int = 1, rtol: float = 1e-5, atol: float = 1e-6,
                     const: Sequence[int] = ()) -> list[np.ndarray]:
    """Evaluate one node with graphopt and onnxruntime and check that they agree (values, dtype, inferred type)."""
    attrs = attrs or {}
    g = one_node_graph(op, inputs, attrs, num_outputs, const=const)
    ours = evaluate(g, [a for i, a in enumerate(inputs) if a is not None and i not in const])
    theirs = run_ort(one_node_model(op, inputs, attrs, num_outputs), [a for a in inputs if a is not None])
    for i, (r, e) in enumerate(zip(ours, theirs, strict=True)):
        assert_close(r, e, rtol, atol, f"{op} output {i}")
        assert_type_matches(g.outputs[i].type, r, f"{op} output {i}")
    return ours
