"""torch.export frontend: an ``nn.Module``, ``ExportedProgram`` or ``.pt2`` file lifted into canonical IR.

The program is decomposed to core ATen, then its FX graph is walked once: placeholders become graph
inputs or constants (parameters share memory with torch where they can), each ATen call goes through
the converter table in :mod:`graphopt.frontends.aten`, symbolic-size arithmetic becomes small int64
node chains, ``torch.cond`` becomes an ``If`` with both branches as subgraphs, and the (flattened)
outputs are named after the module's output structure. Every op without a converter is collected and
reported in one :class:`UnsupportedOpError`.
"""

from __future__ import annotations

import inspect
import logging
import math
import operator
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from graphopt.errors import ModelLoadError, UnsupportedOpError
from graphopt.frontends.aten import Lowering, lookup
from graphopt.frontends.aten.common import as_0d, cast, to_dtype
from graphopt.ir.core import Graph, Value
from graphopt.ir.dtypes import DType
from graphopt.ir.gcpause import gc_paused
from graphopt.ir.inference import infer_shapes
from graphopt.ir.types import Dim, TensorType, merge_types

logger = logging.getLogger(__name__)

_SYM_OPS: dict[Callable[..., Any], str] = {
    operator.add: "aten::add", operator.sub: "aten::sub", operator.mul: "aten::mul",
    operator.floordiv: "aten::floor_divide", operator.truediv: "aten::div", operator.mod: "aten::remainder",
    operator.pow: "aten::pow", operator.neg: "aten::neg", operator.eq: "aten::eq", operator.ne: "aten::ne",
    operator.lt: "aten::lt", operator.le: "aten::le", operator.gt: "aten::gt", operator.ge: "aten::ge",
    operator.and_: "aten::logical_and", operator.or_: "aten::logical_or",
}
"""Python operators on symbolic sizes → the ATen converter that computes them on 0-d int64 values."""

_KEPT_COMPOSITES = ("scaled_dot_product_attention",)
"""Ops kept whole instead of decomposed: their converters emit one op that the decomposition would spread
over a dozen (the math form of attention, with its fully-masked-row guard, no longer fuses back)."""

_FAILED = object()
"""What an FX node maps to when it (or something it reads) could not be lowered."""

_MAX_LISTED = 25


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ModelLoadError('from_torch needs PyTorch; install it with pip install "graphopt[torch]"') from None
    return torch


def from_torch(module: Any, example_args: Any = (), example_kwargs: dict[str, Any] | None = None,
               dynamic_shapes: Any = None) -> Graph:
    """Lift an ``nn.Module`` (exported with ``torch.export``), an ``ExportedProgram`` or a ``.pt2`` path."""
    torch = _torch()
    program, names = _export(torch, module, example_args, example_kwargs, dynamic_shapes)
    try:
        program = program.run_decompositions(_decompositions(torch))
    except Exception as e:
        raise ModelLoadError(f"torch could not decompose {_describe(module)} to core ATen ops: {e}") from e
    with gc_paused():
        return _Lifter(torch, program, names, _graph_name(module)).run()


def _decompositions(torch: Any) -> Any:
    """torch's core-ATen table, minus composite ops that map onto one canonical op (SDPA → Attention)."""
    table_fn = getattr(torch.export, "default_decompositions", None)
    if table_fn is None:  # torch < 2.6: the plain core-ATen decomposition
        return None
    table = table_fn()
    for op in _KEPT_COMPOSITES:
        table.pop(getattr(torch.ops.aten, op).default, None)
    return table


def _describe(module: Any) -> str:
    return str(module) if isinstance(module, (str, Path)) else type(module).__name__


def _graph_name(module: Any) -> str:
    if isinstance(module, (str, Path)):
        return Path(module).stem
    name = type(module).__name__
    return "main" if name == "ExportedProgram" else name


