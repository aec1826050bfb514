"""The emulated builder, profiles, runtime and engine. An "engine" is the pickled network and its profiles;
building it runs the network at each profile's min, opt and max shapes, so rule violations fail the build."""

from __future__ import annotations

import enum
import pickle
from collections.abc import Mapping
from typing import Any

import numpy as np

from tests.tensorrt_emulator.definition import INetworkDefinition
from tests.tensorrt_emulator.enums import NUMPY, MemoryPoolType
from tests.tensorrt_emulator.network import Dims, TensorRTError

_MAGIC = b"graphopt-tensorrt-emulator-engine\n"


class Logger:
    class Severity(enum.IntEnum):
        INTERNAL_ERROR = 0
        ERROR = 1
        WARNING = 2
        INFO = 3
        VERBOSE = 4

    INTERNAL_ERROR = Severity.INTERNAL_ERROR
    ERROR = Severity.ERROR
    WARNING = Severity.WARNING
    INFO = Severity.INFO
    VERBOSE = Severity.VERBOSE

    def __init__(self, min_severity: Severity = Severity.WARNING) -> None:
        self.min_severity = min_severity


class IOptimizationProfile:
    def __init__(self) -> None:
        self.shapes: dict[str, tuple[Dims, Dims, Dims]] = {}

    def set_shape(self, input: str, min: Dims, opt: Dims, max: Dims) -> None:
        for d in (min, opt, max):
            if not isinstance(d, Dims):
                raise TypeError("set_shape(input: str, min: Dims, opt: Dims, max: Dims)")
        if not len(min) == len(opt) == len(max):
            raise TensorRTError(f"profile shapes of {input!r} differ in rank")
        if not all(0 <= a <= b <= c for a, b, c in zip(min, opt, max)):
            raise TensorRTError(f"profile of {input!r} breaks 0 <= min <= opt <= max: {list(min)}, {list(opt)}, "
                                f"{list(max)}")
        self.shapes[input] = (min, opt, max)

    def get_shape(self, input: str) -> list[Dims]:
        return list(self.shapes.get(input, ()))


class IBuilderConfig:
    def __init__(self) -> None:
        self.profiles: list[IOptimizationProfile] = []
        self.pool_limits: dict[MemoryPoolType, int] = {}

    def set_memory_pool_limit(self, pool: MemoryPoolType, pool_size: int) -> None:
        if not isinstance(pool, MemoryPoolType) or pool_size < 0:
            raise TypeError("set_memory_pool_limit(pool: MemoryPoolType, pool_size: int >= 0)")
        self.pool_limits[pool] = int(pool_size)

    def get_memory_pool_limit(self, pool: MemoryPoolType) -> int:
        return self.pool_limits.get(pool, 1 << 40)

    def add_optimization_profile(self, profile: IOptimizationProfile) -> int:
        self.profiles.append(profile)
        return len(self.profiles) - 1

    @property
    def num_optimization_profiles(self) -> int:
        return len(self.profiles)


class Builder:
    def __init__(self, logger: Logger) -> None:
        if not isinstance(logger, Logger):
            raise TypeError("Builder(logger: ILogger)")
        self.logger = logger

    def create_network(self, flags: int = 0) -> INetworkDefinition:
        return INetworkDefinition(flags)

    def create_builder_config(self) -> IBuilderConfig:
        return IBuilderConfig()

    def create_optimization_profile(self) -> IOptimizationProfile:
        return IOptimizationProfile()

    def build_serialized_network(self, network: INetworkDefinition, config: IBuilderConfig) -> bytes:
        if not network.strongly_typed:
            raise TensorRTError("the emulator builds strongly typed networks only "
                                "(create_network(1 << int(NetworkDefinitionCreationFlag.STRONGLY_TYPED)))")
        if not network._outputs:
            raise TensorRTError("the network has no outputs (mark_output)")
        names = [t.name for t in network._inputs + network._outputs]
        if len(set(names)) != len(names):
            raise TensorRTError(f"network input/output names are not unique: {names}")
        ranges = _ranges(network, config)
        for case in range(3):  # min, opt, max
            feeds = {name: np.zeros(shapes[case], NUMPY[network._inputs[i]._input_spec[0]])  # type: ignore[index]
                     for i, (name, shapes) in enumerate(ranges.items())}
            network.execute(feeds)
        return _MAGIC + pickle.dumps((network, ranges))


def _ranges(network: INetworkDefinition, config: IBuilderConfig) -> dict[str, tuple[tuple[int, ...], ...]]:
    """Input name → (min, opt, max) shapes, checked against the inputs' declared dims."""
    if len(config.profiles) > 1:
        raise TensorRTError("the emulator models one optimization profile")
    profile = config.profiles[0].shapes if config.profiles else {}
    known = {t.name for t in network._inputs}
    stray = sorted(set(profile) - known)
    if stray:
        raise TensorRTError(f"the profile names {stray}, which are not network inputs")
    ranges = {}
    for t in network._inputs:
        declared = list(t._input_spec[1])  # type: ignore[index]
        if t.name not in profile:
            if -1 in declared:
                raise TensorRTError(f"input {t.name!r} has dynamic dims {declared} but no optimization profile")
            ranges[t.name] = (tuple(declared),) * 3
            continue
        shapes = profile[t.name]
        for s in shapes:
            if len(s) != len(declared) or any(d != -1 and d != n for d, n in zip(declared, s)):
                raise TensorRTError(f"profile shape {list(s)} of input {t.name!r} does not fit {declared}")
        ranges[t.name] = tuple(tuple(s) for s in shapes)
    return ranges


class IExecutionContext:
    def __init__(self, engine: ICudaEngine) -> None:
        self.engine = engine

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Emulator only (a real context runs on device buffers): outputs for ``feeds`` by name."""
        for name, (lo, _, hi) in self.engine.ranges.items():
            shape = np.shape(feeds[name]) if name in feeds else None
            if shape is None or len(shape) != len(lo) or not all(a <= n <= b for a, n, b in zip(lo, shape, hi)):
                raise TensorRTError(f"input {name!r} shape {shape} is outside the profile [{list(lo)}, {list(hi)}]")
        return self.engine.network.execute(feeds)


class ICudaEngine:
    def __init__(self, network: INetworkDefinition, ranges: dict[str, tuple[tuple[int, ...], ...]]) -> None:
        self.network = network
        self.ranges = ranges

    @property
    def num_io_tensors(self) -> int:
        return self.network.num_inputs + self.network.num_outputs

    def get_tensor_name(self, index: int) -> str:
        io = self.network._inputs + self.network._outputs
        return io[index].name

    def create_execution_context(self) -> IExecutionContext:
        return IExecutionContext(self)


class Runtime:
    def __init__(self, logger: Logger) -> None:
        self.logger = logger

    def deserialize_cuda_engine(self, serialized_engine: Any) -> ICudaEngine:
        data = bytes(serialized_engine)
        if not data.startswith(_MAGIC):
            raise TensorRTError("not an engine built by the emulator")
        network, ranges = pickle.loads(data[len(_MAGIC):])
        return ICudaEngine(network, ranges)
