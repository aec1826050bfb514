"""Pipelines as data: O-levels, textual specs, and :func:`optimize`.

``O<n>`` takes every built-in pass whose ``level`` is at most ``n``, in the
order :data:`STAGE_ORDER` gives, keeping those that suit the target. A spec
such as ``"dce,cse,fold-constants{max-bytes=1048576}"`` names passes directly
(O-levels may appear in it too: ``"O1,my-pass"``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from graphopt.ir.core import Graph
from graphopt.ir.gcpause import gc_paused
from graphopt.ir.verifier import verify
from graphopt.passes.base import Pass, PassError, get_pass, registered_passes
from graphopt.passes.instruments import Instrument, VerifyEach
from graphopt.passes.manager import PassManager, Stage

STAGE_ORDER: dict[str, tuple[int, list[str], bool]] = {
    # stage: (lowest O-level that runs it, pass names in order, iterate to a fixed point?)
    "pre": (1, ["infer-shapes", "eliminate-noops", "simplify", "fold-constants", "fuse-batchnorm", "sink-reshapes",
                "cse", "dce"], True),
    "optimize": (2, ["replace-patterns", "fuse-slices", "fuse-conv-bias", "fuse-pad", "fuse-matmul-add",
                     "fuse-activation", "dce"], True),
    "post": (2, ["layout", "ort-attention", "nchwc", "dce", "schedule", "plan-memory"], False),
}
LEVELS = {"O0": 0, "O1": 1, "O2": 2, "O3": 3}
MAX_FIXED_POINT_ITERATIONS = 8

Pipeline = str | Sequence[Pass | str]


def build_stages(pipeline: Pipeline, target: str | None = None, disable: Sequence[str] = ()) -> list[Stage]:
    """Resolve a pipeline (O-level, spec text, or list of passes/names) into stages."""
    for name in disable:
        get_pass(name)  # a typo in a disable list must not pass silently
    if isinstance(pipeline, str) and pipeline in LEVELS:
        return _level_stages(LEVELS[pipeline], target, set(disable))
    items = _parse_spec(pipeline) if isinstance(pipeline, str) else list(pipeline)
    stages: list[Stage] = []
    singles: list[Pass] = []
    for item in items:
        if isinstance(item, str) and item in LEVELS:
            stages += [Stage("custom", singles)] if singles else []
            singles = []
            stages += _level_stages(LEVELS[item], target, set(disable))
            continue
        if isinstance(item, str):
            item = _parse_spec(item)[0] if "{" in item else get_pass(item)()
        if not isinstance(item, Pass):
            raise PassError(f"pipeline item {item!r} is neither a pass nor a pass name")
        p = item
        if p.name not in disable:
            singles.append(p)
    if singles:
        stages.append(Stage("custom", singles))
    return stages


def _level_stages(level: int, target: str | None, disable: set[str]) -> list[Stage]:
    known = registered_passes()
    stages = []
    for stage_name, (stage_level, names, fixed_point) in STAGE_ORDER.items():
        if level < stage_level:
            continue
        passes = []
        for name in names:
            cls = known.get(name)
            if cls is None or cls.level > level or name in disable:
                continue
            p = cls()
            if p.suits(target):
                passes.append(p)
        if passes:
            stages.append(Stage(stage_name, passes, fixed_point, MAX_FIXED_POINT_ITERATIONS))
    return stages


_ITEM = re.compile(r"\s*([A-Za-z0-9_.-]+)\s*(?:\{([^{}]*)\})?\s*(?:,|$)")


def _parse_spec(spec: str) -> list[Pass | str]:
    items: list[Pass | str] = []
    pos = 0
    spec = spec.strip()
    while pos < len(spec):
        m = _ITEM.match(spec, pos)
        if m is None or m.end() == pos:
            raise PassError(f"pipeline spec {spec!r}: cannot parse from column {pos + 1}: {spec[pos:]!r}")
        name, opts = m.group(1), m.group(2)
        pos = m.end()
        if name in LEVELS:
            if opts:
                raise PassError(f"pipeline spec {spec!r}: {name} takes no options")
            items.append(name)
            continue
        options = {}
        for part in filter(None, (p.strip() for p in (opts or "").split(","))):
            key, sep, value = part.partition("=")
            if not sep:
                raise PassError(f"pipeline spec {spec!r}: option {part!r} of {name!r} needs key=value")
            options[key.strip()] = value.strip()
        items.append(get_pass(name)(**options))
    return items


def optimize(
    graph: Graph,
    pipeline: Pipeline = "O2",
    *,
    target: str | None = None,
    disable: Sequence[str] = (),
    instruments: Sequence[Instrument] = (),
    dump_dir: str | Path | None = None,
) -> Graph:
    """Return an optimized copy of ``graph``; the input is never modified.

    An O-level verifies the input first (``O0`` does nothing else); a custom pipeline gets the graph as
    it is. ``dump_dir`` turns on :class:`~graphopt.passes.dump.DumpIR`.
    """
    stages = build_stages(pipeline, target, disable)
    result = graph.copy()
    extra: list[Instrument] = []
    if dump_dir is not None:
        from graphopt.passes.dump import DumpIR

        extra.append(DumpIR(dump_dir))
    if isinstance(pipeline, str) and pipeline in LEVELS and not any(isinstance(i, VerifyEach) for i in instruments):
        verify(result)  # all O0 does; the other levels need a well-formed graph: a malformed one stops here
    with gc_paused():  # passes allocate many small objects that live on; see graphopt.ir.gcpause
        PassManager(stages, [*instruments, *extra]).run(result)
    return result
