"""Reads the text form that :mod:`graphopt.ir.printer` writes (and that tests are written in) back into a Graph.

A one-pattern tokenizer (run by ``re.findall``, so tokenizing stays in C) feeds
a hand-written recursive-descent parser. Tokens are plain strings whose first
character tells their kind; positions are recomputed only to report an error.
Names resolve lexically: a subgraph sees the values of the graphs around it,
and a value must be defined before it is used.

Beyond what the printer emits, the parser accepts a few conveniences for
hand-written text: value types may be left out (``%y = Relu(%x)``), a
constant's type may be left out when its literal says it (``%s = const [1, -1]``
is ``i64[2]``, ``const 0.5`` is ``f32[]``, ``const [true]`` is ``bool[1]``),
``<elided>`` may omit the hash, and lists may end with a comma.

Elided constant data comes from ``parse(text, constants={key: array})`` where a
key is the value's name or the content hash in the text; without it the
constant is an :class:`~graphopt.ir.printer.ElidedTensor` placeholder that
knows its dtype, shape and hash but raises when its data is needed.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import ml_dtypes
import numpy as np

from graphopt.errors import ParseError
from graphopt.ir import registry
from graphopt.ir.attributes import Attr, AttrKind
from graphopt.ir.core import Graph, Node, Value
from graphopt.ir.dtypes import DType
from graphopt.ir.gcpause import gc_paused
from graphopt.ir.printer import KIND_WORDS, ElidedTensor
from graphopt.ir.tensor import ArrayTensor, Tensor
from graphopt.ir.types import Dim, OptionalType, SequenceType, TensorType, Type

# One capturing group: findall returns the token texts. "" is the end of the text.
_TOKEN = re.compile(r"""
    (?:[ \t\r\n]+|\#[^\n]*)*                                   # whitespace and comments
    (   %(?:"(?:[^"\\\n]|\\.)*"|[A-Za-z0-9_.:/\-]*[A-Za-z0-9_./\-])           # %name, %"any name"
    |   <elided(?:[ \t]+[0-9A-Za-z]+)?>
    |   ::|[()\[\]{}<>,=:?*]                                                  # punctuation
    |   [A-Za-z_][A-Za-z0-9_.]*(?:\[(?:[^\[\]"\n]|"(?:[^"\\\n]|\\.)*")*\])?  # word, or type like f32[N,3]
    |   -?(?:\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)|-inf\b|-nan\b  # float
    |   -?\d+                                                                 # int
    |   "(?:[^"\\\n]|\\.)*"                                                   # JSON string
    |   \Z
    |   .                                                                     # anything else: an error
    )""", re.VERBOSE | re.DOTALL)
_DIM = re.compile(r"""[ \t]*
    (?:(?P<int>-?\d+) | (?P<unknown>\?) | (?P<str>"(?:[^"\\]|\\.)*") | (?P<sym>[A-Za-z_][A-Za-z0-9_.]*))
    [ \t]*(?:,|$)""", re.VERBOSE)

_WORD_START = frozenset(string.ascii_letters + "_")
_DIGITS = frozenset(string.digits)
_PUNCT = frozenset(["::", *"()[]{}<>,=:?*"])
_DTYPE_SHORTS = frozenset(d.short for d in DType)
_FLOAT_WORDS = frozenset({"inf", "nan", "-inf", "-nan"})
_BOOL_WORDS = {"true": True, "false": False}
_SCALAR_KINDS = {AttrKind.INTS: AttrKind.INT, AttrKind.FLOATS: AttrKind.FLOAT, AttrKind.STRINGS: AttrKind.STRING}
_LITERAL_KINDS = frozenset({AttrKind.INT, AttrKind.FLOAT, AttrKind.STRING, *_SCALAR_KINDS})

_Item = int | tuple[int, int]
"""One element of a data literal: a token index, or the (real, imaginary) token indices of a complex number."""
_T = TypeVar("_T")


def parse(text: str, constants: Mapping[str, np.ndarray | Tensor] | None = None) -> Graph:
    """Parse one ``graph NAME(...) { ... }`` block into a new Graph.

    ``constants`` supplies the data of elided constants, keyed by value name or content hash.
    Raises :class:`~graphopt.errors.ParseError` with line, column and what was expected.
    """
    with gc_paused():
        return _Parser(text, constants or {}).parse_all()


def _kind(tok: str) -> str:
    """name, str, word, type, int, float, elided, punct, eof or bad."""
    if not tok:
        return "eof"
    c = tok[0]
    if c in _WORD_START:
        return "type" if tok[-1] == "]" else "word"
    if c == "%":
        return "name" if len(tok) > 1 else "bad"
    if c in _DIGITS or (c in "-." and len(tok) > 1):
        return "float" if "." in tok or "e" in tok or "E" in tok or "n" in tok else "int"
    if c == '"':
        return "str" if len(tok) > 1 else "bad"
    if tok.startswith("<elided"):
        return "elided"
    return "punct" if tok in _PUNCT else "bad"


def _describe(tok: str) -> str:
    if not tok:
        return "the end of the text"
    return repr(tok if len(tok) <= 40 else tok[:37] + "...")


class _Parser:
    def __init__(self, text: str, constants: Mapping[str, np.ndarray | Tensor]) -> None:
        self.text = text
        self.toks: list[str] = _TOKEN.findall(text)
        self.i = 0
        self.constants = constants
        self.scopes: list[dict[str, Value]] = []
        self.types: dict[str, TensorType] = {}

    # -- tokens and errors -------------------------------------------------------------
    def advance(self) -> str:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def accept(self, tok: str) -> bool:
        if self.toks[self.i] == tok:
            self.i += 1
            return True
        return False

    def expect(self, tok: str, what: str) -> None:
        if self.toks[self.i] != tok:
            raise self.unexpected(what)
        self.i += 1

    def comma_list(self, close: str, item: Callable[[], _T], what: str) -> list[_T]:
        """Items separated by commas up to ``close`` (a trailing comma is allowed); consumes ``close``."""
        items = []
        toks = self.toks
        while toks[self.i] != close:
            items.append(item())
            if toks[self.i] != ",":
                self.expect(close, f"',' or {close!r} after {what}")
                return items
            self.i += 1
        self.i += 1
        return items

    def unexpected(self, what: str, index: int | None = None) -> ParseError:
        index = self.i if index is None else index
        tok = self.toks[index]
        return self.error(index, f"expected {what}, found {_describe(tok)}{self.hint(index)}")

    def hint(self, index: int) -> str:
        tok, before = self.toks[index], self.toks[index - 1] if index else ""
        if before[:1] == "%" and ":" in before:
            return f" (names may contain ':'; for a type write '{before.split(':')[0]}: ...' with a space)"
        if _kind(tok) == "type" and tok[:tok.index("[")] in ("const", *KIND_WORDS):
            return " (write a space before '[')"
        if tok in _DTYPE_SHORTS and self.toks[index + 1] == "[":
            return " (write a type without a space before '[')"
        return ""

    def error(self, index: int, message: str) -> ParseError:
        pos = len(self.text)
        for k, m in enumerate(_TOKEN.finditer(self.text)):
            if k == index:
                pos = m.start(1)
                break
        line = self.text.count("\n", 0, pos) + 1
        start = self.text.rfind("\n", 0, pos) + 1
        end = self.text.find("\n", pos)
        source = self.text[start:end if end >= 0 else len(self.text)]
        return ParseError(f"line {line}, column {pos - start + 1}: {message}\n  {source}\n  {' ' * (pos - start)}^")

    def unquote(self, literal: str, index: int) -> str:
        """The text of a JSON string literal found in token ``index``."""
        try:
            return str(json.loads(literal))
        except json.JSONDecodeError as e:
            raise self.error(index, f"bad string {literal}: {e.msg}") from None

    # -- names -------------------------------------------------------------------------
    def word(self, what: str) -> str:
        """An identifier or a JSON string (op, domain, graph and attribute names)."""
        tok = self.advance()
        if tok[:1] in _WORD_START and tok[-1] != "]":
            return tok
        if _kind(tok) == "str":
            return self.unquote(tok, self.i - 1)
        raise self.unexpected(what, self.i - 1)

    def value_name(self, what: str) -> str:
        tok = self.advance()
        if tok[:1] != "%" or len(tok) == 1:
            raise self.unexpected(what, self.i - 1)
        return self.unquote(tok[1:], self.i - 1) if tok[1] == '"' else tok[1:]

    def define(self, index: int, value: Value) -> None:
        scope = self.scopes[-1]
        name = value.name
        assert name is not None
        if name in scope:
            raise self.error(index, f"%{name} is already defined in this graph")
        scope[name] = value

    def ref(self) -> Value:
        name = self.value_name("a value like %x")
        v = self.scopes[-1].get(name)
        if v is not None:
            return v
        for scope in reversed(self.scopes[:-1]):
            v = scope.get(name)
            if v is not None:
                return v
        raise self.error(self.i - 1, f"%{name} is not defined here (values must be defined before use)")

    def arg(self) -> Value | None:
        if self.toks[self.i] == "_":
            self.i += 1
            return None
        if self.toks[self.i][:1] != "%":
            raise self.unexpected("an input value like %x or _ for an omitted one")
        return self.ref()

    # -- graphs and statements ---------------------------------------------------------
    def parse_all(self) -> Graph:
        graph = self.graph()
        self.expect("", "the end of the text after the graph")
        return graph

    def graph(self) -> Graph:
        self.expect("graph", "'graph NAME(inputs) { ... }'")
        graph = Graph(name=self.word("a graph name"))
        self.scopes.append({})
        self.expect("(", "'(' to open the graph's inputs")
        graph.inputs = self.comma_list(")", lambda: self.graph_input(graph), "a graph input")
        self.expect("{", "'{' to open the graph's body")
        while self.toks[self.i] != "return":
            self.statement(graph)
        self.i += 1
        outputs: list[tuple[Value, str | None]] = []
        if self.toks[self.i] != "}":
            outputs.append(self.graph_output())
            while self.accept(","):
                outputs.append(self.graph_output())
        self.expect("}", "',' or '}' after the returned values")
        self.scopes.pop()
        graph.outputs = [v for v, _ in outputs]
        for i, (v, name) in enumerate(outputs):
            if name is not None:
                graph.set_output(i, v, name)
        return graph

    def graph_input(self, graph: Graph) -> Value:
        index = self.i
        name = self.value_name("a graph input like %x: f32[N]")
        t = self.type() if self.accept(":") else None
        value = Value(t, name)
        if self.accept("="):  # an overridable default
            self.accept("const")
            default = self.tensor(t, name, index)
            graph.input_defaults[value] = default
            value.type = TensorType(default.dtype, default.shape) if t is None else t
        self.define(index, value)
        return value

    def graph_output(self) -> tuple[Value, str | None]:
        value = self.ref()
        if not self.accept("as"):
            return value, None
        if _kind(self.toks[self.i]) != "str":
            raise self.unexpected('a quoted output name like "logits"')
        return value, self.unquote(self.advance(), self.i - 1)

    def statement(self, graph: Graph) -> None:
        tok = self.toks[self.i]
        if tok[:1] != "%" and tok != "_":
            if _kind(tok) not in ("word", "str"):
                raise self.unexpected("a node, a constant or 'return'")
            self.node(graph, [])
            return
        outs = [self.output()]
        while self.accept(","):
            outs.append(self.output())
        self.expect("=", "'=' after the defined values")
        if self.accept("const"):
            self.constant(graph, outs)
        else:
            self.node(graph, outs)

    def output(self) -> tuple[int, Value] | None:
        if self.accept("_"):
            return None
        index = self.i
        name = self.value_name("a value like %y or _ for an omitted output")
        return index, Value(self.type() if self.accept(":") else None, name)

    def constant(self, graph: Graph, outs: list[tuple[int, Value] | None]) -> None:
        first = outs[0]
        if len(outs) != 1 or first is None:
            raise self.error(self.i - 1, "a constant defines exactly one value")
        index, placeholder = first
        value = graph.add_constant(self.tensor(placeholder.type, placeholder.name, index), placeholder.name)
        self.define(index, value)

    def node(self, graph: Graph, outs: list[tuple[int, Value] | None]) -> None:
        domain, op = "", self.word("an op name")
        if self.accept("::"):
            domain, op = op, self.word("an op name after '::'")
        self.expect("(", f"'(' after {op}")
        inputs = self.comma_list(")", self.arg, "an input")
        attrs = self.attributes(domain, op) if self.accept("{") else {}
        node = Node(op, inputs, attrs, domain=domain, outputs=[None if o is None else o[1] for o in outs])
        graph.append(node)
        for o in outs:
            if o is not None:
                self.define(*o)

    # -- attributes --------------------------------------------------------------------
    def attributes(self, domain: str, op: str) -> dict[str, Attr]:
        schema = registry.lookup(domain, op)
        attrs: dict[str, Attr] = {}
        while not self.accept("}"):
            index = self.i
            name = self.word("an attribute name")
            if name in attrs:
                raise self.error(index, f"attribute {name!r} is given twice")
            self.expect("=", f"'=' after attribute {name!r}")
            spec = schema.attrs.get(name) if schema is not None else None
            attrs[name] = self.attr_value(spec.kind if spec is not None else None, f"attribute {name!r} of {op}")
            if not self.accept(","):
                self.expect("}", "',' or '}' after an attribute")
                break
        return attrs

    def attr_value(self, expected: AttrKind | None, what: str) -> Attr:
        tok = self.toks[self.i]
        kind = KIND_WORDS.get(tok)
        if kind is not None:
            self.i += 1
            return Attr.make(self.literal(kind, what), kind)
        if tok == "tensor":
            return Attr(AttrKind.TENSOR, self.tensor_attr())
        if tok == "graph":
            return Attr(AttrKind.GRAPH, self.graph())
        if tok == "type":
            self.i += 1
            return Attr(AttrKind.TYPE_PROTO, self.type())
        if expected == AttrKind.TYPE_PROTO:
            return Attr(AttrKind.TYPE_PROTO, self.type())
        if expected in _LITERAL_KINDS:
            return Attr.make(self.literal(expected, what), expected)
        kind, value = self.inferred_literal(what)
        return Attr.make(value, kind)

    def literal(self, kind: AttrKind, what: str) -> Any:
        """A literal of a scalar or list kind (INT, FLOAT, STRING, their lists, TENSORS, GRAPHS)."""
        if kind == AttrKind.TENSORS:
            self.expect("[", f"'[' to open {what}")
            return self.comma_list("]", self.tensor_attr, "a tensor")
        if kind == AttrKind.GRAPHS:
            self.expect("[", f"'[' to open {what}")
            return self.comma_list("]", self.graph, "a graph")
        item = _SCALAR_KINDS.get(kind)
        if item is not None:
            self.expect("[", f"a list for {what}")
            return self.comma_list("]", lambda: self.scalar(item, what), "a list item")
        return self.scalar(kind, what)

    def scalar(self, kind: AttrKind, what: str) -> Any:
        self.i += 1
        if kind == AttrKind.STRING:
            tok = self.toks[self.i - 1]
            if _kind(tok) != "str":
                raise self.unexpected(f"a string for {what}", self.i - 1)
            return self.unquote(tok, self.i - 1)
        return self.number(self.i - 1, kind, what)

    def number(self, index: int, kind: AttrKind, what: str) -> int | float:
        tok = self.toks[index]
        tok_kind = _kind(tok)
        if kind == AttrKind.INT and tok_kind == "int":
            return int(tok)
        if kind == AttrKind.FLOAT and (tok_kind in ("int", "float") or tok in _FLOAT_WORDS):
            value = float(tok)
            with np.errstate(over="ignore"):
                overflows = math.isfinite(value) and math.isinf(np.float32(value))
            if overflows:
                raise self.error(index, f"{tok} is out of the float32 range of {what}")
            return value
        raise self.unexpected(f"{'an' if kind == AttrKind.INT else 'a'} {kind.name.lower()} for {what}", index)

    def inferred_literal(self, what: str) -> tuple[AttrKind, Any]:
        tok = self.toks[self.i]
        if tok == "[":
            first = self.toks[self.i + 1]
            if first in ("tensor", "graph"):
                kind = AttrKind.TENSORS if first == "tensor" else AttrKind.GRAPHS
                return kind, self.literal(kind, what)
            if _kind(first) == "str":
                return AttrKind.STRINGS, self.literal(AttrKind.STRINGS, what)
            self.i += 1
            items = self.comma_list("]", self.skip, "a list item")
            kind = AttrKind.INTS if all(_kind(self.toks[j]) == "int" for j in items) else AttrKind.FLOATS
            return kind, [self.number(j, _SCALAR_KINDS[kind], what) for j in items]
        tok_kind = _kind(tok)
        if tok_kind == "int":
            return AttrKind.INT, self.scalar(AttrKind.INT, what)
        if tok_kind == "str":
            return AttrKind.STRING, self.scalar(AttrKind.STRING, what)
        if tok_kind == "float" or tok in _FLOAT_WORDS:
            return AttrKind.FLOAT, self.scalar(AttrKind.FLOAT, what)
        raise self.unexpected(f"a value for {what}")

    def skip(self) -> int:
        """Step over one token (not the end of the text); return its index."""
        if not self.toks[self.i]:
            raise self.unexpected("a value")
        self.i += 1
        return self.i - 1

    def tensor_attr(self) -> Tensor:
        index = self.i
        self.expect("tensor", "a tensor literal like 'tensor f32[2] [1.0, 2.0]'")
        return self.tensor(self.type(), None, index)

    # -- types -------------------------------------------------------------------------
    def type(self) -> Type:
        tok = self.advance()
        t = self.types.get(tok)
        if t is not None:
            return t
        if tok == "?":
            return None
        if tok in ("seq", "opt"):
            self.expect("<", f"'<' after {tok}")
            elem = self.type()
            self.expect(">", f"'>' to close {tok}<...>")
            return SequenceType(elem) if tok == "seq" else OptionalType(elem)
        if _kind(tok) == "type":
            if tok[:tok.index("[")] not in _DTYPE_SHORTS:
                raise self.error(self.i - 1, f"unknown dtype {tok[:tok.index('[')]!r}; the dtypes are "
                                             f"{', '.join(d.short for d in DType)}")
            t = self.types[tok] = self.tensor_type(tok, self.i - 1)
            return t
        raise self.unexpected("a type like f32[N,3], i64[*], seq<...>, opt<...> or ?", self.i - 1)

    def tensor_type(self, tok: str, index: int) -> TensorType:
        open_at = tok.index("[")
        dtype = DType.from_short(tok[:open_at])
        inner = tok[open_at + 1:-1]
        if inner.strip() == "*":
            return TensorType(dtype, None)
        dims: list[Dim] = []
        pos = 0
        while pos < len(inner) and inner[pos:].strip():
            m = _DIM.match(inner, pos)
            if m is None:
                raise self.error(index, f"expected dims (integers, symbols or ?) in {tok}")
            if m["int"] is not None:
                dims.append(int(m["int"]))
            elif m["str"] is not None:
                dims.append(self.unquote(m["str"], index))
            else:
                dims.append(m["sym"])  # None for '?'
            pos = m.end()
        return TensorType(dtype, tuple(dims))

    # -- tensor data -------------------------------------------------------------------
    def tensor(self, declared: Type, name: str | None, where: int) -> Tensor:
        """Tensor data (a literal or ``<elided HASH>``) for a value declared with type ``declared``."""
        label = f"%{name}" if name else "the tensor"
        if declared is not None and not (isinstance(declared, TensorType) and declared.is_static):
            raise self.error(where, f"{label} holds data, so its type must be a tensor type with static dims, "
                                    f"not {declared}")
        start = self.i
        if _kind(self.toks[start]) == "elided":
            self.i += 1
            if declared is None:
                raise self.error(start, f"elided data needs a type: write {label}: DTYPE[dims] = ...")
            return self.elided(declared, name, start)
        items: list[_Item] = []
        nested_shape = self.data(items)
        if declared is None:
            if nested_shape is None:
                raise self.error(start, f"the data of {label} is ragged; give it a type")
            declared = TensorType(self.infer_dtype(items, start, label), nested_shape)
        shape = tuple(d for d in declared.shape or () if isinstance(d, int))  # all static: checked above
        count = int(np.prod(shape, dtype=np.int64))
        if len(items) != count:
            raise self.error(start, f"{label} has type {declared}, so it needs {count} values; the data has "
                                    f"{len(items)}")
        array = self.array(items, declared.dtype, label).reshape(shape)
        return ArrayTensor(array, declared.dtype)

    def data(self, items: list[_Item]) -> tuple[int, ...] | None:
        """Collect the element token indices of a (nested) literal; return its shape, or None when ragged."""
        tok = self.advance()
        if tok == "[":
            shapes = self.comma_list("]", lambda: self.data(items), "a value")
            first = shapes[0] if shapes else ()
            if first is None or any(s != first for s in shapes):
                return None
            return (len(shapes), *first)
        if tok == "(":
            real = self.skip()
            self.expect(",", "',' between the real and imaginary parts")
            imag = self.skip()
            self.expect(")", "')' to close a complex number")
            items.append((real, imag))
            return ()
        if _kind(tok) in ("int", "float", "str", "word"):
            items.append(self.i - 1)
            return ()
        raise self.unexpected("a value or '['", self.i - 1)

    def infer_dtype(self, items: list[_Item], where: int, label: str) -> DType:
        if not items:
            raise self.error(where, f"{label} is empty; give it a type")
        kinds = {"complex" if isinstance(t, tuple) else "float" if self.toks[t] in _FLOAT_WORDS
                 else _kind(self.toks[t]) for t in items}
        inferred = {frozenset({"word"}): DType.BOOL, frozenset({"str"}): DType.STRING,
                    frozenset({"int"}): DType.INT64, frozenset({"float"}): DType.FLOAT,
                    frozenset({"int", "float"}): DType.FLOAT}.get(frozenset(kinds))
        if inferred is None:
            raise self.error(where, f"cannot tell the dtype of {label} from its data; give it a type")
        return inferred

    def array(self, items: list[_Item], dtype: DType, label: str) -> np.ndarray:
        if dtype == DType.STRING:
            return np.array([self.string_item(t, label) for t in items], dtype=object)
        if dtype == DType.BOOL:
            return np.array([self.bool_item(t, label) for t in items], dtype=np.bool_)
        if dtype in (DType.COMPLEX64, DType.COMPLEX128):
            return np.array([self.complex_item(t, label) for t in items], dtype=dtype.numpy)
        if dtype.is_float:
            wide = np.array([self.float_item(t, label) for t in items], dtype=np.float64)
            with np.errstate(over="ignore"):
                narrow = wide.astype(dtype.numpy)
            overflow = np.isfinite(wide) & ~np.isfinite(narrow.astype(np.float64))
            if overflow.any():
                item = items[int(np.argmax(overflow))]
                raise self.error(item if isinstance(item, int) else item[0],
                                 f"{wide[overflow][0]} is out of the {dtype.short} range of {label}")
            return narrow
        if dtype.is_integer:
            info = ml_dtypes.iinfo(dtype.numpy)
            values = [self.int_item(t, label, int(info.min), int(info.max)) for t in items]
            return np.array(values, dtype=dtype.numpy)
        raise self.error(self.i - 1, f"{label}: {dtype.short} data cannot be written in text")

    def item_token(self, item: _Item, label: str, expected: str) -> tuple[int, str]:
        if isinstance(item, tuple):
            raise self.error(item[0], f"{label} holds {expected}, not complex numbers")
        return item, self.toks[item]

    def float_item(self, item: _Item, label: str) -> float:
        index, tok = self.item_token(item, label, "real numbers")
        if _kind(tok) in ("int", "float") or tok in _FLOAT_WORDS:
            return float(tok)
        raise self.error(index, f"{label} holds real numbers, not {_describe(tok)}")

    def int_item(self, item: _Item, label: str, low: int, high: int) -> int:
        index, tok = self.item_token(item, label, "integers")
        if _kind(tok) != "int":
            raise self.error(index, f"{label} holds integers, not {_describe(tok)}")
        value = int(tok)
        if not low <= value <= high:
            raise self.error(index, f"{value} is out of range for {label} ({low} to {high})")
        return value

    def bool_item(self, item: _Item, label: str) -> bool:
        index, tok = self.item_token(item, label, "booleans")
        if tok not in _BOOL_WORDS:
            raise self.error(index, f"{label} holds booleans (true or false), not {_describe(tok)}")
        return _BOOL_WORDS[tok]

    def string_item(self, item: _Item, label: str) -> str:
        index, tok = self.item_token(item, label, "strings")
        if _kind(tok) != "str":
            raise self.error(index, f"{label} holds strings, not {_describe(tok)}")
        return self.unquote(tok, index)

    def complex_item(self, item: _Item, label: str) -> complex:
        if isinstance(item, tuple):
            return complex(self.float_item(item[0], label), self.float_item(item[1], label))
        return complex(self.float_item(item, label))

    def elided(self, declared: TensorType, name: str | None, index: int) -> Tensor:
        digest = self.toks[index][len("<elided"):-1].strip() or None
        shape = tuple(d for d in declared.shape or () if isinstance(d, int))
        supplied = self.constants.get(name) if name else None
        if supplied is None and digest is not None:
            supplied = self.constants.get(digest)
        if supplied is None:
            return ElidedTensor(declared.dtype, shape, digest)
        label = f"%{name}" if name else f"the tensor <elided {digest}>"
        tensor = supplied if isinstance(supplied, Tensor) else ArrayTensor(np.asarray(supplied))
        if tensor.shape != shape:
            raise self.error(index, f"the data supplied for {label} has shape {list(tensor.shape)}, "
                                    f"the text says {list(shape)}")
        if tensor.dtype != declared.dtype:
            tensor = ArrayTensor(tensor.numpy().astype(declared.dtype.numpy), declared.dtype)
        if digest is not None and tensor.content_hash != digest:
            raise self.error(index, f"the data supplied for {label} has hash {tensor.content_hash}, the text "
                                    f"says {digest}; write <elided> without a hash to accept any data")
        return tensor

