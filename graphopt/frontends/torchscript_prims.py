"""TorchScript's ``prim::`` ops: constants, lists and tuples, attribute reads, type queries, and the
control flow ``prim::If``/``prim::Loop``.

A condition or trip count known while lowering is decided then: the taken branch is inlined and
a short loop unrolled. Only what depends on tensor data becomes an ``If`` or a ``Loop`` whose
bodies are lowered into subgraphs.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from graphopt.errors import ModelLoadError, UnsupportedOpError
from graphopt.frontends.torchscript_scalars import materialize
from graphopt.ir.core import Value
from graphopt.ir.dtypes import DType
from graphopt.ir.types import TensorType

if TYPE_CHECKING:
    from graphopt.frontends.torchscript import _Lowerer

logger = logging.getLogger(__name__)

UNROLL_LIMIT = 64
"""Loops with a known trip count up to this are unrolled; longer ones become ``Loop`` nodes."""

LIST_MUTATIONS = frozenset({"aten::append", "aten::insert", "aten::extend", "aten::pop", "aten::clear",
                             "aten::_set_item", "aten::remove", "aten::reverse"})
"""Ops that change a list in place: a loop running them is unrolled, a data-dependent one refused."""


class _Missing:
    """What an op without a converter produces, so lowering goes on and finds every such op."""


MISSING = _Missing()

_SCALAR_CODES = {  # graphopt dtype → c10::ScalarType code, what prim::dtype returns
    DType.UINT8: 0, DType.INT8: 1, DType.INT16: 2, DType.INT32: 3, DType.INT64: 4, DType.FLOAT16: 5,
    DType.FLOAT: 6, DType.DOUBLE: 7, DType.COMPLEX64: 9, DType.COMPLEX128: 10, DType.BOOL: 11,
    DType.BFLOAT16: 15,
}


# -- prim:: ops ------------------------------------------------------------------------------------

def _constant(lw: _Lowerer, node: Any, args: list[Any]) -> list[Any]:
    value = node.output().toIValue() if node.hasAttribute("value") else None
    return [_python_or_const(lw, value)]


def _python_or_const(lw: _Lowerer, value: Any) -> Any:
    if isinstance(value, lw.torch.Tensor):
        return lw.cx.const(tensor_to_numpy(value))
    if isinstance(value, (list, tuple)):
        items = [_python_or_const(lw, v) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    return value


def _get_attr(lw: _Lowerer, node: Any, args: list[Any]) -> list[Any]:
    obj = args[0]
    name = node.s("name")
    if obj is None or not hasattr(obj, name):
        raise UnsupportedOpError(f"attribute {name!r} cannot be resolved after freezing")
    return [_python_or_const(lw, getattr(obj, name))]


def _if(lw: _Lowerer, node: Any, args: list[Any]) -> list[Any]:
    cond = args[0]
    blocks = list(node.blocks())
    known = cond.numpy() if isinstance(cond, Value) else None
    if known is not None:
        cond = bool(known.reshape(-1)[0])
    if not isinstance(cond, Value):
        return lw.block(blocks[0] if cond else blocks[1])
    raising = [_raises(b) for b in blocks]
    if raising[0] != raising[1]:  # an assertion: ONNX cannot raise, keep the path that returns
        kept = blocks[1] if raising[0] else blocks[0]
        logger.info("%s: dropped a data-dependent check that raises (%s)", lw.source, source_location(node))
        return lw.block(kept)
    cond = materialize(lw.cx, cond, DType.BOOL)
    name = _node_name(lw, node, "if")
    then_g = lw.subgraph(blocks[0], f"{name}_then")
    like = [v.dtype for v in then_g.outputs]
    else_g = lw.subgraph(blocks[1], f"{name}_else", like=like)
    if len(then_g.outputs) != node.outputsSize() or len(else_g.outputs) != node.outputsSize():
        return [MISSING] * node.outputsSize()
    if node.outputsSize() == 0:
        return []
    return as_results(lw.cx.op("If", [cond], {"then_branch": then_g, "else_branch": else_g},
                                 num_outputs=node.outputsSize()), node.outputsSize())


def _raises(block: Any) -> bool:
    return any(n.kind() == "prim::RaiseException" for n in block.nodes())


def _loop(lw: _Lowerer, node: Any, args: list[Any]) -> list[Any]:
    trip, cond, *init = args
    block = next(iter(node.blocks()))
    if cond is False or trip == 0:
        return init
    mutates_lists = any(n.kind() in LIST_MUTATIONS for n in walk(block))
    for_loop = cond is True and _returns_true(block)
    if for_loop and isinstance(trip, int) and (trip <= UNROLL_LIMIT or mutates_lists):
        return _unroll(lw, block, trip, init)
    if mutates_lists or any(isinstance(v, (list, tuple)) for v in init):
        raise UnsupportedOpError("a loop over lists whose trip count depends on tensor data; ONNX Loop "
                                 "carries tensors only")
    return _onnx_loop(lw, node, block, trip, cond, init)


def _unroll(lw: _Lowerer, block: Any, trip: int, init: list[Any]) -> list[Any]:
    params = list(block.inputs())
    values = init
    for i in range(trip):
        lw.env[params[0].unique()] = i
        for p, v in zip(params[1:], values, strict=True):
            lw.env[p.unique()] = v
        results = lw.block(block)
        values = results[1:]
    return values


def _onnx_loop(lw: _Lowerer, node: Any, block: Any, trip: Any, cond: Any, init: list[Any]) -> list[Any]:
    from graphopt.ir.ops.control_flow import loose

    max_trip = (1 << 63) - 1
    m = None if trip == max_trip else materialize(lw.cx, trip, DType.INT64)
    cond_v = materialize(lw.cx, cond, DType.BOOL)
    init_vs = [materialize(lw.cx, v) for v in init]
    params = list(block.inputs())
    name = _node_name(lw, node, "loop")
    body_inputs = [Value(TensorType(DType.INT64, ()), f"{name}_iter"), Value(TensorType(DType.BOOL, ()),
                                                                              f"{name}_cond")]
    body_inputs += [Value(loose(v.type), f"{name}_{base_name(p.debugName())}")
                    for v, p in zip(init_vs, params[1:], strict=True)]
    lw.env[params[0].unique()] = body_inputs[0]
    for p, v in zip(params[1:], body_inputs[2:], strict=True):
        lw.env[p.unique()] = v
    body = lw.subgraph(block, f"{name}_body", body_inputs, like=[DType.BOOL, *(v.dtype for v in init_vs)])
    if not body.outputs:
        return [MISSING] * node.outputsSize()
    outs = lw.cx.op("Loop", [m, cond_v, *init_vs], {"body": body}, num_outputs=len(init_vs))
    return as_results(outs, len(init_vs))


def _node_name(lw: _Lowerer, node: Any, prefix: str) -> str:
    """A name for a control-flow node's subgraphs, from its first output (unique in the TorchScript graph)."""
    return f"{prefix}_{node.outputsAt(0).debugName() if node.outputsSize() else len(lw.cx.graph)}"


