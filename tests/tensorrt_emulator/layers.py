"""The emulated layers: each records its configuration like TensorRT's ``I*Layer`` and runs it with numpy.

Rules follow TensorRT's documentation (Python API and operator reference): elementwise, select and matrix
multiply inputs have the same rank and broadcast only size-1 dims; convolution weights are KCRS and
deconvolution weights CKRS; pre/post padding and padding modes; the shuffle's first transpose → reshape (0
copies the input dim at that index, -1 is inferred) → second transpose; reduce, softmax and normalization axes
are bitmasks; strongly typed networks reject mixed element types; float-only layers reject integers. A layer
that breaks a rule raises :class:`TensorRTError` naming the layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tests.tensorrt_emulator.enums import (
    FLOAT_TYPES,
    INT_TYPES,
    NUMPY,
    ActivationType,
    CumulativeOperation,
    DataType,
    ElementWiseOperation,
    FillOperation,
    GatherMode,
    InterpolationMode,
    MatrixOperation,
    PaddingMode,
    PoolingType,
    ReduceOperation,
    ResizeCoordinateTransformation,
    ResizeRoundMode,
    ResizeSelector,
    SampleMode,
    TopKOperation,
    UnaryOperation,
    from_numpy,
)
from tests.tensorrt_emulator.network import Dims, ITensor, Permutation, TensorRTError, Weights

_erf = np.frompyfunc(math.erf, 1, 1)


def dtype_of(a: np.ndarray) -> DataType:
    return from_numpy(a.dtype)


def wide(a: np.ndarray) -> np.ndarray:
    """Float data in float32 for computing (half and bfloat16 results are rounded back after)."""
    return a.astype(np.float32) if dtype_of(a) in FLOAT_TYPES else a


def _expect(kind: type, value: Any, what: str) -> None:
    if not isinstance(value, kind):
        raise TypeError(f"{what}: expected {kind.__name__}, got {type(value).__name__}")


class ILayer:
    """A layer's inputs, outputs, name and metadata; subclasses define ``run`` and their output types."""

    kind = "layer"
    num_outputs_ = 1

    def __init__(self, network: Any, inputs: Sequence[ITensor | None]) -> None:
        self.network = network
        self._inputs: list[ITensor | None] = [network._own(t, f"add {self.kind}") if t is not None else None
                                              for t in inputs]
        index = len(network.layers)
        self._outputs = [ITensor(network, self, i, f"(Unnamed Layer* {index}) [{self.kind}]_output_{i}")
                         for i in range(self.num_outputs_)]
        self.name = f"(Unnamed Layer* {index}) [{self.kind}]"
        self.metadata = ""

    @property
    def num_inputs(self) -> int:
        return len(self._inputs)

    @property
    def num_outputs(self) -> int:
        return len(self._outputs)

    def get_input(self, index: int) -> ITensor | None:
        return self._inputs[index] if index < len(self._inputs) else None

    def set_input(self, index: int, tensor: ITensor) -> None:
        self.network._own(tensor, f"{self.kind}.set_input")
        if index >= self.max_inputs():
            raise TensorRTError(f"{self.kind} layer {self.name!r}: input index {index} out of range")
        while len(self._inputs) <= index:
            self._inputs.append(None)
        self._inputs[index] = tensor

    def max_inputs(self) -> int:
        return len(self._inputs)

    def get_output(self, index: int) -> ITensor:
        return self._outputs[index]

    def output_dtype(self, index: int) -> DataType:
        first = self._inputs[0]
        assert first is not None
        return first.dtype

    def fail(self, message: str) -> TensorRTError:
        return TensorRTError(f"{self.kind} layer {self.name!r}: {message}")

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        raise NotImplementedError

    # -- shared rules ---------------------------------------------------------------------------
    def same_types(self, arrays: Sequence[np.ndarray], what: str = "inputs") -> DataType:
        kinds = {dtype_of(a) for a in arrays}
        if len(kinds) != 1:
            raise self.fail(f"{what} have different types {sorted(k.name for k in kinds)}; a strongly typed "
                            "network needs an explicit cast")
        return kinds.pop()

    def floats_only(self, a: np.ndarray) -> None:
        if dtype_of(a) not in FLOAT_TYPES:
            raise self.fail(f"input type {dtype_of(a).name} is not FLOAT, HALF or BF16")

    def broadcast_shape(self, shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
        """TensorRT's broadcast: equal ranks; per dim all sizes equal, or size 1 broadcasting."""
        ranks = {len(s) for s in shapes}
        if len(ranks) != 1:
            raise self.fail(f"inputs have ranks {[len(s) for s in shapes]}; they must have the same rank")
        out = []
        for dims in zip(*shapes):
            sizes = {d for d in dims if d != 1}
            if len(sizes) > 1:
                raise self.fail(f"dims {list(dims)} of shapes {[list(s) for s in shapes]} cannot broadcast")
            out.append(sizes.pop() if sizes else 1)
        return tuple(out)

    def axes_from_mask(self, mask: int, rank: int) -> tuple[int, ...]:
        if mask <= 0 or mask >> rank:
            raise self.fail(f"axes bitmask {mask:#b} names no axis or an axis beyond rank {rank}")
        return tuple(a for a in range(rank) if mask >> a & 1)


def _cast(a: Any, dtype: DataType) -> np.ndarray:
    with np.errstate(invalid="ignore"):  # NaN to an integer type: what the hardware gives (the build's zero feeds)
        return np.asarray(a).astype(NUMPY[dtype])


# -- constants, identity, cast ---------------------------------------------------------------------


class IConstantLayer(ILayer):
    kind = "Constant"

    def __init__(self, network: Any, shape: Dims, weights: Weights) -> None:
        _expect(Dims, shape, "add_constant shape")
        _expect(Weights, weights, "add_constant weights")
        super().__init__(network, [])
        if any(d < 0 for d in shape):
            raise self.fail(f"constant shape {list(shape)} has a negative dim")
        if weights.size != math.prod(shape):
            raise self.fail(f"{weights.size} weights do not fill shape {list(shape)}")
        self.shape, self.weights = shape, weights

    def output_dtype(self, index: int) -> DataType:
        return self.weights.dtype

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        return [self.weights.array.reshape(tuple(self.shape))]


class IIdentityLayer(ILayer):
    kind = "Identity"

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        assert xs[0] is not None
        return [xs[0].copy()]


class ICastLayer(ILayer):
    kind = "Cast"

    def __init__(self, network: Any, input: ITensor, to_type: DataType) -> None:
        _expect(DataType, to_type, "add_cast to_type")
        super().__init__(network, [input])
        self.to_type = to_type

    def output_dtype(self, index: int) -> DataType:
        return self.to_type

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        x = xs[0]
        assert x is not None
        if dtype_of(x) in FLOAT_TYPES and self.to_type in INT_TYPES | {DataType.INT8, DataType.UINT8}:
            x = np.trunc(wide(x))
        return [_cast(wide(x), self.to_type)]


# -- elementwise -----------------------------------------------------------------------------------

_COMPARE = {ElementWiseOperation.EQUAL, ElementWiseOperation.GREATER, ElementWiseOperation.LESS}
_LOGIC = {ElementWiseOperation.AND, ElementWiseOperation.OR, ElementWiseOperation.XOR}


class IElementWiseLayer(ILayer):
    kind = "ElementWise"

    def __init__(self, network: Any, input1: ITensor, input2: ITensor, op: ElementWiseOperation) -> None:
        _expect(ElementWiseOperation, op, "add_elementwise op")
        super().__init__(network, [input1, input2])
        self.op = op

    def output_dtype(self, index: int) -> DataType:
        return DataType.BOOL if self.op in _COMPARE | _LOGIC else super().output_dtype(index)

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        a, b = xs[0], xs[1]
        assert a is not None and b is not None
        kind = self.same_types([a, b])
        self.broadcast_shape([a.shape, b.shape])
        op = self.op
        if (op in _LOGIC) != (kind == DataType.BOOL) and not (op == ElementWiseOperation.EQUAL and
                                                               kind == DataType.BOOL):
            raise self.fail(f"{op.name} on {kind.name} inputs (logical operations take BOOL, others numbers)")
        if kind in (DataType.INT8, DataType.UINT8):
            raise self.fail(f"{op.name} on {kind.name}")
        x, y = wide(a), wide(b)
        with np.errstate(all="ignore"):
            if op == ElementWiseOperation.DIV and kind in INT_TYPES:
                r = np.trunc(x.astype(np.float64) / y).astype(x.dtype)
            elif op == ElementWiseOperation.FLOOR_DIV:
                r = np.floor_divide(x, y)
            else:
                fn = {ElementWiseOperation.SUM: np.add, ElementWiseOperation.PROD: np.multiply,
                      ElementWiseOperation.MAX: np.maximum, ElementWiseOperation.MIN: np.minimum,
                      ElementWiseOperation.SUB: np.subtract, ElementWiseOperation.DIV: np.divide,
                      ElementWiseOperation.POW: np.power, ElementWiseOperation.AND: np.logical_and,
                      ElementWiseOperation.OR: np.logical_or, ElementWiseOperation.XOR: np.logical_xor,
                      ElementWiseOperation.EQUAL: np.equal, ElementWiseOperation.GREATER: np.greater,
                      ElementWiseOperation.LESS: np.less}[op]
                r = fn(x, y)
        return [_cast(r, self.output_dtype(0) if op in _COMPARE | _LOGIC else kind)]


_FLOAT_UNARY = set(UnaryOperation) - {UnaryOperation.ABS, UnaryOperation.NEG, UnaryOperation.SIGN,
                                      UnaryOperation.NOT}


class IUnaryLayer(ILayer):
    kind = "Unary"

    def __init__(self, network: Any, input: ITensor, op: UnaryOperation) -> None:
        _expect(UnaryOperation, op, "add_unary op")
        super().__init__(network, [input])
        self.op = op

    def output_dtype(self, index: int) -> DataType:
        return DataType.BOOL if self.op in (UnaryOperation.ISINF, UnaryOperation.ISNAN) else \
            super().output_dtype(index)

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        a = xs[0]
        assert a is not None
        kind, op = dtype_of(a), self.op
        if op == UnaryOperation.NOT:
            if kind != DataType.BOOL:
                raise self.fail("NOT takes a BOOL input")
            return [np.logical_not(a)]
        if op in _FLOAT_UNARY and kind not in FLOAT_TYPES:
            raise self.fail(f"{op.name} takes a float input, got {kind.name}")
        if kind not in FLOAT_TYPES | INT_TYPES:
            raise self.fail(f"{op.name} on {kind.name}")
        x = wide(a)
        with np.errstate(all="ignore"):
            if op == UnaryOperation.ERF:
                r = _erf(x).astype(np.float32)
            elif op == UnaryOperation.ROUND:
                r = np.round(x)  # half to even, as TensorRT documents
            else:
                fn = {UnaryOperation.EXP: np.exp, UnaryOperation.LOG: np.log, UnaryOperation.SQRT: np.sqrt,
                      UnaryOperation.RECIP: np.reciprocal, UnaryOperation.ABS: np.abs, UnaryOperation.NEG: np.negative,
                      UnaryOperation.SIN: np.sin, UnaryOperation.COS: np.cos, UnaryOperation.TAN: np.tan,
                      UnaryOperation.SINH: np.sinh, UnaryOperation.COSH: np.cosh, UnaryOperation.ASIN: np.arcsin,
                      UnaryOperation.ACOS: np.arccos, UnaryOperation.ATAN: np.arctan,
                      UnaryOperation.ASINH: np.arcsinh, UnaryOperation.ACOSH: np.arccosh,
                      UnaryOperation.ATANH: np.arctanh, UnaryOperation.CEIL: np.ceil, UnaryOperation.FLOOR: np.floor,
                      UnaryOperation.SIGN: np.sign, UnaryOperation.ISINF: np.isinf,
                      UnaryOperation.ISNAN: np.isnan}[op]
                r = fn(x)
        return [_cast(r, self.output_dtype(0))]


class IActivationLayer(ILayer):
    kind = "Activation"

    def __init__(self, network: Any, input: ITensor, type: ActivationType) -> None:
        _expect(ActivationType, type, "add_activation type")
        super().__init__(network, [input])
        self.type = type
        self.alpha = 0.0
        self.beta = 0.0

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        a = xs[0]
        assert a is not None
        self.floats_only(a)
        x, al, be = wide(a), np.float32(self.alpha), np.float32(self.beta)
        t = ActivationType
        with np.errstate(all="ignore"):
            r = {
                t.RELU: lambda: np.maximum(x, 0),
                t.SIGMOID: lambda: 1 / (1 + np.exp(-x)),
                t.TANH: lambda: np.tanh(x),
                t.LEAKY_RELU: lambda: np.where(x >= 0, x, al * x),
                t.ELU: lambda: np.where(x >= 0, x, al * (np.exp(x) - 1)),
                t.SELU: lambda: be * np.where(x > 0, x, al * (np.exp(x) - 1)),
                t.SOFTSIGN: lambda: x / (1 + np.abs(x)),
                t.SOFTPLUS: lambda: al * np.logaddexp(0, be * x),
                t.CLIP: lambda: np.clip(x, al, be),
                t.HARD_SIGMOID: lambda: np.clip(al * x + be, 0, 1),
                t.SCALED_TANH: lambda: al * np.tanh(be * x),
                t.THRESHOLDED_RELU: lambda: np.where(x > al, x, 0),
                t.GELU_ERF: lambda: 0.5 * x * (1 + _erf(x / np.sqrt(2)).astype(np.float32)),
                t.GELU_TANH: lambda: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))),
            }[self.type]()
        return [_cast(r, dtype_of(a))]


