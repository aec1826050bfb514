"""graphopt's fused ops: Conv, Gemm or MatMul followed by an activation, as one node.

``graphopt::FusedConv``, ``graphopt::FusedGemm`` and ``graphopt::FusedMatMul`` take the inputs and
attributes of their base op plus ``activation`` (one of :data:`ACTIVATIONS`) and ``activation_params``
(its float parameters, in the order listed there). Each activation is spelled in standard ONNX ops
(:func:`expand_activation`); the reference kernel runs that spelling with the standard kernels, and the
lowering writes it into the graph. With ``target="onnxruntime"`` the lowering uses ONNX Runtime's
``com.microsoft`` FusedConv / FusedGemm where they support the activation.

``Gelu`` lowers to the standard Gelu op (opset 20); the ONNX emitter raises the model's opset to the
newest op it contains, so the lowering need not know the opset it is emitted at.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphopt.ir.attributes import Attr, AttrKind
from graphopt.ir.core import Node, Value
from graphopt.ir.interpreter import run_node
from graphopt.ir.ops.conv import infer_conv
from graphopt.ir.ops.linalg import infer_gemm, infer_matmul
from graphopt.ir.registry import GRAPHOPT_DOMAIN, AttrSpec, define, kernel, lookup, shape_inference

ORT_DOMAIN = "com.microsoft"


@dataclass(frozen=True)
class Activation:
    """How one activation is written in standard ONNX: ``op`` with ``params`` as float attributes."""

    op: str
    params: tuple[str, ...] = ()
    fixed: dict[str, Any] = field(default_factory=dict)


ACTIVATIONS: dict[str, Activation] = {
    "Relu": Activation("Relu"),
    "Tanh": Activation("Tanh"),
    "Sigmoid": Activation("Sigmoid"),
    "LeakyRelu": Activation("LeakyRelu", ("alpha",)),
    "HardSigmoid": Activation("HardSigmoid", ("alpha", "beta")),
    "HardSwish": Activation("HardSwish"),
    "Clip": Activation("Clip", ("min", "max")),  # the bounds become Clip's inputs
    "Swish": Activation("Swish", ("alpha",)),  # x * Sigmoid(alpha * x); SiLU is alpha = 1
    "Gelu": Activation("Gelu", fixed={"approximate": "none"}),
    "GeluTanh": Activation("Gelu", fixed={"approximate": "tanh"}),
}
"""Activation name → its standard spelling."""

ORT_FUSED_CONV = frozenset({"Relu", "Tanh", "Sigmoid", "LeakyRelu", "Clip", "HardSigmoid"})
"""Activations ONNX Runtime's FusedConv runs (its MLAS activation kinds)."""
ORT_FUSED_GEMM = frozenset({"Relu", "Tanh", "Sigmoid", "LeakyRelu", "HardSigmoid"})
"""Activations ONNX Runtime's FusedGemm runs (its element-wise functors, parameters as activation_<name>)."""

Emit = Callable[[str, list[Any], dict[str, Any]], Any]
"""Adds (or runs) one standard op: ``emit(op, inputs, attrs) -> output``."""


def expand_activation(name: str, params: Sequence[float], x: Any, emit: Emit,
                      const: Callable[[float], Any]) -> Any:
    """``name(x)`` written with standard ops through ``emit``; ``const`` makes a scalar of x's dtype."""
    act = ACTIVATIONS[name]
    if len(params) != len(act.params):
        raise ValueError(f"activation {name} takes {len(act.params)} parameters {act.params}, got {list(params)}")
    if name == "Clip":
        return emit("Clip", [x, const(params[0]), const(params[1])], {})
    if name == "Swish":
        scaled = x if params[0] == 1.0 else emit("Mul", [x, const(params[0])], {})
        return emit("Mul", [x, emit("Sigmoid", [scaled], {})], {})
    return emit(act.op, [x], {**act.fixed, **dict(zip(act.params, map(float, params)))})


@dataclass(frozen=True)
class FusedOp:
    name: str
    base: str
    ort_op: str | None
    ort_activations: frozenset[str]


FUSED_OPS = {f.base: f for f in (
    FusedOp("FusedConv", "Conv", "FusedConv", ORT_FUSED_CONV),
    FusedOp("FusedGemm", "Gemm", "FusedGemm", ORT_FUSED_GEMM),
    FusedOp("FusedMatMul", "MatMul", None, frozenset()),  # ORT's FusedMatMul is a scaled MatMul, no activation
)}
"""Base op → its fused op."""
_BY_NAME = {f.name: f for f in FUSED_OPS.values()}
_ACTIVATION_ATTRS = ("activation", "activation_params")


