"""fuse-matmul-add: Add(MatMul(A, B), c) → Gemm for 2-D A and constant 2-D B; refusals; numerics."""

from __future__ import annotations

import pytest

from graphopt.passes.optimize.fuse_matmul_add import FuseMatMulAdd
from tests.passes.util import check_numerics, check_rewrite, check_unchanged

W = "%w: f32[3,2] = const [[1.0, 2.0], [3.0, -1.0], [0.5, 2.0]]"

REWRITES = [
    ("bias-n", "%c: f32[2] = const [0.5, -1.0]", "Add(%m, %c)"),
    ("bias-1n-swapped", "%c: f32[1,2] = const [[0.5, -1.0]]", "Add(%c, %m)"),
    ("bias-scalar", "%c: f32[] = const 0.5", "Add(%m, %c)"),
]


@pytest.mark.parametrize(("c_line", "add"), [r[1:] for r in REWRITES], ids=[r[0] for r in REWRITES])
def test_rewrite(c_line: str, add: str) -> None:
    before = f"""
graph main(%x: f32[N,3]) {{
  {W}
  {c_line}
  %m: f32[N,2] = MatMul(%x, %w)
  %y: f32[N,2] = {add}
  return %y
}}"""
    after = f"""
graph main(%x: f32[N,3]) {{
  {W}
  {c_line}
  %y: f32[N,2] = Gemm(%x, %w, %c)
  return %y
}}"""
    original, fused, _ = check_rewrite(FuseMatMulAdd(), before, after)
    check_numerics(original, fused, rtol=1e-6, atol=1e-6)


REFUSALS = [
    ("a-rank-3", f"""
graph main(%x: f32[N,4,3]) {{
  {W}
  %c: f32[2] = const [0.5, -1.0]
  %m: f32[N,4,2] = MatMul(%x, %w)
  %y: f32[N,4,2] = Add(%m, %c)
  return %y
}}""", "A has rank 3; Gemm takes only a 2-D A (a rank-3+ A would need Reshapes around it)"),
    ("bias-per-row", f"""
graph main(%x: f32[4,3]) {{
  {W}
  %c: f32[4,1] = const [[0.5], [1.0], [2.0], [3.0]]
  %m: f32[4,2] = MatMul(%x, %w)
  %y: f32[4,2] = Add(%m, %c)
  return %y
}}""", "the addend's shape (4, 1) does not broadcast to [N] = [2]"),
    ("matmul-two-users", f"""
graph main(%x: f32[N,3]) {{
  {W}
  %c: f32[2] = const [0.5, -1.0]
  %m: f32[N,2] = MatMul(%x, %w)
  %y: f32[N,2] = Add(%m, %c)
  return %y, %m
}}""", "MatMul output has 2 users"),
    ("b-not-constant", """
graph main(%x: f32[N,3], %w: f32[3,2]) {
  %c: f32[2] = const [0.5, -1.0]
  %m: f32[N,2] = MatMul(%x, %w)
  %y: f32[N,2] = Add(%m, %c)
  return %y
}""", "b is not a constant"),
]


@pytest.mark.parametrize(("text", "reason"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_refusal(text: str, reason: str) -> None:
    p = FuseMatMulAdd()
    check_unchanged(p, text)
    refused = {r for s in p.last_report.stats.values() for r in s.refused}
    # commutative patterns report why each operand order failed
    assert any(reason in r for r in refused), refused
