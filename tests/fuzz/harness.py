"""Runs one fuzz input through graphopt's whole pipeline in a forked child, under time and memory limits.

The pipeline is ``graphopt.load`` (the proto itself, its bytes, its file) → ``optimize`` at O0..O3 → ``save``
(which emits through ``to_onnx``; O2 writes its weights as external data), and the saved file must load back.
O1 and O3 run the verifier after every pass, O2 runs as users run it. The child works in a fresh directory
tree (the model's own dir, the output dir, its cwd and its ``TMPDIR``) so the parent can check that nothing
was written anywhere but the requested output file (and the ``.data`` file beside it that ``save``
documents). A forked child also contains what an in-process guard cannot: a hang inside C code, a segfault
in a native library, a runaway allocation.

An :class:`Outcome` is ``ok`` (the model went all the way through), ``rejected`` (a ``GraphoptError``
subclass, the promised failure mode) or a bug: ``crash`` (any other exception, a ``PassError`` that only
wraps a pass crashing, or a pass other than ``infer-shapes`` turning a verified graph into one that does
not verify: refined types may expose a contradiction the input check could not see, the model's fault),
``hang``, ``died`` (the child was killed by a signal), ``stray-write`` or ``memory`` (peak memory grew
past :data:`MEMORY_BUDGET`: something huge was materialized). Each step is judged on its own, so a level
that rejects the model does not hide what the next one does.
"""

from __future__ import annotations

import faulthandler
import json
import os
import resource
import select
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import onnx

import graphopt
import graphopt.codegen.onnx
from graphopt.errors import GraphoptError, VerificationError
from graphopt.passes import VerifyEach
from graphopt.passes.base import PassError

LEVELS = ("O0", "O1", "O2", "O3")
SCALE = max(1, int(os.environ.get("GRAPHOPT_FUZZ_SCALE", "1")))
"""Multiplies every fuzz test's example count (the default suite runs at 1; a long run by hand at, say, 20)."""
TIME_LIMIT = float(os.environ.get("GRAPHOPT_FUZZ_TIME_LIMIT", "60"))
"""Seconds one input may take through the whole pipeline before it counts as a hang (a busy CI machine)."""
MEMORY_LIMIT = 3 << 30
"""Address space the child may add on top of what it inherits; a runaway allocation fails with MemoryError."""
MEMORY_BUDGET = 1 << 30
"""Peak resident memory one small input may add; more means something was materialized that should not be."""
BUGS = ("crash", "hang", "died", "stray-write", "memory")
TALLY: Counter[str] = Counter()
"""``category/status`` counts of every input run in this process (printed by the session fixture)."""

graphopt.codegen.onnx.default_opset()  # asks ONNX Runtime once, here: children inherit the answer and the imports


@dataclass
class Outcome:
    status: str
    detail: str = ""
    seconds: float = 0.0

    @property
    def is_bug(self) -> bool:
        return self.status in BUGS

    def __str__(self) -> str:
        return f"{self.status} after {self.seconds:.1f}s: {self.detail}"


def run(model: onnx.ModelProto | bytes, category: str, external: dict[str, bytes] | None = None,
        levels: tuple[str, ...] = LEVELS) -> Outcome:
    """Put ``model`` (and ``external`` files beside it, by relative name) through the pipeline in a child.

    A ``ModelProto`` is also loaded as it is, in memory: protobuf's parser limits nesting depth, an
    in-memory proto does not."""
    proto = None if isinstance(model, bytes) else model
    data = model if isinstance(model, bytes) else model.SerializeToString()
    with tempfile.TemporaryDirectory(prefix="graphopt-fuzz-") as root_name:
        root = Path(root_name)
        dirs = {name: root / name for name in ("model", "out", "cwd", "tmp")}
        for d in dirs.values():
            d.mkdir()
        model_path = dirs["model"] / "model.onnx"
        model_path.write_bytes(data)
        for name, content in (external or {}).items():
            target = dirs["model"] / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        before = _snapshot(root)
        outcome = _in_child(lambda: _pipeline(proto, data, model_path, dirs["out"], levels), dirs["cwd"], dirs["tmp"])
        stray = _stray_writes(before, _snapshot(root), dirs["out"], levels)
        if stray and not outcome.is_bug:
            outcome = Outcome("stray-write", f"files changed outside the output path: {stray}", outcome.seconds)
    TALLY[f"{category}/{outcome.status}"] += 1
    return outcome


def check(model: onnx.ModelProto | bytes, category: str, external: dict[str, bytes] | None = None,
          levels: tuple[str, ...] = LEVELS) -> Outcome:
    """:func:`run`, failing the test with the outcome when it is a bug."""
    outcome = run(model, category, external, levels)
    assert not outcome.is_bug, str(outcome)
    return outcome


# -- the child ------------------------------------------------------------------------------------------

def _pipeline(proto: onnx.ModelProto | None, data: bytes, path: Path, out_dir: Path,
              levels: tuple[str, ...]) -> dict[str, str]:
    """Every step, each classified on its own (a level that rejects the model does not hide the next one)."""
    worst = {"status": "ok", "detail": ""}

    def step(name: str, work: Callable[[], object]) -> object:
        report, value = _classify(work)
        if _RANK[report["status"]] > _RANK[worst["status"]]:
            worst["status"] = report["status"]
        if report["detail"]:
            worst["detail"] += f"{name}: {report['detail']}\n"
        return value

    if proto is not None:
        step("load(proto)", lambda: graphopt.load(proto))
    step("load(bytes)", lambda: graphopt.load(data))
    graph = step("load(path)", lambda: graphopt.load(path))
    if not isinstance(graph, graphopt.Graph):
        return _finished(worst)
    for level in levels:
        def optimize_and_save(level: str = level, graph: graphopt.Graph = graph) -> None:
            out = out_dir / f"{level}.onnx"
            checked = [] if level == "O2" else [VerifyEach()]  # O2 as users run it, the others verified per pass
            optimized = graphopt.optimize(graph, level, instruments=checked)
            graphopt.save(optimized, out, external_data=level == "O2")  # via to_onnx
            try:
                graphopt.load(out)
            except graphopt.GraphoptError as e:  # graphopt must read back what it wrote
                raise RuntimeError(f"{out.name} as saved does not load back: {e}") from e

        step(f"optimize({level}), save", optimize_and_save)
        if worst["status"] == "hang":
            break
    return _finished(worst)


