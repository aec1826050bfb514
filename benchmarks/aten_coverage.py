"""Which core ATen ops have a converter in graphopt's ATen table, and which ops the zoo needs.

Writes ``benchmarks/out/aten_coverage.md`` and ``.json``. The core ATen op set is every ATen overload
torch tags ``core`` (what ``run_decompositions()`` lowers to). Backward, random and in-place resizing
ops are counted apart: an inference graph does not contain them. The zoo part exports each model of
``tests/torch_zoo.py`` with torch.export, decomposes it as ``from_torch`` does (core ATen, attention kept
whole), and lists the ops it uses (``--no-zoo`` skips it).

    .venv/bin/python benchmarks/aten_coverage.py     # ~30 s
"""

from __future__ import annotations

import argparse
import collections
import sys
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from benchmarks.common import write_json, write_text
from graphopt.frontends.aten import lookup, registered_ops, torchscript_ops  # noqa: F401 (its converters count too)
from graphopt.frontends.torch_export import _decompositions

NOT_INFERENCE = {"rand", "randn", "randperm", "resize_"}
"""Core ops no exported inference graph should contain (random draws, in-place resizing)."""


def core_overloads() -> list[tuple[str, str]]:
    """(schema name, overload name) of every ATen overload tagged ``core``."""
    found = set()
    for full in torch._C._dispatch_get_all_op_names():
        namespace, _, rest = full.partition("::")
        if namespace != "aten":
            continue
        base, _, overload = rest.partition(".")
        packet = getattr(torch.ops.aten, base, None)
        if packet is None:
            continue
        try:
            op = getattr(packet, overload or "default")
        except (AttributeError, RuntimeError):
            continue
        if torch.Tag.core in op.tags:
            found.add((op._schema.name, op._schema.overload_name))
    return sorted(found)


def category(name: str) -> str:
    base = name.removeprefix("aten::")
    if base.endswith("_backward"):
        return "backward"
    if base in NOT_INFERENCE:
        return "not inference"
    return "inference"


def zoo_ops() -> dict[str, collections.Counter[str]]:
    from tests import torch_zoo

    used: dict[str, collections.Counter[str]] = {}
    for name in torch_zoo.NAMES:
        model = torch_zoo.build(name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.export(model.module, model.example).run_decompositions(_decompositions(torch))
        counts: collections.Counter[str] = collections.Counter()
        for node in program.graph.nodes:
            schema = getattr(node.target, "_schema", None)
            if node.op == "call_function" and schema is not None:
                counts[f"{schema.name}.{schema.overload_name or 'default'}"] += 1
        used[name] = counts
    return used


def covered(op: str) -> bool:
    name, _, overload = op.partition(".")
    return lookup(name, "" if overload == "default" else overload) is not None


def report(core: list[tuple[str, str]], zoo: dict[str, collections.Counter[str]] | None) -> tuple[str, dict[str, Any]]:
    rows = []
    for name, overload in core:
        rows.append({"op": name, "overload": overload or "default", "category": category(name),
                     "converter": lookup(name, overload) is not None})
    inference = [r for r in rows if r["category"] == "inference"]
    have = [r for r in inference if r["converter"]]
    missing = [r for r in inference if not r["converter"]]
    core_names = {n for n, _ in core}
    extra = [n for n in registered_ops() if n.partition(".")[0] not in core_names]
    data: dict[str, Any] = {"torch": torch.__version__, "core_overloads": len(rows),
                            "inference_overloads": len(inference), "covered": len(have),
                            "missing": [f"{r['op']}.{r['overload']}" for r in missing], "ops": rows,
                            "non_core_converters": extra}
    lines = [
        "# Core ATen coverage of graphopt's converter table",
        "",
        f"torch {torch.__version__}: {len(rows)} ATen overloads carry the `core` tag. "
        f"{len(rows) - len(inference)} of them cannot appear in an exported inference graph "
        "(backward ops, random draws, in-place resize). Of the remaining "
        f"**{len(inference)}, {len(have)} have a converter ({100 * len(have) / len(inference):.0f}%)**.",
        "",
        f"Missing ({len(missing)}): " + (", ".join(f"`{r['op']}.{r['overload']}`" for r in missing) or "none"),
        "",
    ]
    if zoo is not None:
        lines += ["## Ops the zoo uses after from_torch's decomposition", "",
                  "| model | distinct ops | op calls | without converter |", "|---|---:|---:|---|"]
        for name, counts in zoo.items():
            absent = [op for op in counts if not covered(op)]
            lines.append(f"| {name} | {len(counts)} | {sum(counts.values())} | {', '.join(absent) or '—'} |")
        data["zoo"] = {name: dict(counts) for name, counts in zoo.items()}
        lines.append("")
    lines += ["## Every core overload", "", "| op | overload | converter |", "|---|---|---|"]
    for r in rows:
        mark = "yes" if r["converter"] else "**no**" if r["category"] == "inference" else f"n/a ({r['category']})"
        lines.append(f"| `{r['op']}` | {r['overload']} | {mark} |")
    lines += ["", f"## Converters for ops outside the core set ({len(extra)})", "",
              "Pre-decomposition and TorchScript forms (`aten::linear`, `aten::layer_norm`, `aten::lstm` …): "
              + ", ".join(f"`{n}`" for n in extra), ""]
    return "\n".join(lines), data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-zoo", action="store_true", help="skip exporting the zoo")
    args = parser.parse_args()
    text, data = report(core_overloads(), None if args.no_zoo else zoo_ops())
    print(write_text("aten_coverage.md", text))
    write_json("aten_coverage.json", data)


if __name__ == "__main__":
    main()
