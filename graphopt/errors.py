"""graphopt's exception classes. Messages name the node, op, pass or file and say what to do."""

from __future__ import annotations


class GraphoptError(Exception):
    """Base class of every error graphopt raises on purpose."""


class IRError(GraphoptError):
    """An IR mutation that would break the graph (e.g. removing a node whose outputs are used)."""


class VerificationError(GraphoptError):
    """The verifier found the graph malformed; the message names the node and the problem."""


class ParseError(GraphoptError):
    """The text form could not be parsed; the message gives line and column."""


class ModelLoadError(GraphoptError):
    """A model file or proto could not be turned into IR (bad protobuf, cycle, unsafe path …)."""


class EvaluationError(GraphoptError):
    """The reference interpreter could not run a node (no kernel, bad input …)."""


class UnsupportedOpError(GraphoptError):
    """An op has no converter for the requested target; lists every such op at once."""


class ExportError(GraphoptError):
    """The IR could not be emitted in the requested form."""
