"""Kernels and shape inference for dtype conversion and quantization.

Cast, CastLike, BitCast, QuantizeLinear, DequantizeLinear and
DynamicQuantizeLinear. :func:`cast_array` implements ONNX's Cast rules for
every dtype pair (float8 saturation, float8e8m0 rounding modes, 4- and 2-bit
types, strings) and is usable outside the interpreter.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from graphopt.errors import EvaluationError
from graphopt.ir.dtypes import DType
from graphopt.ir.inference import InferContext
from graphopt.ir.registry import kernel, shape_inference
from graphopt.ir.types import TensorType, Type

_FLOAT8 = frozenset({DType.FLOAT8E4M3FN, DType.FLOAT8E4M3FNUZ, DType.FLOAT8E5M2, DType.FLOAT8E5M2FNUZ})

# -- Cast --------------------------------------------------------------------------------

def cast_array(x: np.ndarray, to: DType, *, saturate: bool = True, round_mode: str = "up") -> np.ndarray:
    """``x`` converted to ``to`` with ONNX Cast semantics.

    ``saturate`` clamps out-of-range values for float8 targets (else they become
    NaN or inf); ``round_mode`` (up, down, nearest) applies to float8e8m0.
    """
    if to == DType.STRING:
        return _to_strings(x)
    if x.dtype == object:
        x = _from_strings(x, to)
    if to in _FLOAT8:
        v = _exact_float(x)
        if saturate:
            limit = float(ml_dtypes.finfo(to.numpy).max)
            v = np.clip(v, -limit, limit)
        return v.astype(to.numpy)
    if to == DType.FLOAT8E8M0:
        return _to_e8m0(_exact_float(x), saturate, round_mode)
    if x.dtype.kind == "V":  # ml_dtypes types convert through a numpy type that holds all their values
        x = x.astype(np.int8 if DType.from_numpy(x.dtype).is_integer else np.float32)
    with np.errstate(all="ignore"):
        return x.astype(to.numpy)


def _exact_float(x: np.ndarray) -> np.ndarray:
    """``x`` as float32 or float64 without rounding (so a float8 target sees one rounding only)."""
    if x.dtype in (np.float32, np.float64):
        return x
    return x.astype(np.float64 if x.dtype.kind in "iu" and x.dtype.itemsize > 2 else np.float32)


def _to_e8m0(x: np.ndarray, saturate: bool, round_mode: str) -> np.ndarray:
    """Power-of-two scale codes: ``2 ** (code - 127)``; code 255 is NaN."""
    x = x.astype(np.float64)
    mantissa, exponent = np.frexp(x)  # x = mantissa * 2**exponent, mantissa in [0.5, 1) for positive x
    code = exponent.astype(np.int64) + 126
    if round_mode == "up":
        code += mantissa > 0.5
    elif round_mode == "nearest":
        code += mantissa >= 0.75  # ties round up
    elif round_mode != "down":
        raise EvaluationError(f"Cast to float8e8m0: round_mode must be up, down or nearest, not {round_mode!r}")
    too_big, too_small = x > 2.0**127, x < 2.0**-127  # beyond codes 254 and 0; negatives count as too small
    if saturate:
        code = np.where(too_big, 254, np.where(too_small, 0, code))
    else:
        code = np.where(too_big | too_small, 255, code)
    code = np.where(np.isnan(x), 255, code)
    return code.astype(np.uint8).view(ml_dtypes.float8_e8m0fnu)


def _to_strings(x: np.ndarray) -> np.ndarray:
    """Numbers as text the way ONNX Runtime writes them: ``%.8g`` floats, ``INF``/``-INF``/``NaN``."""
    if x.dtype == object:
        return x.copy()
    dtype = DType.from_numpy(x.dtype)
    if dtype.is_integer or dtype == DType.BOOL:
        items = [str(int(v)) for v in x.astype(np.uint64 if dtype == DType.UINT64 else np.int64).flat]
    else:
        items = [_float_text(float(v)) for v in x.astype(np.float64).flat]
    return np.array(items, dtype=object).reshape(x.shape)


def _float_text(v: float) -> str:
    if np.isnan(v):
        return "NaN"
    if np.isinf(v):
        return "INF" if v > 0 else "-INF"
    return f"{v:.8g}"


def _from_strings(x: np.ndarray, to: DType) -> np.ndarray:
    """Parse a string tensor into float64 (int64 for an integer or bool target)."""
    texts = [s.decode() if isinstance(s, bytes) else str(s) for s in x.flat]
    if to.is_integer or to == DType.BOOL:
        return np.array([_parse_int(s) for s in texts], dtype=np.int64).reshape(x.shape)
    return np.array([_parse_float(s) for s in texts], dtype=np.float64).reshape(x.shape)


def _parse_float(s: str) -> float:
    try:
        return float(s)  # accepts INF, +inf, NaN, 1E8 in any case
    except ValueError:
        try:
            return float.fromhex(s)
        except ValueError:
            raise EvaluationError(f"Cast: cannot parse {s!r} as a number") from None


def _parse_int(s: str) -> int:
    try:
        return int(s)
    except ValueError:
        return int(_parse_float(s))


@kernel("Cast")
def cast(x: np.ndarray, *, to: int, saturate: int, round_mode: str) -> np.ndarray:
    return cast_array(x, DType(to), saturate=bool(saturate), round_mode=round_mode)


@kernel("CastLike")
def cast_like(x: np.ndarray, target: np.ndarray, *, saturate: int, round_mode: str) -> np.ndarray:
    return cast_array(x, DType.from_numpy(target.dtype), saturate=bool(saturate), round_mode=round_mode)


@kernel("BitCast")
def bit_cast(x: np.ndarray, *, to: int) -> np.ndarray:
    """The same bits read as ``to`` (4- and 2-bit types keep their code in the low bits of a byte)."""
    src, dst = DType.from_numpy(x.dtype), DType(to)
    if src.bits != dst.bits:
        raise EvaluationError(f"BitCast from {src.name} ({src.bits} bits) to {dst.name} ({dst.bits} bits): "
                              "the widths must match")
    return np.asarray(x, order="C").view(dst.numpy)


@shape_inference("Cast", "BitCast")
def _cast(ctx: InferContext) -> list[Type]:
    to = DType(ctx.attr("to"))
    sym = ctx.sym(0)
    if sym is not None and to.is_integer and to.bits >= 8:
        info = np.iinfo(to.numpy)
        ctx.set_sym(0, tuple(d if not isinstance(d, int) or info.min <= d <= info.max else None for d in sym))
    return [TensorType(to, ctx.shape(0))]


@shape_inference("CastLike")
def _cast_like(ctx: InferContext) -> list[Type]:
    return [TensorType(ctx.dtype(1) or DType.UNDEFINED, ctx.shape(0))]


# -- quantization ----------------------------------------------------------------------

def _expand_param(param: np.ndarray, shape: tuple[int, ...], axis: int, block_size: int) -> np.ndarray:
    """A scale or zero point broadcastable against a tensor of ``shape``: per tensor, per axis or blocked."""
    if param.size == 1 and param.ndim <= 1:
        return param.reshape(())
    axis = axis % len(shape)
    if block_size > 0:
        return np.repeat(param, block_size, axis=axis).take(np.arange(shape[axis]), axis=axis)
    if param.ndim != 1 or param.shape[0] != shape[axis]:
        raise EvaluationError(f"quantization parameter of shape {param.shape} fits neither per-tensor nor "
                              f"per-axis (axis {axis}) quantization of a tensor of shape {shape}")
    return param.reshape([-1 if i == axis else 1 for i in range(len(shape))])


def _quantized_dtype(output_dtype: int, zero_point: DType | None) -> DType:
    """QuantizeLinear's output type: ``output_dtype``, else the zero point's type, else uint8."""
    if output_dtype:
        return DType(output_dtype)
    return DType.UINT8 if zero_point is None else zero_point


@kernel("QuantizeLinear")
def quantize_linear(x: np.ndarray, y_scale: np.ndarray, y_zero_point: np.ndarray | None = None, *,
                    axis: int, block_size: int, output_dtype: int, saturate: int, precision: int) -> np.ndarray:
    """``saturate(round_half_even(x / y_scale) + y_zero_point)``.

    The division runs in float32 (as ONNX Runtime does, also for float16 scales) unless
    ``precision`` names another type.
    """
    out = _quantized_dtype(output_dtype, None if y_zero_point is None else DType.from_numpy(y_zero_point.dtype))
    scale = _expand_param(y_scale, x.shape, axis, block_size).astype(np.float32)
    with np.errstate(all="ignore"):
        q = x.astype(np.float32) / scale
    if precision and DType(precision) != DType.FLOAT:
        q = q.astype(DType(precision).numpy).astype(np.float32)
    zero = 0.0 if y_zero_point is None else _expand_param(y_zero_point, x.shape, axis, block_size)
    if out.is_integer:
        info = ml_dtypes.iinfo(out.numpy)
        q = np.clip(np.rint(q) + np.asarray(zero, np.float32), info.min, info.max)
        return q.astype(out.numpy)
    return cast_array(q + cast_array(np.asarray(zero), DType.FLOAT), out, saturate=bool(saturate))


@kernel("DequantizeLinear")
def dequantize_linear(x: np.ndarray, x_scale: np.ndarray, x_zero_point: np.ndarray | None = None, *,
                      axis: int, block_size: int, output_dtype: int) -> np.ndarray:
    """``(x - x_zero_point) * x_scale``, in ``output_dtype`` (default: the scale's dtype)."""
    out = DType(output_dtype).numpy if output_dtype else x_scale.dtype
    v = x.astype(np.int64) if DType.from_numpy(x.dtype).is_integer else x.astype(np.float32)
    if x_zero_point is not None:
        v = v - _expand_param(x_zero_point, x.shape, axis, block_size).astype(v.dtype)
    scale = _expand_param(x_scale, x.shape, axis, block_size).astype(np.float32)
    return (v.astype(np.float32) * scale).astype(out)


@kernel("DynamicQuantizeLinear")
def dynamic_quantize_linear(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 quantization with a scale and zero point chosen so the range covers ``x`` and 0.

    An all-zero ``x`` gets scale 1 (as in ONNX Runtime) rather than a division by zero.
    """
    x = x.astype(np.float32)
    low = min(0.0, float(x.min())) if x.size else 0.0
    high = max(0.0, float(x.max())) if x.size else 0.0
    scale = np.float32((np.float32(high) - np.float32(low)) / np.float32(255))
    if scale == 0:
        return np.zeros(x.shape, np.uint8), np.array(1, np.float32), np.array(0, np.uint8)
    zero = np.rint(np.clip(-np.float32(low) / scale, 0, 255))
    y = np.clip(np.rint(x / scale) + zero, 0, 255).astype(np.uint8)
    return y, np.array(scale, np.float32), np.array(zero, np.uint8)


@shape_inference("QuantizeLinear")
def _quantize(ctx: InferContext) -> list[Type]:
    output_dtype, zero_point = ctx.attr("output_dtype"), ctx.dtype(2)
    if ctx.has_input(2) and zero_point is None and not output_dtype:
        return [None]
    return [TensorType(_quantized_dtype(output_dtype, zero_point), ctx.shape(0))]


@shape_inference("DequantizeLinear")
def _dequantize(ctx: InferContext) -> list[Type]:
    output_dtype = ctx.attr("output_dtype")
    dtype = DType(output_dtype) if output_dtype else ctx.dtype(1)
    return [TensorType(dtype or DType.UNDEFINED, ctx.shape(0))]


@shape_inference("DynamicQuantizeLinear")
def _dynamic_quantize(ctx: InferContext) -> list[Type]:
    return [TensorType(DType.UINT8, ctx.shape(0)), TensorType(DType.FLOAT, ()), TensorType(DType.UINT8, ())]