class IParametricReLULayer(ILayer):
    kind = "ParametricReLU"

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        a, s = xs[0], xs[1]
        assert a is not None and s is not None
        self.floats_only(a)
        kind = self.same_types([a, s])
        self.broadcast_shape([a.shape, s.shape])
        x = wide(a)
        return [_cast(np.where(x >= 0, x, x * wide(s)), kind)]


class ISelectLayer(ILayer):
    kind = "Select"

    def output_dtype(self, index: int) -> DataType:
        then = self._inputs[1]
        assert then is not None
        return then.dtype

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        c, a, b = xs
        assert c is not None and a is not None and b is not None
        if dtype_of(c) != DataType.BOOL:
            raise self.fail(f"condition type {dtype_of(c).name} is not BOOL")
        self.same_types([a, b], "then/else inputs")
        shape = self.broadcast_shape([c.shape, a.shape, b.shape])
        return [np.broadcast_to(np.where(c, a, b), shape).copy()]


# -- shuffle, concatenation, slice, gather -----------------------------------------------------------


class IShuffleLayer(ILayer):
    kind = "Shuffle"

    def __init__(self, network: Any, input: ITensor) -> None:
        super().__init__(network, [input])
        self.first_transpose: Permutation | None = None
        self.second_transpose: Permutation | None = None
        self.reshape_dims: Dims | None = None
        self.zero_is_placeholder = True

    def max_inputs(self) -> int:
        return 2

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        x = xs[0]
        assert x is not None
        if self.first_transpose is not None:
            x = self._transpose(x, self.first_transpose, "first_transpose")
        dims: list[int] | None = None
        if len(xs) > 1 and xs[1] is not None:
            shape_tensor = xs[1]
            if dtype_of(shape_tensor) not in INT_TYPES or shape_tensor.ndim != 1:
                raise self.fail("the reshape input must be a 1-D INT32/INT64 shape tensor")
            dims = [int(d) for d in shape_tensor]
        elif self.reshape_dims is not None:
            _expect(Dims, self.reshape_dims, "reshape_dims")
            dims = list(self.reshape_dims)
        if dims is not None:
            x = x.reshape(self._resolve(dims, x.shape))
        if self.second_transpose is not None:
            x = self._transpose(x, self.second_transpose, "second_transpose")
        return [np.asarray(x, order="C")]

    def _transpose(self, x: np.ndarray, perm: Permutation, what: str) -> np.ndarray:
        _expect(Permutation, perm, what)
        order = list(perm.order)
        if sorted(order) != list(range(x.ndim)):
            raise self.fail(f"{what} {order} is not a permutation of the {x.ndim} input dims")
        return np.transpose(x, order)

    def _resolve(self, dims: list[int], shape: tuple[int, ...]) -> tuple[int, ...]:
        out = []
        for i, d in enumerate(dims):
            if d == 0 and self.zero_is_placeholder:
                if i >= len(shape):
                    raise self.fail(f"reshape placeholder 0 at index {i} has no input dim to copy")
                d = shape[i]
            elif d < -1:
                raise self.fail(f"reshape dims {dims} hold {d}")
            out.append(d)
        if out.count(-1) > 1:
            raise self.fail(f"reshape dims {dims} infer more than one dim")
        total = math.prod(shape)
        if -1 in out:
            known = math.prod(d for d in out if d != -1)
            if known == 0 or total % known:
                raise self.fail(f"cannot infer -1 in {dims} from {total} elements")
            out[out.index(-1)] = total // known
        if math.prod(out) != total:
            raise self.fail(f"reshape of {list(shape)} ({total} elements) to {out}")
        return tuple(out)


