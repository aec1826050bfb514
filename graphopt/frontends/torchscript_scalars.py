"""TorchScript's ops on ints, floats, bools, strings and lists (and queries like ``size`` and ``dim``).

Each function takes the :class:`Lowering` and the node's inputs. When every input is known
(a Python value) it computes the result in Python, so shape arithmetic and checks fold away
while lowering; when an input is a run-time value (a 0-d tensor: int64 for ints, float64 for
floats, bool for bools) it emits ONNX ops on 0-d tensors.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphopt.errors import UnsupportedOpError
from graphopt.frontends.aten import elementwise
from graphopt.frontends.aten.common import as_0d, cast, dim_size, ints, rank_of
from graphopt.frontends.aten.registry import Lowering
from graphopt.ir.core import Value
from graphopt.ir.dtypes import DType

ScalarOp = Callable[..., Any]


def materialize(cx: Lowering, item: Any, dtype: DType | None = None) -> Value:
    """A Python scalar or int list as a constant, or a Value cast to ``dtype`` (when given)."""
    if isinstance(item, Value):
        return item if dtype is None or item.dtype == dtype else cast(cx, item, dtype)
    if isinstance(item, (list, tuple)) and all(isinstance(i, (int, Value)) and not isinstance(i, bool)
                                               for i in item):
        return ints(cx, item)
    if isinstance(item, (bool, int, float)):
        default = DType.BOOL if isinstance(item, bool) else DType.INT64 if isinstance(item, int) else DType.DOUBLE
        return cx.const(np.array(item, dtype=(dtype or default).numpy))
    raise UnsupportedOpError(f"a {type(item).__name__} value cannot become a tensor in the graph")


def _known(*args: Any) -> bool:
    return not any(isinstance(a, Value) or (isinstance(a, (list, tuple)) and not _known(*a)) for a in args)


def _numeric(cx: Lowering, *args: Any) -> list[Value]:
    """Run-time operands as 0-d tensors of one dtype: float64 if any is floating, else int64 (or bool)."""
    values = [materialize(cx, a) for a in args]
    dtypes = {v.dtype for v in values}
    target = DType.DOUBLE if any(d is not None and d.is_float for d in dtypes) else \
        DType.BOOL if dtypes == {DType.BOOL} else DType.INT64
    return [cast(cx, as_0d(cx, v), target) for v in values]


def _binary(py: Callable[[Any, Any], Any], onnx_op: str, negate: bool = False) -> ScalarOp:
    def convert(cx: Lowering, a: Any, b: Any) -> Any:
        is_list = isinstance(a, (list, tuple))
        if _known(a, b) or (is_list and py in (operator.add, operator.mul)):  # list concatenation, repetition
            return py(a, b)
        if is_list and isinstance(b, (list, tuple)) and onnx_op == "Equal":
            same = _lists_equal(cx, a, b)
            return (not same if isinstance(same, bool) else cx.op("Not", [same])) if negate else same
        if is_list or isinstance(b, (list, tuple)):
            raise UnsupportedOpError("ordering lists that hold values known only at run time")
        out = cx.op(onnx_op, _numeric(cx, a, b))
        return cx.op("Not", [out]) if negate else out

    return convert


def _lists_equal(cx: Lowering, a: Sequence[Any], b: Sequence[Any]) -> Any:
    """``a == b`` for lists of ints some of which are run-time values (e.g. a shape check)."""
    if len(a) != len(b):
        return False
    pending = []
    for x, y in zip(a, b, strict=True):
        if x is y:
            continue
        if _known(x, y):
            if x != y:
                return False
        else:
            pending.append((x, y))
    if not pending:
        return True
    equal = cx.op("Equal", [ints(cx, [x for x, _ in pending]), ints(cx, [y for _, y in pending])])
    smallest = cx.op("ReduceMin", [cast(cx, equal, DType.INT64)], {"keepdims": 0})
    return cast(cx, smallest, DType.BOOL)


def _true_div(cx: Lowering, a: Any, b: Any) -> Any:
    if _known(a, b):
        return a / b
    x, y = (cast(cx, v, DType.DOUBLE) for v in _numeric(cx, a, b))
    return cx.op("Div", [x, y])


def _floordiv(cx: Lowering, a: Any, b: Any) -> Any:
    if _known(a, b):
        return a // b
    return elementwise.div(cx, *_numeric(cx, a, b), rounding_mode="floor")


def _remainder(cx: Lowering, a: Any, b: Any) -> Any:
    if _known(a, b):
        return a % b
    return elementwise.remainder(cx, *_numeric(cx, a, b))


def _min_max(py: Callable[..., Any], onnx_op: str) -> ScalarOp:
    def convert(cx: Lowering, *args: Any) -> Any:
        items = list(args[0]) if len(args) == 1 else list(args)
        if _known(*items):
            return py(items)
        return cx.op(onnx_op, _numeric(cx, *items))

    return convert


def _unary(py: Callable[[Any], Any], onnx_op: str, result: DType | None = None) -> ScalarOp:
    def convert(cx: Lowering, a: Any) -> Any:
        if _known(a):
            return py(a)
        out = cx.op(onnx_op, _numeric(cx, a))
        return out if result is None else cast(cx, out, result)

    return convert


def _to_int(cx: Lowering, a: Any) -> Any:
    return _convert_scalar(cx, a, int, DType.INT64)


def _to_float(cx: Lowering, a: Any) -> Any:
    return _convert_scalar(cx, a, float, DType.DOUBLE)


def _to_bool(cx: Lowering, a: Any) -> Any:
    return _convert_scalar(cx, a, bool, DType.BOOL)


def _convert_scalar(cx: Lowering, a: Any, py: Callable[[Any], Any] | None, dtype: DType | None) -> Any:
    """``int(x)``/``float(x)``/``bool(x)``/``x.item()`` of a scalar or a one-element tensor."""
    if isinstance(a, Value):
        data = a.numpy()
        if data is not None and data.size == 1:
            item = data.reshape(-1)[0].item()
            return item if py is None else py(item)
        v = as_0d(cx, a)
        return v if dtype is None else cast(cx, v, dtype)
    return a if py is None else py(a)


def _item(cx: Lowering, a: Any) -> Any:
    return _convert_scalar(cx, a, None, None)


def _size(cx: Lowering, x: Value, dim: int | None = None) -> Any:
    if dim is None:
        return [dim_size(cx, x, d) for d in range(rank_of(x))]
    return dim_size(cx, x, dim)


def _numel(cx: Lowering, x: Value) -> Any:
    sizes = _size(cx, x)
    if _known(*sizes):
        return math.prod(sizes)
    return cx.op("ReduceProd", [cx.op("Shape", [x])], {"keepdims": 0})


def _len(cx: Lowering, a: Any) -> Any:
    return dim_size(cx, a, 0) if isinstance(a, Value) else len(a)


def _getitem(cx: Lowering, seq: Any, index: Any) -> Any:
    if not isinstance(index, Value):
        return seq[index]
    if isinstance(seq, (list, tuple)) and all(isinstance(i, (int, Value)) for i in seq):
        return cx.op("Gather", [ints(cx, seq), cast(cx, index, DType.INT64)], {"axis": 0})
    raise UnsupportedOpError("indexing a list with a value known only at run time")


def _is(cx: Lowering, a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a is b


def _append(cx: Lowering, items: list[Any], item: Any) -> list[Any]:
    items.append(item)  # TorchScript lists are references, like Python's
    return items


def _format(cx: Lowering, fmt: str, *args: Any) -> str:
    if not _known(*args):
        return fmt
    return fmt.format(*args)


def _range_length(cx: Lowering, lo: Any, hi: Any, step: Any) -> Any:
    if _known(lo, hi, step):
        return len(range(lo, hi, step))
    lo_v, hi_v, step_v = _numeric(cx, lo, hi, step)
    span = cx.op("Add", [cx.op("Sub", [hi_v, lo_v]), cx.op("Sub", [step_v, cx.const(np.array(1, np.int64))])])
    count = elementwise.div(cx, span, step_v, rounding_mode="floor")
    return cx.op("Max", [count, cx.const(np.array(0, np.int64))])


def _derive_index(cx: Lowering, index: Any, start: Any, step: Any) -> Any:
    if _known(index, start, step):
        return start + index * step
    i, s, st = _numeric(cx, index, start, step)
    return cx.op("Add", [s, cx.op("Mul", [i, st])])


def _dim(cx: Lowering, x: Value) -> int:
    return rank_of(x)


def _is_floating_point(cx: Lowering, x: Value) -> bool:
    if x.dtype is None:
        raise UnsupportedOpError("the tensor's dtype is unknown; pass example_args")
    return bool(x.dtype.is_float)


def _static(py: Callable[..., Any]) -> ScalarOp:
    def convert(cx: Lowering, *args: Any) -> Any:
        if not _known(*args):
            raise UnsupportedOpError("needs values known while lowering")
        return py(*args)

    return convert


SCALAR_OPS: dict[str, ScalarOp] = {
    "aten::add": _binary(operator.add, "Add"),
    "aten::sub": _binary(operator.sub, "Sub"),
    "aten::mul": _binary(operator.mul, "Mul"),
    "aten::div": _true_div,
    "aten::floordiv": _floordiv,
    "aten::remainder": _remainder,
    "aten::pow": _binary(operator.pow, "Pow"),
    "aten::eq": _binary(operator.eq, "Equal"),
    "aten::ne": _binary(operator.ne, "Equal", negate=True),
    "aten::lt": _binary(operator.lt, "Less"),
    "aten::le": _binary(operator.le, "LessOrEqual"),
    "aten::gt": _binary(operator.gt, "Greater"),
    "aten::ge": _binary(operator.ge, "GreaterOrEqual"),
    "aten::__and__": _binary(operator.and_, "And"),
    "aten::__or__": _binary(operator.or_, "Or"),
    "aten::__xor__": _binary(operator.xor, "Xor"),
    "aten::__not__": _unary(operator.not_, "Not"),
    "aten::neg": _unary(operator.neg, "Neg"),
    "aten::abs": _unary(abs, "Abs"),
    "aten::floor": _unary(math.floor, "Floor", DType.INT64),  # math.floor gives an int
    "aten::ceil": _unary(math.ceil, "Ceil", DType.INT64),
    "prim::min": _min_max(min, "Min"),
    "prim::max": _min_max(max, "Max"),
    "aten::Int": _to_int,
    "aten::IntImplicit": _to_int,
    "aten::Float": _to_float,
    "aten::FloatImplicit": _to_float,
    "aten::Bool": _to_bool,
    "aten::sqrt": _unary(math.sqrt, "Sqrt"),
    "aten::ScalarImplicit": _item,
    "aten::item": _item,
    "aten::size": _size,
    "aten::sym_size": _size,
    "aten::numel": _numel,
    "aten::dim": _dim,
    "aten::len": _len,
    "aten::is_floating_point": _is_floating_point,
    "aten::__range_length": _range_length,
    "aten::__derive_index": _derive_index,
    "aten::any": _static(any),
    "aten::all": _static(all),
    "aten::str": _static(str),
}
"""Ops on scalars, by kind; the lowering uses them for nodes without tensor outputs (``aten::add.int``
but not ``aten::add.Tensor``)."""

LIST_OPS: dict[str, ScalarOp] = {
    "aten::__getitem__": _getitem,
    "aten::__is__": _is,
    "aten::__isnot__": lambda cx, a, b: not _is(cx, a, b),
    "aten::append": _append,
    "aten::format": _format,
    "aten::list": lambda cx, items: list(items),
    "aten::slice": lambda cx, items, start=None, end=None, step=1: list(items[start:end:step]),
    "aten::__contains__": _static(lambda seq, x: x in seq),
}
"""Ops on lists and objects, whatever the items are (lists of tensors included)."""
