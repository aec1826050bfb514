"""A small model zoo: real architectures defined here (no downloads), exported to ONNX with torch.

Each model is tiny (random weights, fixed seed) so the whole zoo exports in about 20 s on 2 CPU cores,
most of it the dynamo exporter's start-up. :func:`export` writes one model to ``<directory>/<name>.onnx``
and returns it with its inputs.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

OPSET = 18
"""Opset of the TorchScript exporter's models: one that ONNX Runtime and OpenVINO both load."""


@dataclass(frozen=True)
class ZooModel:
    """An exported zoo model: its ONNX file and one fixed input per graph input, in order."""

    name: str
    path: Path
    inputs: list[np.ndarray]


# -- CNNs ----------------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    """ResNet's two-conv residual block, with a 1x1 projection when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        self.layers = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 32, 2), BasicBlock(32, 64, 2))
        self.fc = nn.Linear(64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layers(self.stem(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.expand = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = nn.functional.adaptive_avg_pool2d(x, 1)
        return x * nn.functional.hardsigmoid(self.expand(torch.relu(self.reduce(s))))


class InvertedResidual(nn.Module):
    """MobileNetV2's expand → depthwise → project block (ReLU6 or HardSwish, optional SE)."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int, act: type[nn.Module], se: bool) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), act(),
                                   nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
                                   nn.BatchNorm2d(hidden), act()]
        if se:
            layers.append(SqueezeExcite(hidden, max(8, hidden // 4)))
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


class MobileNet(nn.Module):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.Hardswish(),
            InvertedResidual(16, 16, 1, 1, nn.ReLU6, se=False),
            InvertedResidual(16, 24, 2, 4, nn.ReLU6, se=False),
            InvertedResidual(24, 24, 1, 4, nn.ReLU6, se=False),
            InvertedResidual(24, 40, 2, 4, nn.Hardswish, se=True),
            InvertedResidual(40, 40, 1, 4, nn.Hardswish, se=True),
            nn.Conv2d(40, 96, 1, bias=False), nn.BatchNorm2d(96), nn.Hardswish())
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(96, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


class UNet(nn.Module):
    """Three levels: max-pool down, one ConvTranspose up and one bilinear Upsample up, concat skips."""

    def __init__(self) -> None:
        super().__init__()
        self.enc1, self.enc2, self.mid = _double_conv(3, 8), _double_conv(8, 16), _double_conv(16, 32)
        self.up2 = nn.ConvTranspose2d(32, 16, 2, stride=2)
        self.dec2 = _double_conv(32, 16)
        self.up1 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.dec1 = _double_conv(16 + 8, 8)
        self.out = nn.Conv2d(8, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(nn.functional.max_pool2d(e1, 2))
        m = self.mid(nn.functional.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([self.up2(m), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return torch.sigmoid(self.out(d1))


class NestedUNet(nn.Module):
    """UNet++ (Zhou et al., 2018): five levels whose decoder nodes X(i,j) concatenate every earlier node of
    their level with the upsampled X(i+1,j-1); evaluated column by column as the reference code does."""

    def __init__(self, widths: tuple[int, ...] = (8, 16, 32, 64, 128), classes: int = 2) -> None:
        super().__init__()
        self.blocks = nn.ModuleDict()
        for i, w in enumerate(widths):
            self.blocks[f"{i}_0"] = _double_conv(3 if i == 0 else widths[i - 1], w)
            for j in range(1, len(widths) - i):
                self.blocks[f"{i}_{j}"] = _double_conv(w * j + widths[i + 1], w)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.out = nn.Conv2d(widths[0], classes, 1)
        self.depth = len(widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes: dict[tuple[int, int], torch.Tensor] = {}
        for k in range(self.depth):
            nodes[k, 0] = self.blocks[f"{k}_0"](x if k == 0 else nn.functional.max_pool2d(nodes[k - 1, 0], 2))
            for j in range(1, k + 1):
                i = k - j
                skips = [nodes[i, t] for t in range(j)]
                nodes[i, j] = self.blocks[f"{i}_{j}"](torch.cat([*skips, self.up(nodes[i + 1, j - 1])], 1))
        return self.out(nodes[0, self.depth - 1])


# -- sequence models -----------------------------------------------------------------------------


class Encoder(nn.Module):
    """nn.TransformerEncoder (2 post-norm ReLU layers), then one pre-norm GELU encoder layer."""

    def __init__(self, d_model: int = 64) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model, 4, 128, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.norm_first = nn.TransformerEncoderLayer(d_model, 4, 128, dropout=0.0, activation="gelu",
                                                     batch_first=True, norm_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm_first(self.encoder(x))


class LSTMTagger(nn.Module):
    """Embedding → 2-layer bidirectional LSTM → linear per step."""

    def __init__(self, vocab: int = 50, hidden: int = 32, tags: int = 5) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, 16)
        self.lstm = nn.LSTM(16, hidden, num_layers=2, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, tags)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        y, _ = self.lstm(self.embed(tokens))
        return self.out(y)


class _HFLogits(nn.Module):
    """A transformers model returning plain tensors (its first output), for export."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask, return_dict=False)[0]


_EAGER: dict[str, Any] = {"attn_implementation": "eager"}
"""Plain MatMul/Softmax attention rather than torch's fused SDPA (a config option transformers does not type)."""


def _gpt2() -> nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=100, n_positions=32, n_embd=64, n_layer=2, n_head=2, use_cache=False,
                        bos_token_id=0, eos_token_id=0, **_EAGER)
    return _HFLogits(GPT2LMHeadModel(config))


def _bert() -> nn.Module:
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=100, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=32, **_EAGER)
    return _HFLogits(BertModel(config, add_pooling_layer=False))


# -- export --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """How to build, feed and export one zoo model."""

    build: Callable[[], nn.Module]
    inputs: Callable[[np.random.Generator], list[np.ndarray]]
    input_names: tuple[str, ...]
    dynamo: bool = False
    optimize: bool = True
    """For dynamo exports: run onnxscript's optimizer (it folds BatchNorm and constants) or keep the raw graph."""


def _image(shape: tuple[int, ...]) -> Callable[[np.random.Generator], list[np.ndarray]]:
    return lambda rng: [rng.standard_normal(shape).astype(np.float32)]


def _text(rng: np.random.Generator) -> list[np.ndarray]:
    ids = rng.integers(0, 100, (2, 16), dtype=np.int64)
    mask = np.ones((2, 16), np.int64)
    mask[1, 12:] = 0  # one padded sequence, so the attention mask matters
    return [ids, mask]


SPECS: dict[str, Spec] = {
    "resnet": Spec(ResNet, _image((2, 3, 32, 32)), ("x",)),
    "resnet_dynamo_raw": Spec(ResNet, _image((2, 3, 32, 32)), ("x",), dynamo=True, optimize=False),
    "mobilenet": Spec(MobileNet, _image((2, 3, 64, 64)), ("x",)),
    "unet": Spec(UNet, _image((1, 3, 32, 32)), ("x",)),
    "unetpp": Spec(NestedUNet, _image((1, 3, 32, 32)), ("x",)),
    "transformer": Spec(Encoder, _image((2, 10, 64)), ("x",)),
    "transformer_dynamo": Spec(Encoder, _image((2, 10, 64)), ("x",), dynamo=True),
    "lstm": Spec(LSTMTagger, lambda rng: [rng.integers(0, 50, (2, 12), dtype=np.int64)], ("tokens",)),
    "gpt2": Spec(_gpt2, _text, ("input_ids", "attention_mask")),
    "bert": Spec(_bert, _text, ("input_ids", "attention_mask")),
}
NAMES = tuple(SPECS)


def _randomize_batchnorm(model: nn.Module, gen: torch.Generator) -> None:
    """Give BatchNorm non-trivial statistics, so folding or dropping it would show in the outputs."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean = torch.randn(m.num_features, generator=gen) * 0.1
            m.running_var = torch.rand(m.num_features, generator=gen) + 0.5
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


@contextlib.contextmanager
def no_mha_fastpath() -> Iterator[None]:
    """Keep nn.TransformerEncoderLayer off its fused inference kernel, which has no ONNX export."""
    enabled = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(enabled)


def export(name: str, directory: str | Path) -> ZooModel:
    """Build zoo model ``name`` with fixed random weights and export it to ``<directory>/<name>.onnx``."""
    spec = SPECS[name]
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        model = spec.build().eval()
        _randomize_batchnorm(model, gen)
    inputs = spec.inputs(np.random.default_rng(0))
    path = Path(directory) / f"{name}.onnx"
    args = tuple(torch.from_numpy(x) for x in inputs)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad(), no_mha_fastpath():
        warnings.simplefilter("ignore")
        if spec.dynamo:
            torch.onnx.export(model, args, str(path), input_names=list(spec.input_names), output_names=["output"],
                              dynamo=True, optimize=spec.optimize, external_data=False, verbose=False)
        else:
            torch.onnx.export(model, args, str(path), input_names=list(spec.input_names), output_names=["output"],
                              opset_version=OPSET, dynamo=False, training=torch.onnx.TrainingMode.PRESERVE)
    return ZooModel(name, path, inputs)


def export_all(directory: str | Path) -> dict[str, ZooModel]:
    """Export every zoo model into ``directory``."""
    return {name: export(name, directory) for name in NAMES}


# -- a model over protobuf's 2 GiB limit ---------------------------------------------------------

LARGE_DIMS = (12_500, 15_000)
"""Each of the large model's three weights is a 12500 x 15000 float32 matrix: 750 MB, 2.25 GB in all."""
_ALIGN = 4096
_SAMPLE = 1 << 20  # bytes of random data written at a few places in each weight


def large_model(directory: str | Path, name: str = "large") -> Path:
    """Write ``<directory>/<name>.onnx`` with its three 750 MB weights in ``<name>.bin``.

    y = MatMul(Gemm(Relu(MatMul(x, w1) + b1), w2, b2, transB=1), w3) with x: [1, 12500].
    The weight file is made with ``np.memmap``, so it is sparse: only the random samples written at the
    start, middle and end of each weight (different in each) take disk space, and the weights are never
    held in memory here. Offsets are page-aligned.
    """
    import onnx
    from onnx import TensorProto, helper

    directory = Path(directory)
    k, n = LARGE_DIMS
    weight_bytes = k * n * 4
    stride = -(-weight_bytes // _ALIGN) * _ALIGN
    data_name = f"{name}.bin"
    data = np.memmap(directory / data_name, dtype=np.uint8, mode="w+", shape=(3 * stride,))
    rng = np.random.default_rng(0)
    weights = []
    for i, wname in enumerate(("w1", "w2", "w3")):
        offset = i * stride
        for start in (0, weight_bytes // 2 - weight_bytes // 2 % 4, weight_bytes - _SAMPLE):
            samples = rng.standard_normal(_SAMPLE // 4).astype(np.float32) * 0.01
            data[offset + start: offset + start + _SAMPLE] = samples.view(np.uint8)
        w = TensorProto(name=wname, data_type=TensorProto.FLOAT, dims=[k, n])
        w.data_location = TensorProto.EXTERNAL
        for key, value in (("location", data_name), ("offset", offset), ("length", weight_bytes)):
            w.external_data.add(key=key, value=str(value))
        weights.append(w)
    data.flush()
    del data
    biases = [onnx.numpy_helper.from_array(rng.standard_normal(size).astype(np.float32), bname)
              for bname, size in (("b1", n), ("b2", k))]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h1"]), helper.make_node("Add", ["h1", "b1"], ["h2"]),
             helper.make_node("Relu", ["h2"], ["h3"]),
             helper.make_node("Gemm", ["h3", "w2", "b2"], ["h4"], transB=1),
             helper.make_node("MatMul", ["h4", "w3"], ["y"])]
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])],
                              initializer=weights + biases)
    model = helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", OPSET)])
    path = directory / f"{name}.onnx"
    onnx.save(model, path)
    return path