def _export(torch: Any, module: Any, args: Any, kwargs: dict[str, Any] | None,
            dynamic_shapes: Any) -> tuple[Any, dict[str, str]]:
    """The ExportedProgram, and the Dim names the user gave, by placeholder name and axis."""
    if isinstance(module, (str, Path)):
        path = Path(module)
        if not path.is_file():
            raise ModelLoadError(f"{path}: no such file")
        try:
            return torch.export.load(str(path)), {}
        except Exception as e:
            raise ModelLoadError(f"{path}: not a torch.export archive (.pt2) that torch.export.load reads: {e}") from e
    if isinstance(module, torch.export.ExportedProgram):
        return module, {}
    if not isinstance(module, torch.nn.Module):
        raise ModelLoadError(f"from_torch takes an nn.Module, an ExportedProgram or a .pt2 path, not "
                             f"{type(module).__name__}")
    args = args if isinstance(args, tuple) else tuple(args) if isinstance(args, list) else (args,)
    try:
        program = torch.export.export(module, args, kwargs, dynamic_shapes=dynamic_shapes)
    except Exception as e:
        hint = ("\nControl flow on tensor values can be written with torch.cond, or the model can go through "
                "graphopt.from_torchscript." if "data-dependent" in str(e).lower() or "DataDependent" in
                type(e).__name__ else "")
        raise ModelLoadError(f"torch.export could not export {type(module).__name__}: {type(e).__name__}: {e}"
                             f"{hint}") from e
    return program, _dim_names(module, args, kwargs, dynamic_shapes)


def _dim_names(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any] | None,
               dynamic_shapes: Any) -> dict[str, str]:
    """``"{input}.{axis}" → Dim name`` for the tensor arguments whose dynamic dims the user named."""
    if dynamic_shapes is None:
        return {}
    try:
        bound = inspect.signature(module.forward).bind(*args, **(kwargs or {}))
    except TypeError:
        return {}
    names = list(bound.arguments)
    specs = dynamic_shapes if isinstance(dynamic_shapes, dict) else dict(zip(names, dynamic_shapes))
    found: dict[str, str] = {}
    for arg, spec in specs.items():
        dims = spec.items() if isinstance(spec, dict) else enumerate(spec) if isinstance(spec, (list, tuple)) else ()
        for axis_, dim in dims:
            name = getattr(dim, "__name__", None)
            if isinstance(name, str) and isinstance(axis_, int):
                found[f"{arg}.{axis_}"] = name
    return found


