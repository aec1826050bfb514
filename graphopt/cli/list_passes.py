"""``graphopt passes``: every registered pass with its level, stage, targets, O-levels, options and doc."""

from __future__ import annotations

import argparse
from typing import Any

from graphopt.cli.common import table
from graphopt.passes.base import Pass, registered_passes
from graphopt.passes.pipeline import LEVELS, STAGE_ORDER

EXAMPLES = """\
examples:
  graphopt passes
  graphopt passes --stage optimize
  graphopt optimize m.onnx -o out.onnx --pipeline "O1,fold-constants{max-bytes=4096}"   options as in the list
"""


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("passes", parents=parents, help="list every registered pass",
                            description="List every registered pass: the lowest -O level that enables it, its "
                                        "stage, the targets it suits, the O-levels whose pipeline runs it, its "
                                        "options (usable in --pipeline as name{option=value}) and what it does.",
                            epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stage", choices=tuple(STAGE_ORDER), help="only the passes of one stage")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    passes = [cls for cls in registered_passes().values() if args.stage in (None, cls.stage)]
    rows = [[cls.name, f"O{cls.level}", cls.stage, ",".join(sorted(cls.targets)) if cls.targets else "all",
             _levels(cls), doc_line(cls)] for cls in passes]
    print(table(["pass", "level", "stage", "targets", "run by", "what it does"], rows))
    options = [[cls.name, ", ".join(f"{k.replace('_', '-')}={v!r}" for k, (_, v) in cls.options_spec().items())]
               for cls in passes if cls.options_spec()]
    if options:
        print()
        print(table(["pass", "options (defaults)"], options))
    return 0


def doc_line(cls: type[Pass]) -> str:
    """The pass's one-line summary: its ``doc``, else the first line of its docstring."""
    text = cls.doc or (cls.__doc__ or "").strip()
    return text.splitlines()[0].strip() if text else ""


def _levels(cls: type[Pass]) -> str:
    levels = [name for name, n in LEVELS.items()
              if any(n >= max(stage_level, cls.level) and cls.name in names
                     for stage_level, names, _ in STAGE_ORDER.values())]
    return ",".join(levels) if levels else "by name only"