def _returns_true(block: Any) -> bool:
    cond = block.returnNode().inputsAt(0).node()
    return cond.kind() == "prim::Constant" and cond.output().toIValue() is True


def _tuple_index(lw: _Lowerer, node: Any, args: list[Any]) -> list[Any]:
    seq, index = args
    if not isinstance(index, int):
        raise UnsupportedOpError("indexing a tuple with a value known only at run time")
    return [seq[index]]


def _unpack(lw: _Lowerer, node: Any, args: list[Any]) -> list[Any]:
    items = list(args[0])
    if len(items) != node.outputsSize():
        raise UnsupportedOpError(f"unpacking {len(items)} items into {node.outputsSize()} values")
    return items


def _num_to_tensor(lw: _Lowerer, node: Any, args: list[Any]) -> list[Any]:
    return [materialize(lw.cx, args[0])]


def _dtype(lw: _Lowerer, node: Any, args: list[Any]) -> list[Any]:
    x = args[0]
    if x.dtype is None:
        raise UnsupportedOpError("the tensor's dtype is unknown; pass example_args")
    return [_SCALAR_CODES[x.dtype]]


def _raise(lw: _Lowerer, node: Any, args: list[Any]) -> list[Any]:
    message = args[0] if args and isinstance(args[0], str) else "an exception"
    if lw.scopes:  # under a data-dependent condition: ONNX cannot raise, so the check is dropped
        logger.info("%s: dropped a data-dependent check at %s: %s", lw.source, source_location(node), message)
        return []
    raise ModelLoadError(f"the model raises for these input types and shapes: {message}")


