"""Normalizations (LayerNormalization, BatchNormalization …), LRN and the classification losses."""

from __future__ import annotations

import numpy as np

from graphopt.ir.dtypes import DType
from graphopt.ir.inference import InferContext
from graphopt.ir.ops.reduce import log_softmax, normalize_axis, same_as_input, widen
from graphopt.ir.registry import kernel, shape_inference
from graphopt.ir.types import TensorType, Type


def _stash(x: np.ndarray, stash_type: int) -> np.ndarray:
    """``x`` in the precision ``stash_type`` asks for, never narrower than float32 or than ``x`` itself."""
    stash = np.float64 if stash_type == DType.DOUBLE else np.float32
    return x.astype(np.result_type(widen(x).dtype, stash))


def _standardize(x: np.ndarray, axes: tuple[int, ...], epsilon: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x - mean) / sqrt(var + epsilon)`` over ``axes``, with the mean and the inverse std (kept dims)."""
    mean = np.mean(x, axis=axes, keepdims=True)
    centered = x - mean
    inv_std = 1 / np.sqrt(np.mean(np.square(centered), axis=axes, keepdims=True) + epsilon)
    return centered * inv_std, mean, inv_std


def _per_channel(p: np.ndarray, rank: int) -> np.ndarray:
    """A per-channel parameter of shape (C,) shaped to broadcast against an (N, C, ...) tensor."""
    return widen(p).reshape((1, -1) + (1,) * (rank - 2))


@kernel("LayerNormalization")
def layer_norm(x: np.ndarray, scale: np.ndarray, bias: np.ndarray | None = None, *, axis: int,
               epsilon: float, stash_type: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    axes = tuple(range(normalize_axis(axis, x.ndim), x.ndim))
    normalized, mean, inv_std = _standardize(_stash(x, stash_type), axes, epsilon)
    y = normalized * widen(scale)
    if bias is not None:
        y = y + widen(bias)
    stash = DType(stash_type).numpy
    return y.astype(x.dtype), mean.astype(stash), inv_std.astype(stash)


@shape_inference("LayerNormalization")
def infer_layer_norm(ctx: InferContext) -> list[Type]:
    t = ctx.tensor_type(0)
    stats_dtype = DType(ctx.attr("stash_type"))
    if t is None or t.shape is None:
        return [t, TensorType(stats_dtype), TensorType(stats_dtype)]
    axis = normalize_axis(ctx.attr("axis"), len(t.shape))
    stats = TensorType(stats_dtype, t.shape[:axis] + (1,) * (len(t.shape) - axis))
    return [t, stats, stats]


@kernel("RMSNormalization")
def rms_norm(x: np.ndarray, scale: np.ndarray, *, axis: int, epsilon: float, stash_type: int) -> np.ndarray:
    axes = tuple(range(normalize_axis(axis, x.ndim), x.ndim))
    xs = _stash(x, stash_type)
    normalized = xs / np.sqrt(np.mean(np.square(xs), axis=axes, keepdims=True) + epsilon)
    return (normalized * widen(scale)).astype(scale.dtype)


@shape_inference("RMSNormalization")
def infer_rms_norm(ctx: InferContext) -> list[Type]:
    dtype = ctx.dtype(1) or ctx.dtype(0)
    return [None if dtype is None else TensorType(dtype, ctx.shape(0))]


@kernel("BatchNormalization")
def batch_norm(x: np.ndarray, scale: np.ndarray, bias: np.ndarray, mean: np.ndarray, var: np.ndarray, *,
               epsilon: float, momentum: float, training_mode: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xc = widen(x)
    if training_mode:
        axes = (0, *range(2, x.ndim))
        batch_mean, batch_var = np.mean(xc, axis=axes), np.var(xc, axis=axes)
        running_mean = widen(mean) * momentum + batch_mean * (1 - momentum)
        running_var = widen(var) * momentum + batch_var * (1 - momentum)
        use_mean, use_var = batch_mean, batch_var
    else:
        use_mean, use_var, running_mean, running_var = widen(mean), widen(var), mean, var
    y = (xc - _per_channel(use_mean, x.ndim)) / np.sqrt(_per_channel(use_var, x.ndim) + epsilon)
    y = y * _per_channel(scale, x.ndim) + _per_channel(bias, x.ndim)
    return y.astype(x.dtype), running_mean.astype(mean.dtype), running_var.astype(var.dtype)


@shape_inference("BatchNormalization")
def infer_batch_norm(ctx: InferContext) -> list[Type]:
    return [ctx.tensor_type(0), ctx.tensor_type(3), ctx.tensor_type(4)]


@kernel("InstanceNormalization")
def instance_norm(x: np.ndarray, scale: np.ndarray, bias: np.ndarray, *, epsilon: float) -> np.ndarray:
    normalized, _, _ = _standardize(widen(x), tuple(range(2, x.ndim)), epsilon)
    return (normalized * _per_channel(scale, x.ndim) + _per_channel(bias, x.ndim)).astype(x.dtype)


@kernel("GroupNormalization")
def group_norm(x: np.ndarray, scale: np.ndarray, bias: np.ndarray, *, num_groups: int, epsilon: float,
               stash_type: int) -> np.ndarray:
    grouped = _stash(x, stash_type).reshape(x.shape[0], num_groups, -1)
    normalized, _, _ = _standardize(grouped, (2,), epsilon)
    y = normalized.reshape(x.shape) * _per_channel(scale, x.ndim) + _per_channel(bias, x.ndim)
    return y.astype(x.dtype)


@kernel("LpNormalization")
def lp_norm(x: np.ndarray, *, axis: int, p: int) -> np.ndarray:
    xc = widen(x)
    if p == 1:
        norm = np.sum(np.abs(xc), axis=axis, keepdims=True)
    elif p == 2:
        norm = np.sqrt(np.sum(np.square(xc), axis=axis, keepdims=True))
    else:
        raise ValueError(f"LpNormalization supports p=1 or p=2, not {p}")
    return (xc / np.where(norm == 0, 1, norm)).astype(x.dtype)


@kernel("MeanVarianceNormalization")
def mean_variance_norm(x: np.ndarray, *, axes: tuple[int, ...]) -> np.ndarray:
    normalized, _, _ = _standardize(widen(x), tuple(normalize_axis(a, x.ndim) for a in axes), 1e-9)
    return normalized.astype(x.dtype)


@kernel("LRN")
def lrn(x: np.ndarray, *, size: int, alpha: float, beta: float, bias: float) -> np.ndarray:
    xc = widen(x)
    before = (size - 1) // 2
    pad = [(0, 0)] * x.ndim
    pad[1] = (before, size - 1 - before)
    squares = np.pad(np.square(xc), pad)
    channels = x.shape[1]
    window_sum = sum(squares[:, i:i + channels] for i in range(size))
    return (xc / (bias + alpha / size * window_sum) ** beta).astype(x.dtype)


shape_inference("InstanceNormalization", "GroupNormalization", "LpNormalization", "MeanVarianceNormalization",
                "LRN")(same_as_input)


# -- losses ----------------------------------------------------------------------------

def _nll(log_prob: np.ndarray, target: np.ndarray, weight: np.ndarray | None, ignore_index: int | None,
         reduction: str) -> np.ndarray:
    """Negative log-likelihood of ``target`` classes under ``log_prob`` (N, C, d1, ...)."""
    ignored = np.zeros(target.shape, bool) if ignore_index is None else target == ignore_index
    safe_target = np.where(ignored, 0, target).astype(np.int64)
    picked = np.take_along_axis(log_prob, np.expand_dims(safe_target, 1), axis=1).squeeze(1)
    w = np.ones(target.shape, log_prob.dtype) if weight is None else widen(weight)[safe_target]
    w = np.where(ignored, 0, w).astype(log_prob.dtype)
    loss = -picked * w
    if reduction == "none":
        return loss
    if reduction == "sum":
        return np.sum(loss)
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sum(loss) / np.sum(w)
    raise ValueError(f"unknown reduction {reduction!r}")


@kernel("NegativeLogLikelihoodLoss")
def nll_loss(log_prob: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None, *,
             ignore_index: int | None = None, reduction: str) -> np.ndarray:
    return np.asarray(_nll(widen(log_prob), target, weight, ignore_index, reduction)).astype(log_prob.dtype)


@kernel("SoftmaxCrossEntropyLoss")
def softmax_cross_entropy(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None, *,
                          ignore_index: int | None = None, reduction: str) -> tuple[np.ndarray, np.ndarray]:
    log_prob = log_softmax(widen(scores), axis=1)
    loss = np.asarray(_nll(log_prob, labels, weights, ignore_index, reduction))
    return loss.astype(scores.dtype), log_prob.astype(scores.dtype)


@shape_inference("NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss")
def infer_loss(ctx: InferContext) -> list[Type]:
    dtype = ctx.dtype(0)
    if dtype is None:
        return [None, None]
    loss_shape = ctx.shape(1) if ctx.attr("reduction") == "none" else ()
    return [TensorType(dtype, loss_shape), ctx.tensor_type(0)]
