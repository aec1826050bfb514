"""The TorchScript frontend: prim ops, lists and tuples, If/Loop, freezing, .pt archives and errors.

Every numeric check runs the lifted graph in ONNX Runtime (through to_onnx) against torch.
"""

from __future__ import annotations

import math
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import graphopt
from graphopt.errors import ModelLoadError, UnsupportedOpError
from tests.torchscript_zoo import run_onnx


def lift_and_run(script: Any, *args: Any, others: tuple[tuple[Any, ...], ...] = ()) -> graphopt.Graph:
    """Lift with ``args`` as examples, optimize at O2, and check ONNX Runtime against torch on
    ``args`` and on each tuple in ``others`` (e.g. another batch size)."""
    graph = graphopt.from_torchscript(script, args)
    graphopt.verify(graph)
    model = graphopt.to_onnx(graphopt.optimize(graph, "O2"))
    for inputs in (args, *others):
        got = run_onnx(model, [np.asarray(x.numpy() if isinstance(x, torch.Tensor) else x) for x in inputs])
        flat = _flatten(script(*inputs))  # after ONNX Runtime: the script may write into its inputs
        assert len(got) == len(flat)
        for g, e in zip(got, flat, strict=True):
            np.testing.assert_allclose(g, np.asarray(e), rtol=1e-4, atol=1e-5)
    return graph


def _flatten(x: Any) -> list[Any]:
    if isinstance(x, dict):
        x = list(x.values())
    if isinstance(x, (tuple, list)):
        return [y for item in x for y in _flatten(item)]
    return [x.detach().numpy() if isinstance(x, torch.Tensor) else x]


def ops(graph: graphopt.Graph) -> list[str]:
    return [n.op for n in graph.walk()]


# -- prim ops, lists and tuples -----------------------------------------------------------------


def test_tuples_lists_and_scalar_outputs_are_flattened() -> None:
    @torch.jit.script
    def f(x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], int]:
        parts = [x * 2, x + 1]
        a, b = parts
        pair = (a, b)
        return pair[1] - pair[0], [torch.relu(x), a], x.size(1)

    g = lift_and_run(f, torch.randn(2, 3))
    assert [v.name for v in g.outputs] == ["output_0", "output_1", "output_2", "output_3"]
    assert g.outputs[3].type.shape == ()