def _fixed(value: Any) -> Any:
    return lambda lw, node, args: [value] * node.outputsSize()


PRIMS: dict[str, Any] = {
    "prim::Constant": _constant,
    "prim::GetAttr": _get_attr,
    "prim::If": _if,
    "prim::Loop": _loop,
    "prim::ListConstruct": lambda lw, node, args: [list(args)],
    "prim::TupleConstruct": lambda lw, node, args: [tuple(args)],
    "prim::DictConstruct": lambda lw, node, args: [dict(zip(args[::2], args[1::2], strict=True))],
    "prim::ListUnpack": _unpack,
    "prim::TupleUnpack": _unpack,
    "prim::TupleIndex": _tuple_index,
    "prim::NumToTensor": _num_to_tensor,
    "prim::unchecked_cast": lambda lw, node, args: [args[0]],
    "prim::dtype": _dtype,
    "prim::device": lambda lw, node, args: [lw.torch.device("cpu")],
    "prim::type": _fixed("cpu"),
    "prim::layout": _fixed(0),
    "prim::requires_grad": _fixed(False),
    "prim::is_cuda": _fixed(False),
    "prim::is_nested": _fixed(False),
    "prim::is_sparse": _fixed(False),
    "prim::is_quantized": _fixed(False),
    "prim::is_mkldnn": _fixed(False),
    "prim::is_meta": _fixed(False),
    "prim::Uninitialized": _fixed(None),
    "prim::RaiseException": _raise,
    "prim::Print": _fixed(None),
    "aten::warn": _fixed(None),
    "aten::is_grad_enabled": _fixed(False),
    "aten::is_autocast_enabled": _fixed(False),
    "aten::is_autocast_cpu_enabled": _fixed(False),
}


# -- helpers the lowering shares ----------------------------------------------------------------

def source_location(node: Any) -> str:
    """Where torch recorded ``node`` came from, as ``file:line``.

    Scripted code records one place; traced code records the Python stack, innermost first,
    of which the first frame outside torch itself is the user's line.
    """
    text = node.sourceRange()
    m = re.search(r'File "([^"]+)", line (\d+)', text)
    if m:
        return f"{m.group(1)}:{m.group(2)}"
    frames = re.findall(r"^(.+)\((\d+)\): (\S+)$", text, re.MULTILINE)
    if frames:
        user = next((f for f in frames if not f[0].startswith(_torch_dir())), frames[0])
        return f"{user[0]}:{user[1]} in {user[2]}"
    return "<no source location recorded>"


@functools.cache
def _torch_dir() -> str:
    import torch

    return str(Path(torch.__file__).parent)


def base_name(debug_name: str) -> str:
    """A TorchScript value's name without the ``.N`` suffix that makes it unique (``x.1`` → ``x``)."""
    return re.sub(r"\.\d+$", "", debug_name) or "input"


def tensor_to_numpy(t: Any) -> np.ndarray:
    """A CPU tensor's data without a copy where torch allows it (bfloat16 is reinterpreted)."""
    import torch

    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(DType.BFLOAT16.numpy)
    return t.numpy()


def as_results(result: Any, n: int) -> list[Any]:
    """A converter's result as one item per node output (a tuple for a one-output node is a list)."""
    if n == 1:
        return [list(result) if isinstance(result, tuple) else result]
    if not isinstance(result, (tuple, list)) or len(result) != n:
        raise UnsupportedOpError(f"the converter returned {type(result).__name__}, expected {n} results")
    return list(result)


def walk(block: Any) -> Iterator[Any]:
    """Every node of a TorchScript block, nested blocks included."""
    for n in block.nodes():
        yield n
        for b in n.blocks():
            yield from walk(b)


def contains_missing(item: Any) -> bool:
    """Whether ``item`` (or anything in it) comes from an op that could not be converted."""
    if item is MISSING:
        return True
    if isinstance(item, dict):
        item = list(item.values())
    return isinstance(item, (tuple, list)) and any(contains_missing(x) for x in item)
