"""Stopping a run whose loss or gradients are no longer finite numbers, in one line.

Every framework's loop checks the step's loss and gradient norm before it updates the weights, and
the weights before it saves them, so nothing non-finite is ever written as a checkpoint or as the
final model: the run stops, and its last good checkpoint is kept as it was.
"""

from __future__ import annotations

import math
from pathlib import Path

from .output import list_checkpoints


class NonFiniteError(ValueError):
    """The loss, the gradients or the weights of a run stopped being finite."""


def check_step(step: int, loss: float, grad_norm: float, lr: float, output: Path | str) -> None:
    """Raise :class:`NonFiniteError` when ``loss`` or ``grad_norm`` of ``step`` is nan or inf.

    Args:
        step: the step (1-based) whose loss and gradients were computed; its update is not made.
        loss: the step's mean token loss.
        grad_norm: the global norm of its gradients (before clipping).
        lr: the learning rate the step would have used.
        output: the run's folder (its last checkpoint is named).
    """
    if math.isfinite(loss) and math.isfinite(grad_norm):
        return
    what = f"the training loss is {loss}" if not math.isfinite(loss) else "the loss is finite"
    raise NonFiniteError(
        f"step {step}: {what} and the gradient norm {grad_norm}, so training stopped before "
        f"updating the weights (learning rate {lr:.3g}); {_kept(output)} Try a lower --lr, "
        "--max-grad-norm 1.0, or more --warmup-steps."
    )


def check_weights(step: int, finite: bool, output: Path | str) -> None:
    """Raise :class:`NonFiniteError` when the weights after ``step`` are not all finite."""
    if finite:
        return
    raise NonFiniteError(
        f"step {step}: the weights are no longer finite numbers, so training stopped without "
        f"saving them; {_kept(output)} Try a lower --lr, --max-grad-norm 1.0, or more "
        "--warmup-steps."
    )


def _kept(output: Path | str) -> str:
    found = list_checkpoints(output)
    if not found:
        return "no model was saved (no checkpoint was written: --save-every N writes them)."
    step, path = found[-1]
    return f"no final model was saved; the last good checkpoint is {path} (step {step})."