def test_shape_arithmetic_stays_symbolic_in_the_batch_dim() -> None:
    @torch.jit.script
    def f(x: torch.Tensor) -> torch.Tensor:
        n = x.size(0)
        return x.reshape(n * 2, x.size(1) // 2).sum(1) + float(x.dim())

    g = lift_and_run(f, torch.randn(2, 6), others=((torch.randn(5, 6),),))
    assert g.outputs[0].type.shape == (None,) or g.outputs[0].type.shape[0] != 4


def test_traced_size_arithmetic_follows_the_batch() -> None:
    def f(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.size(0) * x.size(1), -1) * (x.size(0) / 2)

    traced = torch.jit.trace(f, torch.randn(2, 3, 4))
    g = lift_and_run(traced, torch.randn(2, 3, 4), others=((torch.randn(5, 3, 4),),))
    assert {"Shape", "Reshape"} <= set(ops(g))


def test_static_checks_on_shapes_are_decided_while_lowering() -> None:
    @torch.jit.script
    def f(x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3:
            raise ValueError("expected a 3-d input")
        if x.dtype == torch.float32 and not x.is_cuda:
            return x.transpose(1, 2)
        return x

    g = lift_and_run(f, torch.randn(2, 3, 4))
    assert "If" not in ops(g)


def test_data_dependent_if_becomes_an_if_node() -> None:
    @torch.jit.script
    def f(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x * y if bool(x.sum() > 0) else x - y  # a prim::If like any if statement

    x = torch.ones(2, 3)
    g = lift_and_run(f, x, torch.randn(2, 3), others=((-x, torch.randn(2, 3)),))
    assert ops(g).count("If") == 1


def test_if_that_raises_keeps_the_path_that_returns() -> None:
    @torch.jit.script
    def f(x: torch.Tensor) -> torch.Tensor:
        if bool(x.min() < -100.0):
            raise RuntimeError("out of range")
        return x + 1

    g = lift_and_run(f, torch.randn(2, 3))
    assert "If" not in ops(g)


def test_loop_with_trip_count_from_an_input() -> None:
    @torch.jit.script
    def f(x: torch.Tensor, n: int) -> torch.Tensor:
        y = x
        for i in range(n):
            y = y * 0.5 + i
        return y

    g = lift_and_run(f, torch.randn(2, 3), 3, others=((torch.randn(4, 3), 0), (torch.randn(1, 3), 5)))
    assert ops(g).count("Loop") == 1


def test_while_loop_on_a_tensor_condition() -> None:
    @torch.jit.script
    def f(x: torch.Tensor) -> tuple[torch.Tensor, int]:
        steps = 0
        while bool(x.abs().max() > 1.0):
            x = x / 2
            steps += 1
        return x, steps

    g = lift_and_run(f, torch.randn(2, 3) * 10, others=((torch.randn(2, 3) * 0.1,),))
    assert ops(g).count("Loop") == 1


def test_short_loops_and_list_building_are_unrolled() -> None:
    @torch.jit.script
    def f(x: torch.Tensor) -> torch.Tensor:
        parts: list[torch.Tensor] = []
        for i in range(x.dim()):
            parts.append(x.sum(i, keepdim=True).flatten())
        for _ in range(3):
            x = x + 1
        return torch.cat(parts) + x.mean()

    g = lift_and_run(f, torch.randn(2, 3))
    assert "Loop" not in ops(g)


def test_long_loop_with_a_known_trip_count_stays_a_loop() -> None:
    @torch.jit.script
    def f(x: torch.Tensor) -> torch.Tensor:
        for i in range(100):
            x = x * 0.99 + i / 1000
        return x

    g = lift_and_run(f, torch.randn(2, 3))
    assert ops(g).count("Loop") == 1


def test_scalar_inputs_and_dynamic_scalar_arithmetic() -> None:
    @torch.jit.script
    def f(x: torch.Tensor, k: int, scale: float) -> torch.Tensor:
        m = (k * 3 - 1) // 2 + k % 4 + math.floor(scale * 3.5) + int(scale % 0.75 * 8)
        return x * scale + m + (k > 2)

    lift_and_run(f, torch.randn(2, 3), 4, 0.5, others=((torch.randn(2, 3), -3, 2.0),))


# -- modules: freezing, tracing, in-place ops ---------------------------------------------------


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.act = nn.ReLU(inplace=True)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4, 2)
        self.register_buffer("offset", torch.tensor([0.25, -0.5]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn(self.conv(x)))
        return self.fc(self.drop(y.mean((2, 3)))) + self.offset


def _net() -> nn.Module:
    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():
        net.bn.running_mean.uniform_(-0.5, 0.5)
        net.bn.running_var.uniform_(0.5, 1.5)
    return net


@pytest.mark.parametrize("mode", ["trace", "script"])
def test_module_is_frozen_parameters_become_constants(mode: str) -> None:
    net = _net().eval()
    x = torch.randn(2, 3, 8, 8)
    script = torch.jit.trace(net, x) if mode == "trace" else torch.jit.script(net)
    g = lift_and_run(script, x, others=((torch.randn(5, 3, 8, 8),),))
    assert [v.name for v in g.inputs] == ["x"] and g.inputs[0].type.shape == ("batch", 3, 8, 8)
    assert {"Conv", "BatchNormalization"} <= set(ops(g))  # the graph as written; folding is O2's job
    assert len(g.constants) >= 5


def test_module_in_training_mode_is_lifted_for_inference_and_left_as_it_was() -> None:
    net = _net().train()
    script = torch.jit.script(net)
    script.bn.eval()  # a mixed state, which lifting must leave as it was
    g = graphopt.from_torchscript(script, (torch.randn(2, 3, 8, 8),))
    assert script.training and script.drop.training and not script.bn.training
    assert "Dropout" not in ops(g)
    x = torch.randn(3, 3, 8, 8)
    got = run_onnx(graphopt.to_onnx(g), [x.numpy()])[0]
    np.testing.assert_allclose(got, net.eval()(x).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_traced_module_without_example_args_uses_the_recorded_types() -> None:
    traced = torch.jit.trace(_net().eval(), torch.randn(2, 3, 8, 8))
    g = graphopt.from_torchscript(traced)
    assert str(g.inputs[0].type) == "f32[batch,3,8,8]"


def test_in_place_ops_on_whole_tensors() -> None:
    @torch.jit.script
    def f(x: torch.Tensor) -> torch.Tensor:
        x.mul_(3)  # a write into an input survives torch's mutation removal
        y = x * 2
        y.add_(1)
        y.relu_()
        return y.view(-1).unsqueeze(0) + x.flatten()  # views taken after the writes

    lift_and_run(f, torch.randn(2, 3))


def test_script_function_and_example_count_mismatch() -> None:
    @torch.jit.script
    def f(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x @ y

    lift_and_run(f, torch.randn(2, 3), torch.randn(3, 4))
    with pytest.raises(ModelLoadError, match=r"forward takes 2 inputs \(x, y\) but 1 example_args"):
        graphopt.from_torchscript(f, (torch.randn(2, 3),))


def test_parameters_left_out_of_example_args_take_their_defaults() -> None:
    @torch.jit.script
    def f(x: torch.Tensor, mask: torch.Tensor | None = None, k: int = 3) -> torch.Tensor:
        return x * k if mask is None else x * mask

    g = lift_and_run(f, torch.randn(2, 3))
    assert [v.name for v in g.inputs] == ["x"] and "If" not in ops(g)


def test_plain_module_is_refused_with_a_pointer_to_from_torch() -> None:
    with pytest.raises(ModelLoadError, match="from_torch"):
        graphopt.from_torchscript(nn.Linear(2, 2), (torch.randn(1, 2),))


# -- unsupported ops ----------------------------------------------------------------------------


def test_every_unsupported_op_is_reported_at_once_with_its_location() -> None:
    @torch.jit.script
    def f(x: torch.Tensor) -> torch.Tensor:
        a = torch.histc(x, 4)
        b = torch.special.bessel_j0(x)
        c = torch.histc(x * 2, 4)
        return a.sum() + b.sum() + c.sum()

    with pytest.raises(UnsupportedOpError) as info:
        graphopt.from_torchscript(f, (torch.randn(8),))
    message = str(info.value)
    assert "3 ops could not be converted" in message
    assert message.count("aten::histc at ") == 2 and "aten::special_bessel_j0 at " in message
    lines = Path(__file__).read_text().splitlines()
    where = lines.index("        b = torch.special.bessel_j0(x)") + 1
    assert f"{__file__}:{where}" in message


def test_writing_into_a_slice_is_reported() -> None:
    @torch.jit.script
    def f(x: torch.Tensor) -> torch.Tensor:
        y = x.clone()
        y[0].mul_(2)
        return y

    with pytest.raises(UnsupportedOpError, match="in-place write into a view"):
        graphopt.from_torchscript(f, (torch.randn(2, 3),))


# -- .pt files ----------------------------------------------------------------------------------


def test_pt_round_trip(tmp_path: Path) -> None:
    net = _net().eval()
    path = tmp_path / "net.pt"
    torch.jit.save(torch.jit.script(net), str(path))
    frozen = tmp_path / "frozen.pt"
    torch.jit.save(torch.jit.freeze(torch.jit.script(net)), str(frozen))
    x = torch.randn(3, 3, 8, 8)
    expected = net(x).detach().numpy()
    for graph in (graphopt.from_torchscript(path, (torch.randn(2, 3, 8, 8),)), graphopt.load(path),
                  graphopt.from_torchscript(frozen, (x,))):
        got = run_onnx(graphopt.to_onnx(graphopt.optimize(graph, "O2")), [x.numpy()])[0]
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


class _Trap:
    """Unpickling this writes a file: proof that a loader ran code from the checkpoint."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path(self.path).write_text, ("unpickled",))


def test_script_module_without_forward_is_refused_clearly() -> None:
    scripted = torch.jit.script(nn.GRU(4, 4))  # torch compiles no forward for a bare scripted GRU
    with pytest.raises(ModelLoadError, match="no compiled forward"):
        graphopt.from_torchscript(scripted, (torch.randn(2, 3, 4),))


def test_pickled_checkpoints_are_refused_without_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    zipped = tmp_path / "checkpoint.pt"
    torch.save({"state": _net().state_dict(), "trap": _Trap(str(marker))}, zipped)
    legacy = tmp_path / "legacy.pt"
    torch.save(_Trap(str(marker)), legacy, _use_new_zipfile_serialization=False)
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(_Trap(str(marker))))
    assert zipfile.is_zipfile(zipped) and not zipfile.is_zipfile(legacy)

    with pytest.raises(ModelLoadError, match="torch.save checkpoint .* does not unpickle"):
        graphopt.load(zipped)
    for path in (legacy, raw):
        with pytest.raises(ModelLoadError, match="not a zip archive"):
            graphopt.load(path)
    other_zip = tmp_path / "other.pt"
    with zipfile.ZipFile(other_zip, "w") as zf:
        zf.writestr("archive/serialized_exported_program.json", "{}")
    with pytest.raises(ModelLoadError, match="zip archive without TorchScript code"):
        graphopt.load(other_zip)
    with pytest.raises(ModelLoadError, match="no such file"):
        graphopt.load(tmp_path / "missing.pt")
    assert not marker.exists()


def test_updating_outer_values_under_a_data_dependent_condition_is_reported() -> None:
    @torch.jit.script
    def f(x: torch.Tensor) -> list[torch.Tensor]:
        parts = [x]
        if bool(x.sum() > 0):
            parts.append(x * 2)
        return parts

    with pytest.raises(UnsupportedOpError, match="in-place update, inside a branch"):
        graphopt.from_torchscript(f, (torch.randn(2, 3),))


def test_dicts_and_tensors_built_from_scalars() -> None:
    @torch.jit.script
    def f(x: torch.Tensor) -> dict[str, torch.Tensor]:
        sizes = {"rows": x.size(0), "cols": x.size(1)}
        scale = torch.tensor([sizes["rows"], sizes["cols"]])
        return {"scaled": x * scale.sum(), "flags": torch.tensor([1.5, 2.5]) + x.mean()}

    g = lift_and_run(f, torch.randn(2, 3), others=((torch.randn(4, 3),),))
    assert [v.name for v in g.outputs] == ["scaled", "flags"]


def test_checks_nested_under_data_dependent_conditions_are_dropped() -> None:
    @torch.jit.script
    def f(x: torch.Tensor) -> torch.Tensor:
        if bool(x.sum() > 0):
            if bool(x.max() > 1e6):
                raise ValueError("too large")
            x = x * 2
        else:
            x = x - 1
        return x

    lift_and_run(f, torch.ones(2, 3), others=((-torch.ones(2, 3),),))


def test_a_check_that_always_fails_is_reported() -> None:
    @torch.jit.script
    def f(x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError("expected NCHW")
        return x

    with pytest.raises(ModelLoadError, match="the model raises for these input types and shapes: .*NCHW"):
        graphopt.from_torchscript(f, (torch.randn(2, 3),))


def test_lists_holding_run_time_sizes() -> None:
    @torch.jit.script
    def f(x: torch.Tensor) -> torch.Tensor:
        shape = x.size()[:1] + [x.size(1) * x.size(2)]  # noqa: RUF005  (TorchScript list concatenation)
        return x.reshape(shape) * len(shape) + max(x.size(1), x.size(2))

    lift_and_run(f, torch.randn(2, 3, 4), others=((torch.randn(5, 3, 4),),))


def test_shape_checks_against_run_time_sizes() -> None:
    @torch.jit.script
    def f(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        if h.size() != [x.size(0), 1, 3]:
            raise RuntimeError("bad hidden size")
        same = x.size() == [x.size(0), 3]
        return x + h[:, 0] + float(same)

    lift_and_run(f, torch.randn(2, 3), torch.randn(2, 1, 3), others=((torch.randn(4, 3), torch.randn(4, 1, 3)),))


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")  # torch's own shape checks in nn.LSTM
@pytest.mark.parametrize("mode", ["trace", "script"])
def test_lstm_with_given_states_without_biases(mode: str) -> None:
    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(4, 6, bias=False)

        def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            y, (h_n, c_n) = self.lstm(x, (h, c))
            return y, h_n + c_n

    torch.manual_seed(0)
    model = Model().eval()
    args = (torch.randn(5, 2, 4), torch.randn(1, 2, 6), torch.randn(1, 2, 6))
    script = torch.jit.trace(model, args) if mode == "trace" else torch.jit.script(model)
    lift_and_run(script, *args)


def test_ops_only_torchscript_graphs_contain() -> None:
    @torch.jit.script
    def f(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        y = nn.functional.pad(x, (1, 2, 2, 1), mode="reflect") + nn.functional.pad(x, (1, 2, 2, 1), value=0.5)
        y = nn.functional.conv_transpose2d(y, w, stride=2)
        z = torch.einsum("bchw,bc->bhw", y, y.mean((2, 3))).unflatten(1, (-1, 3))
        mask = (z > 0) & (z < 1) | (z < -1)
        return z.to(torch.device("cpu"), torch.float64) * mask

    lift_and_run(f, torch.randn(2, 3, 4, 6), torch.randn(3, 2, 3, 3), others=((torch.randn(1, 3, 4, 6),
                                                                              torch.randn(3, 2, 3, 3)),))


def test_writing_into_a_tensor_whose_view_is_read_later_is_reported() -> None:
    @torch.jit.script
    def f(x: torch.Tensor) -> torch.Tensor:
        y = x * 1
        flat = y.view(-1).unsqueeze(0)
        y.add_(1)
        return flat * 2 + y.sum()

    with pytest.raises(UnsupportedOpError, match="whose view made by aten::unsqueeze .* is read afterwards"):
        graphopt.from_torchscript(f, (torch.randn(2, 3),))


_RECURRENT = {
    "gru-2layer-bidirectional-batch_first": lambda: nn.GRU(4, 5, num_layers=2, bidirectional=True, batch_first=True),
    "gru-no-bias": lambda: nn.GRU(4, 5, bias=False),
    "rnn-tanh-2layer": lambda: nn.RNN(4, 5, num_layers=2),
    "rnn-relu-bidirectional-batch_first": lambda: nn.RNN(4, 5, nonlinearity="relu", bidirectional=True,
                                                         batch_first=True),
}


class _Recurrent(nn.Module):
    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.rnn(x, h)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")  # torch's own shape checks in nn.GRU/nn.RNN
@pytest.mark.parametrize("mode", ["trace", "script"])
@pytest.mark.parametrize("kind", list(_RECURRENT))
def test_gru_and_rnn(kind: str, mode: str) -> None:
    torch.manual_seed(0)
    rnn = _RECURRENT[kind]()
    model = _Recurrent(rnn).eval()
    states = rnn.num_layers * (2 if rnn.bidirectional else 1)

    x = torch.randn(2, 7, 4) if rnn.batch_first else torch.randn(7, 2, 4)
    args = (x, torch.randn(states, 2, 5))  # only leading dims are symbolic: the states fix the batch
    script = torch.jit.trace(model, args) if mode == "trace" else torch.jit.script(model)
    graph = lift_and_run(script, *args)
    assert ops(graph).count("GRU" if kind.startswith("gru") else "RNN") == rnn.num_layers


class _ZeroState(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(3, 4, num_layers=2, batch_first=True)  # a scripted bare nn.GRU has no forward

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.gru(x)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize("mode", ["trace", "script"])
def test_gru_with_zero_initial_state_follows_the_batch(mode: str) -> None:
    torch.manual_seed(0)
    model = _ZeroState().eval()
    x = torch.randn(2, 6, 3)
    script = torch.jit.trace(model, (x,)) if mode == "trace" else torch.jit.script(model)
    lift_and_run(script, x, others=((torch.randn(3, 6, 3),),))
