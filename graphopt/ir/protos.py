"""Conversions between the IR's leaf pieces (tensors, types, attributes) and ONNX protos."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from graphopt.errors import ModelLoadError
from graphopt.ir.attributes import Attr, AttrKind
from graphopt.ir.dtypes import DType
from graphopt.ir.tensor import ArrayTensor, ExternalTensor, Tensor, pack_subbyte
from graphopt.ir.types import Dim, OptionalType, SequenceType, TensorType, Type

# -- tensors -----------------------------------------------------------------------------

def tensor_from_proto(proto: onnx.TensorProto, base_dir: Path | None = None) -> Tensor:
    """A constant from a TensorProto; external data becomes a lazy, memory-mapped tensor.

    External locations must stay inside ``base_dir`` (the model's directory).
    """
    dtype = _dtype(proto.data_type, f"tensor {proto.name!r}")
    if dtype == DType.UNDEFINED:
        raise ModelLoadError(f"tensor {proto.name!r} has no element type (data_type 0)")
    shape = tuple(proto.dims)
    if any(d < 0 for d in shape):  # numpy would read -1 as "infer this dim"
        raise ModelLoadError(f"tensor {proto.name!r} has negative dims {list(shape)}")
    if proto.data_location == onnx.TensorProto.EXTERNAL:
        info = {e.key: e.value for e in proto.external_data}
        location = info.get("location", "")
        if base_dir is None:
            raise ModelLoadError(f"tensor {proto.name!r} uses external data {location!r} but the model "
                                 "was given as a proto with no directory; load it from its file path")
        path = _confined(base_dir, location, proto.name)
        return _external(proto.name, path, info, dtype, shape)
    if proto.raw_data and dtype.bits >= 8 and dtype != DType.STRING:  # the common case: no copy, no helper
        expected = (math.prod(shape) if shape else 1) * dtype.numpy.itemsize
        if len(proto.raw_data) != expected:
            raise ModelLoadError(f"tensor {proto.name!r} has {len(proto.raw_data)} bytes of data, its shape "
                                 f"{list(shape)} and dtype {dtype.name} need {expected}")
        return ArrayTensor(np.frombuffer(proto.raw_data, dtype=dtype.numpy).reshape(shape), dtype)
    try:
        array = numpy_helper.to_array(proto)
    except Exception as e:
        raise ModelLoadError(f"tensor {proto.name!r} has malformed data: {e}") from e
    if dtype == DType.STRING:  # one convention in the IR: Python str, as ONNX Runtime returns
        array = np.array([_text(s) for s in array.flat], dtype=object).reshape(array.shape)
    elif array.dtype != dtype.numpy:
        array = array.view(dtype.numpy) if array.dtype.itemsize == dtype.numpy.itemsize else array.astype(dtype.numpy)
    return ArrayTensor(array, dtype)


def _text(item: object) -> object:
    """Bytes as str; bytes that are not UTF-8 survive as surrogate escapes and encode back unchanged."""
    return item.decode("utf-8", "surrogateescape") if isinstance(item, bytes) else item


def _dtype(code: int, where: str) -> DType:
    try:
        return DType(code)
    except ValueError:
        raise ModelLoadError(f"{where} has element type {code}, which is no ONNX data type; the model may be "
                             "corrupt or newer than this graphopt") from None


def _external(name: str, path: Path, info: dict[str, str], dtype: DType, shape: tuple[int, ...]) -> Tensor:
    """A lazily mapped tensor, once its offset and length are numbers that fit inside the file."""
    try:
        offset = int(info.get("offset", 0))
        length = int(info["length"]) if "length" in info else None
    except ValueError:
        raise ModelLoadError(f"tensor {name!r}: external data offset/length {info.get('offset')!r}/"
                             f"{info.get('length')!r} are not integers") from None
    needed = (math.prod(shape) * dtype.bits + 7) // 8
    file_size = path.stat().st_size
    if offset < 0 or (length is not None and length < needed) or offset + needed > file_size:
        raise ModelLoadError(f"tensor {name!r}: its shape {list(shape)} and dtype {dtype.name} need {needed} bytes "
                             f"at offset {offset} (length {length}), but {str(path)!r} holds {file_size} bytes")
    return ExternalTensor(path, offset, length, dtype, shape)


def _confined(base_dir: Path, location: str, tensor: str) -> Path:
    if "\0" in location:
        raise ModelLoadError(f"tensor {tensor!r}: external data location {location!r} contains a NUL byte")
    base = base_dir.resolve()
    path = (base / location).resolve()
    if not location or Path(location).is_absolute() or not path.is_relative_to(base):
        raise ModelLoadError(f"tensor {tensor!r}: external data location {location!r} escapes the model "
                             f"directory {str(base)!r}; refusing to read it")
    if not path.is_file():
        raise ModelLoadError(f"tensor {tensor!r}: external data file {str(path)!r} does not exist")
    return path


def tensor_to_proto(tensor: Tensor, name: str = "") -> onnx.TensorProto:
    """An in-memory TensorProto (raw bytes inline)."""
    proto = onnx.TensorProto(name=name, data_type=int(tensor.dtype), dims=tensor.shape)
    array = tensor.numpy()
    if tensor.dtype == DType.STRING:
        proto.string_data.extend(s if isinstance(s, bytes) else str(s).encode("utf-8", "surrogateescape")
                                 for s in array.flat)
    else:
        proto.raw_data = tensor_bytes(tensor.dtype, array)
    return proto


def tensor_bytes(dtype: DType, array: np.ndarray) -> bytes:
    """The bytes ONNX stores for ``array``: little-endian, sub-byte types packed."""
    if dtype.bits < 8:
        return pack_subbyte(array, dtype)
    return np.ascontiguousarray(array, dtype=dtype.numpy.newbyteorder("<")).tobytes()


# -- types -------------------------------------------------------------------------------

def type_from_proto(proto: onnx.TypeProto) -> Type:
    which = proto.WhichOneof("value")
    if which == "tensor_type":
        t = proto.tensor_type
        shape: tuple[Dim, ...] | None = None
        if t.HasField("shape"):
            shape = tuple(_dim_from_proto(d) for d in t.shape.dim)
        return TensorType(_dtype(t.elem_type, "a value's type"), shape)
    if which == "sequence_type":
        return SequenceType(type_from_proto(proto.sequence_type.elem_type))
    if which == "optional_type":
        return OptionalType(type_from_proto(proto.optional_type.elem_type))
    return None


def _dim_from_proto(d: onnx.TensorShapeProto.Dimension) -> Dim:
    which = d.WhichOneof("value")
    if which == "dim_value":
        return int(d.dim_value)
    if which == "dim_param" and d.dim_param:
        return d.dim_param
    return None


def type_to_proto(t: Type) -> onnx.TypeProto:
    proto = onnx.TypeProto()
    if isinstance(t, TensorType):
        proto.tensor_type.elem_type = int(t.dtype)
        if t.shape is not None:
            proto.tensor_type.shape.SetInParent()
            for d in t.shape:
                dim = proto.tensor_type.shape.dim.add()
                if isinstance(d, int) and 0 <= d < 2**63:  # a dim past int64 (a nonsense model) stays unknown
                    dim.dim_value = d
                elif isinstance(d, str):
                    dim.dim_param = d
    elif isinstance(t, SequenceType):
        proto.sequence_type.elem_type.CopyFrom(type_to_proto(t.elem))
    elif isinstance(t, OptionalType):
        proto.optional_type.elem_type.CopyFrom(type_to_proto(t.elem))
    return proto


# -- attributes --------------------------------------------------------------------------

def attr_from_proto(proto: onnx.AttributeProto, graph_from_proto: Callable[[onnx.GraphProto], Any],
                    base_dir: Path | None = None) -> Attr:
    kind = AttrKind(proto.type)
    if kind == AttrKind.GRAPH:
        return Attr(kind, graph_from_proto(proto.g))
    if kind == AttrKind.GRAPHS:
        return Attr(kind, tuple(graph_from_proto(g) for g in proto.graphs))
    if kind == AttrKind.TENSOR:
        return Attr(kind, tensor_from_proto(proto.t, base_dir))
    if kind == AttrKind.TENSORS:
        return Attr(kind, tuple(tensor_from_proto(t, base_dir) for t in proto.tensors))
    if kind == AttrKind.TYPE_PROTO:
        return Attr(kind, type_from_proto(proto.tp))
    return Attr.make(onnx.helper.get_attribute_value(proto), kind)


def attr_to_proto(name: str, attr: Attr, graph_to_proto: Callable[[Any], onnx.GraphProto] | None = None
                  ) -> onnx.AttributeProto:
    kind, value = attr.kind, attr.value
    if kind == AttrKind.GRAPH:
        assert graph_to_proto is not None, "graph attributes need a graph converter"
        proto = onnx.AttributeProto(name=name, type=onnx.AttributeProto.GRAPH)
        proto.g.CopyFrom(graph_to_proto(value))
        return proto
    if kind == AttrKind.GRAPHS:
        assert graph_to_proto is not None, "graph attributes need a graph converter"
        proto = onnx.AttributeProto(name=name, type=onnx.AttributeProto.GRAPHS)
        proto.graphs.extend(graph_to_proto(g) for g in value)
        return proto
    if kind == AttrKind.TENSOR:
        return onnx.helper.make_attribute(name, tensor_to_proto(value))
    if kind == AttrKind.TENSORS:
        proto = onnx.AttributeProto(name=name, type=onnx.AttributeProto.TENSORS)
        proto.tensors.extend(tensor_to_proto(t) for t in value)
        return proto
    if kind == AttrKind.TYPE_PROTO:
        proto = onnx.AttributeProto(name=name, type=onnx.AttributeProto.TYPE_PROTO)
        proto.tp.CopyFrom(type_to_proto(value))
        return proto
    return onnx.helper.make_attribute(name, value, attr_type=onnx.AttributeProto.AttributeType.Value(kind.name))
