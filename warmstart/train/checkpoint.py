"""Training checkpoints: ``OUTPUT/checkpoint-STEP`` folders written atomically and checked on reading.

A checkpoint holds the model as ``save_pretrained`` writes it (so ``warmstart evaluate --model`` reads
it as it is), the tokenizer, ``optimizer.pt``, ``scheduler.pt``, ``rng.pt`` (python, numpy and torch
generator states of every process) and ``trainer_state.json``: the step, the data position (epoch,
next batch, that epoch's batch order), the best checkpoint so far, and the SHA-256 of every other
file. The folder is built beside its final name and renamed into place once complete, so a run killed
while writing leaves the previous checkpoints as they were; a file damaged later fails its checksum and
resuming falls back to the checkpoint before it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..hub import atomic_folder
from .metrics import higher_is_better
from .output import CHECKPOINT_PREFIX as PREFIX
from .output import list_checkpoints, umask_modes

if TYPE_CHECKING:  # torch is imported where used: the TF and Flax loops read checkpoints too
    import torch

logger = logging.getLogger("warmstart")

STATE_FILE = "trainer_state.json"


def rng_state() -> dict[str, Any]:
    """This process's random generator states (python, numpy, torch CPU and CUDA)."""
    import torch

    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [kind, keys.tolist(), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    import torch

    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    output_dir: str | Path,
    step: int,
    model: Any,
    tokenizer: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    rng_states: list[dict[str, Any]],
    state: dict[str, Any],
) -> Path:
    """Write ``output_dir/checkpoint-STEP`` atomically.

    Args:
        output_dir: the run's output folder.
        step: optimiser steps taken.
        model: the (unwrapped) model.
        tokenizer: saved beside the model.
        optimizer, scheduler: their ``state_dict`` is saved.
        rng_states: the generator states of every process, by rank.
        state: JSON-serialisable trainer state (step, data position, best, config).

    Returns:
        The checkpoint folder.
    """
    import torch

    target = Path(output_dir) / f"{PREFIX}{step}"
    with atomic_folder(target, replaces=listing(target)) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        torch.save(rng_states, tmp / "rng.pt")
        write_training_state(tmp, {**state, "step": step})
        umask_modes(tmp)
    return target


def listing(folder: Path) -> tuple[str, ...]:
    """The names in ``folder`` (none if it does not exist): what a new version replaces."""
    return tuple(p.name for p in folder.iterdir()) if folder.is_dir() else ()


def write_training_state(folder: Path, state: dict[str, Any]) -> None:
    """Write trainer_state.json last, with the checksum of every file written before it."""
    files = {p.name: _sha256(p) for p in sorted(folder.iterdir()) if p.is_file()}
    text = json.dumps({**state, "files": files}, indent=1, sort_keys=True)
    (folder / STATE_FILE).write_text(text + "\n", encoding="utf-8")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def read_state(checkpoint: Path) -> dict[str, Any]:
    """The trainer state of a checkpoint, after checking every file against its checksum.

    Raises:
        ValueError: a file is missing, or its content differs from what was written.
    """
    path = checkpoint / STATE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} cannot be read ({err}).") from err
    for name, digest in state.get("files", {}).items():
        file = checkpoint / name
        if not file.is_file():
            raise ValueError(f"{file} is missing.")
        if _sha256(file) != digest:
            raise ValueError(f"{file} does not match its checksum (damaged after it was written).")
    return state


def good_checkpoints(output_dir: str | Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Checkpoints that pass their checks, newest first; each one skipped is reported as a warning."""
    for _, path in reversed(list_checkpoints(output_dir)):
        try:
            yield path, read_state(path)
        except ValueError as err:
            logger.warning("Skipping checkpoint %s: %s Falling back to an earlier one.", path, err)


def load_training_state(path: Path, device: torch.device) -> dict[str, Any]:
    """Read a checkpoint's optimiser, scheduler and RNG states (tensors only: weights_only)."""

    import torch

    def load(name: str) -> Any:
        return torch.load(path / name, map_location=device, weights_only=True)

    try:
        return {
            "optimizer": load("optimizer.pt"),
            "scheduler": load("scheduler.pt"),
            "rng": torch.load(path / "rng.pt", map_location="cpu", weights_only=True),
        }
    except pickle.UnpicklingError as err:  # weights_only refused a pickle that could run code
        raise ValueError(
            f"{path}: refusing its training state, a pickle holding more than tensors (it could "
            "run code); start over with --overwrite-output-dir, or resume an earlier checkpoint."
        ) from err
    except (OSError, RuntimeError, EOFError) as err:
        raise ValueError(f"{path}: training state cannot be read ({err}).") from err


def rotate(output_dir: str | Path, keep_last: int, best_step: int | None) -> None:
    """Delete all checkpoints but the last ``keep_last`` and the best one.

    Args:
        output_dir: the run's output folder.
        keep_last: how many of the newest to keep.
        best_step: the step of the best checkpoint (kept whatever its age), or None.
    """
    found = list_checkpoints(output_dir)
    keep = {step for step, _ in found[-keep_last:]} if keep_last > 0 else set()
    if best_step is not None:
        keep.add(best_step)
    for step, path in found:
        if step not in keep:
            shutil.rmtree(path, ignore_errors=True)


def is_better(metric: str, value: float, best: dict[str, Any] | None) -> bool:
    """Whether ``value`` of ``metric`` beats the best recorded so far."""
    if best is None or best.get("value") is None:
        return True
    return value > best["value"] if higher_is_better(metric) else value < best["value"]
