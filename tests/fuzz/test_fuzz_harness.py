"""The harness itself catches what it claims to: crashes, hangs (in Python and in C), dead children, runaway
allocations and stray writes; otherwise every fuzz test here could pass without checking anything."""

from __future__ import annotations

import ctypes
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.fuzz import harness
from tests.fuzz.seeds import seeds


def _run(fn: Callable[[], object], tmp_path: Path, time_limit: float = 2) -> harness.Outcome:
    return harness._in_child(lambda: harness._classify(fn)[0], tmp_path, tmp_path, time_limit)


def test_ok_and_graphopt_errors_are_not_bugs(tmp_path: Path) -> None:
    import graphopt

    assert _run(lambda: None, tmp_path).status == "ok"
    outcome = _run(lambda: graphopt.load(b"\x00garbage"), tmp_path)
    assert outcome.status == "rejected" and "ModelLoadError" in outcome.detail


def test_other_exceptions_are_crashes(tmp_path: Path) -> None:
    empty: dict[str, int] = {}
    outcome = _run(lambda: empty["missing"], tmp_path)
    assert outcome.status == "crash" and "KeyError" in outcome.detail


def test_wrapped_pass_crash_is_a_crash(tmp_path: Path) -> None:
    from graphopt.passes.base import PassError

    def wrapped() -> None:
        try:
            [][1]
        except IndexError as e:
            raise PassError("pass 'x' crashed with IndexError") from e

    assert _run(wrapped, tmp_path).status == "crash"


def test_python_hang_is_stopped_by_the_alarm(tmp_path: Path) -> None:
    outcome = _run(lambda: time.sleep(30), tmp_path, time_limit=1)
    assert outcome.status == "hang" and outcome.seconds < 10 and "sleep" in outcome.detail


def test_hang_that_blocks_the_alarm_is_killed(tmp_path: Path) -> None:
    def blocked() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        ctypes.CDLL(None).sleep(60)  # C code: no Python signal handler runs in here

    outcome = _run(blocked, tmp_path, time_limit=1)
    assert outcome.status == "hang" and outcome.seconds < 20


def test_dead_child_is_reported(tmp_path: Path) -> None:
    outcome = _run(lambda: os.kill(os.getpid(), signal.SIGSEGV), tmp_path)
    assert outcome.status == "died" and "SIGSEGV" in outcome.detail


def test_runaway_allocation_fails_inside_the_child(tmp_path: Path) -> None:
    outcome = _run(lambda: np.ones(harness.MEMORY_LIMIT // 4, np.float64), tmp_path)  # 2x the allowance
    assert outcome.status == "crash" and "MemoryError" in outcome.detail


def test_memory_blowup_is_reported(tmp_path: Path) -> None:
    def blowup() -> dict[str, str]:
        np.ones(128 << 17, np.float64)  # 128 MiB, touched
        return {"status": "ok", "detail": ""}

    outcome = harness._in_child(blowup, tmp_path, tmp_path, 30, memory_budget=64 << 20)
    assert outcome.status == "memory", outcome


@pytest.mark.parametrize("where", ["cwd", "model", "tmp", "out/other.txt"])
def test_stray_writes_are_found(tmp_path: Path, where: str) -> None:
    root = tmp_path
    for d in ("model", "out", "cwd", "tmp"):
        (root / d).mkdir()
    before = harness._snapshot(root)
    (root / "out" / "O1.onnx").write_bytes(b"allowed")
    target = root / where if "/" in where else root / where / "stray.bin"
    target.write_bytes(b"not allowed")
    found = harness._stray_writes(before, harness._snapshot(root), root / "out", harness.LEVELS)
    assert found == [str(target.relative_to(root))]


def test_a_seed_runs_clean_through_every_level() -> None:
    outcome = harness.run(seeds()["tiny_cnn"], "seed")
    assert outcome.status == "ok", outcome