class _Lifter:
    def __init__(self, torch: Any, program: Any, dim_names: dict[str, str], name: str) -> None:
        self.torch = torch
        self.program = program
        self.dim_names = dim_names
        self.symbols: dict[str, str] = {}  # torch's symbol (s0, s77 …) → the IR's dim name
        self.graph = Graph(name=name)
        self.cx = Lowering(self.graph, "torch.export")
        self.env: dict[Any, Any] = {}
        self.problems: list[str] = []

    def run(self) -> Graph:
        specs = {s.arg.name: s for s in self.program.graph_signature.input_specs}
        nodes = list(self.program.graph.nodes)
        for node in nodes:
            if node.op == "placeholder":
                self._name_symbols(node, specs[node.name])
        for node in nodes:
            if node.op == "placeholder":
                self.env[node] = self.placeholder(node, specs[node.name])
            elif node.op == "call_function":
                self.env[node] = self.call(node)
            elif node.op == "output":
                self.outputs(node)
            elif node.op == "get_attr":  # a branch of torch.cond (or of a control-flow op graphopt lacks)
                self.env[node] = _submodule(self.program.graph_module, node.target)
            else:
                self.env[node] = self.fail(node, f"FX {node.op} node {node.target}", "")
        if self.problems:
            self.raise_unsupported()
        _remove_dead(self.graph)
        infer_shapes(self.graph)
        return self.graph

    # -- inputs -------------------------------------------------------------------------
    def _name_symbols(self, node: Any, spec: Any) -> None:
        """Readable names for torch's size symbols: the user's Dim names, else ``<input>_dim<axis>``."""
        val = node.meta.get("val")
        if str(spec.kind.name) != "USER_INPUT" or not isinstance(val, self.torch.Tensor):
            return
        for i, size in enumerate(val.shape):
            expr = getattr(getattr(size, "node", None), "expr", None)
            if expr is None or not getattr(expr, "is_Symbol", False):
                continue
            symbol = str(expr)
            given = self.dim_names.get(f"{node.name}.{i}")
            if given is not None or symbol not in self.symbols:
                self.symbols[symbol] = given or f"{node.name}_dim{i}"

    def dim(self, size: Any) -> Dim:
        if isinstance(size, int):
            return size
        expr = size.node.expr
        if expr.is_number:
            return int(expr)
        return self.symbols.get(str(expr)) if expr.is_Symbol else None

    def tensor_type(self, val: Any) -> TensorType:
        return TensorType(to_dtype(val.dtype), tuple(self.dim(s) for s in val.shape))

    def placeholder(self, node: Any, spec: Any) -> Any:
        kind = spec.kind.name
        val = node.meta.get("val")
        if kind == "USER_INPUT":
            if isinstance(val, self.torch.Tensor):
                v = Value(self.tensor_type(val), node.name)
                self.graph.inputs.append(v)
                return v
            if isinstance(val, self.torch.SymInt):
                v = Value(TensorType(DType.INT64, ()), node.name)
                self.graph.inputs.append(v)
                return v
            return val  # an int, float, bool or None input that export specialized
        if kind in ("PARAMETER", "BUFFER", "CONSTANT_TENSOR"):
            target = spec.target
            tensor = self.program.state_dict.get(target)
            if tensor is None:
                tensor = self.program.constants.get(target)
            if tensor is None:
                return self.fail(node, f"{kind.lower()} {target!r}", "not found in the program's state")
            return self.graph.add_constant(_numpy(self.torch, tensor), target)
        return self.fail(node, f"{kind.lower()} input {node.name!r}", "graphopt lifts tensor inputs only")

    # -- calls --------------------------------------------------------------------------
    def call(self, node: Any) -> Any:
        target = node.target
        if target is operator.getitem:
            source, index = self.env[node.args[0]], node.args[1]
            if source is _FAILED:
                return _FAILED
            value = source[index]
            if value is None:
                return self.fail(node, f"output {index} of {node.args[0].name}", "that output is not lowered")
            return self.typed(value, node.meta.get("val"), node)
        args, kwargs = self.resolve(node.args), self.resolve(node.kwargs)
        if any(a is _FAILED for a in _leaves((args, kwargs))):
            return _FAILED
        val = node.meta.get("val")
        if isinstance(val, (int, float, bool)) and not isinstance(val, self.torch.Tensor):
            return val  # a size export already knows
        if target is getattr(self.torch.ops.higher_order, "cond", None):
            return self.cond(node, *args)
        if target in _SYM_OPS or target in (self.torch.sym_max, self.torch.sym_min, self.torch.sym_float,
                                            self.torch.sym_not, math.floor, math.ceil):
            return self.symbolic(node, target, args)
        schema = getattr(target, "_schema", None)
        if schema is None:
            return self.fail(node, getattr(target, "__name__", str(target)), "not an ATen op; loops (while_loop, "
                             "map) can go through graphopt.from_torchscript instead")
        fn = lookup(schema.name, schema.overload_name)
        op_name = f"{schema.name}.{schema.overload_name or 'default'}"
        if fn is None:
            return self.fail(node, op_name, "")
        pos, kw = _bind(schema, args, kwargs)
        self.cx.source = (node.name,)
        try:
            result = fn(self.cx, *pos, **kw)
        except UnsupportedOpError as e:
            return self.fail(node, op_name, str(e))
        except Exception as e:  # a converter that breaks must still say which node of which model
            raise ModelLoadError(f"lowering {node.name} ({op_name}) {_location(node)} failed: "
                                 f"{type(e).__name__}: {e}") from e
        return self.typed(result, val, node)

    def symbolic(self, node: Any, target: Any, args: tuple[Any, ...]) -> Any:
        """Arithmetic on sizes: Python when every operand is known, else int64 nodes."""
        if not any(isinstance(a, Value) for a in args):
            return target(*args)
        self.cx.source = (node.name,)
        if target is self.torch.sym_float:
            return self.typed(cast(self.cx, args[0], DType.FLOAT), node.meta.get("val"), node)
        if target in (math.floor, math.ceil):
            v = args[0]
            if v.dtype is not None and v.dtype.is_float:
                v = cast(self.cx, self.cx.op("Floor" if target is math.floor else "Ceil", [v]), DType.INT64)
            return self.typed(v, node.meta.get("val"), node)
        name = {self.torch.sym_max: "aten::maximum", self.torch.sym_min: "aten::minimum",
                self.torch.sym_not: "aten::logical_not"}.get(target) or _SYM_OPS[target]
        fn = lookup(name)
        assert fn is not None
        return self.typed(fn(self.cx, *args), node.meta.get("val"), node)

    def cond(self, node: Any, pred: Any, then_module: Any, else_module: Any, operands: Any) -> Any:
        """torch.cond → If, each branch lowered into a subgraph that reads the operands from outside."""
        if not isinstance(pred, Value):  # decided while exporting: only one branch runs
            return self.branch(then_module if pred else else_module, operands, None, node)
        name = node.name
        then_graph = self.branch(then_module, operands, f"{name}_then", node)
        else_graph = self.branch(else_module, operands, f"{name}_else", node)
        if then_graph is _FAILED or else_graph is _FAILED:
            return _FAILED
        self.cx.source = (name,)
        count = len(then_graph.outputs)
        flag = as_0d(self.cx, cast(self.cx, pred, DType.BOOL))
        outs = self.cx.op("If", [flag], {"then_branch": then_graph, "else_branch": else_graph}, num_outputs=count)
        return self.typed(tuple(outs) if count > 1 else (outs,), node.meta.get("val"), node)

    def branch(self, module: Any, operands: Any, name: str | None, node: Any) -> Any:
        """Lower a branch module: into a new subgraph named ``name``, or inline into the current graph."""
        outer = self.cx
        graph = Graph(name=name) if name is not None else outer.graph
        self.cx = Lowering(graph, "torch.export")
        try:
            results: list[Any] = []
            placeholders = [n for n in module.graph.nodes if n.op == "placeholder"]
            for ph, value in zip(placeholders, operands):
                self.env[ph] = value
            for n in module.graph.nodes:
                if n.op == "call_function":
                    self.env[n] = self.call(n)
                elif n.op == "get_attr":
                    self.env[n] = _submodule(module, n.target)
                elif n.op == "output":
                    results = list(self.resolve(n.args[0]))
            if any(r is _FAILED for r in results):
                return _FAILED
            if name is None:
                return tuple(results)
            outputs = []
            for r in results:
                v = r if isinstance(r, Value) else self.cx.const(np.asarray(r))
                if v.producer is None or v.producer.graph is not graph:  # an operand or outer value returned as is
                    v = self.cx.op("Identity", [v])
                outputs.append(v)
            graph.outputs = outputs
            return graph
        finally:
            self.cx = outer

    def resolve(self, arg: Any) -> Any:
        fx_node = self.torch.fx.Node
        if isinstance(arg, fx_node):
            return self.env[arg]
        if isinstance(arg, (list, tuple)):
            return type(arg)(self.resolve(a) for a in arg)
        if isinstance(arg, dict):
            return {k: self.resolve(v) for k, v in arg.items()}
        return arg

    def typed(self, result: Any, val: Any, node: Any) -> Any:
        """Check a converter's result against torch's metadata; name it; take torch's dims and dtype."""
        torch = self.torch
        if isinstance(val, torch.Tensor):
            if not isinstance(result, Value):
                raise ModelLoadError(f"{node.name} ({node.target}): the converter returned {type(result).__name__}, "
                                     "expected one tensor")
            return self.retype(result, self.tensor_type(val), node.name)
        if isinstance(val, (list, tuple)) and isinstance(result, (list, tuple)):
            return tuple(r if not isinstance(r, Value) or not isinstance(v, torch.Tensor)
                         else self.retype(r, self.tensor_type(v), f"{node.name}_{i}")
                         for i, (r, v) in enumerate(zip(result, val)))
        if isinstance(result, Value) and result.producer is not None and result.name is None:
            result.name = node.name
        return result

    def retype(self, v: Value, expected: TensorType, name: str) -> Value:
        if v.dtype is not None and v.dtype != expected.dtype:
            logger.debug("%s: converter gave %s, torch says %s; casting", name, v.dtype, expected.dtype)
            v = cast(self.cx, v, expected.dtype)
        if v.shape is not None and expected.shape is not None and len(v.shape) != len(expected.shape):
            raise ModelLoadError(f"{name}: lowered to rank {len(v.shape)}, torch says {expected}; this is a "
                                 "converter bug, please report it")
        if v.producer is not None and v.producer.graph is self.cx.graph:  # made here, not an input or constant
            v.type = merge_types(expected, v.type)
            if v.name is None:
                v.name = name
        return v

    # -- outputs ------------------------------------------------------------------------
    def outputs(self, node: Any) -> None:
        specs = self.program.graph_signature.output_specs
        results = node.args[0]
        user = [r for r, s in zip(results, specs) if s.kind.name == "USER_OUTPUT"]
        names = _output_names(self.torch, self.program.call_spec.out_spec, len(user))
        values: list[Value] = []
        kept: list[str] = []
        for r, name in zip(user, names):
            v = self.resolve(r)
            if v is _FAILED or v is None:
                continue
            if not isinstance(v, Value):
                v = self.graph.add_constant(np.asarray(v))
            values.append(v)
            kept.append(name)
        self.graph._set_outputs(values, kept)

    # -- errors -------------------------------------------------------------------------
    def fail(self, node: Any, what: str, why: str) -> Any:
        line = f"{what} {_location(node)}" + (f": {why}" if why else "")
        self.problems.append(line)
        return _FAILED

    def raise_unsupported(self) -> None:
        count = len(self.problems)
        kinds = len({p.split(" ", 1)[0] for p in self.problems})
        listed = "\n".join(f"  {p}" for p in self.problems[:_MAX_LISTED])
        more = f"\n  … and {count - _MAX_LISTED} more" if count > _MAX_LISTED else ""
        raise UnsupportedOpError(
            f"{self.graph.name}: {count} op{'s' if count != 1 else ''} ({kinds} distinct) could not be lowered "
            f"to graphopt's IR:\n{listed}{more}\nRegister a converter with "
            "@graphopt.frontends.aten.converter(\"aten::<name>\"), or change the model code at these lines.")


