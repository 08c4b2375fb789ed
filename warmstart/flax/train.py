"""Fine-tuning the Flax model with optax: a documented train step and a small training loop.

The step is the usual JAX one: the loss of a batch (labels shifted right into decoder inputs,
-100 ignored) under ``jax.value_and_grad``, dropout drawn from a per-step key, AdamW from optax
(linear warm-up and decay, no weight decay on biases and LayerNorm scales, as the PyTorch trainer),
the whole step under ``jax.jit``. :func:`train` runs it over pairs of texts and writes what the
PyTorch trainer writes: ``metrics.jsonl`` train records and the final model and tokenizer in
``OUTPUT/model`` (config.json + model.safetensors, loadable by every framework).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .encoder_decoder import FlaxEncoderDecoderModel
from .seq2seq import decoder_inputs_from_labels, seq2seq_loss

logger = logging.getLogger("warmstart")

Batch = dict[str, jax.Array]


def make_optimizer(
    learning_rate: float, steps: int, warmup_steps: int = 0, weight_decay: float = 0.01
) -> optax.GradientTransformation:
    """AdamW with linear warm-up then linear decay to 0 over ``steps``; no decay on biases and
    LayerNorm scales (1-D parameters)."""
    schedule = optax.join_schedules(
        [
            optax.linear_schedule(0.0, learning_rate, max(warmup_steps, 1)),
            optax.linear_schedule(learning_rate, 0.0, max(steps - warmup_steps, 1)),
        ],
        [max(warmup_steps, 1)],
    )
    decayed = lambda params: jax.tree.map(lambda p: p.ndim > 1, params)  # noqa: E731
    return optax.adamw(schedule, weight_decay=weight_decay, mask=decayed)


def make_train_step(
    model: FlaxEncoderDecoderModel, optimizer: optax.GradientTransformation
) -> Callable[[dict, Any, Batch, jax.Array], tuple[dict, Any, jax.Array]]:
    """The compiled train step ``(params, opt_state, batch, dropout_rng) -> (params, opt_state,
    loss)``.

    ``batch`` holds ``input_ids``, ``attention_mask``, ``decoder_input_ids``,
    ``decoder_attention_mask`` and ``labels`` (-100 where ignored), as :func:`make_batch` builds
    it. Usage::

        optimizer = make_optimizer(5e-5, steps=1000)
        opt_state = optimizer.init(model.params)
        step = make_train_step(model, optimizer)
        params = model.params
        for i, batch in enumerate(batches):
            params, opt_state, loss = step(params, opt_state, batch, jax.random.key(i))
        model.params = params
    """

    def loss_fn(params: dict, batch: Batch, dropout_rng: jax.Array) -> jax.Array:
        loss, _ = seq2seq_loss(model.module, params, batch, True, {"dropout": dropout_rng})
        return loss

    def train_step(params, opt_state, batch, dropout_rng):
        loss, grads = jax.value_and_grad(loss_fn)(params, batch, dropout_rng)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return jax.jit(train_step, donate_argnums=(0, 1))


def make_batch(
    model: FlaxEncoderDecoderModel,
    tokenizer: Any,
    sources: Sequence[str],
    targets: Sequence[str],
    max_source_length: int = 128,
    max_target_length: int = 128,
) -> Batch:
    """Tokenize pairs into a batch, padded to the longest text (within the limits); target padding
    becomes -100 in ``labels``."""
    x = tokenizer(
        list(sources),
        padding=True,
        truncation=True,
        max_length=max_source_length,
        return_tensors="np",
    )
    y = tokenizer(
        list(targets),
        padding=True,
        truncation=True,
        max_length=max_target_length,
        return_tensors="np",
    )
    labels = np.where(y["attention_mask"] == 1, y["input_ids"], -100)
    c = model.config
    decoder_input_ids, decoder_mask = decoder_inputs_from_labels(
        labels, c.pad_token_id, c.decoder_start_token_id
    )
    return {
        "input_ids": jnp.asarray(x["input_ids"]),
        "attention_mask": jnp.asarray(x["attention_mask"]),
        "decoder_input_ids": decoder_input_ids,
        "decoder_attention_mask": decoder_mask,
        "labels": jnp.asarray(labels),
    }


def set_special_tokens(model: FlaxEncoderDecoderModel, tokenizer: Any) -> None:
    """Decoder start (cls, else bos), pad and eos (sep, else eos) from the tokenizer where the
    model's config leaves them unset, as the PyTorch trainer does."""
    choices = {
        "decoder_start_token_id": (tokenizer.cls_token_id, tokenizer.bos_token_id),
        "eos_token_id": (tokenizer.sep_token_id, tokenizer.eos_token_id),
        "pad_token_id": (tokenizer.pad_token_id, tokenizer.eos_token_id),
    }
    for name, candidates in choices.items():
        if getattr(model.config, name, None) is None:
            setattr(model.config, name, next((i for i in candidates if i is not None), None))
        if getattr(model.config, name) is None:
            raise ValueError(f"The tokenizer has no token for {name}; set model.config.{name}.")


def train(
    model: FlaxEncoderDecoderModel,
    tokenizer: Any,
    pairs: Sequence[tuple[str, str]],
    output_dir: str | Path,
    steps: int = 100,
    lr: float = 5e-5,
    batch_size: int = 8,
    seed: int = 0,
    max_source_length: int = 128,
    max_target_length: int = 128,
    log_every: int = 10,
) -> list[float]:
    """Fine-tune ``model`` on (source, target) text pairs for ``steps`` optimiser steps.

    Batches are drawn in a shuffled order (reshuffled each epoch) and padded to the longest text of
    the whole set, so the step compiles once. Writes ``OUTPUT/metrics.jsonl`` (a train record every
    ``log_every`` steps: step, epoch, loss, lr, tokens_per_s) and the final model and tokenizer to
    ``OUTPUT/model``; ``model.params`` end trained.

    Returns:
        The loss of every step.
    """
    if not pairs:
        raise ValueError("No training pairs: pass a list of (source, target) texts.")
    set_special_tokens(model, tokenizer)
    data = make_batch(
        model, tokenizer, *zip(*pairs, strict=True), max_source_length, max_target_length
    )
    n = len(pairs)
    size = min(batch_size, n)
    optimizer = make_optimizer(lr, steps)
    step_fn = make_train_step(model, optimizer)
    params = jax.tree.map(jnp.copy, model.params)  # the step donates its inputs
    opt_state = optimizer.init(params)
    order, rng, key = np.array([], int), np.random.default_rng(seed), jax.random.key(seed)
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    losses: list[float] = []
    started = time.perf_counter()
    for step in range(1, steps + 1):
        if len(order) < size:
            order = np.concatenate([order, rng.permutation(n)])
        rows, order = order[:size], order[size:]
        batch = {k: v[rows] for k, v in data.items()}
        key, dropout_rng = jax.random.split(key)
        params, opt_state, loss = step_fn(params, opt_state, batch, dropout_rng)
        losses.append(float(loss))
        if step % log_every == 0 or step == steps:
            window = losses[-log_every:]
            record = {
                "split": "train",
                "step": step,
                "epoch": (step * size) // n,
                "loss": sum(window) / len(window),
                "lr": float(lr),
                "tokens_per_s": step
                * int(data["attention_mask"][rows].size)
                / (time.perf_counter() - started),
            }
            with open(output / "metrics.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(record, sort_keys=True) + "\n")
            logger.info("step %d: loss %.4f", step, record["loss"])
    model.params = params
    model.save_pretrained(output / "model")
    tokenizer.save_pretrained(output / "model")
    return losses
