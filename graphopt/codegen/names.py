"""Unique names for emitted models (ONNX tensors and nodes, OpenVINO ops, TensorRT I/O)."""

from __future__ import annotations


class NamePool:
    """Unique names: a taken name gets the next free ``__k`` suffix, remembered per base (no rescans)."""

    def __init__(self, taken: set[str] | None = None) -> None:
        self.used: set[str] = set(taken or ())
        self.next_suffix: dict[str, int] = {}

    def __contains__(self, name: str) -> bool:
        return name in self.used

    def claim(self, wanted: str) -> str:
        name, k = wanted, self.next_suffix.get(wanted, 1)
        while name in self.used:
            name, k = f"{wanted}__{k}", k + 1
        self.next_suffix[wanted] = k
        self.used.add(name)
        return name
