"""The training loop of the TensorFlow and Flax sides: the PyTorch Trainer's data plan, label layout,
learning-rate schedule, progress, ``metrics.jsonl`` / TensorBoard records, evaluation, non-finite
checks and final model folder, around one framework's step.

A side is an object with:

- ``step(batch, lr, new_lr) -> (loss, grad_norm)``: one optimiser step on a padded numpy batch
  (``input_ids``, ``attention_mask``, ``labels``), at these learning rates (``new_lr`` for the weights
  the warm start initialised); the update is skipped when the loss or the norm is not finite;
- ``loss(batch) -> float``: the mean token loss without dropout;
- ``generate(input_ids, attention_mask, **kwargs) -> ids``: (B, L) numpy token ids;
- ``weights_finite() -> bool``, ``weight_bytes() -> int`` and ``save(folder)`` (the model's
  ``save_pretrained`` layout, with the trained weights).

Every batch of a run is padded to the longest source and label of the data, so the step compiles
once (twice with a smaller last batch).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..hub import atomic_folder
from . import finite
from .checkpoint import PREFIX, is_better, listing, rotate, write_training_state
from .config import TrainConfig
from .data import Example, pad_arrays, plan_batches
from .metrics import MetricsLog, compute_metrics, plot_metrics
from .output import full_disk_in_one_line, umask_modes
from .progress import Progress

logger = logging.getLogger("warmstart")


def linear_schedule(step: int, warmup_steps: int, total_steps: int) -> float:
    """Learning-rate factor: 0 -> 1 over ``warmup_steps``, then 1 -> 0 at ``total_steps``.

    Args:
        step: optimiser steps taken so far.
        warmup_steps: length of the warm-up.
        total_steps: the step at which the rate reaches zero.

    Returns:
        The factor the peak rate is multiplied by.
    """
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def total_steps(config: TrainConfig, examples: Sequence[Example]) -> int:
    """``--max-steps``, else ``--epochs`` times the batches of one epoch."""
    per_epoch = len(plan_batches([e.size for e in examples], config.batch_size, config.seed, 0))
    return config.max_steps or config.epochs * per_epoch


def run(
    side: Any,
    tokenizer: Any,
    config: TrainConfig,
    train_set: Sequence[Example],
    eval_set: tuple[Sequence[Example], Sequence[str]] | None,
    output: Path,
    model_dir: Path | None = None,
    resume: tuple[Path, dict[str, Any]] | None = None,
    extra_state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train ``side`` over ``train_set`` as ``config`` says; write ``output``'s run files, a
    checkpoint every ``--save-every`` steps and the final model (``model_dir``, default
    ``output/model``).

    Args:
        resume: the checkpoint to continue (its folder and trainer state); the side's model must
            hold its weights already.
        extra_state: JSON data to keep in every checkpoint's trainer state.

    Returns:
        The summary :func:`warmstart.train.progress.summary_lines` prints, with every step's loss
        (``losses``) and the final evaluation (``eval``).
    """
    c, started = config, time.perf_counter()
    pad = tokenizer.pad_token_id
    steps = total_steps(c, train_set)
    sizes = [e.size for e in train_set]
    S = max(len(e.input_ids) for e in train_set)
    T = max(len(e.labels) for e in train_set)
    log = MetricsLog(output, tensorboard=True)
    step, epoch, next_batch, best = 0, 0, 0, None
    if resume is not None:
        path, state = resume
        side.load_training_state(read_training_arrays(path))
        step, epoch, next_batch = state["step"], state["epoch"], state["next_batch"]
        best = state.get("best")
        log.truncate_after(step)
        logger.warning("Resuming from %s (step %d).", path, step)
    first = step
    bar = Progress(steps, step, c.progress, c.log_every)
    losses: list[float] = []
    last_eval: dict[str, float] = {}
    window: list[tuple[float, int]] = []
    clock = time.perf_counter()
    try:
        while step < steps:
            plan = plan_batches(sizes, c.batch_size, c.seed, epoch)
            for index in range(next_batch, len(plan)):
                batch = pad_arrays([train_set[i] for i in plan[index]], pad, S, T)
                factor = linear_schedule(step, c.warmup_steps, steps)
                lr, new_lr = c.lr * factor, (c.new_lr or c.lr) * factor
                loss, norm = side.step(batch, lr, new_lr)
                finite.check_step(step + 1, loss, norm, lr, output)
                step += 1
                losses.append(loss)
                tokens = int(batch["attention_mask"].sum() + (batch["labels"] != -100).sum())
                window.append((loss, tokens))
                rate = sum(t for _, t in window) / max(1e-9, time.perf_counter() - clock)
                bar.update(step, loss, lr, rate)
                if step % c.log_every == 0 or step == steps:
                    mean = sum(x for x, _ in window) / len(window)
                    log.write(
                        {"split": "train", "step": step, "epoch": epoch, "loss": mean,
                         "lr": lr, "tokens_per_s": rate}
                    )  # fmt: skip
                    window, clock = [], time.perf_counter()
                if eval_set is not None and (
                    step == steps or (c.eval_every and step % c.eval_every == 0)
                ):
                    last_eval = {**evaluate(side, tokenizer, *eval_set, config), "step": step}
                    log.write({"split": "eval", **last_eval})
                    logger.info(
                        "step %d: %s", step,
                        ", ".join(f"{k} {v:.4f}" for k, v in last_eval.items() if k != "step"),
                    )  # fmt: skip
                if c.save_every and (step % c.save_every == 0 or step == steps):
                    done = index + 1 >= len(plan)
                    position = {
                        **(extra_state or {}),
                        "epoch": epoch + 1 if done else epoch,
                        "next_batch": 0 if done else index + 1,
                    }
                    best = save_checkpoint(
                        side, tokenizer, config, output, step, position, last_eval, best
                    )
                if step >= steps:
                    break
            epoch, next_batch = epoch + 1, 0
        bar.close()
        finite.check_weights(steps, side.weights_finite(), output)
        final = model_dir or output / "model"
        with full_disk_in_one_line(final, side.weight_bytes(), 1):
            save_model(side, tokenizer, final, whole=model_dir is None)
    finally:
        log.close()
    plot_metrics(log.path, output / "training.png")
    last_eval.pop("step", None)
    recent = losses[-c.log_every :] or [float("nan")]
    return {
        "output": output,
        "steps": steps,
        "resumed_at": first,
        "seconds": time.perf_counter() - started,
        "train_loss": sum(recent) / len(recent),
        "eval": last_eval,
        "losses": losses,
    }


