"""Reads the text form that :mod:`graphopt.ir.printer` writes (and that tests are written in) back into a Graph.

A regular-expression tokenizer feeds a recursive-descent parser. Names resolve
lexically: a subgraph sees the values of the graphs around it, and a value must
be defined before it is used. Beyond what the printer emits, the parser accepts
a few conveniences for hand-written text: value types may be left out
(``%y = Relu(%x)``), a constant's type may be left out when its literal says it
(``%s = const [1, -1]`` is ``i64[2]``, ``const 0.5`` is ``f32[]``), ``<elided>``
may omit the hash, and lists may end with a comma.

Elided constant data comes from ``parse(text, constants={key: array})`` where a
key is the value's name or the content hash in the text; without it the
constant is an :class:`~graphopt.ir.printer.ElidedTensor` placeholder that
knows its dtype, shape and hash but raises when its data is needed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

import ml_dtypes
import numpy as np

from graphopt.errors import ParseError
from graphopt.ir import registry
from graphopt.ir.attributes import Attr, AttrKind
from graphopt.ir.core import Graph, Node, Value
from graphopt.ir.dtypes import DType
from graphopt.ir.printer import KIND_WORDS, ElidedTensor
from graphopt.ir.tensor import ArrayTensor, Tensor
from graphopt.ir.types import Dim, OptionalType, SequenceType, TensorType, Type

_DTYPE_NAMES = "|".join(sorted((d.short for d in DType), key=len, reverse=True))
_TOKEN = re.compile(rf"""
    (?:[ \t\r\n]+|\#[^\n]*)*                                   # whitespace and comments
    (?:
      (?P<name>%(?:"(?:[^"\\\n]|\\.)*"|[A-Za-z0-9_.:/\-]*[A-Za-z0-9_./\-]))
    | (?P<type>(?:{_DTYPE_NAMES})[ \t]*\[(?:[^\[\]"\n]|"(?:[^"\\\n]|\\.)*")*\])
    | (?P<elided><elided(?:[ \t]+[0-9A-Za-z]+)?>)
    | (?P<float>-?(?:\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)|-inf\b)
    | (?P<int>-?\d+)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
    | (?P<str>"(?:[^"\\\n]|\\.)*")
    | (?P<punct>::|[()\[\]{{}}<>,=:?*])
    | (?P<eof>\Z)
    | (?P<bad>.)
    )""", re.VERBOSE | re.DOTALL)
_DIM = re.compile(r"""[ \t]*
    (?:(?P<int>-?\d+) | (?P<unknown>\?) | (?P<str>"(?:[^"\\]|\\.)*") | (?P<sym>[A-Za-z_][A-Za-z0-9_.]*))
    [ \t]*(?:,|$)""", re.VERBOSE)

_FLOAT_WORDS = {"inf": float("inf"), "nan": float("nan")}
_BOOL_WORDS = {"true": True, "false": False}
_SCALAR_KINDS = {AttrKind.INTS: AttrKind.INT, AttrKind.FLOATS: AttrKind.FLOAT, AttrKind.STRINGS: AttrKind.STRING}


class _Tok(NamedTuple):
    kind: str  # a group name of _TOKEN, or the punctuation itself
    text: str
    pos: int


_Item = _Tok | tuple[_Tok, _Tok]
"""One element of a data literal: a token, or the (real, imaginary) tokens of a complex number."""


def parse(text: str, constants: Mapping[str, np.ndarray | Tensor] | None = None) -> Graph:
    """Parse one ``graph NAME(...) { ... }`` block into a new Graph.

    ``constants`` supplies the data of elided constants, keyed by value name or content hash.
    Raises :class:`~graphopt.errors.ParseError` with line, column and what was expected.
    """
    return _Parser(text, constants or {}).parse_all()


def _tokenize(text: str) -> list[_Tok]:
    toks = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        assert kind is not None
        start = m.start(kind)
        if kind == "bad":
            raise _error(text, start, f"unexpected character {text[start]!r}")
        value = m.group(kind)
        toks.append(_Tok(value if kind == "punct" else kind, value, start))
        if kind == "eof":
            break
    return toks


def _error(text: str, pos: int, message: str) -> ParseError:
    line = text.count("\n", 0, pos) + 1
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    source = text[start:end if end >= 0 else len(text)]
    return ParseError(f"line {line}, column {pos - start + 1}: {message}\n  {source}\n  {' ' * (pos - start)}^")


def _describe(tok: _Tok) -> str:
    if tok.kind == "eof":
        return "the end of the text"
    return repr(tok.text if len(tok.text) <= 40 else tok.text[:37] + "...")


class _Parser:
    def __init__(self, text: str, constants: Mapping[str, np.ndarray | Tensor]) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.constants = constants
        self.scopes: list[dict[str, Value]] = []
        self.types: dict[str, TensorType] = {}

    # -- token helpers -----------------------------------------------------------------
    def peek(self) -> _Tok:
        return self.toks[self.i]

    def advance(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def accept(self, kind: str) -> bool:
        if self.toks[self.i].kind == kind:
            self.i += 1
            return True
        return False

    def expect(self, kind: str, what: str) -> _Tok:
        tok = self.toks[self.i]
        if tok.kind != kind:
            raise self.unexpected(tok, what)
        self.i += 1
        return tok

    def at_word(self, word: str) -> bool:
        tok = self.toks[self.i]
        return tok.kind == "ident" and tok.text == word

    def expect_word(self, word: str, what: str) -> None:
        if not self.at_word(word):
            raise self.unexpected(self.peek(), what)
        self.i += 1

    def unexpected(self, tok: _Tok, what: str) -> ParseError:
        hint = ""
        before = self.toks[self.i - 1] if self.i else tok
        if before.kind == "name" and ":" in before.text:
            hint = f" (names may contain ':'; did you mean '{before.text.split(':')[0]}: ...' with a space?)"
        return _error(self.text, tok.pos, f"expected {what}, found {_describe(tok)}{hint}")

    def error(self, tok: _Tok, message: str) -> ParseError:
        return _error(self.text, tok.pos, message)

    def comma_list(self, close: str, item: Any, what: str) -> list[Any]:
        """Items separated by commas up to ``close`` (a trailing comma is allowed); consumes ``close``."""
        items = []
        while not self.accept(close):
            items.append(item())
            if not self.accept(","):
                self.expect(close, f"',' or {close!r} after {what}")
                break
        return items

    # -- names -------------------------------------------------------------------------
    @staticmethod
    def name_of(tok: _Tok) -> str:
        return json.loads(tok.text[1:]) if tok.text.startswith('%"') else tok.text[1:]

    def word(self, what: str) -> str:
        """An identifier or a JSON string (op, domain, graph and attribute names)."""
        tok = self.advance()
        if tok.kind == "ident":
            return tok.text
        if tok.kind == "str":
            return json.loads(tok.text)
        raise self.unexpected(tok, what)

    def define(self, tok: _Tok, value: Value) -> None:
        scope = self.scopes[-1]
        name = self.name_of(tok)
        if name in scope:
            raise self.error(tok, f"%{name} is already defined in this graph")
        scope[name] = value

    def ref(self) -> Value:
        tok = self.expect("name", "a value like %x")
        name = self.name_of(tok)
        for scope in reversed(self.scopes):
            v = scope.get(name)
            if v is not None:
                return v
        raise self.error(tok, f"%{name} is not defined here (values must be defined before use)")

    def arg(self) -> Value | None:
        tok = self.peek()
        if tok.kind == "ident" and tok.text == "_":
            self.i += 1
            return None
        if tok.kind != "name":
            raise self.unexpected(tok, "an input value like %x or _ for an omitted one")
        return self.ref()

    # -- graphs and statements ---------------------------------------------------------
    def parse_all(self) -> Graph:
        graph = self.graph()
        self.expect("eof", "the end of the text after the graph")
        return graph

    def graph(self) -> Graph:
        self.expect_word("graph", "'graph NAME(inputs) { ... }'")
        graph = Graph(name=self.word("a graph name"))
        self.scopes.append({})
        self.expect("(", "'(' to open the graph's inputs")
        graph.inputs = self.comma_list(")", self.graph_input, "a graph input")
        self.expect("{", "'{' to open the graph's body")
        while not self.at_word("return"):
            self.statement(graph)
        self.advance()
        outputs: list[tuple[Value, str | None]] = []
        if self.peek().kind != "}":
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

    def graph_input(self) -> Value:
        tok = self.expect("name", "a graph input like %x: f32[N]")
        t = self.type() if self.accept(":") else None
        value = Value(t, self.name_of(tok))
        if self.accept("="):
            self.accept_word("const")
            value.const = self.tensor(t, value.name, tok)
            value.type = TensorType(value.const.dtype, value.const.shape) if t is None else t
        self.define(tok, value)
        return value

    def accept_word(self, word: str) -> bool:
        if self.at_word(word):
            self.i += 1
            return True
        return False

    def graph_output(self) -> tuple[Value, str | None]:
        value = self.ref()
        if self.accept_word("as"):
            return value, json.loads(self.expect("str", 'a quoted output name like "logits"').text)
        return value, None

    def statement(self, graph: Graph) -> None:
        tok = self.peek()
        if tok.kind in ("ident", "str") and tok.text != "_":
            self.node(graph, [])
            return
        if tok.kind != "name" and tok.kind != "ident":
            raise self.unexpected(tok, "a node, a constant or 'return'")
        outs = [self.output()]
        while self.accept(","):
            outs.append(self.output())
        self.expect("=", "'=' after the defined values")
        if self.accept_word("const"):
            self.constant(graph, outs)
        else:
            self.node(graph, outs)

    def output(self) -> tuple[_Tok, Value] | None:
        tok = self.advance()
        if tok.kind == "ident" and tok.text == "_":
            return None
        if tok.kind != "name":
            raise self.unexpected(tok, "a value like %y or _ for an omitted output")
        t = self.type() if self.accept(":") else None
        return tok, Value(t, self.name_of(tok))

    def constant(self, graph: Graph, outs: list[tuple[_Tok, Value] | None]) -> None:
        first = outs[0]
        if len(outs) != 1 or first is None:
            raise self.error(self.toks[self.i - 1], "a constant defines exactly one value")
        tok, placeholder = first
        value = graph.add_constant(self.tensor(placeholder.type, placeholder.name, tok), placeholder.name)
        self.define(tok, value)

    def node(self, graph: Graph, outs: list[tuple[_Tok, Value] | None]) -> None:
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
            tok = self.peek()
            name = self.word("an attribute name")
            if name in attrs:
                raise self.error(tok, f"attribute {name!r} is given twice")
            self.expect("=", f"'=' after attribute {name!r}")
            spec = schema.attrs.get(name) if schema is not None else None
            attrs[name] = self.attr_value(spec.kind if spec is not None else None, f"attribute {name!r} of {op}")
            if not self.accept(","):
                self.expect("}", "',' or '}' after an attribute")
                break
        return attrs

    def attr_value(self, expected: AttrKind | None, what: str) -> Attr:
        tok = self.peek()
        if tok.kind == "ident":
            if tok.text in KIND_WORDS:
                self.i += 1
                return Attr.make(self.literal(KIND_WORDS[tok.text], what), KIND_WORDS[tok.text])
            if tok.text == "tensor":
                return Attr(AttrKind.TENSOR, self.tensor_attr())
            if tok.text == "graph":
                return Attr(AttrKind.GRAPH, self.graph())
            if tok.text == "type":
                self.i += 1
                return Attr(AttrKind.TYPE_PROTO, self.type())
        if expected in (AttrKind.INT, AttrKind.FLOAT, AttrKind.STRING, *_SCALAR_KINDS):
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
        tok = self.advance()
        if kind == AttrKind.STRING and tok.kind == "str":
            return json.loads(tok.text)
        return self.number(tok, kind, what)

    def number(self, tok: _Tok, kind: AttrKind, what: str) -> int | float:
        if kind == AttrKind.INT and tok.kind == "int":
            return int(tok.text)
        if kind == AttrKind.FLOAT and tok.kind in ("int", "float"):
            return float(tok.text)
        if kind == AttrKind.FLOAT and tok.kind == "ident" and tok.text in _FLOAT_WORDS:
            return _FLOAT_WORDS[tok.text]
        raise self.unexpected(tok, f"{'an' if kind == AttrKind.INT else 'a'} {kind.name.lower()} for {what}")

    def inferred_literal(self, what: str) -> tuple[AttrKind, Any]:
        tok = self.peek()
        if tok.kind == "[":
            first = self.toks[self.i + 1]
            if first.kind == "ident" and first.text in ("tensor", "graph"):
                kind = AttrKind.TENSORS if first.text == "tensor" else AttrKind.GRAPHS
                return kind, self.literal(kind, what)
            if first.kind == "str":
                return AttrKind.STRINGS, self.literal(AttrKind.STRINGS, what)
            self.advance()
            items = self.comma_list("]", self.advance, "a list item")
            kind = AttrKind.INTS if all(t.kind == "int" for t in items) else AttrKind.FLOATS
            scalar = _SCALAR_KINDS[kind]
            return kind, [self.number(t, scalar, what) for t in items]
        if tok.kind == "int":
            return AttrKind.INT, self.scalar(AttrKind.INT, what)
        if tok.kind == "str":
            return AttrKind.STRING, self.scalar(AttrKind.STRING, what)
        if tok.kind == "float" or (tok.kind == "ident" and tok.text in _FLOAT_WORDS):
            return AttrKind.FLOAT, self.scalar(AttrKind.FLOAT, what)
        raise self.unexpected(tok, f"a value for {what}")

    def tensor_attr(self) -> Tensor:
        tok = self.peek()
        self.expect_word("tensor", "a tensor literal like 'tensor f32[2] [1.0, 2.0]'")
        return self.tensor(self.type(), None, tok)

    # -- types -------------------------------------------------------------------------
    def type(self) -> Type:
        tok = self.advance()
        if tok.kind == "type":
            t = self.types.get(tok.text)
            if t is None:
                t = self.types[tok.text] = self.tensor_type(tok)
            return t
        if tok.kind == "?":
            return None
        if tok.kind == "ident" and tok.text in ("seq", "opt"):
            self.expect("<", f"'<' after {tok.text}")
            elem = self.type()
            self.expect(">", f"'>' to close {tok.text}<...>")
            return SequenceType(elem) if tok.text == "seq" else OptionalType(elem)
        raise self.unexpected(tok, "a type like f32[N,3], i64[*], seq<...>, opt<...> or ?")

    def tensor_type(self, tok: _Tok) -> TensorType:
        text = tok.text
        open_at = text.index("[")
        dtype = DType.from_short(text[:open_at].rstrip())
        inner = text[open_at + 1:-1]
        if inner.strip() == "*":
            return TensorType(dtype, None)
        dims: list[Dim] = []
        pos = 0
        while inner[pos:].strip():
            m = _DIM.match(inner, pos)
            if m is None:
                raise _error(self.text, tok.pos + open_at + 1 + pos, "expected a dim: an integer, a symbol or ?")
            if m["int"] is not None:
                dims.append(int(m["int"]))
            elif m["str"] is not None:
                dims.append(json.loads(m["str"]))
            else:
                dims.append(m["sym"])  # None for '?'
            pos = m.end()
        return TensorType(dtype, tuple(dims))

    # -- tensor data -------------------------------------------------------------------
    def tensor(self, declared: Type, name: str | None, where: _Tok) -> Tensor:
        """Tensor data (a literal or ``<elided HASH>``) for a value declared with type ``declared``."""
        label = f"%{name}" if name else "the tensor"
        if declared is not None and not (isinstance(declared, TensorType) and declared.is_static):
            raise self.error(where, f"{label} holds data, so its type must be a tensor with static dims, "
                                    f"not {declared}")
        tok = self.peek()
        if tok.kind == "elided":
            self.i += 1
            if declared is None:
                raise self.error(tok, f"elided data needs a type: write {label}: DTYPE[dims] = ...")
            return self.elided(declared, name, tok)
        items: list[_Item] = []
        nested_shape = self.data(items)
        if declared is None:
            if nested_shape is None:
                raise self.error(tok, f"the data of {label} is ragged; give it a type")
            declared = TensorType(self.infer_dtype(items, tok, label), nested_shape)
        assert declared.shape is not None
        count = int(np.prod(declared.shape, dtype=np.int64))
        if len(items) != count:
            raise self.error(tok, f"{label} has type {declared}, so it needs {count} values; the data has "
                                  f"{len(items)}")
        array = self.array(items, declared.dtype, label).reshape(declared.shape)
        return ArrayTensor(array, declared.dtype)

    def data(self, items: list[_Item]) -> tuple[int, ...] | None:
        """Collect the element tokens of a (nested) literal; return its shape, or None when ragged."""
        tok = self.advance()
        if tok.kind == "[":
            shapes = self.comma_list("]", lambda: self.data(items), "a value")
            first = shapes[0] if shapes else ()
            if first is None or any(s != first for s in shapes):
                return None
            return (len(shapes), *first)
        if tok.kind == "(":
            real = self.advance()
            self.expect(",", "',' between the real and imaginary parts")
            imag = self.advance()
            self.expect(")", "')' to close a complex number")
            items.append((real, imag))
            return ()
        if tok.kind in ("int", "float", "str", "ident"):
            items.append(tok)
            return ()
        raise self.unexpected(tok, "a value or '['")

    def infer_dtype(self, items: list[_Item], where: _Tok, label: str) -> DType:
        kinds = {"complex" if not isinstance(t, _Tok) else "float" if t.text in _FLOAT_WORDS else t.kind for t in items}
        if not items:
            raise self.error(where, f"{label} is empty; give it a type")
        if kinds == {"ident"}:
            return DType.BOOL
        if kinds == {"str"}:
            return DType.STRING
        if kinds == {"int"}:
            return DType.INT64
        if kinds <= {"int", "float"}:
            return DType.FLOAT
        raise self.error(where, f"cannot tell the dtype of {label} from its data; give it a type")

    def array(self, items: list[_Item], dtype: DType, label: str) -> np.ndarray:
        if dtype == DType.STRING:
            return np.array([self.string_item(t, label) for t in items], dtype=object)
        if dtype == DType.BOOL:
            return np.array([self.bool_item(t, label) for t in items], dtype=np.bool_)
        if dtype in (DType.COMPLEX64, DType.COMPLEX128):
            return np.array([self.complex_item(t, label) for t in items], dtype=dtype.numpy)
        if dtype.is_float:
            return np.array([self.float_item(t, label) for t in items], dtype=np.float64).astype(dtype.numpy)
        if dtype.is_integer:
            info = ml_dtypes.iinfo(dtype.numpy)
            values = [self.int_item(t, label, int(info.min), int(info.max)) for t in items]
            return np.array(values, dtype=dtype.numpy)
        raise self.error(self.peek(), f"{label}: {dtype.short} data cannot be written in text")

    def float_item(self, item: _Item, label: str) -> float:
        tok = _first(item)
        if tok is item and tok.kind in ("int", "float"):
            return float(tok.text)
        if tok is item and tok.kind == "ident" and tok.text in _FLOAT_WORDS:
            return _FLOAT_WORDS[tok.text]
        raise self.error(tok, f"{label} holds real numbers, not {_describe(tok)}")

    def int_item(self, item: _Item, label: str, low: int, high: int) -> int:
        tok = _first(item)
        if tok is not item or tok.kind != "int":
            raise self.error(tok, f"{label} holds integers, not {_describe(tok)}")
        value = int(tok.text)
        if not low <= value <= high:
            raise self.error(tok, f"{value} is out of range for {label} ({low} to {high})")
        return value

    def bool_item(self, item: _Item, label: str) -> bool:
        tok = _first(item)
        if tok is item and tok.kind == "ident" and tok.text in _BOOL_WORDS:
            return _BOOL_WORDS[tok.text]
        raise self.error(tok, f"{label} holds booleans (true/false), not {_describe(tok)}")

    def string_item(self, item: _Item, label: str) -> bytes:
        tok = _first(item)
        if tok is not item or tok.kind != "str":
            raise self.error(tok, f"{label} holds strings, not {_describe(tok)}")
        return json.loads(tok.text).encode("utf-8", "surrogateescape")

    def complex_item(self, item: _Item, label: str) -> complex:
        if not isinstance(item, _Tok):
            return complex(self.float_item(item[0], label), self.float_item(item[1], label))
        return complex(self.float_item(item, label))

    def elided(self, declared: TensorType, name: str | None, tok: _Tok) -> Tensor:
        digest = tok.text[len("<elided"):-1].strip() or None
        shape = tuple(int(d) for d in declared.shape)  # type: ignore[arg-type, union-attr]
        supplied = self.constants.get(name) if name else None
        if supplied is None and digest is not None:
            supplied = self.constants.get(digest)
        if supplied is None:
            return ElidedTensor(declared.dtype, shape, digest)
        label = f"%{name}" if name else f"the tensor <elided {digest}>"
        tensor = supplied if isinstance(supplied, Tensor) else ArrayTensor(np.asarray(supplied))
        if tensor.shape != shape:
            raise self.error(tok, f"the data supplied for {label} has shape {list(tensor.shape)}, "
                                  f"the text says {list(shape)}")
        if tensor.dtype != declared.dtype:
            tensor = ArrayTensor(tensor.numpy().astype(declared.dtype.numpy), declared.dtype)
        if digest is not None and tensor.content_hash != digest:
            raise self.error(tok, f"the data supplied for {label} has hash {tensor.content_hash}, the text says "
                                  f"{digest}; write <elided> without a hash to accept any data")
        return tensor


def _first(item: _Item) -> _Tok:
    return item if isinstance(item, _Tok) else item[0]
