"""TorchScript frontend: a traced or scripted module (or a saved ``.pt`` archive) lifted into canonical IR.

The module is frozen (parameters become constants) and inlined. ``aten::`` nodes go through the
shared converter table (``frontends/aten``), ``prim::`` nodes through ``torchscript_prims``, and
TorchScript's ops on ints, floats and lists through ``torchscript_scalars``. Values known while
lowering stay Python values, so ``if x.dim() == 4`` or a loop over ``range(len(shape))`` is
decided now and inlined; only conditions and trip counts that depend on tensor data become
``If`` and ``Loop`` nodes with subgraphs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphopt.errors import GraphoptError, ModelLoadError, UnsupportedOpError
from graphopt.frontends.aten import Lowering, lookup, torchscript_ops  # noqa: F401  (registers its converters)
from graphopt.frontends.aten.common import to_dtype
from graphopt.frontends.torchscript_prims import (
    LIST_MUTATIONS,
    MISSING,
    PRIMS,
    as_results,
    base_name,
    contains_missing,
    source_location,
    walk,
)
from graphopt.frontends.torchscript_scalars import LIST_OPS, SCALAR_OPS, materialize
from graphopt.ir.core import Graph, Value
from graphopt.ir.dtypes import DType
from graphopt.ir.gcpause import without_gc
from graphopt.ir.inference import infer_shapes
from graphopt.ir.types import TensorType

logger = logging.getLogger(__name__)

_VIEW_OPS = frozenset({"aten::view", "aten::reshape", "aten::select", "aten::slice", "aten::transpose",
                       "aten::permute", "aten::expand", "aten::squeeze", "aten::unsqueeze", "aten::narrow",
                       "aten::t", "aten::as_strided", "aten::diagonal", "aten::flatten", "aten::unflatten",
                       "aten::view_as", "aten::expand_as", "aten::detach", "aten::alias", "aten::__getitem__"})


@dataclass
class _Failure:
    op: str
    location: str
    reason: str


@without_gc
def from_torchscript(module_or_path: Any, example_args: Any = None) -> Graph:
    """Lift a ``ScriptModule``/``ScriptFunction`` or a ``.pt`` TorchScript archive into canonical IR.

    ``example_args`` (tensors, ints, floats, bools, or tuples/lists of them) give the input types;
    each tensor's leading dim becomes the symbolic ``"batch"``, ints/floats/bools become 0-d inputs,
    and trailing parameters left out take their defaults. Without ``example_args``, the types the
    graph recorded (traced modules) are used, or float32 of unknown shape as a last resort.
    """
    try:
        import torch
    except ImportError:
        raise ModelLoadError('the TorchScript frontend needs torch: pip install "graphopt[torch]"') from None
    from graphopt.frontends.torchscript_archive import load_archive

    source = None
    if isinstance(module_or_path, (str, Path)):
        source = str(module_or_path)
        module_or_path = load_archive(Path(module_or_path))
    if not isinstance(module_or_path, (torch.jit.ScriptModule, torch.jit.ScriptFunction)):
        raise ModelLoadError(f"from_torchscript takes a ScriptModule, a ScriptFunction or a .pt path, not "
                             f"{type(module_or_path).__name__}; for an nn.Module use graphopt.from_torch(module, "
                             f"example_args) or torch.jit.trace/script it first")
    if source is None:
        source = f"<{getattr(module_or_path, 'original_name', None) or module_or_path.name}>"
    try:
        forward_graph = module_or_path.graph
    except RuntimeError:  # e.g. torch.jit.script(nn.GRU(...)): a module whose forward was not compiled
        raise ModelLoadError(f"{source}: the ScriptModule has no compiled forward method; script or trace a "
                             f"module whose forward runs the model (wrap it in an nn.Module if needed)") from None
    recorded = [v.type() for v in forward_graph.inputs()]  # freezing drops traced input types
    method: Any = module_or_path if isinstance(module_or_path, torch.jit.ScriptFunction) else module_or_path.forward
    defaults = [(a.has_default_value(), a.default_value if a.has_default_value() else None)
                for a in method.schema.arguments]
    ts_graph, owner = _frozen_graph(torch, module_or_path)
    return _Lowerer(torch, ts_graph, owner, source).run(example_args, recorded, defaults)


def _frozen_graph(torch: Any, module: Any) -> tuple[Any, Any]:
    """The forward graph, frozen (params as constants) and inlined, with in-place ops made functional
    where torch can prove it safe. The caller's module is left as it was."""
    if isinstance(module, torch.jit.ScriptFunction):
        graph = module.graph.copy()
        owner = None
    elif not hasattr(module, "training"):  # frozen already (torch.jit.freeze drops the attribute)
        graph = module.graph.copy()
        owner = module
    else:
        modes = [(m, m.training) for m in module.modules()]
        module.eval()
        try:
            owner = torch.jit.freeze(module, optimize_numerics=False)
        except Exception as e:
            raise ModelLoadError(f"torch.jit.freeze failed on {module.original_name}: {e}") from e
        finally:
            for m, training in modes:  # exactly as it was, submodule by submodule
                m.training = training
        graph = owner.graph
    torch._C._jit_pass_inline(graph)
    torch._C._jit_pass_remove_mutation(graph)
    torch._C._jit_pass_dce(graph)
    return graph, owner


