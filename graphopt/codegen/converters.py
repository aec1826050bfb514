"""An emitter's converter table: one converter per canonical op (by domain and op), each with an optional
capability check that says why a node cannot be converted (``None`` when it can)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from graphopt.ir.core import Node

F = TypeVar("F", bound=Callable[..., Any])
Check = Callable[[Node], "str | None"]


@dataclass(frozen=True)
class Converter(Generic[F]):
    convert: F
    check: Check | None = None


class ConverterTable(Generic[F]):
    def __init__(self) -> None:
        self._converters: dict[tuple[str, str], Converter[F]] = {}

    def register(self, *ops: str, domain: str = "", check: Check | None = None) -> Callable[[F], F]:
        """Decorator: ``fn`` converts ``ops`` (in ``domain``), guarded by ``check``."""

        def register(fn: F) -> F:
            for op in ops:
                self._converters[(domain, op)] = Converter(fn, check)
            return fn

        return register

    def lookup(self, node: Node) -> Converter[F] | None:
        return self._converters.get(("" if node.domain == "ai.onnx" else node.domain, node.op))
