"""The converters' shared helpers: torch's type promotion and torch dtype codes."""

from __future__ import annotations

import pytest
import torch

from graphopt.frontends.aten.common import result_dtype, to_dtype
from graphopt.ir.core import Value
from graphopt.ir.dtypes import DType
from graphopt.ir.types import TensorType

DTYPES = (torch.bool, torch.uint8, torch.int8, torch.int32, torch.int64, torch.float16, torch.bfloat16,
          torch.float32, torch.float64)
SCALARS = (True, 3, 2.5)


def operand(x: torch.Tensor | bool | int | float) -> Value | bool | int | float:
    if isinstance(x, torch.Tensor):
        return Value(TensorType(to_dtype(x.dtype), tuple(x.shape)))
    return x


def tensors() -> list[torch.Tensor]:
    return [torch.zeros((2,) * rank, dtype=dt) for dt in DTYPES for rank in (0, 1)]


@pytest.mark.parametrize("a", tensors(), ids=lambda t: f"{t.dtype}-{t.dim()}d")
def test_promotion_matches_torch_result_type(a: torch.Tensor) -> None:
    for b in [*tensors(), *SCALARS]:
        expected = torch.result_type(a, b)
        assert result_dtype(operand(a), operand(b)) == to_dtype(expected), (a.dtype, a.dim(), b)


def test_scalar_type_codes_and_dtype_objects_agree() -> None:
    codes = {0: torch.uint8, 1: torch.int8, 2: torch.int16, 3: torch.int32, 4: torch.int64, 5: torch.float16,
             6: torch.float32, 7: torch.float64, 11: torch.bool, 15: torch.bfloat16}
    for code, dtype in codes.items():
        assert to_dtype(code) == to_dtype(dtype)
    assert to_dtype(torch.float32) == DType.FLOAT
