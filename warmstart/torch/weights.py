"""Checkpoint tensors to and from disk as PyTorch tensors.

Which files make a checkpoint is the core's rule (:func:`warmstart.hub.weight_files`). safetensors
files are read here with safetensors' own PyTorch reader rather than through numpy: it maps the file
instead of copying it, and it keeps bfloat16, which numpy lacks. A legacy ``pytorch_model.bin`` is
read with ``torch.load(weights_only=True)``, which refuses pickled code.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .. import hub


def load_weights(folder: Path) -> dict[str, torch.Tensor]:
    """Read every tensor of a checkpoint folder into a flat dict of CPU tensors."""
    kind, files = hub.weight_files(Path(folder))
    read = _load_safetensors if kind == "safetensors" else _load_pickle
    state: dict[str, torch.Tensor] = {}
    for path in files:
        state.update(read(path))
    return state


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as err:
        raise hub.corrupted(path, err) from err


def _load_pickle(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=False)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"Refusing to load {path}: it is a pickle that holds more than tensors and could run code "
            f"when loaded ({str(err).splitlines()[0][:200]}). Convert it to safetensors with a tool "
            "you trust, or load it only if you trust its source."
        ) from err
    except (RuntimeError, EOFError, OSError) as err:
        raise ValueError(f"{path} is truncated or corrupted and cannot be read ({err}).") from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a dict of tensors.")
    return state


def save_weights(state: dict[str, torch.Tensor], path: Path) -> None:
    """Write tensors as safetensors with transformers' metadata."""
    state = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    save_file(state, path, metadata={"format": "pt"})


def write_weights(state: dict[str, torch.Tensor], folder: Path, safe: bool = True) -> None:
    """``state`` as model.safetensors (``safe``) or pytorch_model.bin in ``folder``."""
    if safe:
        save_weights(state, folder / hub.SAFE_WEIGHTS)
    else:
        torch.save({k: v.contiguous() for k, v in state.items()}, folder / hub.TORCH_WEIGHTS)
