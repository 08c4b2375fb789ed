"""A run's output folder: which files belong to a run, one run per folder, and one-line errors.

``warmstart train`` writes ``checkpoint-N/``, ``metrics.jsonl``, ``training.png``, ``tensorboard/``
and ``model/`` into its output folder. A second run into the same folder would mix its files with
the first run's (the plot joining both, checkpoint rotation keeping the old run's), so it must either
continue the first (``--resume``) or clear it (``--overwrite-output-dir``, transformers' name).
Temporary folders and files that a killed run left while writing are removed by the next run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..hub import disk_full

logger = logging.getLogger("warmstart")

RUN_FILES = ("model", "metrics.jsonl", "training.png", "tensorboard")
# hub.atomic_folder's ".NAME.tmp-XXXX" and ".NAME.old-PID", hub.write_text_atomic's ".NAME.XXXX.tmp"
_TEMPORARY = ("*.tmp-*", "*.old-*", "*.tmp")
_OWNED = ("checkpoint-", *RUN_FILES)


class OutputError(ValueError):
    """The output folder cannot take this run, or a file of the run could not be written."""


CHECKPOINT_PREFIX = "checkpoint-"
_CHECKPOINT = re.compile(rf"^{CHECKPOINT_PREFIX}(\d+)$")


def list_checkpoints(output_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete-looking checkpoint folders, oldest first (half-written temp folders are skipped)."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _CHECKPOINT.match(p.name))]
    return sorted(f for f in found if f[1].is_dir())


def run_files(folder: Path) -> list[Path]:
    """The files and folders of an earlier run in ``folder``, checkpoints first."""
    found = [path for _, path in list_checkpoints(folder)]
    return found + [folder / name for name in RUN_FILES if (folder / name).exists()]


def remove_stale_temporaries(folder: Path) -> None:
    """Delete what a killed run left half-written (``.model.tmp-*``, ``.checkpoint-N.tmp-*``, ...)."""
    if not folder.is_dir():
        return
    for pattern in _TEMPORARY:
        for path in folder.glob("." + pattern):
            if path.name.lstrip(".").startswith(_OWNED):
                _remove(path)


def claim(folder: Path, resume: bool, overwrite: bool) -> None:
    """Make ``folder`` ready for a new run, or refuse in one line.

    Args:
        folder: the run's output folder.
        resume: the run continues the folder's last checkpoint (its files are kept).
        overwrite: the folder's run files may be deleted.

    Raises:
        OutputError: the folder holds another run and neither flag allows touching it.
    """
    remove_stale_temporaries(folder)
    found = [] if resume else run_files(folder)
    if found and not overwrite:
        names = ", ".join(p.name for p in found[:4]) + (", ..." if len(found) > 4 else "")
        raise OutputError(
            f"{folder} already holds a run ({names}): pass --resume to continue it, or "
            "--overwrite-output-dir to delete it and start over (or choose another --output)."
        )
    for path in found:
        _remove(path)
    if found:
        logger.warning("--overwrite-output-dir: deleted the earlier run's files in %s.", folder)


def nothing_to_resume(folder: Path) -> str | None:
    """Why ``--resume`` cannot continue the run in ``folder``, which has no good checkpoint (None
    when the folder holds no run, so starting from scratch loses nothing)."""
    found = run_files(folder)
    if not found:
        return None
    names = ", ".join(p.name for p in found[:4])
    cont = (
        f", or train its saved model further with --model {folder / 'model'} and another --output"
        if (folder / "model").is_dir()
        else ""
    )
    return (
        f"--resume: {folder} holds a run ({names}) but no checkpoint to continue from (they are "
        f"written with --save-every N); nothing was deleted. Pass --overwrite-output-dir instead "
        f"to delete it and start over{cont}."
    )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def full_disk_in_one_line(target: Path, model: Any, copies: int) -> Iterator[None]:
    """A full disk while writing ``target`` becomes one line with the size it needs: ``copies``
    times the model's weights (3 for a checkpoint: the weights and AdamW's two moments; ``model``
    is a torch module or the weights' size in bytes). The atomic writers have left nothing
    half-written; the line says how to go on: ``--resume`` where a checkpoint exists."""
    try:
        yield
    except Exception as err:
        if not disk_full(err):
            raise
        size = copies * (model if isinstance(model, int) else torch_bytes(model))
        found = list_checkpoints(target.parent)
        again = (
            f"run again with --resume (from {found[-1][1].name})"
            if found
            else "run again with --overwrite-output-dir (there is no checkpoint to resume from)"
        )
        raise OutputError(
            f"No space left on the device writing {target.name} into {target.parent} (about "
            f"{size_text(size)}); nothing was half-written. Free some space, then {again}."
        ) from err


def torch_bytes(model: Any) -> int:
    """The size of a torch module's parameters in bytes."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


def size_text(size: float) -> str:
    """Bytes as "12.3 MB" (at least kB, at most GB)."""
    power = min(3, max(1, (len(str(int(size))) - 1) // 3))
    return f"{size / 1000**power:.1f} {('kB', 'MB', 'GB')[power - 1]}"


def umask_modes(folder: Path) -> None:
    """Give ``folder`` and everything in it the modes the umask gives a new folder and file:
    writers that go through a temporary file (safetensors, ``mkstemp``) leave 0600 behind."""
    mask = os.umask(0)
    os.umask(mask)
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)
