"""Fine-tuning a ``TFEncoderDecoderModel``: the step of ``warmstart train --framework tf``.

:class:`Side` is one AdamW step under ``tf.function`` (a ``GradientTape`` over the model's own
loss, the global norm clipped, decoupled weight decay on weight matrices only, the warm start's new
weights at their own learning rate), which :func:`warmstart.train.loop.run` drives with the PyTorch
Trainer's data plan, label layout, schedule, progress, metrics and evaluation. :func:`train` runs
it on a list of text pairs; :func:`dataset` gives the same batches as a ``tf.data.Dataset`` for
Keras' ``fit`` (the model's ``compile``/``train_step`` train its own loss).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..train import loop
from ..train.config import TrainConfig
from ..train.data import pad_arrays, tokenize_pairs
from ..train.tokens import configure_special_tokens
from .encoder_decoder import TFEncoderDecoderModel

__all__ = ["Side", "TFEncoderDecoderModel", "dataset", "train"]


def dataset(
    pairs: Sequence[tuple[str, str]],
    tokenizer: Any,
    batch_size: int = 8,
    max_source_length: int = 128,
    max_target_length: int = 64,
    eos_token_id: int | None = None,
) -> tf.data.Dataset:
    """(source, target) texts as a ``tf.data.Dataset`` of ``{input_ids, attention_mask, labels}``
    batches in the PyTorch Trainer's layout: labels are the target's tokens then eos (no start
    token: the model shifts it in), padded with -100.

    Args:
        pairs: (source text, target text) pairs.
        tokenizer: a warmstart (or transformers) tokenizer.
        batch_size: rows per batch.
        max_source_length, max_target_length: truncation lengths (eos included in the target's).
        eos_token_id: the id ending every label (default: the tokenizer's sep, else eos).
    """
    eos = eos_token_id if eos_token_id is not None else _eos(tokenizer)
    examples = tokenize_pairs(pairs, tokenizer, max_source_length, max_target_length, eos)
    data = pad_arrays(examples, tokenizer.pad_token_id)
    return tf.data.Dataset.from_tensor_slices(data).batch(batch_size)


def _eos(tokenizer: Any) -> int:
    eos = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    if eos is None:
        raise ValueError("The tokenizer has no sep or eos token: pass eos_token_id.")
    return eos


class Side:
    """The TensorFlow step of the shared training loop (see :mod:`warmstart.train.loop`).

    Args:
        model: the model, with ``decoder_start_token_id`` and ``pad_token_id`` set.
        weight_decay: AdamW's decoupled decay of weight matrices (not biases, not LayerNorm).
        max_grad_norm: clip the global gradient norm to this (0: no clipping).
        seed: the dropout seed.
        separate_new: give ``model.newly_initialized`` weights their own learning rate.
    """

    def __init__(
        self,
        model: TFEncoderDecoderModel,
        weight_decay: float = 0.01,
        max_grad_norm: float = 1.0,
        seed: int = 0,
        separate_new: bool = False,
    ) -> None:
        keras.utils.set_random_seed(seed)
        self.model, self.max_grad_norm, self.seed = model, max_grad_norm, seed
        new = set(getattr(model, "newly_initialized", [])) if separate_new else set()
        names = _checkpoint_names(model)
        # the encoder's pooler never reaches the loss (frozen, as on the PyTorch side)
        used = [v for v in model.trainable_variables if "pooler" not in names.get(id(v), "")]
        self.groups = []
        for fresh in (False, True):
            variables = [v for v in used if (names.get(id(v)) in new) == fresh]
            if variables:
                opt = keras.optimizers.AdamW(
                    learning_rate=0.0, weight_decay=weight_decay, epsilon=1e-8
                )
                opt.exclude_from_weight_decay(var_list=[v for v in variables if len(v.shape) < 2])
                opt.build(variables)
                self.groups.append((fresh, opt, variables))
        self.variables = [v for _, _, vs in self.groups for v in vs]
        self._grads = tf.function(self._grads_eager, reduce_retracing=True)
        self._apply = tf.function(self._apply_eager, reduce_retracing=True)
        self._loss = tf.function(self._loss_eager, reduce_retracing=True)

    def _grads_eager(self, batch: dict[str, tf.Tensor]) -> tuple:
        with tf.GradientTape() as tape:
            loss = self.model(**batch, training=True).loss
        grads = tape.gradient(loss, self.variables)
        grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, self.variables)]
        norm = tf.linalg.global_norm(grads)
        if self.max_grad_norm > 0:
            grads, _ = tf.clip_by_global_norm(grads, self.max_grad_norm, use_norm=norm)
        return loss, norm, grads

    def _apply_eager(self, grads: list[tf.Tensor], lr: tf.Tensor, new_lr: tf.Tensor) -> None:
        start = 0
        for fresh, opt, variables in self.groups:
            opt.learning_rate.assign(new_lr if fresh else lr)
            opt.apply(grads[start : start + len(variables)], variables)
            start += len(variables)

    def _loss_eager(self, batch: dict[str, tf.Tensor]) -> tf.Tensor:
        return self.model(**batch, training=False).loss

    def step(self, batch: dict[str, np.ndarray], lr: float, new_lr: float) -> tuple[float, float]:
        """One optimiser step; returns the loss and the gradient norm (no update unless finite)."""
        loss, norm, grads = self._grads(_tensors(batch))
        loss, norm = float(loss), float(norm)
        if math.isfinite(loss) and math.isfinite(norm):
            self._apply(grads, tf.constant(lr, tf.float32), tf.constant(new_lr, tf.float32))
        return loss, norm

    def loss(self, batch: dict[str, np.ndarray]) -> float:
        return float(self._loss(_tensors(batch)))

    def generate(self, input_ids: np.ndarray, attention_mask: np.ndarray, **kwargs: Any):
        out = self.model.generate(input_ids, attention_mask=attention_mask, **kwargs)
        return np.asarray(out)

    def weights_finite(self) -> bool:
        return all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in self.model.weights)

    def training_state(self) -> dict[str, np.ndarray]:
        """Every optimiser variable (step count, moments), for a checkpoint."""
        return {
            f"opt{g}.{j}": np.asarray(v.numpy())
            for g, (_, opt, _) in enumerate(self.groups)
            for j, v in enumerate(opt.variables)
        }

    def load_training_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`training_state` returned (dropout masks start afresh from the
        seed and the step, so a resumed TF run is close to, not equal to, one that never stopped)."""
        mine = self.training_state()
        if set(mine) != set(state) or any(mine[k].shape != state[k].shape for k in mine):
            raise ValueError("The checkpoint's optimiser state is not this model's TF AdamW's.")
        for g, (_, opt, _) in enumerate(self.groups):
            for j, v in enumerate(opt.variables):
                v.assign(state[f"opt{g}.{j}"])
        keras.utils.set_random_seed(self.seed + int(self.groups[0][1].iterations.numpy()))

    def weight_bytes(self) -> int:
        return sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in self.model.weights)

    def save(self, folder: Path) -> None:
        self.model.save_pretrained(folder)


def _tensors(batch: dict[str, np.ndarray]) -> dict[str, tf.Tensor]:
    return {k: tf.constant(v) for k, v in batch.items()}


def _checkpoint_names(model: TFEncoderDecoderModel) -> dict[int, str]:
    """Each trainable variable's name in the saved layout (``decoder.bert.encoder...``), by id:
    Keras paths are ``<layer name>/<name inside the half>``."""
    names = {id(v): name for name, v in model.proj.items()}
    for side in ("encoder", "decoder"):
        for v in getattr(model, side).trainable_variables:
            names[id(v)] = f"{side}.{v.path.split('/', 1)[-1]}"
    return names


def train(
    pairs: Sequence[tuple[str, str]],
    tokenizer: Any,
    model: TFEncoderDecoderModel,
    steps: int,
    lr: float,
    output_dir: str | os.PathLike,
    batch_size: int = 8,
    weight_decay: float = 0.01,
    seed: int = 0,
    **options: Any,
) -> dict[str, Any]:
    """Train ``model`` for ``steps`` optimiser steps and write it, with its tokenizer, metrics and
    plot, to ``output_dir``.

    Args:
        pairs: (source text, target text) pairs; repeated and shuffled as needed.
        tokenizer: the tokenizer of both sides (saved with the model).
        model: a ``TFEncoderDecoderModel`` (special tokens unset are taken from the tokenizer).
        steps: optimiser steps.
        lr: the peak learning rate (linear decay to 0; ``warmup_steps=`` adds a warm-up).
        output_dir: the folder written: the model (``save_pretrained`` layout), ``metrics.jsonl``.
        batch_size, weight_decay, seed: as ``warmstart train``'s options.
        **options: other :class:`warmstart.train.TrainConfig` fields (``new_lr``,
            ``warmup_steps``, ``max_grad_norm``, ``log_every``, ``progress``, ...).

    Returns:
        The run's summary: ``losses`` (every step's), ``first_loss``, ``last_loss``, ...
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, not {steps}.")
    output = Path(output_dir)
    config = TrainConfig(
        train_file="<pairs>", output_dir=str(output), max_steps=steps, lr=lr,
        batch_size=batch_size, weight_decay=weight_decay, seed=seed, **options,
    )  # fmt: skip
    configure_special_tokens(model, tokenizer)
    examples = tokenize_pairs(
        pairs, tokenizer, config.max_source_length, config.max_target_length,
        model.config.eos_token_id,
    )  # fmt: skip
    separate = config.new_lr is not None and config.new_lr != lr
    side = Side(model, weight_decay, config.max_grad_norm, seed, separate)
    summary = loop.run(side, tokenizer, config, examples, None, output, model_dir=output)
    return {**summary, "first_loss": summary["losses"][0], "last_loss": summary["losses"][-1]}
