"""Random generators, window functions, DFT/STFT, the mel filter bank and string ops."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from graphopt.ir.dtypes import DType
from graphopt.ir.inference import InferContext, broadcast_shapes
from graphopt.ir.interpreter import EvalContext
from graphopt.ir.registry import kernel, shape_inference
from graphopt.ir.types import Dim, Shape, TensorType, Type


def _int(x: np.ndarray) -> int:
    return int(np.asarray(x).reshape(-1)[0])


def _const_int(ctx: InferContext, i: int) -> int | None:
    """Input ``i`` as a Python int when it is a constant (or a known symbolic-value) scalar."""
    s = ctx.sym(i) if ctx.has_input(i) else None
    return s[0] if s is not None and len(s) == 1 and isinstance(s[0], int) else None


# -- random ops: any valid samples; the seed attribute makes them reproducible -------------


def _rng(seed: float | None) -> np.random.Generator:
    """A generator seeded by the bits of the float ``seed`` attribute (fresh entropy without one)."""
    return np.random.default_rng(None if seed is None else int(np.float32(seed).view(np.uint32)))


@kernel("RandomNormal")
def random_normal(*, shape: Sequence[int], dtype: int, mean: float, scale: float, seed: float | None = None
                  ) -> np.ndarray:
    return _rng(seed).normal(mean, scale, tuple(shape)).astype(DType(dtype).numpy)


@kernel("RandomUniform")
def random_uniform(*, shape: Sequence[int], dtype: int, low: float, high: float, seed: float | None = None
                   ) -> np.ndarray:
    return _rng(seed).uniform(low, high, tuple(shape)).astype(DType(dtype).numpy)


@kernel("RandomNormalLike")
def random_normal_like(x: np.ndarray, *, dtype: int | None = None, mean: float, scale: float,
                       seed: float | None = None) -> np.ndarray:
    return _rng(seed).normal(mean, scale, x.shape).astype(_like_dtype(x, dtype))


@kernel("RandomUniformLike")
def random_uniform_like(x: np.ndarray, *, dtype: int | None = None, low: float, high: float,
                        seed: float | None = None) -> np.ndarray:
    return _rng(seed).uniform(low, high, x.shape).astype(_like_dtype(x, dtype))


@kernel("Bernoulli")
def bernoulli(x: np.ndarray, *, dtype: int | None = None, seed: float | None = None) -> np.ndarray:
    return (_rng(seed).random(x.shape) < x).astype(_like_dtype(x, dtype))


def _like_dtype(x: np.ndarray, dtype: int | None) -> np.dtype:
    return x.dtype if dtype is None else DType(dtype).numpy


@kernel("Multinomial")
def multinomial(x: np.ndarray, *, dtype: int, sample_size: int, seed: float | None = None) -> np.ndarray:
    logits = x.astype(np.float64)
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    rng = _rng(seed)
    samples = [rng.choice(probs.shape[-1], size=sample_size, p=p) for p in probs]
    return np.array(samples, DType(dtype).numpy).reshape(x.shape[0], sample_size)


@shape_inference("RandomNormal", "RandomUniform")
def infer_random(ctx: InferContext) -> list[Type]:
    return [TensorType(DType(ctx.attr("dtype")), tuple(ctx.attr("shape")))]


@shape_inference("RandomNormalLike", "RandomUniformLike", "Bernoulli")
def infer_random_like(ctx: InferContext) -> list[Type]:
    dtype = ctx.attr("dtype", None)
    dtype = ctx.dtype(0) if dtype is None else DType(dtype)
    return [None if dtype is None else TensorType(dtype, ctx.shape(0))]


@shape_inference("Multinomial")
def infer_multinomial(ctx: InferContext) -> list[Type]:
    x = ctx.shape(0)
    return [TensorType(DType(ctx.attr("dtype")), (None if x is None else x[0], ctx.attr("sample_size")))]


# -- window functions ----------------------------------------------------------------------

_WINDOWS: dict[str, Callable[[np.ndarray], np.ndarray]] = {  # of the phase 2*pi*n/N
    "HannWindow": lambda t: 0.5 - 0.5 * np.cos(t),
    "HammingWindow": lambda t: 25 / 46 - 21 / 46 * np.cos(t),
    "BlackmanWindow": lambda t: 0.42 - 0.5 * np.cos(t) + 0.08 * np.cos(2 * t),
}


@kernel(*_WINDOWS)
def window(ctx: EvalContext, size: np.ndarray, *, output_datatype: int, periodic: int) -> np.ndarray:
    n = _int(size)
    period = n if periodic else max(n - 1, 1)
    return _WINDOWS[ctx.node.op](2 * np.pi * np.arange(n) / period).astype(DType(output_datatype).numpy)


@shape_inference(*_WINDOWS)
def infer_window(ctx: InferContext) -> list[Type]:
    return [TensorType(DType(ctx.attr("output_datatype")), (_const_int(ctx, 0),))]


# -- Fourier transforms --------------------------------------------------------------------


def _complex(x: np.ndarray) -> np.ndarray:
    """``[..., 1]`` (real) or ``[..., 2]`` (real, imag) as a complex array without the last axis.

    Single precision stays single (numpy's FFT then works in it), as ONNX Runtime does.
    """
    dtype = np.complex128 if x.dtype == np.float64 else np.complex64
    real = x[..., 0].astype(dtype)
    return real + 1j * x[..., 1].astype(dtype) if x.shape[-1] == 2 else real


def _split_complex(y: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return np.stack([y.real, y.imag], axis=-1).astype(dtype)


@kernel("DFT")
def dft(x: np.ndarray, dft_length: np.ndarray | None = None, axis: np.ndarray | None = None, *,
        inverse: int, onesided: int) -> np.ndarray:
    ax = (-2 if axis is None else _int(axis)) % x.ndim
    n = None if dft_length is None else _int(dft_length)
    signal = _complex(x)
    if onesided and inverse:
        return np.fft.irfft(signal, n=n, axis=ax)[..., None].astype(x.dtype)
    y = (np.fft.ifft if inverse else np.fft.fft)(signal, n=n, axis=ax)
    if onesided:
        y = np.take(y, np.arange(y.shape[ax] // 2 + 1), axis=ax)
    return _split_complex(y, x.dtype)


@shape_inference("DFT")
def infer_dft(ctx: InferContext) -> list[Type]:
    t = ctx.tensor_type(0)
    if t is None or t.shape is None:
        return [None if t is None else TensorType(t.dtype, None)]
    axis = _const_int(ctx, 2) if ctx.has_input(2) else -2
    shape: list[Dim] = list(t.shape)
    if axis is None:
        shape[:-1] = [None] * (len(shape) - 1)
        shape[-1] = None if ctx.attr("onesided") and ctx.attr("inverse") else 2
        return [TensorType(t.dtype, tuple(shape))]
    axis %= len(shape)
    n = _const_int(ctx, 1) if ctx.has_input(1) else shape[axis]
    if ctx.attr("onesided") and ctx.attr("inverse"):
        if not ctx.has_input(1):
            n = 2 * (n - 1) if isinstance(n, int) else None
        shape[axis], shape[-1] = n, 1
    else:
        shape[axis] = (n // 2 + 1 if isinstance(n, int) else None) if ctx.attr("onesided") else n
        shape[-1] = 2
    return [TensorType(t.dtype, tuple(shape))]


@kernel("STFT")
def stft(signal: np.ndarray, frame_step: np.ndarray, window: np.ndarray | None = None,
         frame_length: np.ndarray | None = None, *, onesided: int) -> np.ndarray:
    x = _complex(signal)
    default_length = x.shape[1] if window is None else window.shape[0]
    length = default_length if frame_length is None else _int(frame_length)
    win = np.ones(length) if window is None else window.astype(np.float64)
    frames = 1 + (x.shape[1] - length) // _int(frame_step)
    index = np.arange(frames)[:, None] * _int(frame_step) + np.arange(length)
    y = np.fft.fft(x[:, index] * win, axis=-1)
    if onesided:
        y = y[..., : length // 2 + 1]
    return _split_complex(y, signal.dtype)


@shape_inference("STFT")
def infer_stft(ctx: InferContext) -> list[Type]:
    dtype = ctx.dtype(0)
    if dtype is None:
        return [None]
    s = ctx.shape(0)
    batch, total = (s[0], s[1]) if s is not None and len(s) == 3 else (None, None)
    length: Dim = _const_int(ctx, 3) if ctx.has_input(3) else None
    if length is None and not ctx.has_input(3):
        w = ctx.shape(2) if ctx.has_input(2) else (total,)
        length = w[0] if w is not None and len(w) == 1 else None
    step = _const_int(ctx, 1)
    frames = None
    if all(isinstance(d, int) for d in (total, length, step)):
        frames = 1 + (total - length) // step  # type: ignore[operator]
    bins = (length // 2 + 1 if ctx.attr("onesided") else length) if isinstance(length, int) else None
    return [TensorType(dtype, (batch, frames, bins, 2))]


@kernel("MelWeightMatrix")
def mel_weight_matrix(num_mel_bins: np.ndarray, dft_length: np.ndarray, sample_rate: np.ndarray,
                      lower_edge_hertz: np.ndarray, upper_edge_hertz: np.ndarray, *, output_datatype: int
                      ) -> np.ndarray:
    mels, n_dft = _int(num_mel_bins), _int(dft_length)
    low, high = (2595 * np.log10(1 + float(np.asarray(f).reshape(-1)[0]) / 700)
                 for f in (lower_edge_hertz, upper_edge_hertz))
    hertz = 700 * (10 ** ((low + np.arange(mels + 2) * (high - low) / (mels + 2)) / 2595) - 1)
    edges = np.floor((n_dft + 1) * hertz / float(np.asarray(sample_rate).reshape(-1)[0])).astype(np.int64)
    out = np.zeros((n_dft // 2 + 1, mels))
    for i, (left, center, right) in enumerate(zip(edges, edges[1:], edges[2:], strict=False)):
        if center == left:
            out[center, i] = 1
        else:
            rise = np.arange(left, center + 1)
            out[rise, i] = (rise - left) / (center - left)
        if right > center:
            fall = np.arange(center, right)
            out[fall, i] = (right - fall) / (right - center)
    return out.astype(DType(output_datatype).numpy)


@shape_inference("MelWeightMatrix")
def infer_mel_weight_matrix(ctx: InferContext) -> list[Type]:
    n_dft = _const_int(ctx, 1)
    bins = None if n_dft is None else n_dft // 2 + 1
    return [TensorType(DType(ctx.attr("output_datatype")), (bins, _const_int(ctx, 0)))]


# -- strings (object arrays of str) --------------------------------------------------------


@kernel("StringConcat")
def string_concat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.asarray(np.add(x.astype(object), y.astype(object)), dtype=object)


@shape_inference("StringConcat")
def infer_string_concat(ctx: InferContext) -> list[Type]:
    return [TensorType(DType.STRING, broadcast_shapes([ctx.shape(0), ctx.shape(1)], ctx.node.label))]


@kernel("RegexFullMatch")
def regex_full_match(x: np.ndarray, *, pattern: str) -> np.ndarray:
    regex = re.compile(pattern)
    return np.array([regex.fullmatch(s) is not None for s in x.reshape(-1)], bool).reshape(x.shape)


@shape_inference("RegexFullMatch")
def infer_regex_full_match(ctx: InferContext) -> list[Type]:
    return [TensorType(DType.BOOL, ctx.shape(0))]


@kernel("StringSplit")
def string_split(x: np.ndarray, *, delimiter: str | None = None, maxsplit: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    limit = -1 if maxsplit is None else maxsplit
    # an empty string has no substrings; splitting on whitespace trims the remainder too
    parts = [(s.split(delimiter, limit) if delimiter else s.strip().split(None, limit)) if s else []
             for s in x.reshape(-1)]
    width = max((len(p) for p in parts), default=0)
    out = np.full((len(parts), width), "", dtype=object)
    for i, p in enumerate(parts):
        out[i, : len(p)] = p
    lengths = np.array([len(p) for p in parts], np.int64)
    return out.reshape(*x.shape, width), lengths.reshape(x.shape)


@shape_inference("StringSplit")
def infer_string_split(ctx: InferContext) -> list[Type]:
    s = ctx.shape(0)
    return [TensorType(DType.STRING, None if s is None else (*s, None)), TensorType(DType.INT64, s)]


@kernel("StringNormalizer")
def string_normalizer(x: np.ndarray, *, case_change_action: str, is_case_sensitive: int,
                      stopwords: Sequence[str] | None = None) -> np.ndarray:
    words = list(x.reshape(-1))
    if stopwords:
        if is_case_sensitive:
            stop = set(stopwords)
            words = [w for w in words if w not in stop]
        else:
            stop = {w.lower() for w in stopwords}
            words = [w for w in words if w.lower() not in stop]
    change = {"LOWER": str.lower, "UPPER": str.upper}.get(case_change_action)
    if change is not None:
        words = [change(w) for w in words]
    out = np.array(words or [""], dtype=object)
    return out if x.ndim == 1 else out.reshape(1, -1)


@shape_inference("StringNormalizer")
def infer_string_normalizer(ctx: InferContext) -> list[Type]:
    s: Shape = ctx.shape(0)
    if s is not None and ctx.attr("stopwords"):
        s = (*s[:-1], None)
    return [TensorType(DType.STRING, s)]