def _finished(report: dict[str, str]) -> dict[str, str]:
    return {**report, "detail": report["detail"].rstrip()}


_RANK = {"ok": 0, "rejected": 1, "crash": 2, "hang": 2}


def _in_child(work: Callable[[], dict[str, str]], cwd: Path, tmp: Path, time_limit: float = TIME_LIMIT,
              memory_budget: int = MEMORY_BUDGET) -> Outcome:
    """Run ``work`` (which returns a report) in a forked child; a child that overruns is stopped by its alarm,
    or killed a little later if the alarm cannot fire (a hang in C code)."""
    read_end, write_end = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe and never returns
        os.close(read_end)
        _child(work, cwd, tmp, write_end, time_limit, memory_budget)
    os.close(write_end)
    chunks = []
    grace = min(10.0, 1 + time_limit)  # for the report of an alarm that fired
    deadline = start + time_limit + grace
    hung = False
    with os.fdopen(read_end, "rb") as pipe:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                hung = True
                break
            ready, _, _ = select.select([pipe], [], [], left)
            if ready:
                chunk = os.read(pipe.fileno(), 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
    if hung:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    seconds = time.monotonic() - start
    if hung:
        return Outcome("hang", f"no answer after {time_limit + grace:.0f}s (the alarm did not fire)", seconds)
    if os.WIFSIGNALED(status):
        return Outcome("died", f"killed by signal {signal.Signals(os.WTERMSIG(status)).name}", seconds)
    try:
        report = json.loads(b"".join(chunks))
    except ValueError:
        return Outcome("died", f"exit status {status} without a report", seconds)
    return Outcome(report["status"], report["detail"], seconds)


class _Alarm(BaseException):
    """Raised in the child by SIGALRM; a BaseException so no ``except Exception`` swallows it."""


def _child(work: Callable[[], dict[str, str]], cwd: Path, tmp: Path, fd: int, time_limit: float,
           memory_budget: int) -> None:  # pragma: no cover - runs in the child
    code = 0
    try:
        faulthandler.disable()  # the parent reports a killed child itself
        os.chdir(cwd)
        os.environ["TMPDIR"] = str(tmp)
        tempfile.tempdir = None
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = _address_space() + MEMORY_LIMIT
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))

        def on_alarm(signum: int, frame: object) -> None:
            raise _Alarm()

        signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(max(1, int(time_limit)))
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        report = work()
        signal.alarm(0)
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) * 1024
        if grown > memory_budget and report["status"] in ("ok", "rejected"):
            report = {"status": "memory", "detail": f"peak memory grew by {grown >> 20} MiB\n{report['detail']}"}
        payload = json.dumps(report).encode()
        while payload:
            payload = payload[os.write(fd, payload):]
    except BaseException:
        code = 70
    finally:
        os._exit(code)


def _classify(work: Callable[[], object]) -> tuple[dict[str, str], object]:
    try:
        return {"status": "ok", "detail": ""}, work()
    except _Alarm:
        return {"status": "hang", "detail": f"over the time limit; stopped in\n{_where()}"}, None
    except GraphoptError as e:
        cause = e.__cause__
        if isinstance(e, PassError) and cause is not None and not isinstance(cause, GraphoptError):
            return {"status": "crash", "detail": f"{_first_line(e)}\n{_where(cause)}"}, None
        if isinstance(e, VerificationError) and str(e).startswith("after pass") and \
                not str(e).startswith("after pass 'infer-shapes'"):  # refined types may expose a bad model
            return {"status": "crash", "detail": f"a pass broke a valid graph: {_first_line(e)}"}, None
        return {"status": "rejected", "detail": f"{type(e).__name__}: {_first_line(e)}"}, None
    except RecursionError as e:
        return {"status": "crash", "detail": f"RecursionError: {_first_line(e)}"}, None
    except Exception as e:
        return {"status": "crash", "detail": f"{type(e).__name__}: {_first_line(e)}\n{_where()}"}, None


def _first_line(e: BaseException) -> str:
    text = str(e)
    return text if len(text) < 400 else text[:400] + " …"


def _where(e: BaseException | None = None) -> str:
    """The innermost few frames of the exception being handled (or of ``e``)."""
    frames = traceback.extract_tb(e.__traceback__ if e is not None else sys.exc_info()[2])
    return "".join(traceback.format_list(frames[-6:]))


def _address_space() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


# -- where files may appear ----------------------------------------------------------------------------

def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            try:
                st = p.lstat()
            except OSError:
                continue
            is_dir = name in dirnames  # a directory's mtime moves when a temp file comes and goes: ignore it
            found[str(p.relative_to(root))] = (-1, 0) if is_dir else (st.st_size, st.st_mtime_ns)
    return found


def _stray_writes(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], out_dir: Path,
                  levels: tuple[str, ...]) -> list[str]:
    allowed = {f"{out_dir.name}/{level}.onnx{suffix}" for level in levels for suffix in ("", ".data")}
    changed = {k for k in after if before.get(k) != after[k]} | (before.keys() - after.keys())
    return sorted(changed - allowed)
