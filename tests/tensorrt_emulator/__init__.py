"""An executing emulator of the part of TensorRT's network-definition API that graphopt's emitter uses.

It exposes the same names as the ``tensorrt`` module (``Builder``, ``Logger``, ``DataType``, ``Dims``,
``Weights``, the enums …), so ``graphopt.codegen.tensorrt`` runs against it unchanged (``trt=emulator``). Each
layer computes with numpy following TensorRT's documentation and rejects what TensorRT rejects (see
:mod:`.layers`). Engines are the pickled network; ``run(engine_bytes, feeds)`` executes one.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tests.tensorrt_emulator.builder import (
    Builder,
    IBuilderConfig,
    ICudaEngine,
    IExecutionContext,
    IOptimizationProfile,
    Logger,
    Runtime,
)
from tests.tensorrt_emulator.definition import INetworkDefinition
from tests.tensorrt_emulator.enums import (
    ActivationType,
    CumulativeOperation,
    DataType,
    ElementWiseOperation,
    FillOperation,
    GatherMode,
    InterpolationMode,
    MatrixOperation,
    MemoryPoolType,
    NetworkDefinitionCreationFlag,
    PaddingMode,
    PoolingType,
    ReduceOperation,
    ResizeCoordinateTransformation,
    ResizeRoundMode,
    ResizeSelector,
    SampleMode,
    TopKOperation,
    UnaryOperation,
)
from tests.tensorrt_emulator.network import Dims, ITensor, Permutation, TensorRTError, Weights

__all__ = [
    "ActivationType", "Builder", "CumulativeOperation", "DataType", "Dims", "ElementWiseOperation", "FillOperation",
    "GatherMode", "IBuilderConfig", "ICudaEngine", "IExecutionContext", "INetworkDefinition", "IOptimizationProfile",
    "ITensor", "InterpolationMode", "Logger", "MatrixOperation", "MemoryPoolType", "NetworkDefinitionCreationFlag",
    "PaddingMode", "Permutation", "PoolingType", "ReduceOperation", "ResizeCoordinateTransformation",
    "ResizeRoundMode", "ResizeSelector", "Runtime", "SampleMode", "TensorRTError", "TopKOperation", "UnaryOperation",
    "Weights", "run",
]


def run(engine: bytes, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Deserialize an emulated engine and run it on ``feeds`` (input name → array)."""
    runtime = Runtime(Logger(Logger.WARNING))
    return runtime.deserialize_cuda_engine(engine).create_execution_context().infer(feeds)
