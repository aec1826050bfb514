"""The op registry: one schema per op of the canonical vocabulary, with its kernel and shape inference.

Standard ops take their schema (attributes, defaults, arity) from ONNX's own
definitions at :data:`CANONICAL_OPSET`; graphopt's fused ops are declared with
:func:`define`. Kernels and inference functions attach with decorators, so one
file per op family holds both.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import onnx
import onnx.defs

from graphopt.ir.attributes import AttrKind

CANONICAL_OPSET = 25
"""ONNX opset whose semantics every standard op in the IR follows."""

GRAPHOPT_DOMAIN = "graphopt"
ONNX_DOMAINS = ("", "ai.onnx")


@dataclass(frozen=True, slots=True)
class AttrSpec:
    name: str
    kind: AttrKind
    required: bool = False
    default: Any = None


@dataclass(frozen=True, slots=True)
class ParamSpec:
    name: str
    optional: bool = False
    variadic: bool = False


@dataclass(slots=True)
class OpSchema:
    domain: str
    name: str
    version: int
    inputs: tuple[ParamSpec, ...]
    outputs: tuple[ParamSpec, ...]
    attrs: dict[str, AttrSpec]
    min_inputs: int
    max_inputs: int
    min_outputs: int
    max_outputs: int
    doc: str = ""
    onnx_schema: onnx.defs.OpSchema | None = None
    kernel: Kernel | None = None
    infer: Callable[..., list[Any]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def attr_values(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Attribute values with schema defaults filled in."""
        out = {k: s.default for k, s in self.attrs.items() if s.default is not None}
        out.update(attrs)
        return out


class Kernel:
    """A numpy reference implementation: called as ``fn([ctx,] *inputs, **attrs)``.

    Only the attributes the function names are passed; a first parameter named
    ``ctx`` receives the interpreter's context (for subgraphs, output count …).
    """

    __slots__ = ("attr_names", "fn", "takes_all", "wants_ctx")

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        params = list(inspect.signature(fn).parameters.values())
        self.wants_ctx = bool(params) and params[0].name == "ctx"
        self.attr_names = frozenset(p.name for p in params if p.kind == p.KEYWORD_ONLY)
        self.takes_all = any(p.kind == p.VAR_KEYWORD for p in params)

    def __call__(self, ctx: Any, inputs: list[Any], attrs: dict[str, Any]) -> Any:
        kw = attrs if self.takes_all else {k: v for k, v in attrs.items() if k in self.attr_names}
        if self.wants_ctx:
            return self.fn(ctx, *inputs, **kw)
        return self.fn(*inputs, **kw)


_schemas: dict[tuple[str, str], OpSchema | None] = {}
_pending_kernels: dict[tuple[str, str], Kernel] = {}
_pending_infer: dict[tuple[str, str], Callable[..., list[Any]]] = {}


def _key(domain: str, op: str) -> tuple[str, str]:
    return ("" if domain == "ai.onnx" else domain, op)


def lookup(domain: str, op: str) -> OpSchema | None:
    """The schema of ``domain::op``, or ``None`` for an op graphopt knows nothing about."""
    key = _key(domain, op)
    try:
        return _schemas[key]
    except KeyError:
        pass
    schema = _from_onnx(*key)
    if schema is not None:
        schema.kernel = _pending_kernels.get(key)
        schema.infer = _pending_infer.get(key)
    _schemas[key] = schema
    return schema


def define(
    domain: str,
    name: str,
    inputs: list[ParamSpec],
    outputs: list[ParamSpec],
    attrs: list[AttrSpec] = (),  # type: ignore[assignment]
    doc: str = "",
    version: int = 1,
) -> OpSchema:
    """Declare an op that ONNX does not define (graphopt's fused ops, contrib ops)."""
    required_in = sum(1 for p in inputs if not p.optional and not p.variadic)
    schema = OpSchema(
        domain=domain, name=name, version=version, inputs=tuple(inputs), outputs=tuple(outputs),
        attrs={a.name: a for a in attrs},
        min_inputs=required_in, max_inputs=1 << 30 if any(p.variadic for p in inputs) else len(inputs),
        min_outputs=sum(1 for p in outputs if not p.optional), max_outputs=len(outputs), doc=doc,
    )
    key = _key(domain, name)
    schema.kernel = _pending_kernels.get(key)
    schema.infer = _pending_infer.get(key)
    _schemas[key] = schema
    return schema


def kernel(*ops: str, domain: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a numpy reference kernel for one or more ops."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        _attach(_pending_kernels, "kernel", ops, domain, Kernel(fn))
        return fn

    return register


def shape_inference(*ops: str, domain: str = "") -> Callable[[Callable[..., list[Any]]], Callable[..., list[Any]]]:
    """Register a type/shape inference function ``fn(ctx) -> [output types]`` for ops."""

    def register(fn: Callable[..., list[Any]]) -> Callable[..., list[Any]]:
        _attach(_pending_infer, "infer", ops, domain, fn)
        return fn

    return register


def _attach(pending: dict[tuple[str, str], Any], field_name: str, ops: tuple[str, ...], domain: str,
            value: Any) -> None:
    """Record ``value`` for schemas built later, and set it on those already built."""
    for op in ops:
        key = _key(domain, op)
        pending[key] = value
        schema = _schemas.get(key)
        if schema is not None:
            setattr(schema, field_name, value)


def registered_ops() -> list[tuple[str, str]]:
    """Every (domain, op) with a kernel or an inference function."""
    return sorted(set(_pending_kernels) | set(_pending_infer))


def _from_onnx(domain: str, op: str) -> OpSchema | None:
    try:
        s = onnx.defs.get_schema(op, CANONICAL_OPSET, domain)
    except onnx.defs.SchemaError:
        try:
            s = onnx.defs.get_schema(op, domain)  # ops newer than the canonical opset
        except onnx.defs.SchemaError:
            return None
    if s.deprecated:
        return None
    attrs = {}
    for name, a in s.attributes.items():
        default = None
        if a.default_value is not None and a.default_value.type != 0:
            default = onnx.helper.get_attribute_value(a.default_value)
            if isinstance(default, bytes):
                default = default.decode()
            elif isinstance(default, list):
                default = tuple(v.decode() if isinstance(v, bytes) else v for v in default)
        attrs[name] = AttrSpec(name, AttrKind(int(a.type)), a.required, default)  # type: ignore[call-overload]
    opt = onnx.defs.OpSchema.FormalParameterOption

    def params(formals: Any) -> tuple[ParamSpec, ...]:
        return tuple(ParamSpec(f.name, f.option == opt.Optional, f.option == opt.Variadic) for f in formals)

    return OpSchema(
        domain=domain, name=op, version=s.since_version, inputs=params(s.inputs),
        outputs=params(s.outputs), attrs=attrs, min_inputs=s.min_input, max_inputs=s.max_input,
        min_outputs=s.min_output, max_outputs=s.max_output, doc="", onnx_schema=s,
    )
