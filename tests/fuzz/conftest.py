"""Prints how many fuzz inputs ran, per category and outcome, at the end of the session."""

from __future__ import annotations

from typing import Any

from tests.fuzz.harness import TALLY


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TALLY:
        return
    terminalreporter.section("graphopt fuzzing: inputs per category/outcome")
    for key, count in sorted(TALLY.items()):
        terminalreporter.write_line(f"{count:7d}  {key}")
    terminalreporter.write_line(f"{sum(TALLY.values()):7d}  in all")
