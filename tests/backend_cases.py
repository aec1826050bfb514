"""The ONNX backend node test cases that ship with onnx, and how to run and compare them."""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort


@functools.cache
def node_cases() -> tuple[Any, ...]:
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tuple(c for c in load_model_tests(kind="node") if c.data_sets)


def run_ort(model: onnx.ModelProto, inputs: list[Any]) -> list[Any]:
    options = ort.SessionOptions()
    options.log_severity_level = 4
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs)})


def as_numpy(data: Any) -> Any:
    """A case's input or output as the interpreter's value (TensorProto holds types numpy lacks natively)."""
    if isinstance(data, (list, tuple)):
        return [as_numpy(d) for d in data]
    if isinstance(data, onnx.TensorProto):
        from graphopt.ir.protos import tensor_from_proto

        return tensor_from_proto(data).numpy()
    return data if data is None else np.asarray(data)


def outputs_match(actual: list[Any], expected: list[Any], rtol: float, atol: float) -> bool:
    """Element-wise closeness of two output lists (tensors, sequences, optionals), NaNs equal."""
    if len(actual) != len(expected):
        return False
    return all(_match(a, b, rtol, atol) for a, b in zip(actual, expected))


def _match(a: Any, b: Any, rtol: float, atol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(b, list) or isinstance(a, list):
        return isinstance(a, list) and isinstance(b, list) and outputs_match(a, b, rtol, atol)
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if b.dtype.kind in "OUS" or a.dtype.kind in "OUS":
        return bool((a.astype(str) == b.astype(str)).all())
    if a.dtype.kind != "c" and b.dtype.kind != "c":
        a, b = a.astype(np.float64), b.astype(np.float64)
    return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))
