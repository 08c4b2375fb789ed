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

from ..hub import atomic_folder
from . import finite
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
    per_epoch = len(plan_batches([len(e) for e in examples], config.batch_size, config.seed, 0))
    return config.max_steps or config.epochs * per_epoch


def run(
    side: Any,
    tokenizer: Any,
    config: TrainConfig,
    train_set: Sequence[Example],
    eval_set: tuple[Sequence[Example], Sequence[str]] | None,
    output: Path,
    model_dir: Path | None = None,
) -> dict[str, Any]:
    """Train ``side`` over ``train_set`` as ``config`` says; write ``output``'s run files and the
    final model (``model_dir``, default ``output/model``).

    Returns:
        The summary :func:`warmstart.train.progress.summary_lines` prints, with every step's loss
        (``losses``) and the final evaluation (``eval``).
    """
    c, started = config, time.perf_counter()
    pad = tokenizer.pad_token_id
    steps = total_steps(c, train_set)
    lengths = [len(e) for e in train_set]
    S = max(len(e.input_ids) for e in train_set)
    T = max(len(e.labels) for e in train_set)
    log = MetricsLog(output, tensorboard=True)
    bar = Progress(steps, 0, c.progress, c.log_every)
    losses: list[float] = []
    last_eval: dict[str, float] = {}
    window: list[tuple[float, int]] = []
    clock, step, epoch = time.perf_counter(), 0, 0
    try:
        while step < steps:
            for rows in plan_batches(lengths, c.batch_size, c.seed, epoch):
                batch = pad_arrays([train_set[i] for i in rows], pad, S, T)
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
                    last_eval = evaluate(side, tokenizer, *eval_set, config)
                    log.write({"split": "eval", "step": step, **last_eval})
                    logger.info(
                        "step %d: %s", step, ", ".join(f"{k} {v:.4f}" for k, v in last_eval.items())
                    )
                if step >= steps:
                    break
            epoch += 1
        bar.close()
        finite.check_weights(steps, side.weights_finite(), output)
        final = model_dir or output / "model"
        with full_disk_in_one_line(final, side.weight_bytes(), 1):
            save_model(side, tokenizer, final, whole=model_dir is None)
    finally:
        log.close()
    plot_metrics(log.path, output / "training.png")
    return {
        "output": output,
        "steps": steps,
        "seconds": time.perf_counter() - started,
        "train_loss": sum(losses[-c.log_every :]) / len(losses[-c.log_every :]),
        "eval": last_eval,
        "losses": losses,
    }


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
