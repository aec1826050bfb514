"""Opening ``.pt`` files safely: TorchScript archives load through ``torch.jit.load``, nothing is unpickled.

A TorchScript archive is a zip file whose entries include ``<name>/constants.pkl`` and
``<name>/code/…`` (the module's TorchScript source). A ``torch.save`` checkpoint is a zip (or,
from old torch, a bare pickle) holding ``data.pkl``: a pickle of arbitrary Python objects whose
loading can run arbitrary code, so graphopt refuses it before anything reads it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from graphopt.errors import ModelLoadError

_HOW_TO = ("graphopt only reads TorchScript archives (written by torch.jit.save of a traced or scripted "
           "module). Rebuild the model in Python and call graphopt.from_torch(model, example_args), or "
           "save it with torch.jit.save(torch.jit.trace(model, example_args), path)")


def check_archive(path: Path) -> None:
    """Raise :class:`ModelLoadError` unless ``path`` is a TorchScript zip archive."""
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise ModelLoadError(f"{path} is not a zip archive, so it is not a TorchScript model (it may be a "
                             f"legacy torch.save pickle, which graphopt never unpickles). {_HOW_TO}")
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as e:
        raise ModelLoadError(f"{path}: unreadable zip archive ({e})") from None
    is_script = any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names)
    if is_script:
        return
    if any(n.endswith("/data.pkl") for n in names):
        raise ModelLoadError(f"{path} is a torch.save checkpoint (a pickle of Python objects such as a state "
                             f"dict or an nn.Module), not a TorchScript archive; graphopt does not unpickle "
                             f"it because unpickling can run arbitrary code. {_HOW_TO}")
    raise ModelLoadError(f"{path} is a zip archive without TorchScript code (no constants.pkl and code/ "
                         f"entries); a torch.export archive should be named .pt2. {_HOW_TO}")


def load_archive(path: Path) -> Any:
    """``torch.jit.load`` the archive at ``path`` after :func:`check_archive` accepted it."""
    import torch

    check_archive(path)
    try:
        return torch.jit.load(str(path), map_location="cpu")
    except Exception as e:
        raise ModelLoadError(f"{path}: torch.jit.load failed: {e}") from e
