"""The IR's text form: a deterministic, one-node-per-line printout that :func:`graphopt.ir.parser.parse` reads back.

    graph main(%x: f32[N,3], %b: f32[3] = [0.0, 0.5, 1.0]) {
      %w: f32[3,3] = const <elided 3a0f9c21e4b7d810>
      %y: f32[N,3] = Gemm(%x, %w, %b) {transB=1}
      %v: f32[N,2], %i: i64[N,2] = TopK(%y, %k) {axis=-1}
      _, %h: f32[1,N,8] = LSTM(%x, %W, %R)
      %z: f32[N,3] = graphopt::FusedConv(%x, %w) {activation="Relu"}
      return %z, %v as "values"
    }

Rules, all chosen so that a pass-by-pass diff is a plain text diff:

- Types are ``dtype[dims]`` (``f32[N,3]``), ``[*]`` for an unknown rank, ``?`` for an unknown dim or an
  entirely unknown type, ``seq<T>`` and ``opt<T>``. Symbols that are not plain words are JSON-quoted.
- Values print as ``%name`` when the name is a plain word (``[A-Za-z0-9_.:/-]+``, not ending in ``:``) and
  ``%"any name"`` otherwise. The first definition of a name keeps it; later duplicates and unnamed values
  get ``%0``, ``%1`` … in definition order, skipping numbers that real names use. Names are unique over the
  whole printout, so a subgraph prints outer values with their outer names.
- An omitted input or output is ``_``; trailing omitted inputs are dropped.
- Attributes are sorted by name. Floats always show ``.``, ``e``, ``inf`` or ``nan`` (shortest text that
  round-trips through float32); strings are JSON; tensors are ``tensor f32[2] [1.0, 2.0]``; graphs are nested
  blocks; types are ``type f32[N]``. When the literal alone would read back as another kind (an empty
  FLOATS list, an INT where the schema says FLOAT) a kind word comes first: ``floats []``, ``int 1``.
- Constants with at most ``max_const_elements`` elements print in full, nested by shape; bool elements are
  ``true``/``false``, strings are JSON, complex numbers ``(re, im)``. Larger ones print as
  ``<elided HASH>`` with :attr:`Tensor.content_hash`.
- ``return`` lists the graph outputs; ``as "name"`` follows an output whose model-facing name differs from
  its value's name.
- With ``verbose=True`` a node line ends with ``# name=… from=…`` (node name and provenance); the parser
  skips comments.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

from graphopt.errors import ParseError
from graphopt.ir import registry
from graphopt.ir.attributes import Attr, AttrKind
from graphopt.ir.core import Graph, Node, Value
from graphopt.ir.dtypes import DType
from graphopt.ir.tensor import ArrayTensor, Tensor
from graphopt.ir.types import OptionalType, SequenceType, TensorType, Type

DEFAULT_MAX_CONST_ELEMENTS = 16

BARE_VALUE_NAME = re.compile(r"[A-Za-z0-9_.:/\-]*[A-Za-z0-9_./\-]")
BARE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
BARE_DOTTED_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")

KIND_WORDS: dict[str, AttrKind] = {
    "int": AttrKind.INT, "float": AttrKind.FLOAT, "string": AttrKind.STRING, "ints": AttrKind.INTS,
    "floats": AttrKind.FLOATS, "strings": AttrKind.STRINGS, "tensors": AttrKind.TENSORS,
    "graphs": AttrKind.GRAPHS,
}
"""Kind words that may precede an attribute literal; TENSOR, GRAPH and TYPE_PROTO literals name themselves."""
_WORD_KINDS = frozenset(KIND_WORDS.values())
_KEYWORDS = frozenset({"const", "return", "_"})


class ElidedTensor(Tensor):
    """A constant read back from text whose data was elided: dtype, shape and (usually) hash, but no data."""

    __slots__ = ()

    def __init__(self, dtype: DType, shape: tuple[int, ...], content_hash: str | None) -> None:
        super().__init__(dtype, shape)
        self._hash = content_hash

    @property
    def known_hash(self) -> str | None:
        return self._hash

    @property
    def content_hash(self) -> str:
        if self._hash is None:
            raise self._missing()
        return self._hash

    def numpy(self) -> np.ndarray:
        raise self._missing()

    def _missing(self) -> ParseError:
        return ParseError(f"the data of this {self.dtype.short}{list(self.shape)} constant was elided in the text "
                          "form; supply it with parse(text, constants={name or hash: array})")


def print_graph(graph: Graph, *, max_const_elements: int = DEFAULT_MAX_CONST_ELEMENTS, verbose: bool = False) -> str:
    """The text form of ``graph`` (see the module docstring). Deterministic for the same graph."""
    return _Printer(max_const_elements, verbose).graph_text(graph)


def format_type(t: Type) -> str:
    """A type as the text form writes it: ``f32[N,3]``, ``i64[*]``, ``seq<f32[?]>``, ``?``."""
    if t is None:
        return "?"
    if isinstance(t, TensorType):
        if t.shape is None:
            return f"{t.dtype.short}[*]"
        return f"{t.dtype.short}[{','.join(_format_dim(d) for d in t.shape)}]"
    if isinstance(t, SequenceType):
        return f"seq<{format_type(t.elem)}>"
    if isinstance(t, OptionalType):
        return f"opt<{format_type(t.elem)}>"
    raise TypeError(f"not a graphopt type: {t!r}")


def format_float(x: Any, dtype: DType = DType.FLOAT) -> str:
    """Shortest text that reads back to the same ``dtype`` value, always marked as a float; NaN keeps its sign."""
    f = float(x)
    if math.isnan(f):
        return "-nan" if math.copysign(1.0, f) < 0 else "nan"
    if dtype == DType.DOUBLE:
        s = repr(f)
    elif dtype == DType.FLOAT16:
        s = str(np.float16(f))
    elif dtype == DType.FLOAT:
        s = str(np.float32(f))
    else:
        s = _shortest(f, dtype.numpy)
    return s if any(c in s for c in ".en") else s + ".0"


def _shortest(f: float, dtype: np.dtype) -> str:
    """Fewest significant digits that read back to ``f`` in ``dtype`` (bfloat16, float8, float4 …)."""
    for digits in range(1, 17):
        s = f"{f:.{digits}g}"
        if float(np.array(float(s)).astype(dtype)) == f:
            return s
    return repr(f)


def format_attr(attr: Attr) -> str:
    """An attribute's literal as a node line shows it (graphs as nested blocks, large tensors elided)."""
    return _Printer(DEFAULT_MAX_CONST_ELEMENTS, verbose=False).attr_literal(attr, "")


