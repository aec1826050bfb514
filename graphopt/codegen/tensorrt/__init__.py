"""TensorRT emitter: the IR lowered layer by layer through TensorRT's network-definition API.

    engine = graphopt.to_tensorrt(graph, precision="fp16", shapes={"x": ((1, 3, 224, 224), (8, 3, 224, 224),
                                                                         (32, 3, 224, 224))})
    report = graphopt.codegen.tensorrt.check(graph)   # works without TensorRT: what lowers, what needs a plugin

Optimize with ``target="tensorrt"`` first (it leaves the fusions TensorRT makes itself as plain ops). Networks are
strongly typed (TensorRT 10+): ``fp16``/``bf16`` cast float32 inputs to the lower type, store float32 weights in it,
run normalizations in float32 between casts, and cast outputs back, so callers feed and read the graph's own
types. ``tensorrt`` is imported only here, on first use (:func:`load_tensorrt`); every converter reaches it
through the emitter's module handle, so a stand-in with the same names can be passed as ``trt=``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphopt.codegen.tensorrt import (  # noqa: F401 (registers the converters)
    ops_control,
    ops_elementwise,
    ops_linalg,
    ops_misc,
    ops_nn,
    ops_rnn,
    ops_tensor,
)
from graphopt.codegen.tensorrt.emitter import PRECISIONS, Emitter, output_names
from graphopt.codegen.tensorrt.registry import unsupported_reason
from graphopt.errors import ExportError, GraphoptError, UnsupportedOpError
from graphopt.ir.core import Graph, Node

if TYPE_CHECKING:
    from tensorrt import INetworkDefinition

__all__ = ["CheckReport", "TensorRTUnavailableError", "check", "load_tensorrt", "output_names", "populate",
           "to_tensorrt"]

Shapes = Mapping[str, Sequence[Sequence[int]]]
"""Input name → (min, opt, max) shapes of its optimization profile."""


class TensorRTUnavailableError(GraphoptError):
    """TensorRT is not installed, or no CUDA GPU is available to build an engine on."""


def load_tensorrt() -> Any:
    """The ``tensorrt`` module, or an error saying what to install."""
    try:
        trt = importlib.import_module("tensorrt")
    except ImportError as e:
        raise TensorRTUnavailableError(
            f"TensorRT is not installed ({e}); install it with `pip install \"graphopt[tensorrt]\"` (the tensorrt "
            "wheels download NVIDIA's libraries from pypi.nvidia.com) on a machine with a CUDA GPU") from e
    if not hasattr(trt, "Builder"):  # e.g. only tensorrt-stubs' .pyi files, which import as an empty namespace
        raise TensorRTUnavailableError(
            f"the `tensorrt` package found at {list(getattr(trt, '__path__', []))} has no Builder (type stubs "
            "only?); install TensorRT itself with `pip install \"graphopt[tensorrt]\"`")
    return trt


# -- check -------------------------------------------------------------------------------------------


@dataclass
class CheckReport:
    """Which nodes lower to native TensorRT layers and which would need a plugin (with the reason)."""

    graph: str
    native: list[Node] = field(default_factory=list)
    plugin: list[tuple[Node, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.plugin

    def native_ops(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self.native:
            counts[n.qualified_op] = counts.get(n.qualified_op, 0) + 1
        return dict(sorted(counts.items()))

    def __str__(self) -> str:
        total = len(self.native) + len(self.plugin)
        lines = [f"TensorRT check of graph {self.graph!r}: {len(self.native)} of {total} nodes lower natively"
                 + ("" if self.plugin else "; the whole graph lowers")]
        if self.native:
            lines.append("  native: " + ", ".join(f"{op} x{k}" for op, k in self.native_ops().items()))
        if self.plugin:
            lines.append(f"  {len(self.plugin)} node(s) would need a plugin (or a graph change):")
            lines += [f"    {n.label}: {reason}" for n, reason in self.plugin]
        return "\n".join(lines)


def check(graph: Graph) -> CheckReport:
    """Report which nodes of ``graph`` lower natively to TensorRT layers; needs no TensorRT install."""
    report = CheckReport(graph.name)
    for node in graph:
        reason = unsupported_reason(node)
        if reason is None:
            report.native.append(node)
        else:
            report.plugin.append((node, reason))
    return report


# -- populate and build ------------------------------------------------------------------------------


def _require_native(graph: Graph) -> None:
    report = check(graph)
    if not report.ok:
        raise UnsupportedOpError(f"{len(report.plugin)} node(s) of graph {graph.name!r} have no TensorRT lowering:\n"
                                 + "\n".join(f"  {n.label}: {reason}" for n, reason in report.plugin)
                                 + "\nrun graphopt.optimize(graph, target='tensorrt') first, or replace these ops")


def populate(graph: Graph, network: INetworkDefinition, precision: str = "fp32", *, trt: Any = None) -> Emitter:
    """Add ``graph``'s inputs, layers and outputs to ``network`` (created strongly typed by the caller).

    Returns the emitter, which holds the weight arrays TensorRT reads when it builds: keep it until the engine
    is built. ``trt`` is the ``tensorrt`` module to use (default: the installed one).
    """
    _require_native(graph)
    emitter = Emitter(graph, network, trt if trt is not None else load_tensorrt(), precision)
    emitter.populate()
    return emitter


def to_tensorrt(graph: Graph, precision: str = "fp32", shapes: Shapes | None = None, workspace: int | None = None,
                *, trt: Any = None) -> bytes:
    """Build a serialized engine for ``graph`` (see the module docstring); ``shapes`` gives the optimization
    profile of inputs with dynamic dims, ``workspace`` caps the builder's scratch memory in bytes."""
    if precision not in PRECISIONS:
        raise ExportError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    _require_native(graph)  # before TensorRT is needed: unsupported ops are reported anywhere
    trt = trt if trt is not None else load_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    try:
        builder = trt.Builder(logger)
    except (TypeError, RuntimeError) as e:
        raise TensorRTUnavailableError(f"TensorRT could not create a builder ({e}): is a CUDA GPU visible "
                                       "(nvidia-smi) and its driver loaded?") from e
    if builder is None:
        raise TensorRTUnavailableError("TensorRT could not create a builder: no CUDA GPU is visible")
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    emitter = populate(graph, network, precision, trt=trt)
    config = builder.create_builder_config()
    if workspace is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace))
    profile = _profile(graph, builder, trt, shapes or {})
    if profile is not None:
        config.add_optimization_profile(profile)
    engine = builder.build_serialized_network(network, config)
    del emitter  # the weights may go once the engine holds them
    if engine is None:
        raise ExportError(f"TensorRT failed to build an engine for graph {graph.name!r}; its log above says why")
    return bytes(engine)