TRAINING_ARRAYS = "training_state.npz"
"""A TF or Flax checkpoint's optimiser moments and random state, beside ``trainer_state.json``."""


def save_checkpoint(
    side: Any,
    tokenizer: Any,
    config: TrainConfig,
    output: Path,
    step: int,
    position: dict[str, Any],
    last_eval: dict[str, float],
    best: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """Write ``output/checkpoint-STEP`` atomically (the model, tokenizer, optimiser and random
    state, and the data position), then drop all but the last ``--keep-last`` and the best.

    Returns:
        The best checkpoint so far (``metric``, ``value``, ``step``), or None.
    """
    c = config
    finite.check_weights(step, side.weights_finite(), output)
    fresh = last_eval if last_eval.get("step") == step else None
    value = (fresh or {}).get(c.best_metric)
    if value is not None and is_better(c.best_metric, value, best):
        best = {"metric": c.best_metric, "value": value, "step": step}
    target = output / f"{PREFIX}{step}"
    state = {**position, "best": best, "config": c.to_dict(), "metrics": fresh, "step": step}
    full_disk = full_disk_in_one_line(target, side.weight_bytes(), 3)
    with full_disk, atomic_folder(target, replaces=listing(target)) as tmp:
        side.save(tmp)
        tokenizer.save_pretrained(tmp)
        np.savez(tmp / TRAINING_ARRAYS, **side.training_state())
        write_training_state(tmp, state)
        umask_modes(tmp)
    rotate(output, c.keep_last, best["step"] if best else None)
    return best


def read_training_arrays(checkpoint: Path) -> dict[str, Any]:
    """A TF or Flax checkpoint's optimiser and random state."""
    path = checkpoint / TRAINING_ARRAYS
    if not path.is_file():
        raise ValueError(
            f"{checkpoint} holds no {TRAINING_ARRAYS}: it was written by the PyTorch Trainer; "
            "resume it with --framework torch."
        )
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def save_model(side: Any, tokenizer: Any, folder: Path, whole: bool = True) -> None:
    """Write the model and tokenizer to ``folder``: as one new folder replacing it (``whole``),
    else beside the files already there (each ``save_pretrained`` is atomic itself)."""
    if not whole:
        side.save(folder)
        tokenizer.save_pretrained(folder)
        return
    old = tuple(p.name for p in folder.iterdir()) if folder.is_dir() else ()
    with atomic_folder(folder, replaces=old) as tmp:
        side.save(tmp)
        tokenizer.save_pretrained(tmp)
        umask_modes(tmp)


def evaluate(
    side: Any,
    tokenizer: Any,
    examples: Sequence[Example],
    references: Sequence[str],
    config: TrainConfig,
) -> dict[str, float]:
    """Teacher-forced loss and generation metrics of ``examples`` (their sources padded to one
    length, so generation compiles once per batch size)."""
    size = config.eval_batch_size or config.batch_size
    S = max(len(e.input_ids) for e in examples)
    T = max(len(e.labels) for e in examples)
    predictions: list[str] = []
    total, tokens = 0.0, 0
    for start in range(0, len(examples), size):
        batch = pad_arrays(examples[start : start + size], tokenizer.pad_token_id, S, T)
        ids = side.generate(
            batch["input_ids"], batch["attention_mask"], **config.generation_kwargs()
        )
        predictions += tokenizer.batch_decode(
            [list(map(int, r)) for r in ids], skip_special_tokens=True
        )
        n = int((batch["labels"] != -100).sum())
        total += side.loss(batch) * n
        tokens += n
    return {"eval_loss": total / max(1, tokens), **compute_metrics(predictions, references)}
