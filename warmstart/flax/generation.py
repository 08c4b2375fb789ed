"""Generation under ``jax.jit``: greedy search, sampling and beam search as ``lax.while_loop``s.

The loop carries every value it needs (the token buffer, the decoder cache, the next logits); the
cache is a static-size pytree written with ``dynamic_update_slice`` and the cross-attention keys/
values are projected once, by the first (prompt) step outside the loop. Settings are static: one
compile per settings and shapes, kept on the model. The processors and the beam step are the core's
traced ones (:mod:`warmstart.generation.traced_processors`, :mod:`~warmstart.generation.traced_beam`,
which the TensorFlow side runs too) over :data:`OPS`, jax.numpy's namespace: the PyTorch side's
(transformers') token for token. The settings merge (:mod:`warmstart.generation.settings`) and the
processors a call needs, with what this side refuses (:mod:`warmstart.generation.plan`), are the
core's too.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from ..generation import GenerationConfig, traced_beam, traced_processors
from ..generation.plan import Plan, make_plan
from ..generation.settings import apply_options, cap_length, pad_id, start_token
from ..outputs import BaseModelOutput, ModelOutput


@dataclass
class FlaxGenerateOutput(ModelOutput):
    """``sequences`` (B * num_return_sequences, max_length), a jax array: the start token, then
    the generated ids, padded with ``pad_token_id`` to the full length whether or not every row
    ended early (transformers 4.x's Flax shape: static, so it jits and stacks)."""

    sequences: Any


# ------------------------------------------------------------------------------- processors
def _mark(ids: jax.Array, V: int) -> jax.Array:
    """(N, V) bool: the ids in [0, V) each row of ``ids`` (N, M) holds."""
    ids = jnp.where((ids >= 0) & (ids < V), ids, V)  # V: a spare column, dropped
    rows = jnp.arange(ids.shape[0])[:, None]
    return jnp.zeros((ids.shape[0], V + 1), bool).at[rows, ids].set(True)[:, :V]


OPS = traced_beam.Ops(
    top_k=jax.lax.top_k,
    take=lambda x, index: jnp.take_along_axis(
        x, index.reshape(index.shape + (1,) * (x.ndim - 2)), axis=1
    ),
    where=jnp.where,
    concat=jnp.concatenate,
    reshape=jnp.reshape,
    full=jnp.full,
    all=jnp.all,
    any=jnp.any,
    min=jnp.min,
    arange=jnp.arange,
    float32=jnp.float32,
    asarray=jnp.asarray,
    argsort=lambda x: jnp.argsort(x, axis=-1),
    cumsum=lambda x: jnp.cumsum(x, axis=-1),
    softmax=lambda x: jax.nn.softmax(x, axis=-1),
    mark=_mark,
)
# the core's processors (warmstart.generation.traced_processors) over jax.numpy
no_repeat_ngram = partial(traced_processors.no_repeat_ngram, OPS)  # (seqs, length, scores, n)
repetition_penalty = partial(traced_processors.repetition_penalty, OPS)


def top_k(scores: jax.Array, k: int, keep: int) -> jax.Array:
    return traced_processors.top_k(OPS, None, None, scores, k, keep)


def top_p(scores: jax.Array, p: float, keep: int) -> jax.Array:
    return traced_processors.top_p(OPS, None, None, scores, p, keep)


def process(plan: Plan, seqs: jax.Array, length: jax.Array, scores: jax.Array) -> jax.Array:
    """The plan's processors (the core lists them, in transformers' order) over the tokens
    ``seqs[:, :length]``."""
    return traced_processors.apply(traced_processors.bind(OPS, plan), seqs, length, scores)


# ------------------------------------------------------------------------------- the loops
def _step(module: Any, params: dict, tokens: jax.Array, cache: dict, enc, enc_mask):
    """One decoder call: the float32 logits of the last position (N, V) and the new cache."""
    logits, cache = module.apply(
        {"params": params}, tokens, enc, enc_mask, None, cache, False, method="decode"
    )
    return logits[:, -1].astype(jnp.float32), cache


def _prepare(module, params, enc, enc_mask, start, times: int, empty_cache):
    """Repeat each input ``times`` times; return (ids, enc, enc_mask, cache) with the cache's
    cross-attention keys/values projected: of a decoder call on the prompt only they are kept, so
    XLA drops the rest, and the loop compiles the decoder step once."""
    enc = jnp.repeat(enc, times, axis=0)
    enc_mask = None if enc_mask is None else jnp.repeat(enc_mask, times, axis=0)
    start = jnp.repeat(start, times, axis=0)
    cache = empty_cache(start.shape[0])
    _, projected = _step(module, params, start, cache, enc, enc_mask)
    return start, enc, enc_mask, {**cache, "cross": projected["cross"]}


def token_loop(module, plan: Plan, empty_cache, params, enc, enc_mask, start, key):
    """Greedy search or sampling: (sequences (N, L), length)."""
    c = plan.config
    ends = tuple(c.eos_ids() or ())
    start, enc, enc_mask, cache = _prepare(
        module, params, enc, enc_mask, start, plan.rows_per_input, empty_cache
    )
    N, P = start.shape
    pad = pad_id(c, 0)
    seqs = jnp.full((N, c.max_length), pad, start.dtype).at[:, :P].set(start)
    eos = jnp.asarray(ends, start.dtype)

    def cond(s):
        return (s[0] < c.max_length) & s[2].any()

    def body(s):
        length, seqs, unfinished, cache, feed, key = s
        logits, cache = _step(module, params, feed, cache, enc, enc_mask)
        scores = process(plan, seqs, length, logits)
        if c.do_sample:
            key, sub = jax.random.split(key)
            tokens = jax.random.categorical(sub, scores, axis=-1).astype(seqs.dtype)
        else:
            tokens = jnp.argmax(scores, axis=-1).astype(seqs.dtype)  # (N,)
        if ends:
            tokens = jnp.where(unfinished, tokens, pad)
            unfinished = unfinished & ~jnp.isin(tokens, eos)
        seqs = jax.lax.dynamic_update_slice(seqs, tokens[:, None], (0, length))
        return length + 1, seqs, unfinished, cache, tokens[:, None], key

    state = (jnp.int32(P), seqs, jnp.ones((N,), bool), cache, start, key)
    length, seqs, *_ = jax.lax.while_loop(cond, body, state)
    return seqs, length


def beam_loop(module, plan: Plan, empty_cache, params, enc, enc_mask, start, key):
    """Beam search over the core's step (:mod:`warmstart.generation.traced_beam`, which the TF
    side runs too): (sequences (B * num_return_sequences, L), length)."""
    c = plan.config
    K, L = c.num_beams, c.max_length
    start, enc, enc_mask, cache = _prepare(module, params, enc, enc_mask, start, K, empty_cache)
    N, P = start.shape
    offsets = jnp.arange(N // K)[:, None] * K  # (B, 1) each input's first cache row

    def body(carry):
        s, cache, feed = carry
        logits, cache = _step(module, params, feed, cache, enc, enc_mask)
        log_probs = jax.nn.log_softmax(logits, axis=-1)  # (N, V)
        log_probs = process(plan, s["running"].reshape(N, L), s["length"], log_probs)
        s, beams = traced_beam.step(OPS, s, log_probs, c, P)
        rows = (beams + offsets).reshape(-1)  # (N,)
        cache = {**cache, "self": [(k[rows], v[rows]) for k, v in cache["self"]]}
        feed = jax.lax.dynamic_slice_in_dim(s["running"], s["length"] - 1, 1, axis=2)
        return s, cache, feed.reshape(N, 1)

    state = traced_beam.start(OPS, start, N // K, c)
    s, *_ = jax.lax.while_loop(lambda carry: ~carry[0]["stop"], body, (state, cache, start))
    seqs, lengths, _ = traced_beam.results(OPS, s, c.num_return_sequences)
    return seqs, lengths.max()


# ------------------------------------------------------------------------------- entry point
def generate(
    model: Any,
    input_ids: jax.Array | None = None,
    attention_mask: jax.Array | None = None,
    generation_config: GenerationConfig | None = None,
    prng_key: jax.Array | None = None,
    encoder_outputs: Any = None,
    params: dict | None = None,
    token_type_ids: jax.Array | None = None,
    **kwargs: Any,
) -> FlaxGenerateOutput:
    """Generate with a :class:`FlaxEncoderDecoderModel`, the whole loop under ``jax.jit``.

    Args:
        model: the model.
        input_ids: (B, S) source ids (or ``encoder_outputs``, precomputed).
        attention_mask: (B, S); inferred from ``pad_token_id`` when omitted.
        generation_config: base settings (default: the model's, with token ids set on
            ``model.config`` after creation honoured).
        prng_key: the random key for sampling (default ``jax.random.key(0)``).
        encoder_outputs: the encoder's output, to skip running it.
        params: other parameters than ``model.params``.
        **kwargs: GenerationConfig fields: ``max_new_tokens``, ``max_length``, ``min_length``,
            ``num_beams``, ``length_penalty``, ``early_stopping``, ``num_return_sequences``,
            ``do_sample``, ``temperature``, ``top_k``, ``top_p``, ``no_repeat_ngram_size``,
            ``repetition_penalty``, ``forced_bos_token_id``, ``forced_eos_token_id``,
            ``suppress_tokens``, ``begin_suppress_tokens``, token ids.

    Returns:
        ``.sequences`` (B * num_return_sequences, max_length), starting with the start token,
        padded to the full length as transformers 4.x's Flax generate.
    """
    kwargs.pop("trace", None)  # 4.x's trace=False ran the loop unjitted: same tokens
    if kwargs.pop("logits_processor", None):
        raise ValueError(
            "logits_processor= is not supported by the Flax generate; set the processors through "
            "GenerationConfig fields (top_k=, no_repeat_ngram_size=, ...)."
        )
    config = apply_options(model._generation_config(generation_config), kwargs)
    cap_length(config, 1, model.config.decoder.max_position_embeddings)
    plan = make_plan(config, 1, side="flax")
    params = model.params if params is None else params
    if attention_mask is None and input_ids is not None and config.pad_token_id is not None:
        attention_mask = (jnp.asarray(input_ids) != config.pad_token_id).astype(jnp.int32)
    if encoder_outputs is None:
        if input_ids is None:
            raise ValueError("Pass input_ids (or encoder_outputs) to generate.")
        encoder_outputs = model.encode(
            input_ids, attention_mask, token_type_ids=token_type_ids, params=params
        )
    enc = last_hidden_state(encoder_outputs)
    start = jnp.full((enc.shape[0], 1), start_token(config), jnp.int32)
    loop = beam_loop if plan.search == "beam" else token_loop
    empty = partial(_empty_cache, model, plan.config.max_length)
    run = model._jit(("generate", plan.key()), partial(loop, model.module, plan, empty))
    mask = None if attention_mask is None else jnp.asarray(attention_mask)
    key = jax.random.key(0) if prng_key is None else prng_key
    seqs, _ = run(params, enc, mask, start, key)
    return FlaxGenerateOutput(sequences=seqs)


def _empty_cache(model: Any, length: int, rows: int) -> dict:
    return model.init_cache(rows, length)


def last_hidden_state(encoder_outputs: Any) -> jax.Array:
    """The states of an encoder output given as an output object (this library's or
    transformers', read by field name), a dict, a tuple or an array."""
    if isinstance(encoder_outputs, BaseModelOutput) or hasattr(
        encoder_outputs, "last_hidden_state"
    ):
        return jnp.asarray(encoder_outputs.last_hidden_state)
    if isinstance(encoder_outputs, dict):
        return jnp.asarray(encoder_outputs["last_hidden_state"])
    if isinstance(encoder_outputs, tuple | list):
        return jnp.asarray(encoder_outputs[0])
    return jnp.asarray(encoder_outputs)
