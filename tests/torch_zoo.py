"""Zoo models for the torch frontends: tests/zoo.py's models (built the same way, with the same fixed
weights) plus a hybrid conv/attention net and two op-mix models that reach ops the others do not, with
example inputs at batch 2 and check inputs at batch 3."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tests import zoo


class HybridNet(nn.Module):
    """Conv stem with GroupNorm and SiLU, one pre-norm attention block over the pixels through
    ``F.scaled_dot_product_attention`` with a tanh-GELU MLP, a pixel-shuffle + nearest-upsample image
    head, and a classifier head returning its top-3 probabilities and their classes."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.GroupNorm(4, 16), nn.SiLU())
        self.norm1, self.norm2 = nn.LayerNorm(16), nn.LayerNorm(16)
        self.qkv, self.proj = nn.Linear(16, 48), nn.Linear(16, 16)
        self.mlp = nn.Sequential(nn.Linear(16, 32), nn.GELU(approximate="tanh"), nn.Linear(32, 16))
        self.head = nn.Conv2d(16, 16, 1)
        self.classifier = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        y = self.stem(x)
        b, c, h, w = y.shape
        tokens = y.flatten(2).transpose(1, 2)
        q, k, v = self.qkv(self.norm1(tokens)).view(b, h * w, 3, 2, c // 2).permute(2, 0, 3, 1, 4).unbind(0)
        attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, h * w, c)
        tokens = tokens + self.proj(attended)
        tokens = tokens + self.mlp(self.norm2(tokens))
        y = tokens.transpose(1, 2).reshape(b, c, h, w)
        image = F.interpolate(F.pixel_shuffle(self.head(y), 2), scale_factor=2.0, mode="nearest")
        probs = self.classifier(tokens.mean(1)).softmax(-1)
        top = probs.topk(3, dim=-1)
        return image, top.values, top.indices


class SequenceOps(nn.Module):
    """1-D ops and a GRU: embedding with padding_idx, reflect pad, conv1d, max/avg pool1d, a GRU (which
    torch.export unrolls), cumsum positions and argmax."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 4, padding_idx=0)
        self.conv = nn.Conv1d(4, 6, 3, padding=1)
        self.gru = nn.GRU(6, 5, batch_first=True)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.embed(ids).transpose(1, 2)
        x = F.max_pool1d(F.relu(self.conv(F.pad(x, (1, 1), mode="reflect"))), 2)
        out, hidden = self.gru(F.avg_pool1d(x, 2).transpose(1, 2))
        positions = torch.cumsum(torch.ones_like(ids), 1) - 1
        return out, hidden, positions, out.argmax(-1)


class VisionOps(nn.Module):
    """chunk, bilinear resize to another input's size (align_corners), F.normalize, masked softmax, topk
    with gather and scatter, einsum and where."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)

    def forward(self, x: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, ...]:
        a, b, c = self.conv(x).chunk(3, dim=1)
        y = F.interpolate(a * b + c, size=like.shape[-2:], mode="bilinear", align_corners=True)
        y = F.normalize(y.flatten(1), dim=-1)
        probs = y.masked_fill(y <= 0.01, float("-inf")).softmax(-1)
        top = torch.topk(probs, 3).indices
        picked = torch.gather(y, 1, top)
        marks = torch.zeros_like(y).scatter(1, top, 1.0)
        return probs, picked, marks, torch.einsum("bi,bj->bij", picked, picked), torch.where(y > 0, y, 0.0)


def _gpt2_sdpa() -> nn.Module:
    """tests/zoo.py's GPT-2 with torch's fused attention (F.scaled_dot_product_attention, causal + padding mask)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=100, n_positions=32, n_embd=64, n_layer=2, n_head=2, use_cache=False,
                        bos_token_id=0, eos_token_id=0, attn_implementation="sdpa")
    return zoo._HFLogits(GPT2LMHeadModel(config))


def _t5_encoder() -> nn.Module:
    """A T5 encoder: RMS-style layer norm, relative position buckets (log, min, where on positions)."""
    from transformers import T5Config, T5EncoderModel

    config = T5Config(vocab_size=100, d_model=32, d_kv=16, d_ff=64, num_layers=2, num_heads=2)
    return zoo._HFLogits(T5EncoderModel(config))


@dataclass(frozen=True)
class TorchModel:
    """A zoo model in eval mode with example inputs (batch 2) and inputs at another batch size (3)."""

    name: str
    module: nn.Module
    example: tuple[torch.Tensor, ...]
    other: tuple[torch.Tensor, ...]


def _batch(arrays: list[np.ndarray], n: int) -> tuple[torch.Tensor, ...]:
    """The inputs repeated along the batch dim and cut to ``n`` rows (so rows differ where they did)."""
    return tuple(torch.from_numpy(np.ascontiguousarray(np.concatenate([a] * n, 0)[:n])) for a in arrays)


_EXTRA: dict[str, tuple[Callable[[], nn.Module], Callable[[np.random.Generator], list[np.ndarray]]]] = {
    "hybrid": (HybridNet, lambda rng: [rng.standard_normal((2, 3, 16, 16)).astype(np.float32)]),
    "sequence_ops": (SequenceOps, lambda rng: [rng.integers(0, 20, (2, 12), dtype=np.int64)]),
    "gpt2_sdpa": (_gpt2_sdpa, zoo._text),
    "t5_encoder": (_t5_encoder, zoo._text),
    "vision_ops": (VisionOps, lambda rng: [rng.standard_normal((2, 3, 8, 8)).astype(np.float32),
                                           rng.standard_normal((2, 1, 12, 10)).astype(np.float32)]),
}
NAMES = ("resnet", "mobilenet", "unet", "transformer", "lstm", "gpt2", "bert", *_EXTRA)


def build(name: str) -> TorchModel:
    """Zoo model ``name`` with tests/zoo.py's seeds (random BatchNorm statistics included)."""
    build_fn, inputs = _EXTRA.get(name) or (zoo.SPECS[name].build, zoo.SPECS[name].inputs)
    torch.manual_seed(0)
    with torch.no_grad():
        module = build_fn().eval()
        zoo._randomize_batchnorm(module, torch.Generator().manual_seed(1))
    arrays = inputs(np.random.default_rng(0))
    return TorchModel(name, module, _batch(arrays, 2), _batch(arrays, 3))
