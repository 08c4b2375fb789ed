"""Fine-tuning the Flax model with optax: a documented train step, and the step of
``warmstart train --framework flax``.

:func:`make_train_step` is the usual JAX step for your own loop: the loss of a batch (labels
shifted right into decoder inputs, -100 ignored) under ``jax.value_and_grad``, dropout drawn from a
per-step key, AdamW from optax (linear warm-up and decay, no weight decay on biases and LayerNorm
scales), the whole step under ``jax.jit``. :class:`Side` is the step that
:func:`warmstart.train.loop.run` drives with the PyTorch Trainer's data plan, label layout,
schedule, progress, metrics and evaluation; :func:`train` runs it on a list of text pairs and writes
what the PyTorch trainer writes (``metrics.jsonl``, ``training.png``, and ``OUTPUT/model``:
config.json + model.safetensors, loadable by every framework).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..train import loop
from ..train.config import TrainConfig
from ..train.data import pad_arrays, tokenize_pairs
from ..train.tokens import configure_special_tokens
from .encoder_decoder import FlaxEncoderDecoderModel
from .seq2seq import decoder_inputs_from_labels, seq2seq_loss

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
    """Tokenize pairs into a batch in the PyTorch Trainer's layout (labels: the target's tokens
    then eos, no start token, padded with -100), padded to the longest text within the limits."""
    pairs = list(zip(sources, targets, strict=True))
    c = model.config
    examples = tokenize_pairs(
        pairs, tokenizer, max_source_length, max_target_length, c.eos_token_id
    )
    return with_decoder_inputs(model, pad_arrays(examples, tokenizer.pad_token_id))


def with_decoder_inputs(model: FlaxEncoderDecoderModel, batch: dict[str, np.ndarray]) -> Batch:
    """A padded batch (``input_ids``, ``attention_mask``, ``labels``) with the decoder inputs
    built from its labels, as jax arrays."""
    c = model.config
    decoder_input_ids, decoder_mask = decoder_inputs_from_labels(
        jnp.asarray(batch["labels"]), c.pad_token_id, c.decoder_start_token_id
    )
    return {
        **{k: jnp.asarray(v) for k, v in batch.items()},
        "decoder_input_ids": decoder_input_ids,
        "decoder_attention_mask": decoder_mask,
    }


def set_special_tokens(model: FlaxEncoderDecoderModel, tokenizer: Any) -> None:
    """Decoder start (cls, else bos), pad and eos (sep, else eos) from the tokenizer where the
    model's config leaves them unset, as the PyTorch trainer does."""
    configure_special_tokens(model, tokenizer)


