"""Constant folding never materializes a tensor past its size limit, by any route: for every ``folding/*``
hostile model (ConstantOfShape/Expand/Tile/Range/Pad/Resize/OneHot/EyeLike/MatMul/Einsum/Loop/sequences,
huge shapes from constants or from declared dims), running fold-constants and then the whole O3 pipeline
adds no constant larger than the limit, and no kernel runs out of memory trying."""

from __future__ import annotations

import logging

import pytest

import graphopt
from graphopt.errors import GraphoptError
from graphopt.ir import Graph
from graphopt.passes.pre.fold_constants import FoldConstants
from tests.fuzz.malformed import CASES

FOLDING = sorted(name for name in CASES if name.startswith("folding/"))
LIMIT = FoldConstants.max_bytes


def _largest_constant(g: Graph) -> int:
    sizes = [c.const.nbytes for c in g.constants if c.const is not None]
    return max([0, *sizes, *(_largest_constant(sub) for n in g for sub in n.subgraphs())])


@pytest.mark.parametrize("name", FOLDING)
def test_folding_respects_its_size_limit(name: str, caplog: pytest.LogCaptureFixture) -> None:
    try:
        g = graphopt.load(CASES[name]()[0])
        graphopt.verify(g)
    except GraphoptError:
        pytest.skip("refused before folding (covered by test_fuzz_malformed)")
    allowed = max(LIMIT, _largest_constant(g))
    with caplog.at_level(logging.DEBUG, logger="graphopt.passes.pre.fold_constants"):
        FoldConstants()(g.copy())
    attempts = [r.getMessage() for r in caplog.records if "not folded" in r.getMessage()]
    assert not [m for m in attempts if "MemoryError" in m or "allocate" in m], attempts  # a kernel ran into memory
    optimized = graphopt.optimize(g, "O3")
    assert _largest_constant(optimized) <= allowed