class IConcatenationLayer(ILayer):
    kind = "Concatenation"

    def __init__(self, network: Any, inputs: Sequence[ITensor]) -> None:
        super().__init__(network, list(inputs))
        self.axis = 0

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        arrays = [x for x in xs if x is not None]
        self.same_types(arrays)
        ranks = {a.ndim for a in arrays}
        if len(ranks) != 1:
            raise self.fail(f"inputs have ranks {[a.ndim for a in arrays]}")
        if not 0 <= self.axis < arrays[0].ndim:
            raise self.fail(f"axis {self.axis} outside rank {arrays[0].ndim}")
        rest = {a.shape[:self.axis] + a.shape[self.axis + 1:] for a in arrays}
        if len(rest) != 1:
            raise self.fail(f"shapes {[list(a.shape) for a in arrays]} differ off the axis {self.axis}")
        return [np.concatenate(arrays, axis=self.axis)]


class ISliceLayer(ILayer):
    kind = "Slice"

    def __init__(self, network: Any, input: ITensor, start: Dims, shape: Dims, stride: Dims) -> None:
        for value, what in ((start, "start"), (shape, "shape"), (stride, "stride")):
            _expect(Dims, value, f"add_slice {what}")
        super().__init__(network, [input])
        self.start, self.shape, self.stride = start, shape, stride
        self.axes: Dims | None = None
        self.mode = SampleMode.STRICT_BOUNDS

    def max_inputs(self) -> int:
        return 6

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        x = xs[0]
        assert x is not None
        xs = xs + [None] * (6 - len(xs))
        starts, sizes, strides = ([int(v) for v in xs[i]] if xs[i] is not None else list(d)  # type: ignore[union-attr]
                                  for i, d in ((1, self.start), (2, self.shape), (3, self.stride)))
        axes = [int(v) for v in xs[5]] if xs[5] is not None else list(self.axes) if self.axes is not None \
            else list(range(x.ndim))
        if not len(starts) == len(sizes) == len(strides) == len(axes):
            raise self.fail(f"start {starts}, shape {sizes}, stride {strides} and axes {axes} differ in length")
        if xs[4] is not None and self.mode != SampleMode.FILL:
            raise self.fail("a fill value input is allowed only in FILL mode")
        fill = xs[4]
        if fill is not None and (fill.size != 1 or dtype_of(fill) != dtype_of(x)):
            raise self.fail("the fill value must be one element of the input's type")
        valid = np.ones((), bool)
        out = x
        for a, s, n, st in zip(axes, starts, sizes, strides):
            if not 0 <= a < x.ndim:
                raise self.fail(f"axis {a} outside rank {x.ndim}")
            dim = x.shape[a]
            idx = s + st * np.arange(n)
            inside = (idx >= 0) & (idx < dim)
            if self.mode == SampleMode.STRICT_BOUNDS and not inside.all():
                raise self.fail(f"STRICT_BOUNDS slice reads outside axis {a} of size {dim}: {idx.tolist()}")
            if self.mode in (SampleMode.CLAMP, SampleMode.REFLECT) and dim == 0 and n:
                raise self.fail("CLAMP/REFLECT of an empty axis must give an empty axis")
            if dim == 0:
                idx = np.zeros_like(idx)
            elif self.mode == SampleMode.WRAP:
                idx = idx % dim
            elif self.mode == SampleMode.CLAMP:
                idx = np.clip(idx, 0, dim - 1)
            elif self.mode == SampleMode.REFLECT:
                period = 2 * (dim - 1) if dim > 1 else 1
                m = np.abs(idx) % period
                idx = np.where(m >= dim, period - m, m) if dim > 1 else np.zeros_like(idx)
            else:
                idx = np.clip(idx, 0, max(dim - 1, 0))
            out = np.take(out, idx, axis=a) if dim else np.zeros((*out.shape[:a], n, *out.shape[a + 1:]), out.dtype)
            shape = [1] * x.ndim
            shape[a] = n
            valid = valid & inside.reshape(shape)
        if self.mode == SampleMode.FILL:
            value = fill.reshape(()) if fill is not None else np.zeros((), x.dtype)
            out = np.where(valid, out, value)
        return [np.asarray(out, order="C")]