def _define(f: FusedOp) -> None:
    base = lookup("", f.base)
    assert base is not None
    schema = define(
        GRAPHOPT_DOMAIN, f.name, list(base.inputs), list(base.outputs),
        [*base.attrs.values(), AttrSpec("activation", AttrKind.STRING, required=True),
         AttrSpec("activation_params", AttrKind.FLOATS, default=())],
        doc=f"{f.base} followed by an activation (graphopt::{f.name}).")
    schema.extra["lower"] = lower
    schema.extra["base"] = f.base


def _run_standard(op: str, inputs: list[Any], attrs: dict[str, Any]) -> Any:
    """One standard op on arrays, with its registered kernel."""
    node = Node(op, [None if a is None else Value() for a in inputs], attrs)
    return run_node(node, inputs)[0]


@kernel(*_BY_NAME, domain=GRAPHOPT_DOMAIN)
def fused(ctx: Any, *inputs: np.ndarray, activation: str, activation_params: Sequence[float] = (),
          **attrs: Any) -> np.ndarray:
    """The base op's kernel, then the activation's standard ops' kernels."""
    f = _BY_NAME[ctx.node.op]
    node = ctx.node
    y = _run_standard(f.base, list(inputs), {k: a.value for k, a in node.attrs.items() if k not in _ACTIVATION_ATTRS})
    return expand_activation(activation, activation_params, y, _run_standard,
                             lambda v: np.asarray(v, dtype=y.dtype))


shape_inference("FusedConv", domain=GRAPHOPT_DOMAIN)(infer_conv)
shape_inference("FusedGemm", domain=GRAPHOPT_DOMAIN)(infer_gemm)
shape_inference("FusedMatMul", domain=GRAPHOPT_DOMAIN)(infer_matmul)


def lower(node: Node, target: str | None) -> None:
    """Rewrite ``node`` in its graph: ONNX Runtime's contrib op when ``target`` is "onnxruntime" and it
    supports the activation (float32 only), else the base op followed by the activation's standard ops."""
    graph = node.graph
    assert graph is not None
    f = _BY_NAME[node.op]
    out = node.output
    activation, params = node.attr("activation"), tuple(node.attr("activation_params"))
    base_attrs = {k: a for k, a in node.attrs.items() if k not in _ACTIVATION_ATTRS}

    def emit(op: str, inputs: list[Any], attrs: dict[str, Any], domain: str = "", name: str | None = None) -> Value:
        made = graph.add(op, inputs, attrs, domain=domain, name=name, provenance=node.provenance)
        made.output.type = out.type
        return made.output

    with graph.inserting_before(node):
        if target == "onnxruntime" and f.ort_op is not None and activation in f.ort_activations \
                and out.dtype is not None and out.dtype.numpy == np.float32:
            y = emit(f.ort_op, list(node.inputs), {**base_attrs, **_ort_activation_attrs(f, activation, params)},
                     ORT_DOMAIN, node.name)
        else:
            base = emit(f.base, list(node.inputs), base_attrs, name=node.name)
            y = expand_activation(activation, params, base, emit,
                                  lambda v: graph.add_constant(np.asarray(v, dtype=out.dtype.numpy)))
    y.name = out.name
    graph.replace_all_uses(out, y)
    graph.remove(node)


def _ort_activation_attrs(f: FusedOp, activation: str, params: tuple[float, ...]) -> dict[str, Attr]:
    attrs = {"activation": Attr(AttrKind.STRING, activation)}
    if f.base == "Conv":
        if params:
            attrs["activation_params"] = Attr(AttrKind.FLOATS, params)
    else:  # FusedGemm reads each parameter from its own activation_<name> attribute
        names = ACTIVATIONS[activation].params
        attrs.update({f"activation_{p}": Attr(AttrKind.FLOAT, v) for p, v in zip(names, params)})
    return attrs


def fused_graph_op(base: str) -> str | None:
    """The graphopt op that fuses an activation into ``base`` (``None`` if there is none)."""
    f = FUSED_OPS.get(base)
    return f.name if f else None


for _f in FUSED_OPS.values():
    _define(_f)
