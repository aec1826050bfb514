"""ATen-op converters shared by the torch.export and TorchScript frontends.

Importing this package registers every converter family with the table in :mod:`.registry`.
"""

from graphopt.frontends.aten import creation, elementwise, indexing, nn_ops, reduce, shape_ops  # noqa: F401
from graphopt.frontends.aten.registry import Lowering, converter, lookup, registered_ops

__all__ = ["Lowering", "converter", "lookup", "registered_ops"]