class IGatherLayer(ILayer):
    """DEFAULT mode gathers slices along ``axis``; ELEMENT mode (GatherElements) reads one element per index."""

    kind = "Gather"

    def __init__(self, network: Any, input: ITensor, indices: ITensor, axis: int,
                 mode: GatherMode = GatherMode.DEFAULT) -> None:
        _expect(GatherMode, mode, "gather mode")
        super().__init__(network, [input, indices])
        self.axis = int(axis)
        self.mode = mode
        self.num_elementwise_dims = 0

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        x, idx = xs[0], xs[1]
        assert x is not None and idx is not None
        if dtype_of(idx) not in INT_TYPES:
            raise self.fail(f"indices of type {dtype_of(idx).name}")
        if not 0 <= self.axis < x.ndim:
            raise self.fail(f"axis {self.axis} outside rank {x.ndim}")
        if self.mode == GatherMode.ND:
            raise self.fail("the emulator does not model ND gathers")
        dim = x.shape[self.axis]
        if idx.size and (idx.min() < 0 or idx.max() >= dim):
            raise self.fail(f"indices outside [0, {dim}) on axis {self.axis}: TensorRT does not wrap negatives")
        if self.mode == GatherMode.ELEMENT:
            if idx.ndim != x.ndim or any(i > d for a, (i, d) in enumerate(zip(idx.shape, x.shape))
                                         if a != self.axis):
                raise self.fail(f"ELEMENT gather indices {list(idx.shape)} do not fit data {list(x.shape)}")
            return [np.take_along_axis(x, idx.astype(np.int64), axis=self.axis)]
        return [np.take(x, idx, axis=self.axis)]


class IEinsumLayer(ILayer):
    kind = "Einsum"

    def __init__(self, network: Any, inputs: Sequence[ITensor], equation: str) -> None:
        super().__init__(network, list(inputs))
        self.equation = str(equation)

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        arrays = [x for x in xs if x is not None]
        kind = self.same_types(arrays)
        if kind == DataType.BOOL:
            raise self.fail("Einsum of BOOL")
        eq = self.equation.replace(" ", "")
        if "." in eq:
            raise self.fail(f"equation {eq!r}: TensorRT's Einsum takes no ellipsis")
        terms = eq.split("->")[0].split(",")
        if len(terms) != len(arrays) or any(len(set(t)) != len(t) for t in terms):
            raise self.fail(f"equation {eq!r}: one term per input, no repeated label within a term (no diagonals)")
        if any(len(t) != a.ndim for t, a in zip(terms, arrays)):
            raise self.fail(f"equation {eq!r} does not match input ranks {[a.ndim for a in arrays]}")
        return [_cast(np.einsum(eq, *[wide(a) for a in arrays]), kind)]


class ICumulativeLayer(ILayer):
    kind = "Cumulative"

    def __init__(self, network: Any, input: ITensor, axis: ITensor, op: CumulativeOperation, exclusive: bool,
                 reverse: bool) -> None:
        _expect(CumulativeOperation, op, "add_cumulative op")
        super().__init__(network, [input, axis])
        axis_layer = axis._producer
        if not isinstance(axis_layer, IConstantLayer) or len(axis_layer.shape) != 0:
            raise self.fail("the axis must be a build-time constant 0-D tensor")
        self.op, self.exclusive, self.reverse = op, bool(exclusive), bool(reverse)

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        x, axis_array = xs[0], xs[1]
        assert x is not None and axis_array is not None
        kind = dtype_of(x)
        if kind not in FLOAT_TYPES | INT_TYPES:
            raise self.fail(f"cumulative sum of {kind.name}")
        axis = int(axis_array)
        if not 0 <= axis < x.ndim:
            raise self.fail(f"axis {axis} outside rank {x.ndim}")
        w = np.flip(wide(x), axis) if self.reverse else wide(x)
        total = np.cumsum(w, axis=axis)
        if self.exclusive:
            total = total - w
        return [_cast(np.flip(total, axis) if self.reverse else total, kind)]


class IFillLayer(ILayer):
    """LINSPACE only: out[i0, i1, …] = start + Σ delta[k]·ik, shape/start/delta from Dims and alpha/beta or from
    inputs 0 (1-D shape tensor), 1 (0-D start) and 2 (1-D delta, one per output dim)."""

    kind = "Fill"

    def __init__(self, network: Any, shape: Dims, op: FillOperation, output_type: DataType = DataType.FLOAT) -> None:
        _expect(Dims, shape, "add_fill shape")
        _expect(FillOperation, op, "add_fill op")
        super().__init__(network, [])
        self.shape, self.operation, self.to_type = shape, op, output_type
        self.alpha: Any = 0.0
        self.beta: Any = 1.0

    def max_inputs(self) -> int:
        return 3

    def output_dtype(self, index: int) -> DataType:
        return self.to_type

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        if self.operation != FillOperation.LINSPACE:
            raise self.fail("the emulator models LINSPACE fills only")
        if self.to_type not in (DataType.INT32, DataType.INT64, DataType.FLOAT):
            raise self.fail(f"LINSPACE fills INT32, INT64 or FLOAT, not {self.to_type.name}")
        xs = xs + [None] * (3 - len(xs))
        shape = [int(d) for d in xs[0]] if xs[0] is not None else list(self.shape)
        start = xs[1] if xs[1] is not None else np.asarray(self.alpha)
        delta = xs[2] if xs[2] is not None else np.full(len(shape), self.beta)
        for value, what in ((xs[1], "start"), (xs[2], "delta")):
            if value is not None and dtype_of(value) != self.to_type:
                raise self.fail(f"{what} is {dtype_of(value).name}; it must be the output type {self.to_type.name}")
        if np.ndim(start) != 0 or np.shape(delta) != (len(shape),):
            raise self.fail(f"start must be 0-D and delta hold one value per output dim ({len(shape)})")
        grid = np.indices(shape, dtype=np.float64) if shape else np.zeros((0,))
        values = start.astype(np.float64) + sum(d * g for d, g in zip(delta.astype(np.float64), grid))
        return [_cast(np.broadcast_to(values, shape), self.to_type)]


