"""fuse-conv-bias: per-channel Add into the Conv bias, per-channel Mul into weights and bias; refusals;
ONNX Runtime numerics."""

from __future__ import annotations

import pytest

from graphopt.passes.optimize.fuse_conv_bias import FuseConvBias
from tests.passes.util import check_numerics, check_rewrite, check_unchanged

HEAD = """
graph main(%x: f32[N,1,3,3]) {
  %w: f32[2,1,1,1] = const [[[[1.0]]], [[[2.0]]]]"""

REWRITES = [
    ("add-c11-no-bias", HEAD + """
  %k: f32[2,1,1] = const [[[0.5]], [[-1.0]]]
  %c: f32[N,2,3,3] = Conv(%x, %w)
  %y: f32[N,2,3,3] = Add(%c, %k)
  return %y
}""", HEAD + """
  %k: f32[2,1,1] = const [[[0.5]], [[-1.0]]]
  %0: f32[2] = const [0.5, -1.0]
  %y: f32[N,2,3,3] = Conv(%x, %w, %0)
  return %y
}"""),
    ("add-1c11-with-bias-swapped", HEAD + """
  %b: f32[2] = const [0.25, 0.25]
  %k: f32[1,2,1,1] = const [[[[0.5]], [[-1.0]]]]
  %c: f32[N,2,3,3] = Conv(%x, %w, %b)
  %y: f32[N,2,3,3] = Add(%k, %c)
  return %y
}""", HEAD + """
  %b: f32[2] = const [0.25, 0.25]
  %k: f32[1,2,1,1] = const [[[[0.5]], [[-1.0]]]]
  %0: f32[2] = const [0.75, -0.75]
  %y: f32[N,2,3,3] = Conv(%x, %w, %0)
  return %y
}"""),
    ("add-scalar", HEAD + """
  %k: f32[] = const 1.5
  %c: f32[N,2,3,3] = Conv(%x, %w)
  %y: f32[N,2,3,3] = Add(%c, %k)
  return %y
}""", HEAD + """
  %k: f32[] = const 1.5
  %0: f32[2] = const [1.5, 1.5]
  %y: f32[N,2,3,3] = Conv(%x, %w, %0)
  return %y
}"""),
    ("mul-with-bias", HEAD + """
  %b: f32[2] = const [0.25, 0.5]
  %k: f32[2,1,1] = const [[[2.0]], [[-3.0]]]
  %c: f32[N,2,3,3] = Conv(%x, %w, %b)
  %y: f32[N,2,3,3] = Mul(%c, %k)
  return %y
}""", HEAD + """
  %b: f32[2] = const [0.25, 0.5]
  %k: f32[2,1,1] = const [[[2.0]], [[-3.0]]]
  %0: f32[2,1,1,1] = const [[[[2.0]]], [[[-6.0]]]]
  %1: f32[2] = const [0.5, -1.5]
  %y: f32[N,2,3,3] = Conv(%x, %0, %1)
  return %y
}"""),
    ("mul-no-bias", HEAD + """
  %k: f32[2,1,1] = const [[[2.0]], [[-3.0]]]
  %c: f32[N,2,3,3] = Conv(%x, %w)
  %y: f32[N,2,3,3] = Mul(%k, %c)
  return %y
}""", HEAD + """
  %k: f32[2,1,1] = const [[[2.0]], [[-3.0]]]
  %0: f32[2,1,1,1] = const [[[[2.0]]], [[[-6.0]]]]
  %y: f32[N,2,3,3] = Conv(%x, %0)
  return %y
}"""),
]


@pytest.mark.parametrize(("before", "after"), [r[1:] for r in REWRITES], ids=[r[0] for r in REWRITES])
def test_rewrite(before: str, after: str) -> None:
    original, fused, _ = check_rewrite(FuseConvBias(), before, after)
    check_numerics(original, fused, rtol=1e-6, atol=1e-6)


REFUSALS = [
    ("not-per-channel", HEAD + """
  %k: f32[1,1,1,3] = const [[[[0.5, 1.0, 2.0]]]]
  %c: f32[N,2,3,3] = Conv(%x, %w)
  %y: f32[N,2,3,3] = Add(%c, %k)
  return %y
}""", "constant of shape [1, 1, 1, 3] is not per-channel for 2 channels"),
    ("conv-two-users", HEAD + """
  %k: f32[2,1,1] = const [[[0.5]], [[-1.0]]]
  %c: f32[N,2,3,3] = Conv(%x, %w)
  %y: f32[N,2,3,3] = Add(%c, %k)
  return %y, %c
}""", "Conv output has 2 users"),
    ("addend-not-constant", """
graph main(%x: f32[N,1,3,3], %k: f32[2,1,1]) {
  %w: f32[2,1,1,1] = const [[[[1.0]]], [[[2.0]]]]
  %c: f32[N,2,3,3] = Conv(%x, %w)
  %y: f32[N,2,3,3] = Add(%c, %k)
  return %y
}""", "c is not a constant"),
    ("weights-not-constant", """
graph main(%x: f32[N,1,3,3], %w: f32[2,1,1,1]) {
  %k: f32[2,1,1] = const [[[0.5]], [[-1.0]]]
  %c: f32[N,2,3,3] = Conv(%x, %w)
  %y: f32[N,2,3,3] = Mul(%c, %k)
  return %y
}""", "w is not a constant"),
    ("dtype-mismatch", HEAD + """
  %k: f64[2,1,1] = const [[[0.5]], [[-1.0]]]
  %c: f32[N,2,3,3] = Conv(%x, %w)
  %y: f64[N,2,3,3] = Add(%c, %k)
  return %y
}""", "dtypes differ"),
]


@pytest.mark.parametrize(("text", "reason"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_refusal(text: str, reason: str) -> None:
    p = FuseConvBias()
    check_unchanged(p, text)
    refused = {r for s in p.last_report.stats.values() for r in s.refused}
    # commutative patterns report why each operand order failed
    assert any(reason in r for r in refused), refused
