"""Where the TensorRT tests build and run engines: the emulator always, real TensorRT where it and a GPU exist.

Tests take a ``backend`` parameter from :data:`BACKENDS`; the real one is skipped with the reason printed.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from graphopt.codegen import tensorrt as gt
from graphopt.ir.core import Graph
from tests import tensorrt_emulator as emulator


@functools.cache
def real_tensorrt_unavailable() -> str | None:
    """Why real engines cannot be built here (``None`` when they can)."""
    try:
        gt.load_tensorrt()
    except gt.TensorRTUnavailableError as e:
        return str(e).split(";")[0]
    try:
        import torch
    except ImportError:
        return "torch (used to hold device buffers) is not installed"
    return None if torch.cuda.is_available() else "TensorRT is installed but no CUDA GPU is visible"


BACKENDS = [
    pytest.param("emulator", id="emulator"),
    pytest.param("tensorrt", id="tensorrt", marks=pytest.mark.skipif(
        real_tensorrt_unavailable() is not None, reason=f"real TensorRT: {real_tensorrt_unavailable()}")),
]


def module(backend: str) -> Any:
    return emulator if backend == "emulator" else gt.load_tensorrt()


def build(backend: str, graph: Graph, **options: Any) -> bytes:
    return gt.to_tensorrt(graph, trt=module(backend), **options)


def run(backend: str, engine: bytes, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if backend == "emulator":
        return emulator.run(engine, feeds)
    return _run_real(engine, feeds)


def build_and_run(backend: str, graph: Graph, inputs: list[np.ndarray], **options: Any) -> list[np.ndarray]:
    """Outputs of ``graph``'s engine on ``inputs`` (in graph input order), in graph output order."""
    engine = build(backend, graph, **options)
    out = run(backend, engine, {v.name: x for v, x in zip(graph.inputs, inputs)})  # type: ignore[misc]
    return [out[name] for name in gt.output_names(graph)]


def _run_real(engine_bytes: bytes, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run a real engine with torch CUDA tensors as the I/O buffers."""
    import torch

    trt = gt.load_tensorrt()
    engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(engine_bytes)
    context = engine.create_execution_context()
    buffers: dict[str, torch.Tensor] = {}
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
    for name in names:
        if name not in outputs:
            buffers[name] = torch.from_numpy(np.ascontiguousarray(feeds[name])).cuda()
            context.set_input_shape(name, tuple(buffers[name].shape))
    for name in outputs:
        dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
        buffers[name] = torch.empty(tuple(context.get_tensor_shape(name)),
                                    dtype=torch.from_numpy(np.empty(0, dtype)).dtype, device="cuda")
    for name, t in buffers.items():
        context.set_tensor_address(name, t.data_ptr())
    stream = torch.cuda.current_stream()
    if not context.execute_async_v3(stream.cuda_stream):
        raise RuntimeError("TensorRT failed to run the engine")
    stream.synchronize()
    return {name: buffers[name].cpu().numpy() for name in outputs}

