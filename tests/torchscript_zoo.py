"""The model zoo as TorchScript: tests/zoo.py's models traced or scripted, plus models whose control
flow depends on tensor data (only ``torch.jit.script`` keeps that), and an ONNX Runtime runner."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from tests import torch_zoo, zoo


class DataDependent(nn.Module):
    """A loop whose trip count is an input's value, a while loop that stops on a tensor condition,
    and an ``if`` on a tensor's value."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        y = self.proj(x)
        for _ in range(int(steps)):
            y = torch.tanh(self.proj(y)) + x
        while bool(y.abs().max() > 0.5):
            y = y * 0.5
        return y - y.mean() if bool(y.mean() > 0) else torch.relu(y)

@dataclass(frozen=True)
class Case:
    """A zoo model in one TorchScript form, with inputs at its example batch size and at another."""

    name: str
    mode: str  # "trace" or "script"
    model: nn.Module
    inputs: list[np.ndarray]
    other_batch: list[np.ndarray] | None

def _rebatch(inputs: list[np.ndarray], rng: np.random.Generator, batch: int) -> list[np.ndarray]:
    """Inputs with another batch size: fresh random floats; integer inputs (token ids, masks) reuse
    the example's rows, so they stay valid."""
    out = []
    for x in inputs:
        if x.dtype.kind in "iu":
            rows = np.concatenate([x, x[::-1]] * batch)
            out.append(np.ascontiguousarray(rows[:batch]))
        else:
            out.append(rng.standard_normal((batch, *x.shape[1:])).astype(x.dtype))
    return out


def build(name: str) -> tuple[nn.Module, list[np.ndarray]]:
    """A tests/zoo.py model with its fixed weights and inputs (the same seeds ``zoo.export`` uses)."""
    spec = zoo.SPECS[name]
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        model = spec.build().eval()
        zoo._randomize_batchnorm(model, gen)
    return model, spec.inputs(np.random.default_rng(0))

def case(name: str, mode: str) -> Case:
    if name == "data_dependent":
        torch.manual_seed(0)
        model = DataDependent().eval()
        inputs = [np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32), np.array(3)]
        other = [np.random.default_rng(1).standard_normal((5, 8)).astype(np.float32), np.array(0)]
        return Case(name, mode, model, inputs, other)
    if name not in zoo.SPECS:  # tests/torch_zoo.py's extra models
        extra = torch_zoo.build(name)
        return Case(name, mode, extra.module, [x.numpy() for x in extra.example], [x.numpy() for x in extra.other])
    model, inputs = build(name)
    return Case(name, mode, model, inputs, _rebatch(inputs, np.random.default_rng(7), 3))

@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No tracer warnings, and nn.TransformerEncoderLayer off its fused fast path (as zoo.export does)."""
    enabled = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(enabled)

def script(c: Case) -> torch.jit.ScriptModule:
    with quiet():
        if c.mode == "script":
            return torch.jit.script(c.model)
        return torch.jit.trace(c.model, tuple(torch.from_numpy(x) for x in c.inputs))

def eager(c: Case, inputs: list[np.ndarray]) -> list[np.ndarray]:
    with quiet():
        out = c.model(*(torch.from_numpy(x) for x in inputs))
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o.numpy() for o in outs if isinstance(o, torch.Tensor)]

def run_onnx(model: onnx.ModelProto, inputs: list[np.ndarray]) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.log_severity_level = 4
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs, strict=True)})
