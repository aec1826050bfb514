"""graphopt's IR: values, nodes, graphs, the op registry, text form, verifier and interpreter."""

from graphopt.ir import ops as _ops  # noqa: F401  (registers kernels and inference)
from graphopt.ir.attributes import Attr, AttrKind
from graphopt.ir.core import Graph, Node, Provenance, Use, Value
from graphopt.ir.dtypes import DType
from graphopt.ir.equality import graph_difference, graphs_equal
from graphopt.ir.inference import infer_node, infer_shapes
from graphopt.ir.interpreter import evaluate
from graphopt.ir.parser import parse
from graphopt.ir.printer import print_graph
from graphopt.ir.registry import CANONICAL_OPSET, GRAPHOPT_DOMAIN
from graphopt.ir.tensor import ArrayTensor, ExternalTensor, Tensor
from graphopt.ir.types import Dim, OptionalType, SequenceType, Shape, TensorType, Type

__all__ = [
    "CANONICAL_OPSET", "GRAPHOPT_DOMAIN", "ArrayTensor", "Attr", "AttrKind", "DType", "Dim",
    "ExternalTensor", "Graph", "Node", "OptionalType", "Provenance", "SequenceType", "Shape",
    "Tensor", "TensorType", "Type", "Use", "Value", "evaluate", "graph_difference", "graphs_equal",
    "infer_node", "infer_shapes", "parse", "print_graph",
]
