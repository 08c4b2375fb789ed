"""Logits processors in TensorFlow, traceable under XLA: the core's
(:mod:`warmstart.generation.traced_processors`, which the JAX side runs too) over :data:`OPS`,
TensorFlow's array namespace, with the eos test and the Gumbel noise behind sampling.
"""

from __future__ import annotations

from functools import partial, update_wrapper

import tensorflow as tf

from ..generation import traced_processors as core
from ..generation.config import GenerationConfig
from ..generation.traced_beam import Ops
from ..generation.traced_processors import apply  # noqa: F401  (tf.processors.apply)


def _mark(ids: tf.Tensor, V: int) -> tf.Tensor:
    """(N, V) bool: the ids in [0, V) each row of ``ids`` (N, M) holds."""
    N, M = tf.shape(ids)[0], ids.shape[1]
    index = tf.stack(
        [tf.repeat(tf.range(N), M), tf.reshape(tf.clip_by_value(ids, 0, V - 1), [-1])], 1
    )
    inside = tf.reshape(tf.cast((ids >= 0) & (ids < V), tf.int32), [-1])
    return tf.tensor_scatter_nd_max(tf.zeros((N, V), tf.int32), index, inside) > 0


OPS = Ops(
    top_k=tf.math.top_k,
    take=lambda x, index: tf.gather(x, index, axis=1, batch_dims=1),
    where=tf.where,
    concat=tf.concat,
    reshape=tf.reshape,
    full=lambda shape, value, dtype: tf.fill(shape, tf.constant(value, dtype)),
    all=tf.reduce_all,
    any=tf.reduce_any,
    min=tf.reduce_min,
    arange=tf.range,
    float32=lambda x: tf.cast(x, tf.float32),
    asarray=tf.constant,
    argsort=lambda x: tf.argsort(x, axis=-1, stable=True),
    cumsum=lambda x: tf.cumsum(x, axis=-1),
    softmax=lambda x: tf.nn.softmax(x, -1),
    mark=_mark,
)


def _here(f):
    """The core's processor ``f`` over TensorFlow: ``(seqs, cur, scores, **settings)``."""
    return update_wrapper(partial(f, OPS), f)


repetition_penalty = _here(core.repetition_penalty)
no_repeat_ngram = _here(core.no_repeat_ngram)
min_length = _here(core.min_length)
forced_token = _here(core.forced_token)
suppress_tokens = _here(core.suppress_tokens)
temperature = _here(core.temperature)
top_k = _here(core.top_k)
top_p = _here(core.top_p)
remove_invalid_values = _here(core.remove_invalid_values)
bind = partial(core.bind, OPS)


def is_eos(tokens: tf.Tensor, config: GenerationConfig) -> tf.Tensor:
    """Which of ``tokens`` are an eos id."""
    eos = config.eos_ids()
    if not eos:
        return tf.zeros_like(tokens, dtype=tf.bool)
    return tf.reduce_any(tokens[..., None] == tf.constant(eos, tf.int32), -1)


def gumbel(shape: tf.Tensor | tuple[int, ...], seed: tf.Tensor, cur: tf.Tensor) -> tf.Tensor:
    """Gumbel noise of step ``cur`` from a seed (2,): equal seeds give equal noise, eagerly and
    under XLA alike (TensorFlow's stateless generators draw other numbers under XLA). Each
    element hashes its counter with the seed and the step through murmur3's 32-bit finaliser."""
    seed = tf.cast(seed, tf.uint32)
    x = tf.cast(tf.reshape(tf.range(tf.reduce_prod(shape)), shape), tf.uint32)
    x = x * 0x9E3779B1 + seed[0] * 0x85EBCA77 + seed[1] * 0xC2B2AE3D
    x += tf.cast(cur, tf.uint32) * 0x27D4EB2F
    for shift, factor in ((16, 0x85EBCA6B), (13, 0xC2B2AE35), (16, None)):
        x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, shift))
        if factor is not None:
            x = x * factor
    u = (tf.cast(tf.bitwise.right_shift(x, 8), tf.float32) + 0.5) / 16777216.0  # (0, 1)
    return -tf.math.log(-tf.math.log(u))
