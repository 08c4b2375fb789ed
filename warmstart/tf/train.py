"""Fine-tuning a ``TFEncoderDecoderModel`` with Keras: ``compile`` + ``fit`` on the model's own loss
(as transformers 4.x TF models trained), for ``warmstart train --framework tf``.

The batches are ``{input_ids, attention_mask, labels}`` dicts (labels padded with -100), as a user's
``tf.data.Dataset`` would hold them; the folder written at the end is the one layout every framework
reads (config.json + model.safetensors, and the tokenizer).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .encoder_decoder import TFEncoderDecoderModel


def dataset(
    pairs: Sequence[tuple[str, str]],
    tokenizer: Any,
    batch_size: int = 8,
    max_source_length: int = 128,
    max_target_length: int = 64,
) -> tf.data.Dataset:
    """(source, target) texts as a ``tf.data.Dataset`` of ``{input_ids, attention_mask, labels}``
    batches, labels padded with -100.

    Args:
        pairs: (source text, target text) pairs.
        tokenizer: a warmstart (or transformers) tokenizer.
        batch_size: rows per batch.
        max_source_length, max_target_length: truncation lengths.
    """
    sources, targets = [s for s, _ in pairs], [t for _, t in pairs]
    enc = tokenizer(
        sources, padding=True, truncation=True, max_length=max_source_length, return_tensors="np"
    )
    dec = tokenizer(
        targets, padding=True, truncation=True, max_length=max_target_length, return_tensors="np"
    )
    labels = np.where(dec["attention_mask"] == 1, dec["input_ids"], -100)
    data = {
        "input_ids": enc["input_ids"].astype(np.int32),
        "attention_mask": enc["attention_mask"].astype(np.int32),
        "labels": labels.astype(np.int32),
    }
    return tf.data.Dataset.from_tensor_slices(data).batch(batch_size)


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
) -> dict[str, float]:
    """Train ``model`` for ``steps`` optimiser steps with AdamW and write it to ``output_dir``.

    Args:
        pairs: (source text, target text) pairs; repeated and shuffled as needed.
        tokenizer: the tokenizer of both sides (saved with the model).
        model: a ``TFEncoderDecoderModel`` with ``decoder_start_token_id`` and ``pad_token_id`` set.
        steps: optimiser steps.
        lr: the learning rate.
        output_dir: the folder written at the end (``save_pretrained`` layout + tokenizer).
        batch_size: rows per step.
        weight_decay: AdamW's decoupled weight decay.
        seed: shuffling and dropout seed.

    Returns:
        ``{"first_loss": ..., "last_loss": ...}``: the loss of the first and the last step.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, not {steps}.")
    keras.utils.set_random_seed(seed)
    data = dataset(pairs, tokenizer, batch_size).unbatch().shuffle(len(pairs), seed=seed)
    data = data.repeat().batch(batch_size).take(steps)
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=lr, weight_decay=weight_decay))
    losses = LossLog()
    model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[losses])
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return {"first_loss": losses.losses[0], "last_loss": losses.losses[-1]}


class LossLog(keras.callbacks.Callback):
    """The loss of every training step."""

    def __init__(self) -> None:
        super().__init__()
        self.losses: list[float] = []

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.losses.append(float((logs or {})["loss"]))
