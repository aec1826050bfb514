"""replace-patterns: decomposed subgraphs that exporters produce back to single standard ONNX ops.

GELU (erf and tanh forms) → Gelu; HardSwish; written-out Softmax; LayerNormalization and
RMSNormalization (folding a following gamma/beta); scaled-dot-product attention → Attention (opset 23);
matmul-shaped Einsum → MatMul. The rules live by family in ``patterns_*.py``; each says why it refuses.
"""

from __future__ import annotations

from typing import ClassVar

from graphopt.passes.base import register_pass
from graphopt.passes.optimize import patterns_activations, patterns_attention, patterns_norms
from graphopt.passes.rewrite import RulePass, RuleSet

RULES = patterns_norms.RULES + patterns_activations.RULES + patterns_attention.RULES


@register_pass
class ReplacePatterns(RulePass):
    name = "replace-patterns"
    level = 2
    stage = "optimize"
    doc = "Replace decomposed GELU, HardSwish, Softmax, LayerNorm, RMSNorm, attention and Einsum with single ops."
    rules: ClassVar[RuleSet] = RULES