class IShapeLayer(ILayer):
    kind = "Shape"

    def output_dtype(self, index: int) -> DataType:
        return DataType.INT64

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        assert xs[0] is not None
        return [np.array(xs[0].shape, np.int64)]


# -- reductions, softmax, topk -----------------------------------------------------------------------


class IReduceLayer(ILayer):
    kind = "Reduce"

    def __init__(self, network: Any, input: ITensor, op: ReduceOperation, axes: int, keep_dims: bool) -> None:
        _expect(ReduceOperation, op, "add_reduce op")
        super().__init__(network, [input])
        self.op, self.axes, self.keep_dims = op, int(axes), bool(keep_dims)

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        x = xs[0]
        assert x is not None
        kind = dtype_of(x)
        if kind not in FLOAT_TYPES | INT_TYPES:
            raise self.fail(f"reduction of {kind.name}")
        if self.op == ReduceOperation.AVG and kind not in FLOAT_TYPES:
            raise self.fail("AVG of integers")
        axes = self.axes_from_mask(self.axes, x.ndim)
        if any(x.shape[a] == 0 for a in axes) and self.op in (ReduceOperation.MAX, ReduceOperation.MIN,
                                                              ReduceOperation.AVG):
            raise self.fail(f"{self.op.name} over an empty axis")
        fn = {ReduceOperation.SUM: np.sum, ReduceOperation.PROD: np.prod, ReduceOperation.MAX: np.max,
              ReduceOperation.MIN: np.min, ReduceOperation.AVG: np.mean}[self.op]
        return [_cast(fn(wide(x), axis=axes, keepdims=self.keep_dims), kind)]


class ISoftMaxLayer(ILayer):
    kind = "SoftMax"

    def __init__(self, network: Any, input: ITensor) -> None:
        super().__init__(network, [input])
        self.axes = 0

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        x = xs[0]
        assert x is not None
        self.floats_only(x)
        axes = self.axes_from_mask(self.axes, x.ndim) if self.axes else (max(x.ndim - 3, 0),)
        if len(axes) != 1:
            raise self.fail(f"softmax axes bitmask {self.axes:#b} must name exactly one axis")
        w = wide(x)
        with np.errstate(invalid="ignore"):
            e = np.exp(w - np.max(w, axis=axes, keepdims=True))
            return [_cast(e / np.sum(e, axis=axes, keepdims=True), dtype_of(x))]


class ITopKLayer(ILayer):
    kind = "TopK"
    num_outputs_ = 2

    def __init__(self, network: Any, input: ITensor, op: TopKOperation, k: int, axes: int) -> None:
        _expect(TopKOperation, op, "add_topk op")
        super().__init__(network, [input])
        self.op, self.k, self.axes = op, int(k), int(axes)

    def output_dtype(self, index: int) -> DataType:
        return DataType.INT32 if index == 1 else super().output_dtype(0)

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        x = xs[0]
        assert x is not None
        axes = self.axes_from_mask(self.axes, x.ndim)
        if len(axes) != 1:
            raise self.fail("TopK reduces exactly one axis")
        key = -wide(x) if self.op == TopKOperation.MAX else wide(x)
        order = np.argsort(key, axis=axes[0], kind="stable")
        idx = np.take(order, np.arange(self.k), axis=axes[0])
        return [np.take_along_axis(x, idx, axis=axes[0]), idx.astype(np.int32)]


# -- matrix multiply, normalization ------------------------------------------------------------------


class IMatrixMultiplyLayer(ILayer):
    kind = "MatrixMultiply"

    def __init__(self, network: Any, input0: ITensor, op0: MatrixOperation, input1: ITensor,
                 op1: MatrixOperation) -> None:
        _expect(MatrixOperation, op0, "add_matrix_multiply op0")
        _expect(MatrixOperation, op1, "add_matrix_multiply op1")
        super().__init__(network, [input0, input1])
        self.op0, self.op1 = op0, op1

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        a, b = xs[0], xs[1]
        assert a is not None and b is not None
        kind = self.same_types([a, b])
        self.floats_only(a)
        if MatrixOperation.VECTOR in (self.op0, self.op1):
            raise self.fail("the emulator does not model VECTOR operands")
        if a.ndim != b.ndim or a.ndim < 2:
            raise self.fail(f"inputs of ranks {a.ndim} and {b.ndim}: both need the same rank >= 2")
        x = np.swapaxes(wide(a), -1, -2) if self.op0 == MatrixOperation.TRANSPOSE else wide(a)
        y = np.swapaxes(wide(b), -1, -2) if self.op1 == MatrixOperation.TRANSPOSE else wide(b)
        if x.shape[-1] != y.shape[-2]:
            raise self.fail(f"inner dims differ: {list(x.shape)} x {list(y.shape)}")
        self.broadcast_shape([x.shape[:-2], y.shape[:-2]])
        return [_cast(np.matmul(x, y), kind)]


class INormalizationLayer(ILayer):
    kind = "Normalization"

    def __init__(self, network: Any, input: ITensor, scale: ITensor, bias: ITensor, axesMask: int) -> None:
        super().__init__(network, [input, scale, bias])
        self.axes = int(axesMask)
        self.epsilon = 1e-5
        self.num_groups = 1

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        x, s, b = xs
        assert x is not None and s is not None and b is not None
        self.floats_only(x)
        kind = self.same_types([x, s, b])
        if self.num_groups != 1:
            raise self.fail("the emulator models num_groups = 1 only")
        if not s.ndim == b.ndim == x.ndim:
            raise self.fail(f"scale and bias must have the input's rank {x.ndim}: {list(s.shape)}, {list(b.shape)}")
        self.broadcast_shape([x.shape, s.shape, b.shape])
        axes = self.axes_from_mask(self.axes, x.ndim)
        w = wide(x)
        mean = w.mean(axis=axes, keepdims=True)
        var = ((w - mean) ** 2).mean(axis=axes, keepdims=True)
        y = (w - mean) / np.sqrt(var + np.float32(self.epsilon)) * wide(s) + wide(b)
        return [_cast(y, kind)]


# -- convolution, deconvolution, pooling ---------------------------------------------------------------


