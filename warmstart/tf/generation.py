"""Generation on TensorFlow: greedy search, sampling and beam search over a static cache, written
so that one code path runs eagerly and under ``tf.function(jit_compile=True)`` with the same tokens.

Every buffer has a static shape (tokens (N, max_length), the cache (L, 2, N, H, max_length, D));
the decode loop is a ``tf.while_loop`` that stops when every row has finished; cross-attention
keys/values are projected once. Beam search follows the PyTorch side step for step
(:func:`warmstart.torch.generation.search.beam_search`, transformers' vectorised beam search).
Eagerly the sequences are cut after the longest row, as the PyTorch side returns them; compiled, they
keep the static ``max_length`` (pad after the end), as transformers 4.x's XLA ``generate`` did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from ..generation.config import GenerationConfig
from ..generation.plan import make_plan
from ..generation.settings import apply_options, cap_length, pad_id, start_token
from ..outputs import ModelOutput
from . import processors
from .layers import SelfAttention, cached_keep
from .search import beam_search


@dataclass
class TFGenerateOutput(ModelOutput):
    """``generate(..., return_dict_in_generate=True)``: the sequences (and beam scores)."""

    sequences: tf.Tensor
    sequences_scores: tf.Tensor | None = None


def generate(
    model: Any,
    input_ids: Any = None,
    generation_config: GenerationConfig | None = None,
    *,
    attention_mask: Any = None,
    token_type_ids: Any = None,
    decoder_input_ids: Any = None,
    seed: Any = None,
    **kwargs: Any,
) -> tf.Tensor | TFGenerateOutput:
    """Generate target sequences with a ``TFEncoderDecoderModel``.

    Args:
        model: the model.
        input_ids: (B, S) source ids.
        generation_config: base settings (default: the model's, token ids set on ``model.config``
            after creation honoured); ``kwargs`` override them (``max_new_tokens``,
            ``num_beams``, ``do_sample``, ``top_k``, ...).
        attention_mask: (B, S); inferred from ``pad_token_id`` when omitted.
        decoder_input_ids: (B, P) decoder prompt (default: the start token).
        seed: sampling seed, an int or a pair of ints (stateless sampling: equal seeds give equal
            tokens); default: drawn from TensorFlow's global generator.

    Returns:
        (B * num_return_sequences, length) token ids starting with the start token, finished rows
        padded; a :class:`TFGenerateOutput` with ``return_dict_in_generate=True``.
    """
    config = apply_options(model._generation_config(generation_config), kwargs)
    ids = tf.cast(tf.convert_to_tensor(input_ids), tf.int32)
    B = rows_of(ids)
    start = _start_ids(config, B, decoder_input_ids)
    prompt = start.shape[1]
    cap_length(config, prompt, model.decoder.max_positions())
    plan = make_plan(config, prompt, side="tf")
    config, length = plan.config, plan.config.max_length
    if attention_mask is None and config.pad_token_id is not None:
        attention_mask = tf.cast(ids != config.pad_token_id, tf.int32)
    elif attention_mask is not None:
        attention_mask = tf.cast(tf.convert_to_tensor(attention_mask), tf.int32)
    if token_type_ids is not None:
        token_type_ids = tf.cast(tf.convert_to_tensor(token_type_ids), tf.int32)
    enc = model.project(model.encode(ids, attention_mask, token_type_ids).last_hidden_state)
    times = plan.rows_per_input
    rows = tf.repeat(tf.range(B), times)  # each input's row repeated for its beams / samples
    enc, start = tf.gather(enc, rows), tf.gather(start, rows)
    enc_mask = None if attention_mask is None else tf.gather(attention_mask, rows)
    with model.decoder.transposed():  # (in, out) weights for the loop's products
        step = _stepper(model.decoder, model.decoder.all_cross_kv(enc), enc_mask, length)
        kv = model.decoder.new_cache(B * times, length)
        if prompt > 1:  # the prompt's tokens but the last go into the cache at once
            _, kv = step(start[:, :-1], kv, 0)
        controls, seed = processors.bind(plan), _seed(seed, config)
        if config.num_beams > 1:
            seqs, lengths, scores = beam_search(step, kv, start, config, controls, B, seed)
        else:
            seqs, lengths = _token_loop(step, kv, start, config, controls, seed)
            scores = None
    if tf.executing_eagerly():
        seqs = seqs[:, : int(tf.reduce_max(lengths))]
    if config.return_dict_in_generate:
        return TFGenerateOutput(seqs, scores)
    return seqs


def _start_ids(config: GenerationConfig, B: int, decoder_input_ids: Any) -> tf.Tensor:
    if decoder_input_ids is not None:
        return tf.cast(tf.convert_to_tensor(decoder_input_ids), tf.int32)
    return tf.fill((B, 1), start_token(config))


def _seed(seed: Any, config: GenerationConfig) -> tf.Tensor | None:
    """A stateless seed (2,) for sampling, or None when nothing is sampled."""
    if not config.do_sample:
        return None
    if seed is None:
        return tf.random.get_global_generator().make_seeds(1)[:, 0]
    pair = [0, seed] if isinstance(seed, int) else list(seed)
    return tf.cast(tf.convert_to_tensor(pair), tf.int64)


def _stepper(decoder: Any, cross: list, enc_mask: tf.Tensor | None, M: int):
    """``step(tokens (N, T), kv, past) -> (logits of the last token (N, V), kv)``."""

    def step(tokens: tf.Tensor, kv: tf.Tensor, past: Any) -> tuple[tf.Tensor, tf.Tensor]:
        attn = SelfAttention(cached_keep(tokens.shape[1], M, past, None), kv=kv, past=past)
        logits = decoder.decode(tokens, cross, enc_mask, attn, past)
        return logits[:, -1], attn.cache()

    return step


def rows_of(x: tf.Tensor) -> int | tf.Tensor:
    """The batch size: static when known, else a tensor (a serving signature's ``None``)."""
    return x.shape[0] if x.shape[0] is not None else tf.shape(x)[0]


def _token_loop(
    step, kv, start, config: GenerationConfig, plan, seed
) -> tuple[tf.Tensor, tf.Tensor]:
    """Greedy search or sampling; returns sequences (N, max_length) and each row's length."""
    N, P = rows_of(start), start.shape[1]
    L, pad = config.max_length, pad_id(config, 0)
    seqs = tf.concat([start, tf.fill((N, L - P), pad)], 1)
    columns = tf.range(L)[None, :]

    def body(cur, seqs, kv, done, lengths):
        logits, kv = step(tf.gather(seqs, cur - 1, axis=1)[:, None], kv, cur - 1)
        scores = processors.apply(plan, seqs, cur, tf.cast(logits, tf.float32))
        if seed is not None:  # Gumbel-max: a draw from softmax(scores), the same under XLA
            scores += processors.gumbel(tf.shape(scores), seed, cur)
        token = tf.argmax(scores, -1, output_type=tf.int32)
        token = tf.where(done, pad, token)
        seqs = tf.where(columns == cur, token[:, None], seqs)
        lengths = tf.where(done, lengths, cur + 1)
        return cur + 1, seqs, kv, done | processors.is_eos(token, config), lengths

    def cond(cur, seqs, kv, done, lengths):
        return (cur < L) & ~tf.reduce_all(done)

    state = (tf.constant(P), seqs, kv, tf.zeros((N,), tf.bool), tf.fill((N,), P))
    _, seqs, _, _, lengths = tf.while_loop(cond, body, state, maximum_iterations=L - P)
    return seqs, lengths