def _profile(graph: Graph, builder: Any, trt: Any, shapes: Shapes) -> Any:
    """The optimization profile for inputs with dynamic dims (``None`` when every input is static)."""
    by_name = {v.name: v for v in graph.inputs}
    unknown = sorted(set(shapes) - set(by_name))
    if unknown:
        raise ExportError(f"shapes given for {unknown}, which are not inputs of graph {graph.name!r} "
                          f"(inputs: {sorted(n for n in by_name if n)})")
    dynamic = [v for v in graph.inputs if v.shape is not None and not all(isinstance(d, int) for d in v.shape)]
    missing = [v.name for v in dynamic if v.name not in shapes]
    if missing:
        raise ExportError(f"inputs {missing} of graph {graph.name!r} have dynamic dims: pass "
                          "shapes={name: (min, opt, max)} for each")
    if not shapes:
        return None
    profile = builder.create_optimization_profile()
    for name, triple in shapes.items():
        v = by_name[name]
        assert v.shape is not None
        if len(triple) != 3:
            raise ExportError(f"shapes[{name!r}] must be (min, opt, max), got {len(triple)} entries")
        lo, opt, hi = (tuple(int(d) for d in s) for s in triple)
        for s in (lo, opt, hi):
            if len(s) != len(v.shape) or any(isinstance(d, int) and d != x for d, x in zip(v.shape, s)):
                raise ExportError(f"shape {list(s)} for input {name!r} does not fit its type {list(v.shape)}")
        if not all(a <= b <= c for a, b, c in zip(lo, opt, hi)):
            raise ExportError(f"shapes for input {name!r} must satisfy min <= opt <= max per dim: "
                              f"{list(lo)}, {list(opt)}, {list(hi)}")
        profile.set_shape(name, trt.Dims(list(lo)), trt.Dims(list(opt)), trt.Dims(list(hi)))
    return profile
