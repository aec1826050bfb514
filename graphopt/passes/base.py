"""The pass contract: a named, levelled, staged graph transformation with typed options.

A pass mutates the graph in place and returns a :class:`PassResult` that says
truthfully whether anything changed. Define one by subclassing :class:`Pass`
(options are annotated class attributes with defaults) or by decorating a
function with :func:`graph_pass`; either way :func:`register_pass` makes it
usable by name in pipeline specs.
"""

from __future__ import annotations

import difflib
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from graphopt.errors import GraphoptError
from graphopt.ir.core import Graph

STAGES = ("pre", "optimize", "post")


class PassError(GraphoptError):
    """A pass failed, or a pipeline names a pass or option that does not exist."""


@dataclass
class PassResult:
    """What a pass did: ``modified`` must be true exactly when the graph changed."""

    modified: bool
    counts: dict[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.modified


class Pass:
    """Base class of passes. Subclasses set ``name``, ``level``, ``stage`` and implement :meth:`run`.

    Options are annotated class attributes with defaults, e.g. ``max_bytes: int = 1 << 20``;
    they are set by keyword (``FoldConstants(max_bytes=1024)``) or in a pipeline spec
    (``fold-constants{max-bytes=1024}``).
    """

    name: ClassVar[str] = ""
    level: ClassVar[int] = 1
    stage: ClassVar[str] = "pre"
    targets: ClassVar[frozenset[str] | None] = None  # None: good for every target
    doc: ClassVar[str] = ""

    def __init__(self, **options: Any) -> None:
        spec = self.options_spec()
        for key, value in options.items():
            key = key.replace("-", "_")
            if key not in spec:
                raise PassError(f"pass {self.name!r} has no option {key!r} (options: {sorted(spec) or 'none'})")
            setattr(self, key, _coerce(value, spec[key][0], f"{self.name}{{{key}}}"))

    @classmethod
    def options_spec(cls) -> dict[str, tuple[Any, Any]]:
        """Option name → (type, default), from the class annotations."""
        hints = typing.get_type_hints(cls)
        spec = {}
        for klass in reversed(cls.__mro__):
            for key in getattr(klass, "__annotations__", {}):
                hint = hints.get(key)
                if key.startswith("_") or typing.get_origin(hint) is ClassVar or klass is Pass:
                    continue
                spec[key] = (hint, getattr(cls, key))
        return spec

    @property
    def options(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.options_spec()}

    def suits(self, target: str | None) -> bool:
        return self.targets is None or target is None or target in self.targets

    def run(self, graph: Graph) -> PassResult:
        raise NotImplementedError

    def __call__(self, graph: Graph) -> PassResult:
        result = self.run(graph)
        if isinstance(result, bool):
            result = PassResult(result)
        if not isinstance(result, PassResult):
            raise PassError(f"pass {self.name!r} returned {type(result).__name__}, not a PassResult or bool")
        return result

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{self.name}{{{opts}}}" if opts else self.name


_REGISTRY: dict[str, type[Pass]] = {}


def register_pass(cls: type[Pass]) -> type[Pass]:
    """Class decorator: make ``cls`` usable by its ``name`` in pipelines."""
    if not cls.name:
        raise PassError(f"{cls.__name__} needs a `name` to be registered")
    if cls.stage not in STAGES:
        raise PassError(f"pass {cls.name!r}: stage must be one of {STAGES}, not {cls.stage!r}")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise PassError(f"a pass named {cls.name!r} is already registered ({_REGISTRY[cls.name].__qualname__})")
    _REGISTRY[cls.name] = cls
    return cls


def graph_pass(name: str, *, level: int = 1, stage: str = "pre",
               targets: frozenset[str] | None = None) -> Callable[[Callable[..., Any]], type[Pass]]:
    """Decorator turning ``fn(graph, *, option=default, ...) -> PassResult | bool`` into a registered pass."""

    def wrap(fn: Callable[..., Any]) -> type[Pass]:
        params = [p for p in inspect.signature(fn).parameters.values() if p.kind == p.KEYWORD_ONLY]
        hints = typing.get_type_hints(fn)
        namespace: dict[str, Any] = {
            "name": name, "level": level, "stage": stage, "targets": targets, "doc": (fn.__doc__ or "").strip(),
            "__annotations__": {p.name: hints.get(p.name, type(p.default)) for p in params},
            "run": lambda self, graph: fn(graph, **self.options),
            "__module__": fn.__module__,
        }
        namespace.update({p.name: p.default for p in params})
        return register_pass(type(fn.__name__, (Pass,), namespace))

    return wrap


def get_pass(name: str) -> type[Pass]:
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise PassError(f"no pass named {name!r}{hint} (see graphopt.passes.registered_passes())") from None


def registered_passes() -> dict[str, type[Pass]]:
    return dict(sorted(_REGISTRY.items()))


def _coerce(value: Any, kind: Any, where: str) -> Any:
    if kind is bool and isinstance(value, str):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise PassError(f"{where}: expected a boolean, got {value!r}")
    if kind in (int, float, str) and not isinstance(value, bool):
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise PassError(f"{where}: expected {kind.__name__}, got {value!r}") from None
    return value