class _Lowerer:
    """Walks the frozen TorchScript graph, mapping each TorchScript value to what it lowered to: an IR
    ``Value``, a Python value (int, float, bool, str, None, device …), or a list/tuple/dict of them."""

    def __init__(self, torch: Any, ts_graph: Any, owner: Any, source: str) -> None:
        self.torch = torch
        self.ts_graph = ts_graph
        self.owner = owner
        self.source = source
        name = getattr(owner, "original_name", None) or "main"
        self.graph = Graph(name=name)
        self.cx = Lowering(self.graph, "torchscript")
        self.env: dict[int, Any] = {}
        self.failures: list[_Failure] = []
        self.guessed: list[str] = []
        self.schemas: dict[str, Any] = {}
        self.scopes: list[set[int]] = []  # values defined inside each data-dependent block being lowered

    # -- top level ---------------------------------------------------------------------
    def run(self, example_args: Any, recorded_types: list[Any], defaults: list[tuple[bool, Any]]) -> Graph:
        self._bind_inputs(example_args, recorded_types, defaults)
        try:
            results = self.block(self.ts_graph.block())
        except GraphoptError as e:
            raise type(e)(f"{self.source}: {e}{self._hint()}") from e
        if self.failures:
            raise UnsupportedOpError(self._failure_report())
        self._set_outputs(results)
        infer_shapes(self.graph)
        return self.graph

    def _hint(self) -> str:
        if not self.guessed:
            return ""
        return (f" (the types of inputs {', '.join(self.guessed)} were not recorded, so float32 of unknown "
                f"shape was assumed; pass example_args to from_torchscript)")

    def _failure_report(self) -> str:
        n = len(self.failures)
        lines = [f"{self.source}: {n} op{'s' if n != 1 else ''} could not be converted:"]
        lines += [f"  {f.op} at {f.location}: {f.reason}" for f in self.failures]
        lines.append("Add converters for these ops (graphopt.frontends.aten.converter) or change the model "
                     "to avoid them." + self._hint())
        return "\n".join(lines)

    def _bind_inputs(self, example_args: Any, recorded_types: list[Any], defaults: list[tuple[bool, Any]]) -> None:
        """Graph inputs from ``example_args`` (or recorded types). Parameters after the given examples
        that have defaults take them, as constants."""
        ts_inputs = list(self.ts_graph.inputs())
        if ts_inputs and ts_inputs[0].type().kind() == "ClassType":
            self.env[ts_inputs[0].unique()] = self.owner
            ts_inputs = ts_inputs[1:]
            recorded_types = recorded_types[1:]
            defaults = defaults[1:]
        if example_args is not None:
            example_args = tuple(example_args) if isinstance(example_args, (tuple, list)) else (example_args,)
            given = len(example_args)
            if given > len(ts_inputs) or not all(has for has, _ in defaults[given:]):
                raise ModelLoadError(f"{self.source}: forward takes {len(ts_inputs)} inputs "
                                     f"({', '.join(base_name(v.debugName()) for v in ts_inputs)}) but "
                                     f"{given} example_args were given")
        batch: list[int] = []
        for i, v in enumerate(ts_inputs):
            name = base_name(v.debugName())
            if example_args is not None and i < len(example_args):
                self.env[v.unique()] = self._example_input(example_args[i], name, batch)
            elif example_args is not None or (defaults[i][0] and recorded_types[i].kind() == "OptionalType"):
                self.env[v.unique()] = defaults[i][1]
            else:
                self.env[v.unique()] = self._annotated_input(recorded_types[i], name, batch)
        if self.guessed:
            logger.warning("%s: no example_args and no recorded types for inputs %s; assuming float32 of "
                           "unknown shape", self.source, ", ".join(self.guessed))

    def _tensor_input(self, dtype: DType, shape: list[Any], name: str, batch: list[int]) -> Value:
        """A tensor input whose leading dim is symbolic: ``"batch"`` when it matches the first input's."""
        if shape:
            if not batch:
                batch.append(shape[0])
            shape[0] = "batch" if shape[0] == batch[0] else f"{name}_dim0"
        return self._new_input(TensorType(dtype, tuple(shape)), name)

    def _new_input(self, type_: TensorType, name: str) -> Value:
        value = Value(type_, name)
        self.graph.inputs.append(value)
        return value

    def _example_input(self, x: Any, name: str, batch: list[int]) -> Any:
        torch = self.torch
        if isinstance(x, torch.Tensor):
            return self._tensor_input(to_dtype(x.dtype), list(x.shape), name, batch)
        if isinstance(x, bool):
            return self._new_input(TensorType(DType.BOOL, ()), name)
        if isinstance(x, int):
            return self._new_input(TensorType(DType.INT64, ()), name)
        if isinstance(x, float):
            return self._new_input(TensorType(DType.DOUBLE, ()), name)
        if isinstance(x, (tuple, list)):
            items = [self._example_input(item, f"{name}_{j}", batch) for j, item in enumerate(x)]
            return tuple(items) if isinstance(x, tuple) else items
        if x is None:
            return None
        raise ModelLoadError(f"{self.source}: example input {name!r} is a {type(x).__name__}; graphopt takes "
                             f"tensors, ints, floats, bools, None and tuples/lists of them")

    def _annotated_input(self, t: Any, name: str, batch: list[int]) -> Any:
        kind = t.kind()
        if kind == "TensorType":
            if t.scalarType() is not None and t.sizes() is not None:
                return self._tensor_input(_SCALAR_NAMES[t.scalarType()], list(t.sizes()), name, batch)
            self.guessed.append(repr(name))
            return self._new_input(TensorType(DType.FLOAT, None), name)
        scalar = {"IntType": DType.INT64, "FloatType": DType.DOUBLE, "BoolType": DType.BOOL}.get(kind)
        if scalar is None:
            raise ModelLoadError(f"{self.source}: input {name!r} has type {t}; pass example_args so graphopt "
                                 f"knows its structure")
        return self._new_input(TensorType(scalar, ()), name)

    def _set_outputs(self, results: Sequence[Any]) -> None:
        """Tensors (and scalars) of the returned structure, flattened; a returned dict names them."""
        top = results[0] if len(results) == 1 else tuple(results)
        if isinstance(top, dict) and all(isinstance(k, str) for k in top):
            per_key = [(k, list(_flatten(v))) for k, v in top.items()]
            named = [(k if len(items) == 1 else f"{k}_{j}", item) for k, items in per_key
                     for j, item in enumerate(items)]
        else:
            flat = list(_flatten(top))
            named = [("output" if len(flat) == 1 else f"output_{i}", item) for i, item in enumerate(flat)]
        values: list[Value] = []
        for name, item in named:
            v = materialize(self.cx, item)
            if v.producer is None or v in values:  # a constant, an input or a repeat: give it its own node
                v = self.cx.op("Identity", [v])
            v.name = name
            values.append(v)
        self.graph.outputs = values

    # -- blocks and nodes --------------------------------------------------------------
    def block(self, block: Any) -> list[Any]:
        for node in block.nodes():
            self.node(node)
        return [self.env[v.unique()] for v in block.returnNode().inputs()]

    def node(self, node: Any) -> None:
        kind = node.kind()
        args = [self.env[v.unique()] for v in node.inputs()]
        outputs = list(node.outputs())
        if any(contains_missing(a) for a in args):
            self._bind(outputs, [MISSING] * len(outputs))
            return
        location = source_location(node)
        self.cx.source = (f"{kind} %{outputs[0].debugName()}" if outputs else kind, location)
        try:
            self._bind(outputs, self._lower(node, kind, args, outputs))
        except UnsupportedOpError as e:
            self.failures.append(_Failure(kind, location, str(e)))
            self._bind(outputs, [MISSING] * len(outputs))
        except GraphoptError as e:
            raise type(e)(f"{kind} at {location}: {e}") from e
        except Exception as e:
            raise ModelLoadError(f"{kind} at {location}: converting failed: {type(e).__name__}: {e}") from e

    def _bind(self, outputs: list[Any], values: Sequence[Any]) -> None:
        for out, value in zip(outputs, values, strict=True):
            self.env[out.unique()] = value

    def _lower(self, node: Any, kind: str, args: list[Any], outputs: list[Any]) -> Sequence[Any]:
        prim = PRIMS.get(kind)
        if prim is not None:
            return prim(self, node, args)
        if kind in LIST_MUTATIONS:
            self._check_local_write(node)
        if kind in LIST_OPS and node.inputsAt(0).type().kind() != "TensorType":  # not aten::slice.Tensor
            return as_results(LIST_OPS[kind](self.cx, *args), len(outputs))
        if kind in SCALAR_OPS and not any(_has_tensor_type(o.type()) for o in outputs):
            return as_results(SCALAR_OPS[kind](self.cx, *args), len(outputs))
        return self._aten(node, kind, args, outputs)

    def _aten(self, node: Any, kind: str, args: list[Any], outputs: list[Any]) -> Sequence[Any]:
        schema_text = node.schema()
        if schema_text == "(no schema)":
            raise UnsupportedOpError("no converter (and no schema torch could give)")
        schema = self.schemas.get(schema_text)
        if schema is None:
            schema = self.schemas[schema_text] = self.torch._C.parse_schema(schema_text)
        fn = lookup(kind, schema.overload_name)
        mutated = schema.arguments and schema.arguments[0].is_write and not schema.arguments[0].is_out
        if fn is None and mutated and kind.endswith("_"):
            fn = lookup(kind[:-1], schema.overload_name)
        if fn is None:
            raise UnsupportedOpError("no converter")
        if mutated:
            self._check_local_write(node)
            self._check_in_place(node)
        spec = schema.arguments
        if len(spec) == len(args):  # keyword-only schema arguments go by name
            kwargs = {a.name: v for a, v in zip(spec, args, strict=True) if a.kwarg_only}
            args = [v for a, v in zip(spec, args, strict=True) if not a.kwarg_only]
        else:
            kwargs = {}
        results = as_results(fn(self.cx, *args, **kwargs), len(outputs))
        if mutated:  # later readers of the written tensor see the new value
            self.env[node.inputsAt(0).unique()] = results[0]
        return results

    def _check_local_write(self, node: Any) -> None:
        """Writes inside an If branch or a Loop body must not touch values from outside it: the
        lowering visits a branch unconditionally, and an ONNX subgraph cannot update outer values."""
        if self.scopes and node.inputsAt(0).unique() not in self.scopes[-1]:
            raise UnsupportedOpError("an in-place update, inside a branch or loop that depends on tensor data, "
                                     "of a tensor or list from outside it; return the new value instead")

    def _check_in_place(self, node: Any) -> None:
        """The lowering rebinds the written tensor to the op's result, which is right unless the tensor
        is a view of another one, or a view of it is read after the write: those are refused."""
        target = node.inputsAt(0).node()
        if target.kind() in _VIEW_OPS:
            raise UnsupportedOpError(f"in-place write into a view made by {target.kind()} at "
                                     f"{source_location(target)}; write the model without in-place "
                                     f"updates of slices")
        view = _view_read_after(node.inputsAt(0), node)
        if view is not None:
            raise UnsupportedOpError(f"in-place write into a tensor whose view made by {view.kind()} at "
                                     f"{source_location(view)} is read afterwards; write the model without "
                                     f"in-place updates")

    # -- subgraphs ---------------------------------------------------------------------
    def subgraph(self, block: Any, name: str, inputs: Sequence[Value] = (),
                 like: Sequence[Any] = ()) -> Graph:
        """Lower ``block`` into a new graph; outputs are materialized like ``like`` (a dtype per output)."""
        g = Graph(name=name)
        g.inputs = list(inputs)
        saved = self.cx
        self.cx = Lowering(g, "torchscript")
        self.cx.source = saved.source
        self.scopes.append({p.unique() for p in block.inputs()} |
                           {o.unique() for n in walk(block) for o in n.outputs()})
        try:
            results = self.block(block)
            outs = []
            for i, r in enumerate(results):
                if contains_missing(r):
                    g.outputs = []
                    return g
                v = materialize(self.cx, r, like[i] if i < len(like) else None)
                if v.producer is None or v.producer.graph is not g:
                    v = self.cx.op("Identity", [v])
                outs.append(v)
            g.outputs = outs
        finally:
            self.cx = saved
            self.scopes.pop()
        return g