def _submodule(module: Any, target: str) -> Any:
    for part in target.split("."):
        module = getattr(module, part)
    return module


def _bind(schema: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Arguments in schema order with defaults filled in; keyword-only ones as keywords."""
    pos: list[Any] = []
    kw: dict[str, Any] = {}
    for i, a in enumerate(schema.arguments):
        if i < len(args) and not a.kwarg_only:
            value = args[i]
        elif a.name in kwargs:
            value = kwargs[a.name]
        elif a.has_default_value():
            value = a.default_value
        else:
            value = None
        if a.kwarg_only:
            kw[a.name] = value
        else:
            pos.append(value)
    return pos, kw


def _leaves(x: Any) -> list[Any]:
    if isinstance(x, (list, tuple)):
        return [leaf for item in x for leaf in _leaves(item)]
    if isinstance(x, dict):
        return _leaves(list(x.values()))
    return [x]


def _numpy(torch: Any, tensor: Any) -> np.ndarray:
    """A read-only numpy view of a CPU tensor's memory (a copy only when it is not contiguous or on a device)."""
    t = tensor.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    if not t.is_contiguous():
        t = t.contiguous()
    dtype = to_dtype(t.dtype)
    try:
        array = t.numpy()
    except TypeError:  # bfloat16, float8 …: same bytes, viewed as ml_dtypes
        array = t.reshape(-1).view(torch.uint8).numpy().view(dtype.numpy).reshape(tuple(t.shape))
    array.flags.writeable = False
    return array


def _output_names(torch: Any, out_spec: Any, count: int) -> list[str]:
    """Output names from the module's return structure: dict keys and positions, or ``output``."""
    import torch.utils._pytree as pytree

    try:
        paths = [path for path, _ in pytree.tree_flatten_with_path(pytree.tree_unflatten(list(range(count)),
                                                                                        out_spec))[0]]
    except Exception:
        paths = []
    if len(paths) != count:
        return ["output"] if count == 1 else [f"output_{i}" for i in range(count)]
    names = []
    for path in paths:
        keys = [str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path]
        if not keys:
            names.append("output")
        elif all(k.isdigit() for k in keys):
            names.append("output_" + "_".join(keys) if count > 1 else "output")
        else:
            names.append("_".join(keys))
    return names


_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)(?:\n[ \t]+(?![ \t]|File ")(.*))?')


def _location(node: Any) -> str:
    """Where torch recorded ``node`` came from: the innermost frame outside torch, and its module."""
    frames = _FRAME.findall(node.meta.get("stack_trace") or "")
    user = [f for f in frames if "/torch/" not in f[0] and "site-packages" not in f[0]
            and not f[0].startswith("<eval_with_key")] or frames
    parts = []
    if user:
        path, line, func, code = user[-1]
        parts.append(f"at {path}:{line} in {func}" + (f" ({code.strip()})" if code.strip() else ""))
    stack = node.meta.get("nn_module_stack") or {}
    if stack:
        module_path, module_type = list(stack.values())[-1]
        if module_path:
            kind = module_type.rsplit(".", 1)[-1] if isinstance(module_type, str) else getattr(
                module_type, "__name__", "")
            parts.append(f"in module {module_path!r} ({kind})")
    return " ".join(parts) or "(torch recorded no source location)"


def _remove_dead(graph: Graph) -> None:
    """Drop nodes and constants nothing reads (asserts' size lookups, unused views), in branches too."""
    for node in list(graph.reversed()):
        if not any(o is not None and o.has_uses for o in node.outputs):
            graph.remove(node)
            continue
        for sub in node.subgraphs():
            _remove_dead(sub)
    for c in graph.constants:
        if not c.has_uses:
            graph.remove_constant(c)
