"""torch.export frontend: inputs, constants, symbolic dims, outputs, .pt2 files and error reporting.

Numbers are checked against torch eager through ONNX Runtime (graph optimizations off).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

import graphopt
from graphopt.errors import ModelLoadError, UnsupportedOpError
from graphopt.ir.dtypes import DType
from graphopt.ir.equality import graphs_equal

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.export's own pytree deprecation


def run(graph: graphopt.Graph, *inputs: torch.Tensor) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    model = graphopt.to_onnx(graph)
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x.numpy() for i, x in zip(session.get_inputs(), inputs)})


def close(actual: np.ndarray, expected: torch.Tensor) -> None:
    np.testing.assert_allclose(actual, expected.detach().numpy(), rtol=1e-4, atol=1e-5)


class ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn(self.conv(x)))
        return self.fc(y.mean((2, 3)))


def test_a_module_lifts_with_its_input_names_and_matches_torch() -> None:
    model, x = ConvNet().eval(), torch.randn(2, 3, 8, 8)
    g = graphopt.from_torch(model, (x,))
    graphopt.verify(g)
    assert g.name == "ConvNet"
    assert [v.name for v in g.inputs] == ["x"] and g.output_names == ["output"]
    assert str(g.inputs[0].type) == "f32[2,3,8,8]" and str(g.outputs[0].type) == "f32[2,2]"
    close(run(g, x)[0], model(x))
    ops = {n.op for n in g}
    assert {"Conv", "BatchNormalization", "Relu", "ReduceMean", "Gemm"} <= ops and "Transpose" not in ops
    node = next(n for n in g if n.op == "Conv")
    assert node.provenance is not None and node.provenance.creator == "torch.export"
    assert node.provenance.sources == ("convolution",)


def test_parameters_share_memory_with_torch_and_buffers_become_constants() -> None:
    class WithState(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.randn(4, 4))
            self.register_buffer("offset", torch.randn(4), persistent=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x @ self.weight + self.offset + torch.tensor([1.0, 2.0, 3.0, 4.0])

    model, x = WithState(), torch.randn(3, 4)
    g = graphopt.from_torch(model, (x,))
    consts = {c.name: c for c in g.constants}
    assert np.shares_memory(consts["weight"].numpy(), model.weight.detach().numpy())
    assert not consts["weight"].numpy().flags.writeable  # the IR cannot write into torch's weights
    assert "offset" in consts and len(g.inputs) == 1
    close(run(g, x)[0], model(x))


def test_bfloat16_weights_keep_their_dtype() -> None:
    model = nn.Linear(4, 3).to(torch.bfloat16)
    g = graphopt.from_torch(model, (torch.randn(2, 4, dtype=torch.bfloat16),))
    weight = next(c for c in g.constants if c.name == "weight")
    assert weight.dtype == DType.BFLOAT16
    np.testing.assert_array_equal(weight.numpy().astype(np.float32), model.weight.float().detach().numpy())


def test_outputs_are_named_after_the_returned_structure() -> None:
    class Heads(nn.Module):
        def forward(self, x: torch.Tensor) -> dict[str, object]:
            return {"logits": x * 2, "aux": (x + 1, x.sum())}

    g = graphopt.from_torch(Heads(), (torch.randn(2, 3),))
    assert g.output_names == ["logits", "aux_0", "aux_1"]
    g = graphopt.from_torch(nn.Sequential(nn.Identity()), (torch.randn(2),))
    assert g.output_names == ["output"]


def test_keyword_inputs() -> None:
    class Scaled(nn.Module):
        def forward(self, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
            return x * scale

    x, s = torch.randn(2, 3), torch.randn(3)
    g = graphopt.from_torch(Scaled(), (x,), {"scale": s})
    assert [v.name for v in g.inputs] == ["x", "scale"]
    close(run(g, x, s)[0], x * s)


class Flattening(nn.Module):
    """Size arithmetic on symbolic dims: view with computed sizes, arange over a dynamic length."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, c = x.shape
        flat = x.reshape(b * t, c) + y.reshape(-1, c)
        positions = torch.arange(t, dtype=torch.float32).unsqueeze(-1)
        return flat.view(b, t, c) * positions, flat.sum(-1).view(b, -1)[:, 1:]