# -- helpers ---------------------------------------------------------------------------------------

_SCALAR_NAMES = {  # c10::ScalarType names as TorchScript's TensorType.scalarType() spells them
    "Byte": DType.UINT8, "Char": DType.INT8, "Short": DType.INT16, "Int": DType.INT32, "Long": DType.INT64,
    "Half": DType.FLOAT16, "Float": DType.FLOAT, "Double": DType.DOUBLE, "Bool": DType.BOOL,
    "BFloat16": DType.BFLOAT16,
}


def _flatten(item: Any) -> Iterator[Any]:
    if isinstance(item, dict):
        item = list(item.values())
    if isinstance(item, (tuple, list)):
        for x in item:
            yield from _flatten(x)
    elif item is not None:
        yield item


def _view_read_after(value: Any, write: Any) -> Any:
    """A view of ``value`` (or of a view of it) taken before the node ``write`` and read after it."""
    for use in value.uses():
        view = use.user
        if view.kind() not in _VIEW_OPS or not view.isBefore(write):
            continue
        for out in view.outputs():
            if any(u.user.isAfter(write) for u in out.uses()):
                return view
            deeper = _view_read_after(out, write)
            if deeper is not None:
                return deeper
    return None


def _has_tensor_type(t: Any) -> bool:
    return "Tensor" in str(t)