def format_data(tensor: Tensor) -> str:
    """A tensor's elements as a literal nested by its shape (a bare element for a scalar)."""
    return _nest(_format_elements(tensor.numpy(), tensor.dtype), tensor.shape)


def quote_word(text: str, pattern: re.Pattern[str] = BARE_WORD) -> str:
    """``text`` bare when it matches ``pattern``, else as a JSON string."""
    return text if pattern.fullmatch(text) else quote_string(text)


def quote_string(text: str) -> str:
    """A JSON string literal; readable Unicode, but undecodable bytes (lone surrogates) as escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(text)
    return json.dumps(text, ensure_ascii=False)


def literal_kind(attr: Attr) -> AttrKind:
    """The kind the parser infers from ``attr``'s printed literal when no schema says otherwise."""
    if attr.kind in (AttrKind.INTS, AttrKind.FLOATS, AttrKind.STRINGS, AttrKind.TENSORS, AttrKind.GRAPHS):
        return attr.kind if attr.value else AttrKind.INTS
    return attr.kind


def _format_dim(d: Any) -> str:
    if d is None:
        return "?"
    if isinstance(d, str):
        return quote_word(d)
    return str(d)


def _format_elements(array: np.ndarray, dtype: DType) -> list[str]:
    flat = np.asarray(array).reshape(-1)
    if dtype == DType.BOOL:
        return ["true" if b else "false" for b in flat.tolist()]
    if dtype == DType.STRING:
        return [quote_string(_as_text(s)) for s in flat.tolist()]
    if dtype in (DType.COMPLEX64, DType.COMPLEX128):
        part = DType.FLOAT if dtype == DType.COMPLEX64 else DType.DOUBLE
        return [f"({format_float(c.real, part)}, {format_float(c.imag, part)})" for c in flat.tolist()]
    if dtype.is_float:
        native = dtype in (DType.FLOAT, DType.FLOAT16, DType.DOUBLE)  # else an ml_dtypes type: widen first
        return [format_float(x, dtype) for x in (flat if native else flat.astype(np.float32))]
    if dtype == DType.UINT64:
        return [str(int(x)) for x in flat.tolist()]
    return [str(x) for x in flat.astype(np.int64).tolist()]


