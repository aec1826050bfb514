"""fuse-batchnorm: inference BatchNormalization folded into the Conv, ConvTranspose, Gemm or MatMul before it.

BN computes ``y = s * (x - mean) + bias`` per channel (axis 1) with ``s = scale / sqrt(var + eps)``, so
scaling the producer's weights per output channel by ``s`` and its bias to ``s * (b - mean) + bias``
gives the same result. New weights are computed in float64 and rounded once, so results differ from the
unfused graph by a few ulp. MatMul has no bias input: it becomes ``Add(MatMul(A, B * s), bias')``.
"""

from __future__ import annotations

import numpy as np

from graphopt.ir.core import Node, Value
from graphopt.passes.base import register_pass
from graphopt.passes.rewrite import Builder, Match, Op, Rule, RulePass, RuleSet, const, op, optional, var


def _bn(producer: Op) -> Op:
    return op("BatchNormalization", producer, const("scale"), const("bias"), const("mean"), const("var"), name="bn")


def _check_common(m: Match, channels: int | None, out: Value) -> str | None:
    bn: Node = m["bn"]
    if bn.attr("training_mode"):
        return "BatchNormalization is in training mode"
    if len(bn.outputs) > 1 and any(o is not None for o in bn.outputs[1:]):
        return "BatchNormalization's running statistics outputs are used"
    params = [m.const(k) for k in ("scale", "bias", "mean", "var")]
    if any(p.ndim != 1 for p in params) or len({p.shape for p in params}) != 1:
        return "BatchNormalization parameters are not 1-D of one length"
    if channels is None or params[0].shape[0] != channels:
        return f"BatchNormalization has {params[0].shape[0]} channels, the producer makes {channels}"
    dtypes = {m[k].dtype for k in ("w", "scale", "bias", "mean", "var")} | {out.dtype}
    if m.get("b") is not None:
        dtypes.add(m["b"].dtype)
    if len(dtypes) != 1 or out.dtype is None or out.dtype.numpy.kind != "f":
        return "operand dtypes differ (or are not floating point)"
    if m.get("b") is not None and m["b"].const is None:
        return "the producer's bias is not a constant"
    return None


def _scale_shift(m: Match) -> tuple[np.ndarray, np.ndarray]:
    """Per channel: ``s = scale / sqrt(var + eps)`` and ``bias - s * mean`` (float64)."""
    scale, bias, mean, var_ = (m.const(k).astype(np.float64) for k in ("scale", "bias", "mean", "var"))
    s = scale / np.sqrt(var_ + m["bn"].attr("epsilon"))
    return s, bias - s * mean


def _new_bias(m: Match, s: np.ndarray, shift: np.ndarray, old: np.ndarray | None) -> np.ndarray:
    return s * (0.0 if old is None else old.astype(np.float64)) + shift


class _ConvBN(Rule):
    """Conv or ConvTranspose + BN: weights scaled along the output-channel axis of their layout."""

    def __init__(self, conv_op: str) -> None:
        self.name = f"fuse-{conv_op.lower()}-batchnorm"
        self.pattern = _bn(op(conv_op, var("x"), const("w"), optional("b"), name="conv"))

    def out_channels(self, conv: Node, w: np.ndarray) -> int:
        return w.shape[0] if conv.op == "Conv" else w.shape[1] * conv.attr("group")

    def check(self, m: Match) -> str | None:
        w = m.const("w")
        return _check_common(m, self.out_channels(m["conv"], w) if w.ndim >= 3 else None, m["conv"].output)

    def rewrite(self, m: Match, b: Builder) -> Value:
        conv: Node = m["conv"]
        w = m.const("w")
        s, shift = _scale_shift(m)
        if conv.op == "Conv":
            new_w = w * s.reshape(-1, *(1,) * (w.ndim - 1))
        else:  # (C_in, C_out / group, *k): output channel g * C_out/group + j sits at [g-th block of rows, j]
            group = conv.attr("group")
            blocks = w.reshape(group, w.shape[0] // group, *w.shape[1:])
            new_w = (blocks * s.reshape(group, 1, -1, *(1,) * (w.ndim - 2))).reshape(w.shape)
        old_b = m["b"].numpy() if m.get("b") is not None else None
        dtype = w.dtype
        return b.op(conv.op, [m["x"], b.const(new_w.astype(dtype)), b.const(_new_bias(m, s, shift, old_b), dtype)],
                    dict(conv.attrs))


def _matrix_channels(m: Match, node: Node) -> str | int | None:
    out = node.output
    if out.shape is None or len(out.shape) != 2:
        return f"{node.op} output rank is {None if out.shape is None else len(out.shape)}; BN's channel axis 1 " \
               "is the last axis only for rank 2"
    w = m.const("w")
    if w.ndim != 2:
        return f"{node.op} weight has rank {w.ndim}, not 2"
    return w.shape[0] if node.op == "Gemm" and node.attr("transB") else w.shape[1]


class _MatrixBN(Rule):
    """BN after a Gemm/MatMul (bound as ``mm``) with a constant weight: per-column scale and shift."""

    def check(self, m: Match) -> str | None:
        channels = _matrix_channels(m, m["mm"])
        if isinstance(channels, str):
            return channels
        return _check_common(m, channels, m["mm"].output)


class _GemmBN(_MatrixBN):
    name = "fuse-gemm-batchnorm"
    pattern = _bn(op("Gemm", var("a"), const("w"), optional("b"), name="mm"))

    def rewrite(self, m: Match, b: Builder) -> Value:
        gemm: Node = m["mm"]
        w = m.const("w")
        s, shift = _scale_shift(m)
        new_w = w * (s[:, None] if gemm.attr("transB") else s[None, :])
        old_c = m["b"].numpy() * np.float64(gemm.attr("beta")) if m.get("b") is not None else None
        new_c = _new_bias(m, s, shift, old_c)
        attrs = {**gemm.attrs, "beta": 1.0}
        return b.op("Gemm", [m["a"], b.const(new_w.astype(w.dtype)), b.const(new_c, w.dtype)], attrs)


class _MatMulBN(_MatrixBN):
    name = "fuse-matmul-batchnorm"
    pattern = _bn(op("MatMul", var("a"), const("w"), name="mm"))

    def rewrite(self, m: Match, b: Builder) -> Value:
        w = m.const("w")
        s, shift = _scale_shift(m)
        y = b.op("MatMul", [m["a"], b.const((w * s[None, :]).astype(w.dtype))])
        return b.op("Add", [y, b.const(shift, w.dtype)])


RULES = RuleSet([_ConvBN("Conv"), _ConvBN("ConvTranspose"), _GemmBN(), _MatMulBN()])


@register_pass
class FuseBatchNorm(RulePass):
    name = "fuse-batchnorm"
    level = 1  # onnxsim and onnxslim fold BN in their simplification; so does O1
    stage = "pre"
    doc = "Fold inference BatchNormalization into the weights and bias of the Conv/ConvTranspose/Gemm/MatMul before it."
    rules = RULES