class Side:
    """The Flax step of the shared training loop (see :mod:`warmstart.train.loop`): AdamW as
    ``torch.optim.AdamW`` computes it, the global gradient norm clipped, no decay on biases and
    LayerNorm scales, the encoder's pooler (which never reaches the loss) frozen.

    Args:
        model: the model, with ``decoder_start_token_id`` and ``pad_token_id`` set.
        weight_decay: decoupled decay of weight matrices.
        max_grad_norm: clip the global gradient norm to this (0: no clipping).
        seed: the dropout seed.
        new: a tree of booleans like ``model.params``: the weights with their own learning
            rate (what the warm start initialised, :func:`warm_start_new_weights`); default none.
    """

    def __init__(
        self,
        model: FlaxEncoderDecoderModel,
        weight_decay: float = 0.01,
        max_grad_norm: float = 1.0,
        seed: int = 0,
        new: dict | None = None,
    ) -> None:
        self.model = model
        self.params = jax.tree.map(jnp.copy, model.params)  # the update donates its inputs
        paths = jax.tree_util.tree_map_with_path(lambda p, _: jax.tree_util.keystr(p), model.params)
        trainable = jax.tree.map(lambda name: "pooler" not in name, paths)
        decayed = jax.tree.map(lambda p: p.ndim > 1, self.params)
        new = new if new is not None else jax.tree.map(lambda _: False, self.params)
        tx = optax.chain(
            optax.scale_by_adam(eps=1e-8), optax.add_decayed_weights(weight_decay, decayed)
        )
        self.opt_state = tx.init(self.params)
        self.key = jax.random.key(seed)

        def loss_fn(params: dict, batch: Batch, rng: jax.Array) -> jax.Array:
            return seq2seq_loss(model.module, params, batch, True, {"dropout": rng})[0]

        def grads_fn(params: dict, batch: Batch, rng: jax.Array) -> tuple:
            loss, grads = jax.value_and_grad(loss_fn)(params, batch, rng)
            grads = jax.tree.map(lambda g, t: g * t, grads, trainable)
            return loss, grads, optax.global_norm(grads)

        def update_fn(params, opt_state, grads, norm, lr, new_lr):
            if max_grad_norm > 0:  # as torch's clip_grad_norm_
                grads = jax.tree.map(
                    lambda g: g * jnp.minimum(1.0, max_grad_norm / (norm + 1e-6)), grads
                )
            updates, opt_state = tx.update(grads, opt_state, params)
            rate = lambda u, fresh, t: -u * jnp.where(fresh, new_lr, lr) * t  # noqa: E731
            updates = jax.tree.map(rate, updates, new, trainable)
            return optax.apply_updates(params, updates), opt_state

        self._grads = jax.jit(grads_fn)
        self._update = jax.jit(update_fn, donate_argnums=(0, 1))
        self._loss = jax.jit(
            lambda params, batch: seq2seq_loss(model.module, params, batch, False, {})[0]
        )

    def step(self, batch: dict[str, np.ndarray], lr: float, new_lr: float) -> tuple[float, float]:
        """One optimiser step; returns the loss and the gradient norm (no update unless finite)."""
        self.key, rng = jax.random.split(self.key)
        loss, grads, norm = self._grads(self.params, with_decoder_inputs(self.model, batch), rng)
        loss, norm_value = float(loss), float(norm)
        if math.isfinite(loss) and math.isfinite(norm_value):
            self.params, self.opt_state = self._update(
                self.params, self.opt_state, grads, norm, jnp.float32(lr), jnp.float32(new_lr)
            )
        return loss, norm_value

    def loss(self, batch: dict[str, np.ndarray]) -> float:
        return float(self._loss(self.params, with_decoder_inputs(self.model, batch)))

    def generate(self, input_ids: np.ndarray, attention_mask: np.ndarray, **kwargs: Any):
        out = self.model.generate(
            jnp.asarray(input_ids), attention_mask=jnp.asarray(attention_mask),
            params=self.params, **kwargs,
        )  # fmt: skip
        return np.asarray(out.sequences)

    def weights_finite(self) -> bool:
        return all(bool(jnp.isfinite(p).all()) for p in jax.tree.leaves(self.params))

    def training_state(self) -> dict[str, np.ndarray]:
        """The optimiser's moments and step count, and the dropout key, for a checkpoint."""
        out = {f"opt.{i}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(self.opt_state))}
        out["dropout_key"] = np.asarray(jax.random.key_data(self.key))
        return out

    def load_training_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`training_state` returned."""
        leaves, tree = jax.tree.flatten(self.opt_state)
        names = [f"opt.{i}" for i in range(len(leaves))]
        if set(names) | {"dropout_key"} != set(state):
            raise ValueError("The checkpoint's optimiser state is not this model's Flax AdamW's.")
        restored = [jnp.asarray(state[n], dtype=x.dtype) for n, x in zip(names, leaves)]
        self.opt_state = jax.tree.unflatten(tree, restored)
        self.key = jax.random.wrap_key_data(jnp.asarray(state["dropout_key"]))

    def weight_bytes(self) -> int:
        return sum(int(p.size) * p.dtype.itemsize for p in jax.tree.leaves(self.params))

    def save(self, folder: Path) -> None:
        self.model.params = self.params
        self.model.save_pretrained(folder)
        self.params = jax.tree.map(jnp.copy, self.params)  # the model keeps its own copy


def warm_start_new_weights(model: FlaxEncoderDecoderModel, encoder: Any, decoder: Any) -> dict:
    """A tree of booleans: which weights the warm start from these encoder and decoder
    checkpoints initialised (those the checkpoints do not hold, such as the decoder's
    cross-attention), found as ``from_encoder_decoder_pretrained`` maps the checkpoints."""
    from flax.traverse_util import flatten_dict, unflatten_dict

    from .. import hub
    from .checkpoint import from_torch_names, read_weights

    flat = flatten_dict(model.params)
    new = dict.fromkeys(flat, True)
    for side, path in (("encoder", encoder), ("decoder", decoder)):
        kind, state = read_weights(hub.resolve_with(path, {}))
        mine = {p[1:]: np.shape(v) for p, v in flat.items() if p[0] == side}
        if kind == "flax":
            loaded = mine
        else:
            config = getattr(model.config, side)
            loaded, _ = from_torch_names(config, state, side == "decoder", mine)
        new.update(dict.fromkeys(((side, *p) for p in loaded), False))
    return unflatten_dict(new)


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
    new_weights: dict | None = None,
    **options: Any,
) -> list[float]:
    """Fine-tune ``model`` on (source, target) text pairs for ``steps`` optimiser steps, as
    ``warmstart train --framework flax`` does.

    Batches follow the PyTorch Trainer's plan (shuffled, similar lengths together) and label layout;
    a progress bar (on a terminal; a line every ``log_every`` steps elsewhere) shows the loss. Writes
    ``OUTPUT/metrics.jsonl`` (a train record every ``log_every`` steps), ``training.png`` and the
    final model and tokenizer to ``OUTPUT/model``; ``model.params`` end trained.

    Args:
        new_weights: with ``new_lr=``: which weights take that rate (a tree of booleans, e.g.
            :func:`warm_start_new_weights`).
        **options: other :class:`warmstart.train.TrainConfig` fields (``new_lr``,
            ``warmup_steps``, ``weight_decay``, ``max_grad_norm``, ``progress``, ...).

    Returns:
        The loss of every step.
    """
    if not pairs:
        raise ValueError("No training pairs: pass a list of (source, target) texts.")
    output = Path(output_dir)
    config = TrainConfig(
        train_file="<pairs>", output_dir=str(output), max_steps=steps, lr=lr,
        batch_size=batch_size, seed=seed, max_source_length=max_source_length,
        max_target_length=max_target_length, log_every=log_every, **options,
    )  # fmt: skip
    set_special_tokens(model, tokenizer)
    examples = tokenize_pairs(
        pairs, tokenizer, max_source_length, max_target_length, model.config.eos_token_id
    )
    side = Side(model, config.weight_decay, config.max_grad_norm, seed, new_weights)
    return loop.run(side, tokenizer, config, examples, None, output)["losses"]
