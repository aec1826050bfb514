"""fuse-activation: Conv / Gemm / MatMul followed by a single-use activation becomes graphopt's fused op.

Recognized activations: Relu, Tanh, Sigmoid, LeakyRelu, HardSigmoid, HardSwish, Clip with constant
scalar bounds (Relu6), Gelu (erf and tanh forms), Swish, and SiLU written as ``Mul(x, Sigmoid(x))``.
The fused ops (graphopt/ir/ops/fused.py) lower back to the same standard ops for portable ONNX, or to
ONNX Runtime's FusedConv / FusedGemm for ``target="onnxruntime"``, so the rewrite is exact.
"""

from __future__ import annotations

from collections.abc import Callable

from graphopt.ir.core import Value
from graphopt.ir.ops.fused import FUSED_OPS
from graphopt.ir.registry import GRAPHOPT_DOMAIN
from graphopt.passes.base import register_pass
from graphopt.passes.rewrite import Builder, Match, Op, Rule, RulePass, RuleSet, op, optional, var

_ACTIVATION_ATTRS = ("activation", "activation_params")


def _base(base: str, shared: bool = False) -> Op:
    if base == "MatMul":
        return op(base, var(), var(), name="base", shared=shared)
    return op(base, var(), var(), optional(), name="base", shared=shared)


Params = Callable[[Match], tuple[str, tuple[float, ...]] | str]
"""From a match: (activation name, parameters), or a refusal reason."""


def _clip_params(m: Match) -> tuple[str, tuple[float, ...]] | str:
    lo, hi = m.get("lo"), m.get("hi")
    if lo is None or hi is None or lo.const is None or hi.const is None:
        return "Clip needs both bounds as constants"
    if lo.const.numpy().size != 1 or hi.const.numpy().size != 1:
        return "Clip bounds are not scalars"
    return "Clip", (float(lo.numpy().reshape(())), float(hi.numpy().reshape(())))


def _silu_params(m: Match) -> tuple[str, tuple[float, ...]] | str:
    out = m["base"].output
    if out.is_graph_output or len(out.uses) != 2:
        return "the base op's output is also read outside Mul(x, Sigmoid(x))"
    return "Swish", (1.0,)


def _attr_params(name: str, *attrs: str) -> Params:
    return lambda m: (name, tuple(float(m["act"].attr(a)) for a in attrs))


def _activations(b: Op) -> list[tuple[str, Op, Params]]:
    """(rule suffix, pattern rooted at the activation, parameters) for one base pattern."""
    shared = op(b.op, *b.inputs, name="base", shared=True)
    simple = [(name, op(name, b, name="act"), _attr_params(name))
              for name in ("Relu", "Tanh", "Sigmoid", "HardSwish")]
    return [
        *simple,
        ("LeakyRelu", op("LeakyRelu", b, name="act"), _attr_params("LeakyRelu", "alpha")),
        ("HardSigmoid", op("HardSigmoid", b, name="act"), _attr_params("HardSigmoid", "alpha", "beta")),
        ("Swish", op("Swish", b, name="act"), _attr_params("Swish", "alpha")),
        ("Gelu", op("Gelu", b, name="act"),
         lambda m: ("GeluTanh" if m["act"].attr("approximate") == "tanh" else "Gelu", ())),
        ("Clip", op("Clip", b, optional("lo"), optional("hi"), name="act"), _clip_params),
        ("SiLU", op("Mul", shared, op("Sigmoid", shared), commutative=True, name="act"), _silu_params),
    ]


class FuseActivationRule(Rule):
    def __init__(self, base: str, suffix: str, pattern: Op, params: Params) -> None:
        self.name = f"fuse-{base.lower()}-{suffix.lower()}"
        self.pattern = pattern
        self.params = params

    def check(self, m: Match) -> str | None:
        got = self.params(m)
        return got if isinstance(got, str) else None

    def rewrite(self, m: Match, b: Builder) -> Value:
        base = m["base"]
        got = self.params(m)
        assert not isinstance(got, str), "check() refuses what params() cannot read"
        activation, params = got
        attrs = {**base.attrs, "activation": activation, "activation_params": list(params)}
        if not params:
            del attrs["activation_params"]
        return b.op(FUSED_OPS[base.op].name, list(base.inputs), attrs, domain=GRAPHOPT_DOMAIN)


RULES = RuleSet(FuseActivationRule(base, suffix, pattern, params)
                for base in FUSED_OPS for suffix, pattern, params in _activations(_base(base)))


@register_pass
class FuseActivation(RulePass):
    name = "fuse-activation"
    level = 2
    stage = "optimize"
    targets = frozenset({"onnxruntime", "openvino"})  # not tensorrt: its builder fuses conv+bias+activation itself
    doc = "Fuse a single-use activation into the Conv, Gemm or MatMul that feeds it (graphopt fused ops)."
    rules = RULES
