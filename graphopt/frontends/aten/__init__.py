"""ATen-op converters shared by the torch.export and TorchScript frontends."""

from graphopt.frontends.aten.registry import Lowering, converter, lookup, registered_ops

__all__ = ["Lowering", "converter", "lookup", "registered_ops"]