class _Windowed(ILayer):
    """What convolution, deconvolution and pooling share: strides, dilations, padding and its mode."""

    def _window_init(self, spatial: int) -> None:
        self.stride_nd = Dims([1] * spatial)
        self.dilation_nd = Dims([1] * spatial)
        self.pre_padding = Dims([0] * spatial)
        self.post_padding = Dims([0] * spatial)
        self.padding_mode = PaddingMode.EXPLICIT_ROUND_DOWN

    @property
    def padding_nd(self) -> Dims:
        return self.pre_padding

    @padding_nd.setter
    def padding_nd(self, value: Dims) -> None:
        self.pre_padding = self.post_padding = value

    def _weights(self, xs: list[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray]:
        """Kernel and bias: the layer's Weights, or its optional tensor inputs 1 and 2 (which need the
        corresponding Weights left empty)."""
        arrays = []
        for index, weights in ((1, self.kernel), (2, self.bias)):  # type: ignore[attr-defined]
            tensor = xs[index] if index < len(xs) else None
            if tensor is not None and weights.size:
                raise self.fail(f"input {index} is set, so its Weights must be empty")
            arrays.append(tensor.reshape(-1) if tensor is not None else weights.array)
        return arrays[0], arrays[1]

    def _check_input(self, x: np.ndarray, spatial: int) -> None:
        if x.ndim != spatial + 2:
            raise self.fail(f"input rank {x.ndim} for a {spatial}-D window (needs N, C and {spatial} spatial dims)")
        for what in ("stride_nd", "dilation_nd", "pre_padding", "post_padding"):
            value = getattr(self, what)
            _expect(Dims, value, what)
            if len(value) != spatial:
                raise self.fail(f"{what} {list(value)} has {len(value)} entries for {spatial} spatial dims")

    def _pads(self, sizes: Sequence[int], extents: Sequence[int]) -> tuple[list[int], list[int], list[int]]:
        """Pre pads, post pads and output sizes per spatial axis (``extents``: dilated window sizes)."""
        pre, post, outs = [], [], []
        for i, (n, k) in enumerate(zip(sizes, extents)):
            s = self.stride_nd[i]
            if self.padding_mode in (PaddingMode.SAME_UPPER, PaddingMode.SAME_LOWER):
                out = -(-n // s)
                total = max(0, (out - 1) * s + k - n)
                small = total // 2
                b, e = (small, total - small) if self.padding_mode == PaddingMode.SAME_UPPER else (total - small, small)
            else:
                b, e = self.pre_padding[i], self.post_padding[i]
                span = n + b + e - k
                if span < 0:
                    raise self.fail(f"window {k} larger than padded input {n + b + e}")
                out = (-(-span // s) if self.padding_mode == PaddingMode.EXPLICIT_ROUND_UP else span // s) + 1
            pre.append(b)
            post.append(e)
            outs.append(out)
        return pre, post, outs


def _windows(x: np.ndarray, pre: list[int], outs: list[int], kernel: Sequence[int], strides: Sequence[int],
             dilations: Sequence[int], fill: float) -> np.ndarray:
    """(N, C, *outs, *kernel) windows of x, reading ``fill`` outside it."""
    spatial = len(kernel)
    need = [(o - 1) * s + (k - 1) * d + 1 for o, s, k, d in zip(outs, strides, kernel, dilations)]
    pads = [(0, 0), (0, 0)] + [(b, max(0, n - b - size)) for b, n, size in zip(pre, need, x.shape[2:])]
    padded = np.pad(x, pads, constant_values=fill)
    index = [slice(None), slice(None)]
    for i in range(spatial):
        index.append(slice(0, need[i]))
    padded = padded[tuple(index)]
    view = np.lib.stride_tricks.sliding_window_view(
        padded, [(k - 1) * d + 1 for k, d in zip(kernel, dilations)], axis=tuple(range(2, 2 + spatial)))
    view = view[(slice(None), slice(None), *(slice(None, None, s) for s in strides),
                 *(slice(None, None, d) for d in dilations))]
    return view


class _Convolutional(_Windowed):
    """What convolution and deconvolution share: construction and the checks on input, groups and weights."""

    layout = ""  # the weights' layout name, for messages: KCRS or CKRS

    def __init__(self, network: Any, input: ITensor, num_output_maps: int, kernel_shape: Dims, kernel: Weights,
                 bias: Weights | None = None) -> None:
        _expect(Dims, kernel_shape, "kernel_shape")
        _expect(Weights, kernel, "kernel")
        super().__init__(network, [input])
        if len(kernel_shape) not in (2, 3):
            raise self.fail(f"kernel_shape {list(kernel_shape)}: {self.kind.lower()}s are 2-D or 3-D")
        self.num_output_maps, self.kernel_size_nd = int(num_output_maps), kernel_shape
        self.kernel, self.bias = kernel, bias if bias is not None else Weights()
        self.num_groups = 1
        self._window_init(len(kernel_shape))

    def max_inputs(self) -> int:
        return 3

    def _checked(self, xs: list[np.ndarray | None]) -> tuple[np.ndarray, list[int], np.ndarray, np.ndarray]:
        """The input, kernel size, kernel and bias, after TensorRT's rules on them."""
        x = xs[0]
        assert x is not None
        self.floats_only(x)
        kernel = list(self.kernel_size_nd)
        self._check_input(x, len(kernel))
        k, g, c = self.num_output_maps, self.num_groups, x.shape[1]
        if c % g or k % g:
            raise self.fail(f"{c} input channels and {k} output maps are not divisible by {g} groups")
        dims = self._weight_dims(k, g, c)
        expected = math.prod(dims) * math.prod(kernel)
        kernel_data, bias_data = self._weights(xs)
        if kernel_data.size != expected:
            raise self.fail(f"kernel holds {kernel_data.size} weights; {self.layout} needs "
                            f"{dims[0]}x{dims[1]}x{kernel} = {expected}")
        if dtype_of(kernel_data) != dtype_of(x) or (bias_data.size and dtype_of(bias_data) != dtype_of(x)):
            raise self.fail(f"kernel/bias type {dtype_of(kernel_data).name}/{dtype_of(bias_data).name} differs "
                            f"from the input's {dtype_of(x).name} (strongly typed)")
        if bias_data.size not in (0, k):
            raise self.fail(f"bias holds {bias_data.size} weights for {k} output maps")
        return x, kernel, kernel_data, bias_data

    def _weight_dims(self, k: int, g: int, c: int) -> tuple[int, int]:
        raise NotImplementedError

    def _finish(self, y: np.ndarray, x: np.ndarray, bias_data: np.ndarray) -> list[np.ndarray]:
        if bias_data.size:
            y = y + wide(bias_data).reshape(1, self.num_output_maps, *([1] * (y.ndim - 2)))
        return [_cast(y, dtype_of(x))]


class IConvolutionLayer(_Convolutional):
    kind, layout = "Convolution", "KCRS"

    def _weight_dims(self, k: int, g: int, c: int) -> tuple[int, int]:
        return k, c // g

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        x, kernel, kernel_data, bias_data = self._checked(xs)
        k, g, c = self.num_output_maps, self.num_groups, x.shape[1]
        dil = list(self.dilation_nd)
        pre, _, outs = self._pads(x.shape[2:], [(kk - 1) * d + 1 for kk, d in zip(kernel, dil)])
        win = _windows(wide(x), pre, outs, kernel, list(self.stride_nd), dil, 0.0)
        w = wide(kernel_data).reshape(k, c // g, *kernel)
        letters = "xyz"[:len(kernel)]
        parts = []
        for gi in range(g):
            xw = win[:, gi * (c // g):(gi + 1) * (c // g)]
            wg = w[gi * (k // g):(gi + 1) * (k // g)]
            parts.append(np.einsum(f"nc{letters}{letters.upper()},kc{letters.upper()}->nk{letters}", xw, wg))
        return self._finish(np.concatenate(parts, axis=1), x, bias_data)


class IDeconvolutionLayer(_Convolutional):
    kind, layout = "Deconvolution", "CKRS"

    def _weight_dims(self, k: int, g: int, c: int) -> tuple[int, int]:
        return c, k // g

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        if self.padding_mode != PaddingMode.EXPLICIT_ROUND_DOWN:
            raise self.fail("the emulator models explicit deconvolution padding only")
        x, kernel, kernel_data, bias_data = self._checked(xs)
        k, g, c = self.num_output_maps, self.num_groups, x.shape[1]
        w = wide(kernel_data).reshape(c, k // g, *kernel)
        strides, dil = list(self.stride_nd), list(self.dilation_nd)
        sizes = x.shape[2:]
        full = [(n - 1) * s + (kk - 1) * d + 1 for n, s, kk, d in zip(sizes, strides, kernel, dil)]
        y = np.zeros((x.shape[0], k, *full), np.float32)
        xw = wide(x)
        for offset in np.ndindex(*kernel):
            index = tuple(slice(o * d, o * d + (n - 1) * s + 1, s) for o, d, n, s in zip(offset, dil, sizes, strides))
            for gi in range(g):
                xg = xw[:, gi * (c // g):(gi + 1) * (c // g)]
                wg = w[(slice(gi * (c // g), (gi + 1) * (c // g)), slice(None), *offset)]
                y[(slice(None), slice(gi * (k // g), (gi + 1) * (k // g)), *index)] += np.einsum(
                    "nc...,ck->nk...", xg, wg)
        crop = tuple(slice(b, f - e) for b, e, f in zip(self.pre_padding, self.post_padding, full))
        return self._finish(y[(slice(None), slice(None), *crop)], x, bias_data)


class IPoolingLayer(_Windowed):
    kind = "Pooling"

    def __init__(self, network: Any, input: ITensor, type: PoolingType, window_size: Dims) -> None:
        _expect(PoolingType, type, "add_pooling_nd type")
        _expect(Dims, window_size, "window_size")
        super().__init__(network, [input])
        if len(window_size) not in (2, 3):
            raise self.fail(f"window {list(window_size)}: pooling is 2-D or 3-D")
        self.type, self.window_size_nd = type, window_size
        self.average_count_excludes_padding = True
        self.blend_factor = 0.0
        self._window_init(len(window_size))

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        x = xs[0]
        assert x is not None
        self.floats_only(x)
        window = list(self.window_size_nd)
        spatial = len(window)
        self._check_input(x, spatial)
        if self.type == PoolingType.MAX_AVERAGE_BLEND:
            raise self.fail("the emulator does not model MAX_AVERAGE_BLEND")
        pre, post, outs = self._pads(x.shape[2:], window)
        strides, ones = list(self.stride_nd), [1] * spatial
        axes = tuple(range(-spatial, 0))
        if self.type == PoolingType.MAX:
            y = _windows(wide(x), pre, outs, window, strides, ones, -np.inf).max(axis=axes)
            return [_cast(y, dtype_of(x))]
        total = _windows(wide(x), pre, outs, window, strides, ones, 0.0).sum(axis=axes)
        inside = np.pad(np.ones(x.shape[2:], np.float32), list(zip(pre, post)), constant_values=0.0 if
                        self.average_count_excludes_padding else 1.0)
        inside = np.pad(inside, [(0, max(0, (o - 1) * s + k - n)) for o, s, k, n in
                                 zip(outs, strides, window, inside.shape)])
        counts = _windows(inside[None, None], [0] * spatial, outs, window, strides, ones, 0.0).sum(axis=axes)
        with np.errstate(invalid="ignore", divide="ignore"):
            return [_cast(total / counts, dtype_of(x))]


# -- resize ------------------------------------------------------------------------------------------


class IResizeLayer(ILayer):
    kind = "Resize"

    def __init__(self, network: Any, input: ITensor) -> None:
        super().__init__(network, [input])
        self.shape: Dims | None = None
        self.scales: list[float] | None = None
        self.resize_mode = InterpolationMode.NEAREST
        self.coordinate_transformation = ResizeCoordinateTransformation.ASYMMETRIC
        self.selector_for_single_pixel = ResizeSelector.FORMULA
        self.nearest_rounding = ResizeRoundMode.FLOOR
        self.cubic_coeff = -0.75
        self.exclude_outside = False

    def max_inputs(self) -> int:
        return 2

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        x = xs[0]
        assert x is not None
        if self.resize_mode != InterpolationMode.NEAREST:
            self.floats_only(x)
        if self.shape is not None:
            outs = list(self.shape)
            scales = [o / n if n else 1.0 for o, n in zip(outs, x.shape)]
        elif self.scales is not None:
            scales = [float(s) for s in self.scales]
            outs = [math.floor(n * s) for n, s in zip(x.shape, scales)]
        else:
            raise self.fail("neither shape nor scales is set")
        if len(outs) != x.ndim:
            raise self.fail(f"resize to {outs} has a different rank from the input {list(x.shape)}")
        y = wide(x)
        for axis, (n, out, scale) in enumerate(zip(x.shape, outs, scales)):
            y = self._resize_axis(y, axis, n, out, scale)
        return [_cast(y, dtype_of(x))]

    def _resize_axis(self, y: np.ndarray, axis: int, n: int, out: int, scale: float) -> np.ndarray:
        if n == out and self.coordinate_transformation != ResizeCoordinateTransformation.ALIGN_CORNERS:
            return y
        pos = np.arange(out, dtype=np.float64)
        ct = self.coordinate_transformation
        if ct == ResizeCoordinateTransformation.HALF_PIXEL:
            src = (pos + 0.5) / scale - 0.5
            if out == 1 and self.selector_for_single_pixel == ResizeSelector.UPPER:
                src = np.zeros_like(pos)
        elif ct == ResizeCoordinateTransformation.ALIGN_CORNERS:
            src = pos * (n - 1) / (out - 1) if out > 1 else np.zeros_like(pos)
        else:
            src = pos / scale
        if self.resize_mode == InterpolationMode.NEAREST:
            rounding = {ResizeRoundMode.HALF_UP: lambda v: np.floor(v + 0.5),
                        ResizeRoundMode.HALF_DOWN: lambda v: np.ceil(v - 0.5),
                        ResizeRoundMode.FLOOR: np.floor, ResizeRoundMode.CEIL: np.ceil}[self.nearest_rounding]
            idx = np.clip(rounding(src), 0, n - 1).astype(np.int64)
            return np.take(y, idx, axis=axis)
        shape = [1] * y.ndim
        shape[axis] = out
        if self.resize_mode == InterpolationMode.CUBIC:
            return self._cubic(y, axis, n, src, shape)
        src = np.clip(src, 0, n - 1)
        lo = np.floor(src).astype(np.int64)
        hi = np.minimum(lo + 1, n - 1)
        frac = (src - lo).astype(np.float32).reshape(shape)
        return np.take(y, lo, axis=axis) * (1 - frac) + np.take(y, hi, axis=axis) * frac

    def _cubic(self, y: np.ndarray, axis: int, n: int, src: np.ndarray, shape: list[int]) -> np.ndarray:
        """Keys' cubic convolution with coefficient ``cubic_coeff`` over the 4 nearest samples (edge samples
        repeat; with ``exclude_outside`` samples outside get no weight and the rest are renormalized)."""
        a = self.cubic_coeff
        base = np.floor(src)
        t = src - base
        distances = [t + 1, t, 1 - t, 2 - t]
        weights = [((a * d - 5 * a) * d + 8 * a) * d - 4 * a if k in (0, 3) else ((a + 2) * d - (a + 3)) * d * d + 1
                   for k, d in enumerate(distances)]
        taps = [base.astype(np.int64) + k for k in (-1, 0, 1, 2)]
        if self.exclude_outside:
            weights = [np.where((i >= 0) & (i < n), w, 0.0) for i, w in zip(taps, weights)]
            total = sum(weights)
            weights = [w / total for w in weights]
        acc = np.zeros(1, np.float64)
        for i, w in zip(taps, weights):
            acc = acc + np.take(y, np.clip(i, 0, n - 1), axis=axis) * w.reshape(shape)
        return acc.astype(np.float32)


# -- if-conditionals ---------------------------------------------------------------------------------

_CONDITIONAL_TYPES = frozenset({DataType.BOOL, DataType.INT32, DataType.HALF, DataType.FLOAT, DataType.BF16})
"""Element types a conditional's outputs may have (TensorRT's operator reference for If)."""


class IIfConditional:
    """An if-then-else: one condition, input boundary layers, and output layers pairing the branches' results.

    A branch is the layers between this conditional's input layers and one side of its outputs
    (:meth:`branch`). Only the taken branch counts, as in TensorRT; the other runs where it can, so that the
    branches' output shapes can be compared (TensorRT checks them when it builds).
    """

    def __init__(self, network: Any) -> None:
        self.network = network
        self.name = ""
        self.condition: IConditionLayer | None = None
        self.inputs: list[IIfConditionalInputLayer] = []
        self.outputs: list[IIfConditionalOutputLayer] = []

    def set_condition(self, condition: ITensor) -> IConditionLayer:
        if self.condition is not None:
            raise TensorRTError(f"conditional {self.name!r} already has a condition")
        self.condition = self.network._add(IConditionLayer(self.network, [condition], self))
        return self.condition

    def add_input(self, input: ITensor) -> IIfConditionalInputLayer:
        layer = self.network._add(IIfConditionalInputLayer(self.network, [input], self))
        self.inputs.append(layer)
        return layer

    def add_output(self, true_subgraph_output: ITensor, false_subgraph_output: ITensor) -> IIfConditionalOutputLayer:
        if self.condition is None:
            raise TensorRTError(f"conditional {self.name!r}: set the condition before adding outputs")
        layer = self.network._add(IIfConditionalOutputLayer(self.network, [true_subgraph_output,
                                                                            false_subgraph_output], self))
        self.outputs.append(layer)
        return layer

    def branch(self, side: int) -> set[int]:
        """ids of the layers in branch ``side`` (0: true, 1: false): ancestors of that side's outputs that
        descend from this conditional's input layers."""
        inside = {id(layer) for layer in self.inputs}
        descendants = set(inside)
        for layer in self.network.layers:
            if any(t is not None and t._producer is not None and id(t._producer) in descendants
                   for t in layer._inputs) and not isinstance(layer, IIfConditionalOutputLayer):
                descendants.add(id(layer))
        found: set[int] = set()
        todo = [out._inputs[side] for out in self.outputs]
        while todo:
            t = todo.pop()
            producer = t._producer if t is not None else None
            if producer is None or id(producer) in found or id(producer) not in descendants:
                continue
            found.add(id(producer))
            todo.extend(producer._inputs)
        return found - inside


class _Boundary(ILayer):
    def __init__(self, network: Any, inputs: Sequence[ITensor], conditional: IIfConditional) -> None:
        super().__init__(network, inputs)
        self.conditional = conditional


class IConditionLayer(_Boundary):
    kind = "Condition"
    num_outputs_ = 0

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        c = xs[0]
        assert c is not None
        if dtype_of(c) != DataType.BOOL or c.ndim != 0:
            raise self.fail(f"the condition must be a 0-D BOOL tensor, got {dtype_of(c).name}{list(c.shape)}")
        return []


class IIfConditionalInputLayer(_Boundary):
    kind = "ConditionalInput"

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        assert xs[0] is not None
        return [xs[0]]


class IIfConditionalOutputLayer(_Boundary):
    kind = "ConditionalOutput"

    def run(self, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        raise TensorRTError("a conditional output runs through the network, which knows the condition")

    def select(self, condition: bool, xs: list[np.ndarray | None]) -> np.ndarray:
        taken, other = (xs[0], xs[1]) if condition else (xs[1], xs[0])
        assert taken is not None
        if dtype_of(taken) not in _CONDITIONAL_TYPES:
            raise self.fail(f"conditional outputs of type {dtype_of(taken).name}")
        if other is not None and (other.shape != taken.shape or other.dtype != taken.dtype):
            raise self.fail(f"the branches give {other.dtype}{list(other.shape)} and {taken.dtype}"
                            f"{list(taken.shape)}; they must have one type and shape")
        return taken