def _as_text(s: Any) -> str:
    return s.decode("utf-8", "surrogateescape") if isinstance(s, bytes) else str(s)


def _nest(items: list[str], shape: tuple[int, ...]) -> str:
    if not shape:
        return items[0]
    if len(shape) == 1:
        return "[" + ", ".join(items) + "]"
    step = len(items) // shape[0] if shape[0] else 0
    return "[" + ", ".join(_nest(items[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])) + "]"


def as_tensor(value: Any) -> Tensor:
    """A TENSOR attribute's value as a Tensor (attributes may also hold a bare numpy array)."""
    return value if isinstance(value, Tensor) else ArrayTensor(np.asarray(value))


class _Printer:
    def __init__(self, max_const_elements: int, verbose: bool) -> None:
        self.max_const_elements = max_const_elements
        self.verbose = verbose
        self.names: dict[Value, str] = {}
        self.taken: set[str] = set()
        self.numeric_names: set[str] = set()
        self.counter = 0
        self.type_texts: dict[Type, str] = {}

    # -- naming ------------------------------------------------------------------------
    def reserve(self, graph: Graph) -> None:
        """Remember every all-digit name in the printout, so numbering never steals one."""
        values: list[Value | None] = [*graph.inputs, *graph.constants]
        for node in graph:
            values.extend(node.outputs)
            for sub in node.subgraphs():
                self.reserve(sub)
        for v in values:
            if v is not None and v.name and v.name.isascii() and v.name.isdigit():
                self.numeric_names.add(v.name)

    def define(self, v: Value) -> str:
        name = v.name
        if not name or name in self.taken:
            name = str(self.counter)
            while name in self.numeric_names or name in self.taken:
                self.counter += 1
                name = str(self.counter)
            self.counter += 1
        self.taken.add(name)
        text = "%" + (name if BARE_VALUE_NAME.fullmatch(name) else quote_string(name))
        self.names[v] = text
        return text

    def ref(self, v: Value) -> str:
        text = self.names.get(v)
        return text if text is not None else self.define(v)

    def typed(self, v: Value) -> str:
        t = v.type
        text = self.type_texts.get(t)
        if text is None:
            text = self.type_texts[t] = format_type(t)
        return f"{self.define(v)}: {text}"

    # -- graphs ------------------------------------------------------------------------
    def graph_text(self, graph: Graph) -> str:
        self.reserve(graph)
        return "\n".join(self.graph_lines(graph, ""))

    def graph_lines(self, graph: Graph, indent: str) -> list[str]:
        """The header (unindented: it continues a line), body lines at ``indent + '  '``, the closing brace."""
        params = ", ".join(self.graph_input(v, graph) for v in graph.inputs)
        lines = [f"graph {quote_word(graph.name, BARE_DOTTED_WORD)}({params}) {{"]
        inner = indent + "  "
        lines.extend(f"{inner}{self.typed(c)} = const {self.data(c.const)}" for c in graph.constants
                     if c.const is not None)
        lines.extend(self.node_text(node, inner) for node in graph)
        outs = [self.ref(v) + self.output_alias(v, name)
                for v, name in zip(graph.outputs, graph.output_names, strict=True)]
        lines.append(f"{inner}return {', '.join(outs)}" if outs else f"{inner}return")
        lines.append(indent + "}")
        return lines

    def graph_input(self, v: Value, graph: Graph) -> str:
        text = self.typed(v)
        default = graph.input_defaults.get(v)
        return text if default is None else f"{text} = {self.data(default)}"

    def output_alias(self, v: Value, name: str | None) -> str:
        return "" if name is None or name == v.name else " as " + quote_string(name)

    def data(self, tensor: Tensor) -> str:
        if isinstance(tensor, ElidedTensor):
            h = tensor.known_hash
            return f"<elided {h}>" if h else "<elided>"
        if tensor.size > self.max_const_elements:
            return f"<elided {tensor.content_hash}>"
        return format_data(tensor)

    # -- nodes -------------------------------------------------------------------------
    def node_text(self, node: Node, indent: str) -> str:
        outs = ", ".join("_" if o is None else self.typed(o) for o in node.outputs)
        ins = node.inputs
        n = len(ins)
        while n and ins[n - 1] is None:
            n -= 1
        args = ", ".join("_" if v is None else self.ref(v) for v in ins[:n])
        op = quote_word(node.op) if node.op not in _KEYWORDS else quote_string(node.op)
        if node.domain not in registry.ONNX_DOMAINS:
            op = f"{quote_word(node.domain, BARE_DOTTED_WORD)}::{op}"
        text = f"{indent}{outs} = {op}({args})" if outs else f"{indent}{op}({args})"
        if node.attrs:
            schema = registry.lookup(node.domain, node.op)
            specs = schema.attrs if schema is not None else {}
            parts = []
            for name in sorted(node.attrs):
                spec = specs.get(name)
                parts.append(f"{quote_word(name)}={self.attr(node.attrs[name], spec.kind if spec else None, indent)}")
            text += " {" + ", ".join(parts) + "}"
        if self.verbose:
            text += self.comment(node)
        return text

    def comment(self, node: Node) -> str:
        parts = []
        if node.name:
            parts.append(f"name={quote_word(node.name, BARE_VALUE_NAME)}")
        if node.provenance is not None:
            source = str(node.provenance)
            parts.append("from=" + (quote_string(source) if "\n" in source else source))
        return "  # " + " ".join(parts) if parts else ""

    def attr(self, attr: Attr, schema_kind: AttrKind | None, indent: str) -> str:
        text = self.attr_literal(attr, indent)
        read_as = schema_kind if schema_kind in _WORD_KINDS else literal_kind(attr)
        if attr.kind in _WORD_KINDS and read_as != attr.kind:
            return f"{attr.kind.name.lower()} {text}"
        return text

    def attr_literal(self, attr: Attr, indent: str) -> str:
        kind, value = attr.kind, attr.value
        if kind == AttrKind.INT:
            return str(value)
        if kind == AttrKind.FLOAT:
            return format_float(value)
        if kind == AttrKind.STRING:
            return quote_string(value)
        if kind == AttrKind.INTS:
            return "[" + ", ".join(str(v) for v in value) + "]"
        if kind == AttrKind.FLOATS:
            return "[" + ", ".join(format_float(v) for v in value) + "]"
        if kind == AttrKind.STRINGS:
            return "[" + ", ".join(quote_string(v) for v in value) + "]"
        if kind == AttrKind.TENSOR:
            return self.tensor_literal(as_tensor(value))
        if kind == AttrKind.TENSORS:
            return "[" + ", ".join(self.tensor_literal(as_tensor(v)) for v in value) + "]"
        if kind == AttrKind.GRAPH:
            return "\n".join(self.graph_lines(value, indent + "  "))
        if kind == AttrKind.GRAPHS:
            return "[" + ", ".join("\n".join(self.graph_lines(g, indent + "  ")) for g in value) + "]"
        if kind == AttrKind.TYPE_PROTO:
            return f"type {format_type(value)}"
        raise TypeError(f"cannot print an attribute of kind {kind.name}")

    def tensor_literal(self, tensor: Tensor) -> str:
        return f"tensor {format_type(TensorType(tensor.dtype, tensor.shape))} {self.data(tensor)}"