def test_dynamic_dims_take_the_users_names_and_run_at_other_sizes() -> None:
    batch, time = torch.export.Dim("batch", max=64), torch.export.Dim("time", min=4, max=64)
    x, y = torch.randn(2, 6, 4), torch.randn(2, 6, 4)
    shapes = {"x": {0: batch, 1: time}, "y": {0: batch, 1: time}}
    g = graphopt.from_torch(Flattening(), (x, y), dynamic_shapes=shapes)
    graphopt.verify(g)
    assert [str(v.type) for v in g.inputs] == ["f32[batch,time,4]", "f32[batch,time,4]"]
    assert str(g.outputs[0].type) == "f32[batch,time,4]"
    for b, t in ((2, 6), (5, 9), (1, 4)):
        x, y = torch.randn(b, t, 4), torch.randn(b, t, 4)
        expected = Flattening()(x, y)
        got = run(graphopt.optimize(g, "O2"), x, y)
        for a, e in zip(got, expected):
            close(a, e)


class SizeMath(nn.Module):
    """Python arithmetic on symbolic sizes: +, //, max, *, -, and sizes as tensor operands."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        b, t = x.shape
        padded = torch.cat([x, x.new_zeros(b, (t + 1) // 2)], 1)
        steps = torch.full((b,), max(t, 3) * 2 - 1)
        return padded, x.sum(1) / t, steps, torch.arange(t * 2).float() / (t * 2)


def test_size_arithmetic_becomes_int64_nodes() -> None:
    shapes = ({0: torch.export.Dim("b"), 1: torch.export.Dim("t", min=3, max=50)},)
    g = graphopt.from_torch(SizeMath(), (torch.randn(2, 5),), dynamic_shapes=shapes)
    assert {"Mod", "Max", "Range"} <= {n.op for n in g}
    optimized = graphopt.optimize(g, "O2")
    for shape in ((3, 7), (1, 3), (4, 12)):
        x = torch.randn(*shape)
        for actual, expected in zip(run(optimized, x), SizeMath()(x), strict=True):
            assert actual.dtype == expected.numpy().dtype
            close(actual, expected)


def test_unnamed_dynamic_dims_are_named_after_their_input() -> None:
    x = torch.randn(3, 5)
    g = graphopt.from_torch(nn.Softmax(-1), (x,), dynamic_shapes=({0: torch.export.Dim.AUTO},))
    assert str(g.inputs[0].type) == "f32[input_dim0,5]"
    z = torch.randn(7, 5)
    close(run(g, z)[0], torch.softmax(z, -1))


def test_exported_program_and_pt2_file_lift_to_the_same_graph(tmp_path: Path) -> None:
    model, x = ConvNet().eval(), torch.randn(2, 3, 8, 8)
    program = torch.export.export(model, (x,))
    path = tmp_path / "convnet.pt2"
    torch.export.save(program, str(path))
    from_program = graphopt.from_torch(program)
    from_file = graphopt.load(path)
    assert from_file.name == "convnet"
    from_file.name = from_program.name
    assert graphs_equal(from_program, from_file)
    close(run(from_file, x)[0], model(x))


def test_unsupported_ops_are_listed_together_with_their_source_lines() -> None:
    class Exotic(nn.Module):
        def forward(self, x: torch.Tensor, boundaries: torch.Tensor) -> tuple[torch.Tensor, ...]:
            buckets = torch.bucketize(x, boundaries)
            spectrum = torch.fft.rfft(x, dim=-1).abs()
            return buckets + 1, spectrum

    with pytest.raises(UnsupportedOpError) as info:
        graphopt.from_torch(Exotic(), (torch.randn(2, 4), torch.tensor([-1.0, 0.0, 1.0])))
    message = str(info.value)
    assert "2 ops (2 distinct)" in message
    assert "aten::bucketize.Tensor at" in message and "aten::_fft_r2c.default at" in message
    assert f"{Path(__file__).name}:" in message and "bucketize(x, boundaries)" in message and "rfft(x" in message
    assert "aten::abs" not in message  # it reads the failed rfft: not reported again


class Branchy(nn.Module):
    """torch.cond on a data-dependent predicate; one branch reads a parameter, both return two tensors."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        def positive(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return torch.relu(self.fc(t)) * 2, t.sum(-1)

        def negative(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return t - 1, t.amax(-1)

        a, b = torch.cond(x.sum() > 0, positive, negative, (x,))
        return a + 1, b


def test_torch_cond_becomes_an_if_with_both_branches() -> None:
    model = Branchy().eval()
    g = graphopt.from_torch(model, (torch.randn(3, 4),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    graphopt.verify(g)
    (node,) = [n for n in g if n.op == "If"]
    assert {"Gemm", "Relu"} <= {n.op for n in node.attr("then_branch")}
    assert "Transpose" not in {n.op for n in node.attr("then_branch")}  # dead code is removed in branches too
    optimized = graphopt.optimize(g, "O2")
    for x in (torch.randn(5, 4) + 3, torch.randn(2, 4) - 3):  # one input per branch
        with torch.no_grad():
            expected = model(x)
        for actual, want in zip(run(optimized, x), expected, strict=True):
            close(actual, want)


def test_loops_are_reported_with_a_pointer_to_torchscript() -> None:
    from torch._higher_order_ops.while_loop import while_loop

    class Doubling(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y * 2), (torch.tensor(0), x))[1]

    with pytest.raises(UnsupportedOpError, match=r"(?s)1 op .*while_loop at .*test_torch_export\.py:\d+ in "
                                                 r"forward.*from_torchscript"):
        graphopt.from_torch(Doubling(), (torch.randn(3),))


def test_training_mode_batch_norm_asks_for_eval() -> None:
    with pytest.raises(UnsupportedOpError, match=r"model\.eval\(\)"):
        graphopt.from_torch(ConvNet().train(), (torch.randn(2, 3, 8, 8),))


def test_export_failures_and_bad_sources_are_model_load_errors(tmp_path: Path) -> None:
    class DataDependent(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + 1 if x.sum() > 0 else x - 1

    with pytest.raises(ModelLoadError, match="from_torchscript"):
        graphopt.from_torch(DataDependent(), (torch.randn(3),))
    with pytest.raises(ModelLoadError, match="no such file"):
        graphopt.from_torch(tmp_path / "missing.pt2")
    (tmp_path / "junk.pt2").write_bytes(b"not a zip")
    with pytest.raises(ModelLoadError, match="torch.export.load"):
        graphopt.load(tmp_path / "junk.pt2")
    with pytest.raises(ModelLoadError, match="nn.Module, an ExportedProgram or a .pt2 path"):
        graphopt.from_torch(42)


def test_missing_torch_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # what `import torch` sees when it is not installed
    with pytest.raises(ModelLoadError, match=r'pip install "graphopt\[torch\]"'):
        graphopt.from_torch(object(), ())


def test_a_transposed_weight_read_twice_stays_defined() -> None:
    """addmm reads the weight through Gemm's transB; a second reader of the transpose must still find it."""

    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            wt = self.fc.weight.t()
            return torch.addmm(self.fc.bias, x, wt), x @ wt

    model, x = Shared(), torch.randn(3, 4)
    g = graphopt.from_torch(model, (x,))
    graphopt.verify(g)
    for actual, expected in zip(run(g, x), model(x), strict=True):
        close(actual, expected)
